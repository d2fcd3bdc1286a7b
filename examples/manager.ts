// Python's Manager example (seed program 3): ten children each write their
// parent's pid into a shared dict and append it to a shared list, then print
// the list; the parent prints the dict (one key, as every child has the same
// parent) and the list (15 items). The manager locks internally, so the
// children need no lock of their own.
//
//   deno run -R -W -N examples/manager.ts                         (worker children)
//   deno run -R -W -N --allow-run examples/manager.ts --subprocess  (subprocess children)
import { currentProcess, Process } from "../process.ts";
import { type DictProxy, type ListProxy, Manager } from "../manager.ts";

export async function f(d: DictProxy<number, number>, l: ListProxy<number>) {
  const parentPid = currentProcess().parentPid;
  await d.set(parentPid, parentPid);
  await l.append(parentPid);
  console.log(python(await l.toArray()));
}

/** Prints as Python does: `[0, 1, 2]`, `{7: 7}`. */
function python(value: number[] | Map<number, number>): string {
  return Array.isArray(value)
    ? `[${value.join(", ")}]`
    : `{${[...value].map(([k, v]) => `${k}: ${v}`).join(", ")}}`;
}

if (import.meta.main) {
  const startMethod = Deno.args.includes("--subprocess")
    ? "subprocess"
    : "worker";
  await using manager = await Manager.start({ startMethod });
  const d = manager.dict<number, number>();
  const l = manager.list([0, 1, 2, 3, 4]);
  const children = Array.from(
    { length: 10 },
    () => new Process({ target: f, args: [d, l], startMethod }),
  );
  for (const child of children) child.start();
  for (const child of children) await child.join();
  console.log(python(await d.toMap()));
  console.log(python(await l.toArray()));
}
