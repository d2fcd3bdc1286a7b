// Pool.imap over a long generator runs in bounded memory: the input is
// pulled as results are taken, with a bounded read-ahead. Prints the RSS of
// this process and its children every 10% of the results, and the peak.
//
//   deno run -A --no-check bench/imap_memory.ts [items] [startMethod]
//
// Defaults: 10,000,000 items, the worker start method.
import { Pool } from "../pool.ts";
import type { StartMethod } from "../process.ts";
import { treeRssMiB } from "./_ours.ts";
import { add100 } from "./_pool_targets.ts";

const items = Number(Deno.args[0] ?? 10_000_000);
const startMethod = (Deno.args[1] ?? "worker") as StartMethod;
const module = new URL("./_pool_targets.ts", import.meta.url);

function* numbers(): Generator<number> {
  for (let i = 0; i < items; i++) yield i;
}

await using pool = new Pool({ processes: 2, module, startMethod });
const step = Math.max(1, Math.floor(items / 10));
const started = performance.now();
let peak = 0;
let done = 0;
let sum = 0;
for await (const value of pool.imap(add100, numbers())) {
  sum += value;
  if (++done % step !== 0) continue;
  const rss = treeRssMiB(Deno.pid);
  peak = Math.max(peak, rss);
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `${done.toLocaleString("en-US")} results, ${
      Math.round(done / seconds).toLocaleString("en-US")
    }/s, RSS ${rss.toFixed(1)} MiB`,
  );
}
// Every result came, once: the sum of i + 100 over 0 … items - 1.
const expected = items * (items - 1) / 2 + 100 * items;
console.log(
  `${startMethod}: ${items.toLocaleString("en-US")} items, sum ${
    sum === expected ? "correct" : `WRONG (${sum} against ${expected})`
  }, peak RSS ${peak.toFixed(1)} MiB`,
);
