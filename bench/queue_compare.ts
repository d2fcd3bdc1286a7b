// Side by side with Python 3.11's multiprocessing, in the same run:
// (1) 1 producer child → parent, 200,000 × ["xiaoming", 12] through a Queue;
// (2) 200 × 1 MiB Uint8Array through a Queue; (3) Pipe ping-pong, 20,000
// round trips; plus the RSS growth of 2,000,000 items through one queue.
// Each figure is the median of ROUNDS runs; ratios > 1 mean we are better.
//
//   deno run -A bench/queue_compare.ts            (all on any cores)
//   taskset -c 0 deno run -A bench/queue_compare.ts   (both sides on one core)
import { Pipe } from "../pipe.ts";
import { Process, type StartMethod } from "../process.ts";
import { Queue } from "../queue.ts";
import { echo, produceBuffers, producePairs } from "./_queue_targets.ts";

const ROUNDS = 3;
const SMALL = 200_000;
const BIG_COUNT = 200;
const BIG_SIZE = 1024 * 1024;
const PING_PONGS = 20_000;
const module = new URL("./_queue_targets.ts", import.meta.url);

function median(values: number[]): number {
  const sorted = values.toSorted((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function timed<T>(
  startMethod: StartMethod,
  target: (...args: never[]) => unknown,
  args: unknown[],
  consume: () => Promise<T>,
): Promise<number> {
  const child = new Process({
    target: target as (...args: unknown[]) => unknown,
    args,
    module,
    startMethod,
  });
  child.start();
  const elapsed = await consume() as number;
  await child.join();
  return elapsed;
}

/** Items per second, timed from the first item (start-up excluded). */
async function smallItems(startMethod: StartMethod): Promise<number> {
  const q = new Queue<[string, number]>();
  const seconds = await timed(
    startMethod,
    producePairs,
    [q, SMALL],
    async () => {
      await q.get();
      const started = performance.now();
      for (let i = 1; i < SMALL; i++) await q.get();
      return (performance.now() - started) / 1000;
    },
  );
  return (SMALL - 1) / seconds;
}

/** MB per second of 1 MiB items. */
async function bigItems(startMethod: StartMethod): Promise<number> {
  const q = new Queue<Uint8Array>();
  const seconds = await timed(
    startMethod,
    produceBuffers,
    [q, BIG_COUNT, BIG_SIZE],
    async () => {
      await q.get();
      const started = performance.now();
      for (let i = 1; i < BIG_COUNT; i++) await q.get();
      return (performance.now() - started) / 1000;
    },
  );
  return (BIG_COUNT - 1) * BIG_SIZE / seconds / 1e6;
}

/** Microseconds per round trip. */
async function pingPong(startMethod: StartMethod): Promise<number> {
  const [parentEnd, childEnd] = Pipe<number>();
  const seconds = await timed(
    startMethod,
    echo,
    [childEnd, PING_PONGS],
    async () => {
      parentEnd.send(0);
      await parentEnd.recv();
      const started = performance.now();
      for (let i = 1; i < PING_PONGS; i++) {
        parentEnd.send(i);
        await parentEnd.recv();
      }
      return (performance.now() - started) / 1000;
    },
  );
  return seconds / (PING_PONGS - 1) * 1e6;
}

/** RSS growth in MiB while 2,000,000 items pass through one queue. */
async function rssGrowth(startMethod: StartMethod): Promise<number> {
  const count = 2_000_000;
  const q = new Queue<[string, number]>();
  const before = Deno.memoryUsage().rss;
  let peak = before;
  await timed(startMethod, producePairs, [q, count], async () => {
    for (let i = 0; i < count; i++) {
      await q.get();
      if (i % 100_000 === 0) peak = Math.max(peak, Deno.memoryUsage().rss);
    }
    return 0;
  });
  return (Math.max(peak, Deno.memoryUsage().rss) - before) / 2 ** 20;
}

async function python(): Promise<Record<string, number>> {
  const script = new URL("./queue_bench.py", import.meta.url).pathname;
  const { stdout, success } = await new Deno.Command("python3", {
    args: [script],
  }).output();
  if (!success) throw new Error("The Python benchmark failed");
  return JSON.parse(new TextDecoder().decode(stdout));
}

async function medianOf(run: () => Promise<number>): Promise<number> {
  const values = [];
  for (let i = 0; i < ROUNDS; i++) values.push(await run());
  return median(values);
}

if (import.meta.main) {
  const py = {
    small: [] as number[],
    big: [] as number[],
    ping: [] as number[],
  };
  for (let i = 0; i < ROUNDS; i++) {
    const result = await python();
    py.small.push(result.small_items_per_s!);
    py.big.push(result.big_mb_per_s!);
    py.ping.push(result.ping_pong_us!);
  }
  const rows: string[] = [];
  const pySmall = median(py.small);
  const pyBig = median(py.big);
  const pyPing = median(py.ping);
  for (const method of ["worker", "subprocess"] as const) {
    const small = await medianOf(() => smallItems(method));
    const big = await medianOf(() => bigItems(method));
    const ping = await medianOf(() => pingPong(method));
    rows.push(
      `| ${method.padEnd(10)} | ${(small / 1000).toFixed(0).padStart(6)}k/s (${
        (small / pySmall).toFixed(2)
      }×) | ${big.toFixed(0).padStart(5)} MB/s (${
        (big / pyBig).toFixed(2)
      }×) | ${ping.toFixed(1).padStart(6)} µs (${
        (pyPing / ping).toFixed(2)
      }×) |`,
    );
  }
  console.log(
    '| ours       | 200k × ["xiaoming", 12] | 200 × 1 MiB | Pipe ping-pong |',
  );
  console.log(
    "|------------|------------------------|-------------|----------------|",
  );
  for (const row of rows) console.log(row);
  console.log(
    `| python     | ${(pySmall / 1000).toFixed(0).padStart(6)}k/s | ${
      pyBig.toFixed(0).padStart(5)
    } MB/s | ${pyPing.toFixed(1).padStart(6)} µs |`,
  );
  for (const method of ["worker", "subprocess"] as const) {
    console.log(
      `RSS growth, 2,000,000 items, ${method} producer: ${
        (await rssGrowth(method)).toFixed(1)
      } MiB`,
    );
  }
}
