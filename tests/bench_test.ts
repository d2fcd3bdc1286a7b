// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// What the smoke run (`deno task compare --smoke`, in CI) cannot see: that
// ratios point the right way and the chart puts them where they belong.
// The smoke run checks that every case runs on both sides.
import { assertEquals, assertMatch } from "@std/assert";
import { CASES } from "../bench/_cases.ts";
import { row, type Slot, VARIANTS } from "../bench/compare.ts";
import { svg } from "../bench/_svg.ts";

const rate = CASES.find((c) => c.higherIsBetter)!;
const time = CASES.find((c) => !c.higherIsBetter)!;
const slot = (c = rate): Slot => ({ c, variant: VARIANTS[0]!, pinned: false });

Deno.test("compare's row: the ratio is > 1 when we are better, for rates and times alike", () => {
  assertEquals(row(slot(rate), { ours: [30, 10, 20], python: [10] }).ratio, 2);
  assertEquals(row(slot(time), { ours: [10], python: [20, 30, 40] }).ratio, 3);
});

Deno.test("compare's row: gives median and spread of each side", () => {
  const r = row(slot(), { ours: [3, 1, 2], python: [5] });
  assertEquals(r.ours, { median: 2, min: 1, max: 3 });
  assertEquals(r.python, { median: 5, min: 5, max: 5 });
});

Deno.test("compare's row: a case whose primitive is missing is reported as missing", () => {
  const r = row(slot({ ...rate, ours: null }), { ours: [], python: [5] });
  assertEquals(r.ours, { problem: "missing" });
  assertEquals(r.ratio, undefined);
});

Deno.test("compare's row: a failed run leaves no figure and no ratio", () => {
  const r = row(slot(), { ours: [1, "failed: exit code 1"], python: [5] });
  assertEquals(r.ours, { problem: "failed: exit code 1" });
  assertEquals(r.ratio, undefined);
});

Deno.test("results.svg: 10× and 0.1× bars are as long, either side of the 1× line", () => {
  const rows = [[10], [0.1]].map(([ours]) =>
    row(slot(), { ours: [ours!], python: [1] })
  );
  const chart = svg(rows);
  const one = Number(/<line x1="([\d.]+)"[^>]*stroke="#000"/.exec(chart)![1]);
  const bars = [
    ...chart.matchAll(/<rect x="([\d.]+)" y="\d+" width="([\d.]+)"/g),
  ]
    .filter(([, , width]) => Number(width) > 12)
    .map(([, x, width]) => [Number(x), Number(width)]);
  assertEquals(bars.length, 2);
  const [[right, long], [left, alsoLong]] = bars as [
    [number, number],
    [number, number],
  ];
  assertEquals(right, one);
  assertEquals(left + alsoLong, one);
  assertEquals(long, alsoLong);
  assertMatch(chart, /10\.00×/);
  assertMatch(chart, /0\.10×/);
});
