// A parent that uses no shared object itself, whose child does and starts a
// grandchild: the grandchild's exit, relayed up, must not print anything.
import { Process, type StartMethod } from "../../process.ts";

export async function middle(startMethod: StartMethod) {
  await import("../../queue.ts");
  const child = new Process({
    target: leaf,
    module: import.meta.url,
    startMethod,
  });
  child.start();
  await child.join({ timeout: 20_000 });
}

export function leaf() {}

if (import.meta.main) {
  const startMethod = Deno.args[0] as StartMethod;
  const child = new Process({
    target: middle,
    args: [startMethod],
    startMethod,
  });
  child.start();
  console.log("exit", await child.join({ timeout: 20_000 }));
}
