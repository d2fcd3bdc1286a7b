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

/** `x * x` after a few milliseconds of work, and which worker ran it. */
export async function slowSquare(x: number): Promise<[number, number]> {
  await new Promise((resolve) => setTimeout(resolve, 2));
  const worker = currentProcess().startMethod === "subprocess"
    ? Deno.ppid
    : Deno.pid;
  return [x * x, worker];
}

async function startRedis(dir: string): Promise<[string, Deno.ChildProcess]> {
  const socket = `${dir}/redis.sock`;
  const server = new Deno.Command("redis-server", {
    args: ["--port", "0", "--unixsocket", socket, "--save", "", "--dir", dir],
    stdout: "null",
    stderr: "null",
  }).spawn();
  for (let i = 0; i < 500; i++) {
    try {
      (await Deno.connect({ transport: "unix", path: socket })).close();
      return [`redis+unix://${socket}`, server];
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
  server.kill();
  throw new Error(`redis-server did not listen on ${socket} within 5 s`);
}

/** Starts `deno run -A worker.ts` and waits until it serves. */
async function startWorker(url: string): Promise<Deno.ChildProcess> {
  const worker = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../worker.ts", import.meta.url).pathname,
      "--broker",
      url,
      "--name",
      "distributed-example",
      "--module",
      import.meta.url,
      "--processes",
      "2",
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = worker.stdout.pipeThrough(new TextDecoderStream());
  const reader = lines.getReader();
  let seen = "";
  while (!seen.includes("serving")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("a worker exited before serving");
    seen += value;
  }
  reader.releaseLock();
  lines.pipeTo(new WritableStream()).catch(() => {});
  return worker;
}

if (import.meta.main) {
  const dir = await Deno.makeTempDir({ prefix: "mp-distributed-" });
  let server: Deno.ChildProcess | null = null;
  const workers: Deno.ChildProcess[] = [];
  try {
    let url = Deno.args[0];
    if (url === undefined) [url, server] = await startRedis(dir);
    workers.push(await startWorker(url), await startWorker(url));
    await using pool = new Pool({
      broker: redisBroker(url),
      name: "distributed-example",
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
