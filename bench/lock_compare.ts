// Side by side: Lock throughput, ours (both start methods) against Python
// 3.11's multiprocessing.Lock, in the same run, as medians of several rounds.
//
//   deno run -A --no-check bench/lock_compare.ts [rounds]
//
// (a) contended: 2 children × N acquire → increment → release under one
//     Lock, in fresh children ("cold": the JIT compiles the loop meanwhile)
//     and in children that first ran 200,000 pairs on a lock of their own
//     ("warm"); Python has no JIT, so it has one figure;
// (b) uncontended: N acquire → release pairs in one child;
// (c) for subprocess children: N bare round trips to the owner
//     (`Event.wait({ timeout: 0 })`), which bound what (a) and (b) can do.
//
// Each round starts fresh children, waits until they are ready, then times
// from the start signal to the last child's "done".
import { Event, Lock, Semaphore } from "../lock.ts";
import { Process, type StartMethod } from "../process.ts";
import { contend, roundTrips, uncontended } from "./_lock_targets.ts";

const module = new URL("./_lock_targets.ts", import.meta.url);
const TIMEOUT = 120_000;
const WARMUP = 200_000;

/**
 * Whether subprocess children share memory (the default with `-A` on
 * Linux): they then run as many operations as workers do.
 */
const SHARED = Deno.build.os === "linux" &&
  Deno.env.get("MP_SHARED_MEMORY") !== "0";
const calls = (shared: number) => SHARED ? shared : 2_000;

/** The cases, and how many operations each child does per start method. */
export const CASES = {
  contended: { worker: 20_000, subprocess: calls(20_000) },
  "contended, warm": { worker: 20_000, subprocess: calls(20_000) },
  uncontended: { worker: 1_000_000, subprocess: calls(1_000_000) },
  "round trip": { worker: 0, subprocess: calls(20_000) },
} as const;

/** A case of {@linkcode CASES}. */
export type Case = keyof typeof CASES;

/** What the runner needs of a child. */
type Child = Pick<Process, "start" | "join">;

/** Called right before the children start working and right after they finish. */
export interface Timing {
  start(): void;
  end(): void;
}

/**
 * Runs one round of a case in fresh children.
 *
 * @returns Operations (acquire/release pairs, or round trips) per second.
 */
export async function runCase(
  name: Case,
  startMethod: StartMethod,
  timing?: Timing,
): Promise<number> {
  const times = CASES[name][startMethod];
  const lock = new Lock();
  const ready = new Semaphore(0);
  const go = new Event();
  const done = new Semaphore(0);
  const counter = startMethod === "worker"
    ? new Int32Array(new SharedArrayBuffer(4))
    : null;
  const spawn = <A extends unknown[]>(
    target: (...args: A) => unknown,
    args: A,
  ): Child => new Process({ target, args, module, startMethod });
  const children = name === "uncontended"
    ? [spawn(uncontended, [lock, times, ready, go, done])]
    : name === "round trip"
    ? [spawn(roundTrips, [new Event(), times, ready, go, done])]
    : [0, 1].map(() =>
      spawn(contend, [
        lock,
        counter,
        times,
        name === "contended, warm" ? WARMUP : 0,
        ready,
        go,
        done,
      ])
    );
  for (const child of children) child.start();
  for (const _ of children) {
    if (!await ready.acquire({ timeout: TIMEOUT })) {
      throw new Error("A child never became ready");
    }
  }
  timing?.start();
  const started = performance.now();
  go.set();
  for (const _ of children) {
    if (!await done.acquire({ timeout: TIMEOUT })) {
      throw new Error("A child never finished");
    }
  }
  const elapsed = performance.now() - started;
  timing?.end();
  for (const child of children) {
    const code = await child.join({ timeout: TIMEOUT });
    if (code !== 0) throw new Error(`A child exited with code ${code}`);
  }
  const contended = name === "contended" || name === "contended, warm";
  if (contended && counter !== null && counter[0] !== 2 * times) {
    throw new Error(`Lost increments: ${counter[0]}`);
  }
  return children.length * times / (elapsed / 1000);
}

function median(values: number[]): number {
  const sorted = values.toSorted((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function python(
  rounds: number,
): Promise<{ contended: number; uncontended: number }> {
  const script = new URL("./lock_bench.py", import.meta.url).pathname;
  const { stdout, success } = await new Deno.Command("python3", {
    args: [script, "fork", String(rounds)],
    stderr: "inherit",
  }).output();
  if (!success) throw new Error("The Python benchmark failed");
  return JSON.parse(new TextDecoder().decode(stdout));
}

function rate(value: number): string {
  return value >= 1e6
    ? `${(value / 1e6).toFixed(2)}M/s`
    : `${(value / 1e3).toFixed(1)}k/s`;
}

if (import.meta.main) {
  const rounds = Number(Deno.args[0] ?? 7);
  const runs = new Map<string, number[]>();
  const record = (key: string, value: number) =>
    runs.set(key, [...runs.get(key) ?? [], value]);
  // Each round runs every case, ours and Python's, so that noise on this
  // shared machine hits all of them alike.
  for (let round = 0; round < rounds; round++) {
    for (const name of Object.keys(CASES) as Case[]) {
      for (const startMethod of ["worker", "subprocess"] as const) {
        if (CASES[name][startMethod] === 0) continue;
        record(`${name}, ${startMethod}`, await runCase(name, startMethod));
      }
    }
    const py = await python(1);
    record("python contended", py.contended);
    record("python uncontended", py.uncontended);
  }
  const reference: Record<Case, number | null> = {
    contended: median(runs.get("python contended")!),
    "contended, warm": median(runs.get("python contended")!),
    uncontended: median(runs.get("python uncontended")!),
    "round trip": null,
  };
  console.log(`Operations per second, medians of ${rounds} rounds`);
  console.log(
    `(a) 2 children × ${CASES.contended.worker} (worker) / ${CASES.contended.subprocess} (subprocess) acquire → increment → release; ` +
      `(b) 1 child × ${CASES.uncontended.worker} / ${CASES.uncontended.subprocess} pairs; Python 3.11, fork, same rounds`,
  );
  console.log(
    "| case                          |       ours |     Python |  ratio |",
  );
  console.log(
    "|-------------------------------|------------|------------|--------|",
  );
  for (const [key, values] of runs) {
    if (key.startsWith("python")) continue;
    const name = key.slice(0, key.lastIndexOf(",")) as Case;
    const ours = median(values);
    const theirs = reference[name];
    console.log(
      `| ${key.padEnd(29)} | ${rate(ours).padStart(10)} | ${
        (theirs === null ? "" : rate(theirs)).padStart(10)
      } | ${
        (theirs === null ? "" : `${(ours / theirs).toFixed(2)}×`).padStart(6)
      } |`,
    );
  }
  const spread = (key: string) => {
    const values = runs.get(key)!;
    return `${rate(Math.min(...values))} … ${rate(Math.max(...values))}`;
  };
  console.log(
    `Python per round: contended ${spread("python contended")}, uncontended ${
      spread("python uncontended")
    }`,
  );
}
