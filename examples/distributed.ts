// A map across two workers that get their tasks from Redis: the same Pool
// API, with `broker`. It starts a redis-server of its own (on a unix socket
// in a temporary directory) unless given a URL, then two worker processes
// (`deno run -A worker.ts`, as you would on two hosts), and prints which
// worker did how much.
//
//   deno run -A examples/distributed.ts [redis://host:6379]
//
// -A: it runs redis-server and the workers (--allow-run), makes their
// socket (--allow-read, --allow-write), talks to Redis (--allow-net) and
// names its consumers after the host (--allow-sys). Without a URL it needs
// redis-server on PATH (Debian: apt-get install redis-server).
import { Pool } from "../pool.ts";
import { currentProcess } from "../process.ts";
import { redisBroker } from "../redis.ts";
import { startRedis, startWorker } from "./_redis_setup.ts";

/** `x * x` after a few milliseconds of work, and which worker ran it. */
export async function slowSquare(x: number): Promise<[number, number]> {
  await new Promise((resolve) => setTimeout(resolve, 2));
  const worker = currentProcess().startMethod === "subprocess"
    ? Deno.ppid
    : Deno.pid;
  return [x * x, worker];
}

if (import.meta.main) {
  const dir = await Deno.makeTempDir({ prefix: "mp-distributed-" });
  let server: Deno.ChildProcess | null = null;
  const workers: Deno.ChildProcess[] = [];
  try {
    let url = Deno.args[0];
    if (url === undefined) [url, server] = await startRedis(dir);
    const name = "distributed-example";
    const flags = ["--processes", "2"];
    workers.push(
      await startWorker(url, name, import.meta.url, flags),
      await startWorker(url, name, import.meta.url, flags),
    );
    await using pool = new Pool({
      broker: redisBroker(url),
      name,
      processes: 4,
    });
    const items = Array.from({ length: 400 }, (_, i) => i);
    const results = await pool.map(slowSquare, items, { chunksize: 10 });
    const sum = results.reduce((total, [square]) => total + square, 0);
    console.log(`sum of the squares of 0..399: ${sum}`);
    workers.forEach((worker, i) => {
      const done = results.filter(([, pid]) => pid === worker.pid).length;
      console.log(`worker ${i + 1} (pid ${worker.pid}): ${done} tasks`);
    });
  } finally {
    for (const worker of workers) {
      worker.kill("SIGTERM");
      await worker.status;
    }
    server?.kill("SIGTERM");
    await server?.status;
    await Deno.remove(dir, { recursive: true });
  }
}
