// Side by side with Python 3.11's multiprocessing.Pool, in one run,
// alternating Python and each start method for ROUNDS rounds (medians):
// Pool(2).map over 200,000 items (default chunksize), the same with
// chunksize 1 over 20,000, 2,000 sequential awaited apply, eight ~0.25 s
// CPU tasks (speed-up over serial), Pool(2) construction to first result,
// the RSS of parent + children after the 200k map, and the peak RSS while
// imap reads a 10,000,000-item generator (chunksize 1000). Each throughput
// figure is itself the median of three runs in one warmed-up pool, on both
// sides.
//
//   deno run -A bench/pool_compare.ts
//
// Each Deno round runs in a fresh `deno` process, as Python's does.
import { Pool } from "../pool.ts";
import type { StartMethod } from "../process.ts";
import { add, add100, spin } from "./_pool_targets.ts";

const ROUNDS = 3;
const MAP_ITEMS = 200_000;
const CHUNK1_ITEMS = 20_000;
const APPLIES = 2_000;
const CPU_TASKS = 8;
const IMAP_ITEMS = 10_000_000;
const module = new URL("./_pool_targets.ts", import.meta.url);

type Figures = Record<string, number>;

function median(values: number[]): number {
  const sorted = values.toSorted((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function medianOf(run: () => Promise<number>): Promise<number> {
  const values = [];
  for (let i = 0; i < 3; i++) values.push(await run());
  return median(values);
}

function rssMiB(pids: number[]): number {
  let kib = 0;
  for (const pid of pids) {
    try {
      const status = Deno.readTextFileSync(`/proc/${pid}/status`);
      kib += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    } catch {
      // Gone already.
    }
  }
  return kib / 1024;
}

function children(pid: number): number[] {
  const found: number[] = [];
  for (const task of Deno.readDirSync(`/proc/${pid}/task`)) {
    const text = Deno.readTextFileSync(
      `/proc/${pid}/task/${task.name}/children`,
    );
    for (const child of text.split(" ")) if (child) found.push(Number(child));
  }
  return found;
}

/** All descendants: a subprocess child runs under `deno`'s own children. */
function tree(pid: number): number[] {
  const all = [pid];
  for (const child of children(pid)) all.push(...tree(child));
  return all;
}

function* numbers(count: number): Generator<number> {
  for (let i = 0; i < count; i++) yield i;
}

function calibrate(): number {
  let n = 1_000_000;
  for (;;) {
    const started = performance.now();
    spin(n);
    const elapsed = performance.now() - started;
    if (elapsed > 50) return Math.round(n * 250 / elapsed);
    n *= 2;
  }
}

async function measure(startMethod: StartMethod): Promise<Figures> {
  const figures: Figures = {};
  let started = performance.now();
  {
    await using pool = new Pool({ processes: 2, module, startMethod });
    await pool.apply(add, [1, 2]);
    figures.first_result_ms = performance.now() - started;
  }
  await using pool = new Pool({ processes: 2, module, startMethod });
  // The same warm-up as Python's side: every child up and running, and one
  // map of the 200k items.
  const warm = Array.from({ length: 1000 }, (_, i) => i);
  await pool.map(add100, warm, { chunksize: 1 });
  const items = Array.from({ length: MAP_ITEMS }, (_, i) => i);
  await pool.map(add100, items);
  figures.map_per_s = await medianOf(async () => {
    const started = performance.now();
    await pool.map(add100, items);
    return MAP_ITEMS / ((performance.now() - started) / 1000);
  });
  figures.rss_mib = rssMiB(tree(Deno.pid));
  const chunk1 = Array.from({ length: CHUNK1_ITEMS }, (_, i) => i);
  figures.chunk1_per_s = await medianOf(async () => {
    const started = performance.now();
    await pool.map(add100, chunk1, { chunksize: 1 });
    return CHUNK1_ITEMS / ((performance.now() - started) / 1000);
  });
  figures.apply_us = await medianOf(async () => {
    const started = performance.now();
    for (let i = 0; i < APPLIES; i++) await pool.apply(add, [i, 1]);
    return (performance.now() - started) / APPLIES * 1000;
  });
  const n = calibrate();
  started = performance.now();
  spin(n);
  spin(n);
  const serial = (performance.now() - started) * CPU_TASKS / 2;
  started = performance.now();
  await pool.map(spin, Array(CPU_TASKS).fill(n), { chunksize: 1 });
  figures.cpu_speedup = serial / (performance.now() - started);
  let peak = rssMiB(tree(Deno.pid));
  let count = 0;
  for await (
    const _ of pool.imap(add100, numbers(IMAP_ITEMS), { chunksize: 1000 })
  ) {
    if (++count % 1_000_000 === 0) {
      peak = Math.max(peak, rssMiB(tree(Deno.pid)));
    }
  }
  figures.imap10m_rss_mib = peak;
  return figures;
}

async function python(): Promise<Figures> {
  const script = new URL("./pool_bench.py", import.meta.url).pathname;
  const { stdout, success } = await new Deno.Command("python3", {
    args: [script],
  }).output();
  if (!success) throw new Error("The Python benchmark failed");
  return JSON.parse(new TextDecoder().decode(stdout));
}

async function deno(startMethod: StartMethod): Promise<Figures> {
  const { stdout, success } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", import.meta.filename!, "--child", startMethod],
    stderr: "inherit",
  }).output();
  if (!success) throw new Error(`The ${startMethod} benchmark failed`);
  return JSON.parse(new TextDecoder().decode(stdout));
}

function mediansOf(runs: Figures[]): Figures {
  const result: Figures = {};
  for (const key of Object.keys(runs[0]!)) {
    result[key] = median(runs.map((run) => run[key]!));
  }
  return result;
}

if (import.meta.main) {
  if (Deno.args[0] === "--child") {
    const figures = await measure(Deno.args[1] as StartMethod);
    console.log(JSON.stringify(figures));
    Deno.exit(0);
  }
  const runs: Record<string, Figures[]> = { py: [], worker: [], sub: [] };
  for (let i = 0; i < ROUNDS; i++) {
    runs.py!.push(await python());
    runs.worker!.push(await deno("worker"));
    runs.sub!.push(await deno("subprocess"));
  }
  const py = mediansOf(runs.py!);
  const worker = mediansOf(runs.worker!);
  const sub = mediansOf(runs.sub!);
  const higher = (ours: number, theirs: number) => (ours / theirs).toFixed(2);
  const lower = (ours: number, theirs: number) => (theirs / ours).toFixed(2);
  const k = (x: number) => `${(x / 1000).toFixed(0)}k/s`;
  const M = (x: number) => `${(x / 1e6).toFixed(2)}M/s`;
  const rows = [
    [
      "Pool(2).map, 200,000 items, default chunksize",
      M(py.map_per_s!),
      `${M(worker.map_per_s!)} (${higher(worker.map_per_s!, py.map_per_s!)}×)`,
      `${M(sub.map_per_s!)} (${higher(sub.map_per_s!, py.map_per_s!)}×)`,
    ],
    [
      "the same, chunksize 1, 20,000 items",
      k(py.chunk1_per_s!),
      `${k(worker.chunk1_per_s!)} (${
        higher(worker.chunk1_per_s!, py.chunk1_per_s!)
      }×)`,
      `${k(sub.chunk1_per_s!)} (${
        higher(sub.chunk1_per_s!, py.chunk1_per_s!)
      }×)`,
    ],
    [
      "2,000 sequential awaited apply",
      `${py.apply_us!.toFixed(1)} µs`,
      `${worker.apply_us!.toFixed(1)} µs (${
        lower(worker.apply_us!, py.apply_us!)
      }×)`,
      `${sub.apply_us!.toFixed(1)} µs (${lower(sub.apply_us!, py.apply_us!)}×)`,
    ],
    [
      "8 CPU tasks of ~0.25 s, speed-up over serial",
      `${py.cpu_speedup!.toFixed(2)}×`,
      `${worker.cpu_speedup!.toFixed(2)}×`,
      `${sub.cpu_speedup!.toFixed(2)}×`,
    ],
    [
      "Pool(2) construction → first result",
      `fork ${py.first_result_fork_ms!.toFixed(1)} ms, spawn ${
        py.first_result_spawn_ms!.toFixed(1)
      } ms`,
      `${worker.first_result_ms!.toFixed(1)} ms`,
      `${sub.first_result_ms!.toFixed(1)} ms`,
    ],
    [
      "RSS, parent + children, after the 200k map",
      `${py.rss_mib!.toFixed(0)} MiB`,
      `${worker.rss_mib!.toFixed(0)} MiB`,
      `${sub.rss_mib!.toFixed(0)} MiB`,
    ],
    [
      "peak RSS, imap over 10,000,000 items, chunksize 1000",
      `${py.imap10m_rss_mib!.toFixed(0)} MiB`,
      `${worker.imap10m_rss_mib!.toFixed(0)} MiB`,
      `${sub.imap10m_rss_mib!.toFixed(0)} MiB`,
    ],
  ];
  console.log("| case | Python 3.11 | worker | subprocess |");
  console.log("|---|---|---|---|");
  for (const row of rows) console.log(`| ${row.join(" | ")} |`);
}
