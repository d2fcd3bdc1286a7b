// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// Our side of every case of bench/compare.ts; bench/python/cases.py is
// Python's, one function for one function. Each runner does its case's
// workload once and returns its figure, timing only the work (children are
// up and ready before the clock starts, except where start-up is the case).
import { Event, Lock, Semaphore } from "../lock.ts";
import { Manager } from "../manager.ts";
import { Pipe } from "../pipe.ts";
import { Pool } from "../pool.ts";
import { Process, type StartMethod } from "../process.ts";
import { Queue } from "../queue.ts";
import { contend, roundTrips, uncontended } from "./_lock_targets.ts";
import { dictSets, listAppends, tcpClient } from "./_manager_targets.ts";
import { add, add100, spin } from "./_pool_targets.ts";
import { echo, produceBuffers, producePairs } from "./_queue_targets.ts";
import { noop } from "./_targets.ts";

/** Runs a case's workload of size `n`; returns its figure. */
export type Runner = (n: number, startMethod: StartMethod) => Promise<number>;

const TIMEOUT = 120_000;
const MIB = 1024 * 1024;

function child(
  target: (...args: never[]) => unknown,
  args: unknown[],
  file: string,
  startMethod: StartMethod,
): Process {
  const process = new Process({
    target: target as (...args: unknown[]) => unknown,
    args,
    module: new URL(file, import.meta.url),
    startMethod,
  });
  process.start();
  return process;
}

async function joined(process: Process): Promise<void> {
  const code = await process.join({ timeout: TIMEOUT });
  if (code !== 0) throw new Error(`A child exited with code ${code}`);
}

/** Seconds the parent takes to `get` items 2…n, once the first arrived. */
async function drain(q: Queue<unknown>, n: number): Promise<number> {
  await q.get({ timeout: TIMEOUT });
  const started = performance.now();
  for (let i = 1; i < n; i++) await q.get({ timeout: TIMEOUT });
  return (performance.now() - started) / 1000;
}

export const queueSmall: Runner = async (n, startMethod) => {
  const q = new Queue<[string, number]>();
  const producer = child(
    producePairs,
    [q, n],
    "./_queue_targets.ts",
    startMethod,
  );
  const seconds = await drain(q, n);
  await joined(producer);
  return (n - 1) / seconds;
};

export const queueBulk: Runner = async (n, startMethod) => {
  const q = new Queue<Uint8Array>();
  const producer = child(
    produceBuffers,
    [q, n, MIB],
    "./_queue_targets.ts",
    startMethod,
  );
  const seconds = await drain(q, n);
  await joined(producer);
  return (n - 1) * MIB / seconds / 1e6;
};

export const pipeRoundTrip: Runner = async (n, startMethod) => {
  const [mine, theirs] = Pipe<number>();
  const echoer = child(echo, [theirs, n], "./_queue_targets.ts", startMethod);
  mine.send(0);
  await mine.recv({ timeout: TIMEOUT });
  const started = performance.now();
  for (let i = 1; i < n; i++) {
    mine.send(i);
    await mine.recv({ timeout: TIMEOUT });
  }
  const elapsed = performance.now() - started;
  await joined(echoer);
  return elapsed / (n - 1) * 1000;
};

/** What the lock runner does in its children. */
export type LockWork = "contended" | "uncontended" | "round trip";

/** Called right before the children start working and right after they end. */
export interface Timing {
  start(): void;
  end(): void;
}

/**
 * Times `times` lock operations in each of fresh children, from the start
 * signal to the last child's "done" (so their start-up is not counted).
 *
 * @returns Operations per second, all children together.
 */
export async function lockRun(
  work: LockWork,
  startMethod: StartMethod,
  times: number,
  { warmup = 0, timing }: { warmup?: number; timing?: Timing } = {},
): Promise<number> {
  const lock = new Lock();
  const ready = new Semaphore(0);
  const go = new Event();
  const done = new Semaphore(0);
  // A plain shared counter, like Python's Value(lock=False); a subprocess
  // child shares no memory with us and counts locally.
  const counter = startMethod === "worker"
    ? new Int32Array(new SharedArrayBuffer(4))
    : null;
  const file = "./_lock_targets.ts";
  const children = work === "uncontended"
    ? [child(uncontended, [lock, times, ready, go, done], file, startMethod)]
    : work === "round trip"
    ? [
      child(
        roundTrips,
        [new Event(), times, ready, go, done],
        file,
        startMethod,
      ),
    ]
    : [0, 1].map(() =>
      child(
        contend,
        [lock, counter, times, warmup, ready, go, done],
        file,
        startMethod,
      )
    );
  for (const _ of children) await acquired(ready, "became ready");
  timing?.start();
  const started = performance.now();
  go.set();
  for (const _ of children) await acquired(done, "finished");
  const elapsed = performance.now() - started;
  timing?.end();
  for (const c of children) await joined(c);
  if (counter !== null && work === "contended" && counter[0] !== 2 * times) {
    throw new Error(`Lost increments: ${counter[0]} of ${2 * times}`);
  }
  return children.length * times / (elapsed / 1000);
}

async function acquired(semaphore: Semaphore, what: string): Promise<void> {
  if (!await semaphore.acquire({ timeout: TIMEOUT })) {
    throw new Error(`A child never ${what}`);
  }
}

async function managed(
  startMethod: StartMethod,
  target: typeof dictSets | typeof listAppends,
  make: (manager: Manager) => unknown,
  n: number,
): Promise<number> {
  await using manager = await Manager.start({ startMethod });
  const out = new Queue<number>();
  const client = child(
    target,
    [make(manager), n, out],
    "./_manager_targets.ts",
    startMethod,
  );
  const seconds = await out.get({ timeout: TIMEOUT });
  await joined(client);
  return n / seconds;
}

const AUTHKEY = "bench-authkey";

/**
 * Two client children of a network manager served on loopback, each doing
 * `n` awaited `d.set` on a dict of its own; total ops/s over the slower.
 */
export const managerTcp: Runner = async (n, startMethod) => {
  await using manager = await Manager.serve({
    hostname: "127.0.0.1",
    port: 0,
    authkey: AUTHKEY,
  });
  const { port } = manager.address as { port: number };
  const out = new Queue<number>();
  const clients = [0, 1].map(() =>
    child(
      tcpClient,
      [port, AUTHKEY, n, out],
      "./_manager_targets.ts",
      startMethod,
    )
  );
  const seconds = [];
  for (const _ of clients) seconds.push(await out.get({ timeout: TIMEOUT }));
  for (const client of clients) await joined(client);
  return 2 * n / Math.max(...seconds);
};

const POOL = "./_pool_targets.ts";

/** A Pool(2) whose children are up and have run a first map. */
async function warmPool(startMethod: StartMethod): Promise<Pool> {
  const pool = new Pool({
    processes: 2,
    module: new URL(POOL, import.meta.url),
    startMethod,
  });
  await pool.map(add100, range(1000), { chunksize: 1 });
  return pool;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

async function seconds(work: () => unknown): Promise<number> {
  const started = performance.now();
  await work();
  return (performance.now() - started) / 1000;
}

export const poolMap: Runner = async (n, startMethod) => {
  await using pool = await warmPool(startMethod);
  const items = range(n);
  await pool.map(add100, items);
  return n / await seconds(() => pool.map(add100, items));
};

export const poolMapChunk1: Runner = async (n, startMethod) => {
  await using pool = await warmPool(startMethod);
  const items = range(n);
  // As for the default chunksize: the first map is mostly V8 compiling.
  await pool.map(add100, items, { chunksize: 1 });
  return n / await seconds(() => pool.map(add100, items, { chunksize: 1 }));
};

export const poolImap: Runner = async (n, startMethod) => {
  await using pool = await warmPool(startMethod);
  function* numbers() {
    for (let i = 0; i < n; i++) yield i;
  }
  const imaps = async () => {
    for await (const _ of pool.imap(add100, numbers()));
  };
  await imaps();
  return n / await seconds(imaps);
};

export const poolApply: Runner = async (n, startMethod) => {
  await using pool = await warmPool(startMethod);
  const applies = async () => {
    for (let i = 0; i < n; i++) await pool.apply(add, [i, 1]);
  };
  // The first round lets V8 compile the path, as a long-running program's
  // first thousand calls do: the second gives the cost of a call.
  await applies();
  return await seconds(applies) / n * 1e6;
};

/** Spin iterations that take about `ms` here. */
function calibrate(ms: number): number {
  for (let n = 100_000;; n *= 2) {
    const started = performance.now();
    spin(n);
    const elapsed = performance.now() - started;
    if (elapsed > 20) return Math.max(1, Math.round(n * ms / elapsed));
  }
}

/** Eight tasks: the serial time is that of two, times four. */
const CPU_TASKS = 8;

export const poolSpeedup: Runner = async (ms, startMethod) => {
  await using pool = await warmPool(startMethod);
  const n = calibrate(ms);
  const serial = await seconds(() => {
    spin(n);
    spin(n);
  }) * CPU_TASKS / 2;
  const tasks = Array<number>(CPU_TASKS).fill(n);
  return serial / await seconds(() => pool.map(spin, tasks, { chunksize: 1 }));
};

export const poolFirstResult: Runner = async (_, startMethod) => {
  const started = performance.now();
  await using pool = new Pool({
    processes: 2,
    module: new URL(POOL, import.meta.url),
    startMethod,
  });
  await pool.apply(add, [1, 2]);
  return performance.now() - started;
};

export const poolRss: Runner = async (n, startMethod) => {
  await using pool = await warmPool(startMethod);
  await pool.map(add100, range(n));
  return treeRssMiB(Deno.pid);
};

export const processStart: Runner = async (n, startMethod) => {
  const times: number[] = [];
  for (let i = 0; i < n + 2; i++) {
    const started = performance.now();
    await joined(child(noop, [], "./_targets.ts", startMethod));
    if (i >= 2) times.push(performance.now() - started);
  }
  return median(times);
};

/** The median of some numbers. */
export function median(values: number[]): number {
  const sorted = values.toSorted((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** RSS of a process and all its descendants, in MiB. */
export function treeRssMiB(pid: number): number {
  let kib = 0;
  const pending = [pid];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    try {
      const status = Deno.readTextFileSync(`/proc/${next}/status`);
      kib += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      for (const task of Deno.readDirSync(`/proc/${next}/task`)) {
        const text = Deno.readTextFileSync(
          `/proc/${next}/task/${task.name}/children`,
        );
        pending.push(...text.split(" ").filter(Boolean).map(Number));
      }
    } catch {
      // Gone meanwhile.
    }
  }
  return kib / 1024;
}

/** Runs the lock's `contended` case: 2 children × `n` pairs. */
export const lockContended: Runner = (n, m) => lockRun("contended", m, n);

/** Runs the lock's `uncontended` case: 1 child × `n` pairs. */
export const lockUncontended: Runner = (n, m) => lockRun("uncontended", m, n);

/** `n` awaited `d.set("k" + i, i)` from a child. */
export const managerDictSet: Runner = (n, m) =>
  managed(m, dictSets, (manager) => manager.dict(), n);

/** `n` awaited `l.append(i)` from a child. */
export const managerListAppend: Runner = (n, m) =>
  managed(m, listAppends, (manager) => manager.list(), n);
