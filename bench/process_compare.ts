// Side by side: start+join of a child that does nothing, ours (both start
// methods) against Python 3.11's spawn and fork, in the same run.
//
//   deno run -A bench/process_compare.ts
import { Process, type StartMethod } from "../process.ts";
import { noop } from "./_targets.ts";

const RUNS = 40;
const module = new URL("./_targets.ts", import.meta.url);

function median(values: number[]): number {
  const sorted = values.toSorted((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function measure(startMethod: StartMethod): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < RUNS + 5; i++) {
    const started = performance.now();
    const child = new Process({ target: noop, module, startMethod });
    child.start();
    const code = await child.join();
    if (code !== 0) throw new Error(`The child exited with code ${code}`);
    if (i >= 5) times.push(performance.now() - started);
  }
  return median(times);
}

async function python(): Promise<Record<string, number>> {
  const script = new URL("./process_bench.py", import.meta.url).pathname;
  const { stdout } = await new Deno.Command("python3", { args: [script] })
    .output();
  const results: Record<string, number> = {};
  for (
    const match of new TextDecoder().decode(stdout).matchAll(
      /python (\w+) start\+join: ([\d.]+) ms/g,
    )
  ) {
    results[match[1]!] = Number(match[2]);
  }
  return results;
}

if (import.meta.main) {
  const worker = await measure("worker");
  const subprocess = await measure("subprocess");
  const py = await python();
  const row = (name: string, ms: number) =>
    `| ${name.padEnd(22)} | ${ms.toFixed(1).padStart(8)} ms | ${
      (py.spawn! / ms).toFixed(2).padStart(5)
    }× | ${(py.fork! / ms).toFixed(2).padStart(5)}× |`;
  console.log("| start+join (median)    |     time    | vs spawn | vs fork |");
  console.log("|------------------------|-------------|----------|---------|");
  console.log(row("ours, worker", worker));
  console.log(row("ours, subprocess", subprocess));
  console.log(row("python, spawn", py.spawn!));
  console.log(row("python, fork", py.fork!));
}
