// Runs one lock scenario in a child: `lock_program.ts <startMethod> <name>`,
// then prints the child's exit code. Used where the child's own output and
// exit code are what the test checks.
import { BoundedSemaphore, Lock } from "../../lock.ts";
import { Process, type StartMethod } from "../../process.ts";
import { overRelease, releaseUnheld } from "./lock_targets.ts";

const [startMethod, name] = Deno.args;
const module = new URL("./lock_targets.ts", import.meta.url);
const child = name === "releaseUnheld"
  ? new Process({
    target: releaseUnheld,
    args: [new Lock()],
    module,
    startMethod: startMethod as StartMethod,
  })
  : new Process({
    target: overRelease,
    args: [new BoundedSemaphore(1)],
    module,
    startMethod: startMethod as StartMethod,
  });
child.start();
console.log(`exit ${await child.join()}`);
