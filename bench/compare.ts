// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// Every case of bench/_cases.ts, ours against Python 3.11's multiprocessing,
// alternately in one run (ours, Python, ours, Python …, the order swapped
// every other pair), each run a fresh process so that neither side's warm
// state helps the other. Prints the table; writes bench/RESULTS.md and
// bench/results.svg.
//
//   deno task compare                 # 5 pairs, 5–10 minutes
//   deno task compare --pairs=5
//   deno task compare --smoke         # tiny sizes, 1 pair: checks every case
//                                     # gives a figure (never a speed)
//   deno task compare --only=pool     # cases whose key contains "pool"
//                                     # (writes no files)
import { parseArgs } from "node:util";
import { type Case, CASES, sizeFor } from "./_cases.ts";
import { median } from "./_ours.ts";
import { machineFacts, type Row, table, writeResults } from "./_report.ts";
import { svg } from "./_svg.ts";

/** A start method of ours, and the Python one its row compares with. */
export interface Variant {
  label: string;
  startMethod: "worker" | "subprocess";
  python: "fork" | "spawn";
  /** MP_SHARED_MEMORY for our side: `undefined` leaves it unset. */
  sharedMemory: "0" | undefined;
}

// A worker starts in-process like a fork; a subprocess child is a fresh
// interpreter, like spawn.
export const VARIANTS: Variant[] = [
  {
    label: "worker",
    startMethod: "worker",
    python: "fork",
    sharedMemory: undefined,
  },
  {
    label: "subprocess+shm",
    startMethod: "subprocess",
    python: "spawn",
    sharedMemory: undefined,
  },
  {
    label: "subprocess",
    startMethod: "subprocess",
    python: "spawn",
    sharedMemory: "0",
  },
];

type Figures = Record<string, number | { error: string }>;
type Side = "ours" | "python";

const RUN_TIMEOUT = 180_000;
const here = (path: string) => new URL(path, import.meta.url).pathname;

/** Runs cases (key, size) in one fresh process of one side. */
async function run(
  side: Side,
  variant: Variant,
  pinned: boolean,
  jobs: [string, number][],
): Promise<Figures> {
  const env = Deno.env.toObject();
  delete env.MP_SHARED_MEMORY;
  if (variant.sharedMemory !== undefined) {
    env.MP_SHARED_MEMORY = variant.sharedMemory;
  }
  const command = side === "ours"
    ? [
      Deno.execPath(),
      "run",
      "-A",
      "--no-check",
      here("./_run.ts"),
      variant.startMethod,
    ]
    : ["python3", here("./python/cases.py"), variant.python];
  // Pinning the run's process pins its children: they inherit its CPU set.
  const [cmd, ...args] = [
    ...pinned ? ["taskset", "-c", "0"] : [],
    ...command,
    JSON.stringify(jobs),
  ];
  const failed = (error: string): Figures =>
    Object.fromEntries(jobs.map(([key]) => [key, { error }]));
  try {
    const { success, code, stdout, stderr } = await new Deno.Command(cmd!, {
      args,
      env,
      clearEnv: true,
      cwd: here(".."),
      stdin: "null",
      signal: AbortSignal.timeout(RUN_TIMEOUT),
    }).output();
    const out = new TextDecoder().decode(stdout).trim().split("\n").at(-1);
    if (success && out?.startsWith("{")) return JSON.parse(out);
    const err = new TextDecoder().decode(stderr).trim().split("\n").slice(-3);
    return failed(`exit code ${code}: ${err.join(" / ")}`);
  } catch (error) {
    return failed(String(error));
  }
}

/** One row's place in the schedule: a case under one variant. */
export interface Slot {
  c: Case;
  variant: Variant;
  pinned: boolean;
}

function slots(only: string | undefined): Slot[] {
  const all: Slot[] = [];
  for (const c of CASES) {
    if (only !== undefined && !c.key.includes(only)) continue;
    for (const pinned of c.latency ? [false, true] : [false]) {
      for (const variant of VARIANTS) all.push({ c, variant, pinned });
    }
  }
  return all;
}

const sizeOf = (slot: Slot, smoke: boolean) =>
  sizeFor(slot.c, slot.variant.label, smoke);

/**
 * Runs every slot `pairs` times on both sides. In full runs each case gets a
 * fresh process; a smoke run puts every case of a variant in one process
 * per side, to stay within seconds.
 */
async function measure(
  all: Slot[],
  pairs: number,
  smoke: boolean,
): Promise<Map<Slot, Record<Side, (number | string)[]>>> {
  const results = new Map(all.map((s) => [s, { ours: [], python: [] }])) as Map<
    Slot,
    Record<Side, (number | string)[]>
  >;
  const groups = smoke
    ? Object.values(
      Object.groupBy(all, (s) => `${s.variant.label} ${s.pinned}`),
    )
      .map((group) => group!)
    : all.map((slot) => [slot]);
  for (let pair = 0; pair < pairs; pair++) {
    const sides: Side[] = pair % 2 === 0
      ? ["ours", "python"]
      : ["python", "ours"];
    for (const group of groups) {
      const { variant, pinned } = group[0]!;
      console.error(
        `pair ${pair + 1}/${pairs}: ${
          group.map((s) => s.c.key).join(", ")
        }, ${variant.label}${pinned ? ", pinned" : ""}`,
      );
      for (const side of sides) {
        const runnable = group.filter((s) => side === "python" || s.c.ours);
        if (runnable.length === 0) continue;
        const figures = await run(
          side,
          variant,
          pinned,
          runnable.map((s) => [s.c.key, sizeOf(s, smoke)]),
        );
        for (const slot of runnable) {
          const figure = figures[slot.c.key];
          results.get(slot)![side].push(
            typeof figure === "number" && Number.isFinite(figure)
              ? figure
              : `failed: ${
                (figure as { error?: string } | undefined)?.error ?? "no figure"
              }`,
          );
        }
      }
    }
  }
  return results;
}

/**
 * Medians and spreads of one slot's figures (a string is a failed run).
 *
 * @returns The row, its ratio > 1 when we are better.
 */
export function row(
  slot: Slot,
  figures: Record<Side, (number | string)[]>,
): Row {
  const summary = (values: (number | string)[]) => {
    const numbers = values.filter((v) => typeof v === "number") as number[];
    const problem = values.find((v) => typeof v === "string") as
      | string
      | undefined;
    return problem !== undefined || numbers.length === 0
      ? { problem: problem ?? "missing" }
      : {
        median: median(numbers),
        min: Math.min(...numbers),
        max: Math.max(...numbers),
      };
  };
  const ours = slot.c.ours ? summary(figures.ours) : { problem: "missing" };
  const python = summary(figures.python);
  const ratio = "median" in ours && "median" in python
    ? slot.c.higherIsBetter
      ? ours.median / python.median
      : python.median / ours.median
    : undefined;
  return {
    c: slot.c,
    variant: `${slot.variant.label} / ${slot.variant.python}`,
    startMethod: slot.variant.startMethod,
    pinned: slot.pinned,
    ours,
    python,
    ratio,
  };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      smoke: { type: "boolean", default: false },
      pairs: { type: "string" },
      only: { type: "string" },
    },
  });
  const smoke = values.smoke;
  const pairs = Number(values.pairs ?? (smoke ? 1 : 5));
  if (!Number.isInteger(pairs) || pairs < 1) {
    throw new RangeError(
      `Cannot run ${values.pairs} pairs: give a whole number ≥ 1`,
    );
  }
  const started = performance.now();
  const facts = await machineFacts();
  const all = slots(values.only);
  const results = await measure(all, pairs, smoke);
  const rows = all.map((slot) => row(slot, results.get(slot)!));
  const seconds = (performance.now() - started) / 1000;
  console.log(table(rows, smoke ? "smoke" : "full"));
  console.log(`${all.length} rows, ${pairs} pair(s), ${seconds.toFixed(0)} s`);
  const bad = rows.filter((r) => "problem" in r.ours || "problem" in r.python);
  if (smoke) {
    // Sizes here are too small to mean anything: check only that each ran.
    if (bad.length > 0) {
      console.error(`${bad.length} row(s) gave no figure`);
      Deno.exit(1);
    }
    console.log("smoke: every case ran on both sides and gave a figure");
  }
  if (values.only === undefined) {
    // A smoke run writes too, away from the committed files, so that the
    // writers cannot rot either.
    const dir = smoke ? await Deno.makeTempDir() : here(".");
    await writeResults(
      `${dir}/RESULTS.md`,
      rows,
      { ...facts, pairs, seconds },
      smoke ? "smoke" : "full",
    );
    await Deno.writeTextFile(`${dir}/results.svg`, svg(rows));
    if (smoke) await Deno.remove(dir, { recursive: true });
    else console.log("wrote bench/RESULTS.md and bench/results.svg");
  }
}
