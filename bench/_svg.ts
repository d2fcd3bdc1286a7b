// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// bench/results.svg: one bar per row of the table, its ratio on a log scale
// from the 1× line (right: we are better; left: Python is).
import { ratioText, type Row } from "./_report.ts";

const WIDTH = 1000;
const LABEL_END = 390;
// Room left of the plot for the ratio of a bar that reaches its left end.
const PLOT = { left: 450, right: 940 };
const ROW = 18;
const TOP = 64;
const COLOURS: Record<string, string> = {
  worker: "#4e79a7",
  "subprocess+shm": "#59a14f",
  subprocess: "#f28e2b",
};

function escape(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;");
}

function text(
  x: number,
  y: number,
  content: string,
  attributes = "",
): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${attributes}>${
    escape(content)
  }</text>`;
}

/** The chart of `rows` as an SVG document. */
export function svg(rows: Row[]): string {
  const ratios = rows.flatMap((r) => r.ratio === undefined ? [] : [r.ratio]);
  const low = Math.min(-1, Math.floor(Math.log10(Math.min(...ratios, 1))));
  const high = Math.max(1, Math.ceil(Math.log10(Math.max(...ratios, 1))));
  const x = (ratio: number) =>
    PLOT.left +
    (Math.log10(ratio) - low) / (high - low) * (PLOT.right - PLOT.left);
  const bottom = TOP + rows.length * ROW;
  const parts: string[] = [];
  for (let decade = low; decade <= high; decade++) {
    const at = x(10 ** decade);
    parts.push(
      `<line x1="${at}" y1="${TOP - 6}" x2="${at}" y2="${bottom}" stroke="${
        decade === 0 ? "#000" : "#ccc"
      }" stroke-width="${decade === 0 ? 1.5 : 1}"/>`,
      text(at, bottom + 16, `${10 ** decade}×`, 'text-anchor="middle"'),
    );
  }
  rows.forEach((r, i) => {
    const y = TOP + i * ROW;
    const method = r.variant.split(" / ")[0]!;
    const label = `${r.c.title} · ${method}${r.pinned ? " · pinned" : ""}`;
    parts.push(text(LABEL_END, y + 13, label, 'text-anchor="end"'));
    if (r.ratio === undefined) {
      const why = "problem" in r.ours ? r.ours.problem : "no Python figure";
      parts.push(text(x(1) + 4, y + 13, why.split(":")[0]!, 'fill="#b00"'));
      return;
    }
    const [from, to] = [x(1), x(r.ratio)].sort((a, b) => a - b) as [
      number,
      number,
    ];
    parts.push(
      `<rect x="${from.toFixed(1)}" y="${y + 3}" width="${
        Math.max(1, to - from).toFixed(1)
      }" height="${ROW - 6}" fill="${COLOURS[method] ?? "#888"}"${
        r.pinned ? ' fill-opacity="0.55"' : ""
      }/>`,
      r.ratio >= 1
        ? text(to + 4, y + 13, ratioText(r.ratio))
        : text(from - 4, y + 13, ratioText(r.ratio), 'text-anchor="end"'),
    );
  });
  const legend = Object.entries(COLOURS).map(([method, colour], i) =>
    `<rect x="${
      PLOT.left + i * 150
    }" y="30" width="12" height="12" fill="${colour}"/>` +
    text(PLOT.left + i * 150 + 16, 41, method)
  );
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${
    bottom + 30
  }" viewBox="0 0 ${WIDTH} ${
    bottom + 30
  }" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="#fff"/>
${
    text(
      10,
      18,
      "@mp/multiprocessing ÷ Python 3.11 multiprocessing (log scale; > 1× = we are better; pale = pinned to one CPU)",
      'font-weight="bold"',
    )
  }
${legend.join("\n")}
${parts.join("\n")}
</svg>
`;
}
