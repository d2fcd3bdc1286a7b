// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// The cases of bench/compare.ts. Each names its workload, which is the same
// on both sides (item shapes, counts, process counts; bench/_ours.ts and
// bench/python/cases.py do it one function for one function), the size of
// that workload per start method, and how to read the figure.
import * as ours from "./_ours.ts";

/** Sizes of a case's workload: full runs per start method, and smoke runs. */
export interface Sizes {
  worker: number;
  subprocess: number;
  /**
   * For subprocess children on shared memory, when it differs from
   * `subprocess` (sized for calls to the owner).
   */
  shm?: number;
  smoke: number;
}

/** One case of the comparison. */
export interface Case {
  /** Shown in the table. */
  title: string;
  /** The workload of size `n`, as done on both sides. */
  workload(n: number): string;
  sizes: Sizes;
  unit: string;
  higherIsBetter: boolean;
  /** Bound by cross-process wake-ups: also run with both sides on one CPU. */
  latency?: boolean;
  /** Our runner, or `null` while the primitive is missing. */
  ours: ours.Runner | null;
  /** Its id in runs, and the name of Python's runner in bench/python/cases.py. */
  key: string;
}

/** `n` with thousands separators. */
export function count(n: number): string {
  return n.toLocaleString("en-US");
}

/**
 * The size of case `c` for the variant labelled `label` ("worker",
 * "subprocess+shm", "subprocess"), or its smoke size.
 */
export function sizeFor(c: Case, label: string, smoke: boolean): number {
  if (smoke) return c.sizes.smoke;
  if (label === "worker") return c.sizes.worker;
  return label === "subprocess+shm"
    ? c.sizes.shm ?? c.sizes.subprocess
    : c.sizes.subprocess;
}

const same = (full: number, smoke: number): Sizes => ({
  worker: full,
  subprocess: full,
  smoke,
});

/** Every case, in the order of the table. */
export const CASES: Case[] = [
  {
    title: "queue, small items",
    workload: (n) =>
      `1 producer child puts ${
        count(n)
      } × ["xiaoming", 12] on a Queue; the parent gets them, timed from the first item`,
    sizes: same(200_000, 100),
    unit: "items/s",
    higherIsBetter: true,
    ours: ours.queueSmall,
    key: "queue_small",
  },
  {
    title: "queue, bulk",
    workload: (n) =>
      `1 producer child puts ${
        count(n)
      } × a 1 MiB byte array (Uint8Array / bytes); the parent gets them, timed from the first`,
    sizes: same(400, 3),
    unit: "MB/s",
    higherIsBetter: true,
    ours: ours.queueBulk,
    key: "queue_bulk",
  },
  {
    title: "pipe round trip",
    workload: (n) =>
      `Pipe: the parent sends a number, a child echoes it back, ${
        count(n)
      } times in a row`,
    sizes: same(10_000, 20),
    unit: "µs",
    higherIsBetter: false,
    latency: true,
    ours: ours.pipeRoundTrip,
    key: "pipe_round_trip",
  },
  {
    title: "lock, contended",
    workload: (n) =>
      `2 children × ${
        count(n)
      } acquire → increment a shared counter → release on one Lock`,
    sizes: { worker: 200_000, subprocess: 10_000, shm: 200_000, smoke: 20 },
    unit: "pairs/s",
    higherIsBetter: true,
    ours: ours.lockContended,
    key: "lock_contended",
  },
  {
    title: "lock, uncontended",
    workload: (n) =>
      `1 child × ${count(n)} acquire → release on a Lock the parent made`,
    sizes: {
      worker: 5_000_000,
      subprocess: 20_000,
      shm: 5_000_000,
      smoke: 20,
    },
    unit: "pairs/s",
    higherIsBetter: true,
    latency: true,
    ours: ours.lockUncontended,
    key: "lock_uncontended",
  },
  {
    title: "manager dict set",
    workload: (n) =>
      `Manager server + 1 child doing ${
        count(n)
      } awaited d["k" + i] = i on a managed dict`,
    sizes: same(10_000, 20),
    unit: "ops/s",
    higherIsBetter: true,
    latency: true,
    ours: ours.managerDictSet,
    key: "manager_dict_set",
  },
  {
    title: "manager list append",
    workload: (n) =>
      `Manager server + 1 child doing ${
        count(n)
      } awaited l.append(i) on a managed list`,
    sizes: same(10_000, 20),
    unit: "ops/s",
    higherIsBetter: true,
    latency: true,
    ours: ours.managerListAppend,
    key: "manager_list_append",
  },
  {
    title: "manager over TCP",
    workload: (n) =>
      `Network manager on 127.0.0.1 with an auth key + 2 client children, each connecting and doing ${
        count(n)
      } awaited d["k" + i] = i on a dict of its own; total ops/s`,
    sizes: same(10_000, 20),
    unit: "ops/s",
    higherIsBetter: true,
    ours: ours.managerTcp,
    key: "manager_tcp",
  },
  {
    title: "pool map, default chunksize",
    workload: (n) =>
      `Pool(2), warmed up: map(x => x + 100) over ${
        count(n)
      } numbers, default chunksize (second of two maps timed)`,
    sizes: same(1_000_000, 100),
    unit: "items/s",
    higherIsBetter: true,
    ours: ours.poolMap,
    key: "pool_map",
  },
  {
    title: "pool map, chunksize 1",
    workload: (n) =>
      `Pool(2), warmed up: map(x => x + 100) over ${
        count(n)
      } numbers, chunksize 1 (second of two maps timed)`,
    sizes: same(50_000, 100),
    unit: "items/s",
    higherIsBetter: true,
    ours: ours.poolMapChunk1,
    key: "pool_map_chunksize_1",
  },
  {
    title: "pool imap",
    workload: (n) =>
      `Pool(2), warmed up: imap(x => x + 100) over a generator of ${
        count(n)
      } numbers, default chunksize (1), every result taken (second of two imaps timed)`,
    sizes: same(50_000, 100),
    unit: "items/s",
    higherIsBetter: true,
    ours: ours.poolImap,
    key: "pool_imap",
  },
  {
    title: "pool serial apply",
    workload: (n) =>
      `Pool(2), warmed up: ${
        count(n)
      } awaited apply(add, [i, 1]), one at a time (second of two rounds timed)`,
    sizes: same(5_000, 10),
    unit: "µs",
    higherIsBetter: false,
    latency: true,
    ours: ours.poolApply,
    key: "pool_serial_apply",
  },
  {
    title: "pool CPU speed-up",
    workload: (n) =>
      `Pool(2): 8 CPU-bound tasks of ~${n} ms each (a spin loop calibrated on each side), chunksize 1; serial time ÷ pool time`,
    sizes: same(150, 5),
    unit: "×",
    higherIsBetter: true,
    ours: ours.poolSpeedup,
    key: "pool_cpu_speedup",
  },
  {
    title: "pool start → first result",
    workload: () =>
      "new Pool(2) → first apply(add, [1, 2]) resolved, the first pool of a fresh process",
    sizes: same(1, 1),
    unit: "ms",
    higherIsBetter: false,
    ours: ours.poolFirstResult,
    key: "pool_first_result",
  },
  {
    title: "pool RSS",
    workload: (n) =>
      `RSS of the parent and all its descendants after Pool(2).map over ${
        count(n)
      } numbers`,
    sizes: same(200_000, 100),
    unit: "MiB",
    higherIsBetter: false,
    ours: ours.poolRss,
    key: "pool_rss",
  },
  {
    title: "process start",
    workload: (n) =>
      `start + join of a child that does nothing: median of ${
        count(n)
      }, after 2 unmeasured`,
    sizes: same(20, 1),
    unit: "ms",
    higherIsBetter: false,
    ours: ours.processStart,
    key: "process_start",
  },
];
