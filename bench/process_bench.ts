// Start + join of one child that does nothing, per start method.
//
//   deno bench -A bench/process_bench.ts
//   deno task compare --only=process   (side by side with Python)
import { Process, type StartMethod } from "../process.ts";
import { noop } from "./_targets.ts";

const module = new URL("./_targets.ts", import.meta.url);

async function startAndJoin(startMethod: StartMethod) {
  const child = new Process({ target: noop, module, startMethod });
  child.start();
  const code = await child.join();
  if (code !== 0) throw new Error(`The child exited with code ${code}`);
}

Deno.bench({
  name: "worker start+join",
  group: "process start+join",
  baseline: true,
  fn: () => startAndJoin("worker"),
});

Deno.bench({
  name: "subprocess start+join",
  group: "process start+join",
  fn: () => startAndJoin("subprocess"),
});
