// The Pool over Redis Streams next to the local Pool, on this host: a
// redis-server on a unix socket (or the URL given), one `worker.ts
// --processes 2` worker process serving it, and a local Pool(2) for
// comparison. Figures, medians of three runs in one warmed-up pool:
// Pool.map over 200,000 items (default chunksize), the same with chunksize 1
// over 20,000, and 2,000 sequential awaited apply (the round trip).
//
//   deno run -A bench/redis_bench.ts [redis://host:6379] [--start-method subprocess]
//
// Needs redis-server on PATH when no URL is given.
import { Pool } from "../pool.ts";
import type { StartMethod } from "../process.ts";
import { redisBroker } from "../redis.ts";
import { startRedis, startWorker } from "../examples/_redis_setup.ts";
import { add, add100 } from "./_pool_targets.ts";

const MAP_ITEMS = 200_000;
const CHUNK1_ITEMS = 20_000;
const APPLIES = 2_000;
const module = new URL("./_pool_targets.ts", import.meta.url).href;

function median(values: number[]): number {
  return values.toSorted((a, b) => a - b)[Math.floor(values.length / 2)]!;
}

async function medianOf(run: () => Promise<number>): Promise<number> {
  const values = [];
  for (let i = 0; i < 3; i++) values.push(await run());
  return median(values);
}

async function measure(pool: Pool): Promise<Record<string, number>> {
  const items = Array.from({ length: MAP_ITEMS }, (_, i) => i);
  await pool.map(add100, items.slice(0, 1000));
  const map = await medianOf(async () => {
    const start = performance.now();
    await pool.map(add100, items);
    return MAP_ITEMS / ((performance.now() - start) / 1000);
  });
  const chunk1 = await medianOf(async () => {
    const start = performance.now();
    await pool.map(add100, items.slice(0, CHUNK1_ITEMS), { chunksize: 1 });
    return CHUNK1_ITEMS / ((performance.now() - start) / 1000);
  });
  const apply = await medianOf(async () => {
    const start = performance.now();
    for (let i = 0; i < APPLIES; i++) await pool.apply(add, [i, 1]);
    return ((performance.now() - start) * 1000) / APPLIES;
  });
  return { map, chunk1, apply };
}

function row(label: string, figures: Record<string, number>): string {
  const rate = (n: number) => `${Math.round(n).toLocaleString("en")}/s`;
  return `${label.padEnd(28)} ${rate(figures.map!).padStart(14)} ${
    rate(figures.chunk1!).padStart(14)
  } ${`${figures.apply!.toFixed(0)} µs`.padStart(10)}`;
}

if (import.meta.main) {
  const at = Deno.args.indexOf("--start-method");
  const startMethod = (at >= 0 ? Deno.args[at + 1] : "worker") as StartMethod;
  const given = Deno.args.find((arg) => arg.includes("://"));
  const dir = await Deno.makeTempDir({ prefix: "mp-redis-bench-" });
  let server: Deno.ChildProcess | null = null;
  let worker: Deno.ChildProcess | null = null;
  try {
    let url = given;
    if (url === undefined) [url, server] = await startRedis(dir);
    const local = new Pool({ processes: 2, startMethod, module });
    const localFigures = await measure(local);
    local.terminate();
    await local.join();
    worker = await startWorker(url, "bench", module, [
      "--processes",
      "2",
      "--start-method",
      startMethod,
    ]);
    const remote = new Pool({
      broker: redisBroker(url),
      name: "bench",
      processes: 2,
      module,
    });
    const remoteFigures = await measure(remote);
    remote.close();
    await remote.join();
    console.log(
      `${"2 processes, " + startMethod} ${"map 200k".padStart(14)} ${
        "chunksize 1".padStart(14)
      } ${"apply".padStart(10)}`,
    );
    console.log(row("local Pool", localFigures));
    console.log(row(`Redis (${url.split("://")[0]})`, remoteFigures));
  } finally {
    worker?.kill("SIGTERM");
    await worker?.status;
    server?.kill("SIGTERM");
    await server?.status;
    await Deno.remove(dir, { recursive: true });
  }
}
