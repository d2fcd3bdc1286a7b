// Starts one child: `run_child.ts <startMethod> <target> [arg]`, then prints
// its exit code. Used to check what a child prints and how a parent dies.
import { Process, type StartMethod } from "../../process.ts";
import * as targets from "./targets.ts";

const [startMethod, name, arg] = Deno.args;
const target = targets[name as keyof typeof targets] as (
  ...args: unknown[]
) => unknown;
const child = new Process({
  target,
  args: arg === undefined ? [] : [arg],
  module: new URL("./targets.ts", import.meta.url),
  startMethod: startMethod as StartMethod,
});
child.start();
console.log(`exit ${await child.join()}`);
