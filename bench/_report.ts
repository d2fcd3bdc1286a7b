// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// The table of bench/compare.ts, and bench/RESULTS.md around it.
import { type Case, sizeFor } from "./_cases.ts";

/** A side's figures for one row: medians and spread, or why there are none. */
export type Summary =
  | { median: number; min: number; max: number }
  | { problem: string };

/** One row of the table: a case under one start method, free or pinned. */
export interface Row {
  c: Case;
  /** "worker / fork": ours, then the Python start method it compares with. */
  variant: string;
  startMethod: "worker" | "subprocess";
  pinned: boolean;
  ours: Summary;
  python: Summary;
  /** > 1 when we are better, whichever way the unit points. */
  ratio: number | undefined;
}

/** Facts of the machine and the run, for RESULTS.md. */
export interface Facts {
  date: string;
  cpu: string;
  cores: number;
  ramGiB: number;
  kernel: string;
  deno: string;
  python: string;
  load: string;
}

/** A figure in its unit, to three significant digits. */
export function figure(value: number, unit: string): string {
  const [scaled, prefix] = unit.endsWith("/s") && value >= 1e6
    ? [value / 1e6, "M"]
    : unit.endsWith("/s") && value >= 1e4
    ? [value / 1e3, "k"]
    : [value, ""];
  const digits = scaled >= 100 ? 0 : scaled >= 10 ? 1 : 2;
  return `${scaled.toFixed(digits)}${prefix}${unit === "×" ? "" : " "}${unit}`;
}

function shown(summary: Summary, unit: string): [string, string] {
  if ("problem" in summary) return [summary.problem, ""];
  return [
    figure(summary.median, unit),
    `${figure(summary.min, unit)} – ${figure(summary.max, unit)}`,
  ];
}

/** The ratio as shown: "1.23×", "0.0042×". */
export function ratioText(ratio: number | undefined): string {
  if (ratio === undefined) return "—";
  return `${ratio < 0.1 ? ratio.toPrecision(2) : ratio.toFixed(2)}×`;
}

/**
 * The table, as Markdown; a case's workload stands on its first row and
 * wherever it changes.
 */
export function table(rows: Row[], sizes: "full" | "smoke"): string {
  const head = [
    "case",
    "workload (the same on both sides)",
    "start method (ours / Python)",
    "CPUs",
    "ours",
    "Python",
    "ratio",
    "ours min – max",
    "Python min – max",
  ];
  let previous = "";
  const body = rows.map((r) => {
    const n = sizeFor(r.c, r.variant.split(" / ")[0]!, sizes === "smoke");
    const workload = `${r.c.workload(n)}; ${
      r.c.higherIsBetter ? "higher" : "lower"
    } is better`;
    const fresh = `${r.c.title}\n${workload}` !== previous;
    previous = `${r.c.title}\n${workload}`;
    const [ours, oursSpread] = shown(r.ours, r.c.unit);
    const [python, pythonSpread] = shown(r.python, r.c.unit);
    return [
      fresh ? r.c.title : "",
      fresh ? workload : "",
      r.variant,
      r.pinned ? "pinned (taskset -c 0)" : "free",
      ours,
      python,
      ratioText(r.ratio),
      oursSpread,
      pythonSpread,
    ];
  });
  const line = (cells: string[]) =>
    `| ${cells.map((c) => c.replaceAll("|", "\\|")).join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...body.map(line)].join(
    "\n",
  );
}

async function output(cmd: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await new Deno.Command(cmd, { args }).output();
    return new TextDecoder().decode(stdout).trim();
  } catch {
    return "unknown";
  }
}

/** The machine's facts, read now. */
export async function machineFacts(): Promise<Facts> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo");
  const meminfo = await Deno.readTextFile("/proc/meminfo");
  const kib = Number(/MemTotal:\s+(\d+)/.exec(meminfo)?.[1] ?? 0);
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    cpu: /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? "unknown",
    cores: navigator.hardwareConcurrency,
    ramGiB: Math.round(kib / 2 ** 20 * 10) / 10,
    kernel: `${Deno.build.os} ${Deno.osRelease()}`,
    deno: `${Deno.version.deno} (V8 ${Deno.version.v8})`,
    python: (await output("python3", ["--version"])).replace("Python ", ""),
    load: (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3)
      .join(" "),
  };
}

/** Writes RESULTS.md: how it was run, on what, and the table. */
export async function writeResults(
  path: string,
  rows: Row[],
  run: Facts & { pairs: number; seconds: number },
  sizes: "full" | "smoke",
): Promise<void> {
  const endLoad = (await Deno.readTextFile("/proc/loadavg")).split(" ")
    .slice(0, 3).join(" ");
  const text =
    `# Benchmark results: @mp/multiprocessing against Python ${run.python}'s multiprocessing

Written by \`deno task compare\` (bench/compare.ts); do not edit by hand. The
chart is [results.svg](results.svg).

- Date: ${run.date}; wall time ${Math.round(run.seconds)} s, ${run.pairs} pairs
- CPU: ${run.cpu}, ${run.cores} logical cores; RAM ${run.ramGiB} GiB; ${run.kernel}
- Deno ${run.deno}; Python ${run.python}
- Load average (1, 5, 15 min) at the start: ${run.load}; at the end: ${endLoad}

How to read it:

- Each row ran ${run.pairs} times on each side, alternately (ours, Python,
  ours, Python …, the order swapped every other pair), each time in a fresh
  \`deno\` or \`python3\` process; the figures are medians, with the spread of
  the runs beside them.
- **ratio > 1 means we are better**: ours ÷ Python for rates, Python ÷ ours
  for times and memory.
- Start methods: our \`worker\` against Python's \`fork\`, our \`subprocess\`
  against Python's \`spawn\`. \`subprocess+shm\` runs subprocess children
  with \`MP_SHARED_MEMORY\` unset and \`-A\` (so \`--allow-ffi\`): the shared
  memory path for subprocess children where the library has one;
  \`subprocess\` runs them with \`MP_SHARED_MEMORY=0\`.
- Latency cases also run pinned: \`taskset -c 0\` on the run's process, so
  every process of the run, on both sides, shares CPU 0. On a 2-vCPU machine a
  wake-up that crosses CPUs costs tens of µs, for Python and us alike.

${table(rows, sizes)}
`;
  await Deno.writeTextFile(path, text);
}
