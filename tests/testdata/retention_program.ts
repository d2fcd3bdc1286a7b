// Whether a pool lets go of a finished task's arguments. Run with
// `--v8-flags=--expose-gc`; prints the task's result, then "released" or
// "kept".
import { Pool } from "../../pool.ts";
import type { StartMethod } from "../../process.ts";
import { byteLength, sleepy } from "./pool_targets.ts";

const gc = (globalThis as unknown as { gc: () => void }).gc;
const startMethod = Deno.args[0] as StartMethod;
await using pool = new Pool({
  processes: 1,
  module: new URL("./pool_targets.ts", import.meta.url),
  startMethod,
});
let sent: WeakRef<Uint8Array> | undefined;
// In a function of its own: a suspended top level keeps what its registers
// last held, which would keep the bytes alive here, not in the pool.
async function applyOnce(): Promise<number> {
  const bytes = new Uint8Array(1024);
  sent = new WeakRef(bytes);
  return await pool.apply(byteLength, [bytes]);
}
console.log(await applyOnce());
for (let i = 0; i < 3; i++) await pool.apply(byteLength, [new Uint8Array(1)]);
await report();

// Taken from among queued tasks, while later ones still wait behind it.
const nap = () => pool.apply(sleepy, [30, 0]);
const before = Array.from({ length: 3 }, nap);
const once = applyOnce();
const after = Array.from({ length: 4 }, nap);
console.log(await once);
await report();
await Promise.all([...before, ...after]);

async function report(): Promise<void> {
  // A WeakRef's target lives to the end of the turn that last touched it.
  await new Promise((resolve) => setTimeout(resolve, 0));
  gc();
  console.log(sent?.deref() === undefined ? "released" : "kept");
}
