// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// One run of bench/compare.ts on our side, in a fresh `deno` process:
//
//   deno run -A --no-check bench/_run.ts <startMethod> '[["queue_small", 1000], ...]'
//
// Runs each case once and prints one JSON object, case → figure (or
// { error }), as bench/python/cases.py does for Python.
import type { StartMethod } from "../process.ts";
import { CASES } from "./_cases.ts";

if (import.meta.main) {
  const [startMethod, jobs] = Deno.args as [StartMethod, string];
  const figures: Record<string, number | { error: string }> = {};
  for (const [name, n] of JSON.parse(jobs) as [string, number][]) {
    try {
      const runner = CASES.find((c) => c.key === name)?.ours;
      if (!runner) throw new Error(`No runner for ${name}`);
      figures[name] = await runner(n, startMethod);
    } catch (error) {
      // Reported, so that one case cannot hide the rest.
      figures[name] = { error: String(error) };
    }
  }
  console.log(JSON.stringify(figures));
  Deno.exit(0);
}
