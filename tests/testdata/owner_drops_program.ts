// The owner of a counter drops it (and the garbage collector takes it)
// while a child holds it; the child sends it back through a queue, and the
// owner's rebuilt counter must still work. Needs --v8-flags=--expose-gc.
import { Process } from "../../process.ts";
import { Queue } from "../../queue.ts";
import { Counter } from "./counter.ts";
import { sendBackLater } from "./shared_targets.ts";

const gc = (globalThis as unknown as { gc(): void }).gc;
const queue = new Queue<{ counter: Counter }>();
const release = new Queue<{ counter: Counter } | null>();
let gone = false;
const collected = new FinalizationRegistry(() => gone = true);
const child = new Process({
  target: sendBackLater,
  args: [queue, release],
  module: new URL("./shared_targets.ts", import.meta.url),
  startMethod: Deno.args[0] as "worker" | "subprocess",
});
child.start();
// Handed over in a queue item, made in a function of its own, so that
// nothing here keeps it.
async function handOver(): Promise<void> {
  const counter = new Counter();
  collected.register(counter, "counter");
  await counter.add(41);
  await release.put({ counter });
}
await handOver();
for (let i = 0; i < 5; i++) {
  gc();
  await new Promise((resolve) => setTimeout(resolve, 10));
}
await release.put(null);
const { counter } = await queue.get({ timeout: 30_000 });
console.log(JSON.stringify([gone, await counter.add(1), await child.join()]));
