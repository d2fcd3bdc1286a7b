// A program that forgot `if (import.meta.main)`: a child imports it for its
// work, which runs this top level again there. The child must refuse to
// start processes from it, with an error that names the fix, instead of
// starting a child of its own, which would start one, without end.
import { Manager } from "../../manager.ts";
import { Pool } from "../../pool.ts";
import { Process, type StartMethod } from "../../process.ts";

export function hello(): string {
  return "hello";
}

export class Hello {
  hi(): string {
    return "hi";
  }
}

const kind = Deno.env.get("UNGUARDED_KIND");
const startMethod = Deno.env.get("UNGUARDED_START_METHOD") as StartMethod;
console.log("top level");
if (kind === "process") {
  const child = new Process({ target: hello, startMethod });
  child.start();
  console.log("exit", await child.join({ timeout: 20_000 }));
} else if (kind === "pool") {
  await using pool = new Pool({ processes: 1, startMethod });
  try {
    await pool.apply(hello, [], { timeout: 20_000 });
  } catch (error) {
    console.log("failed:", (error as Error).message);
  }
} else {
  // A manager whose server imports this module for a registered type.
  Manager.register("Hello", Hello);
  await using manager = await Manager.start({ startMethod });
  try {
    await manager.create("Hello");
  } catch (error) {
    console.log("failed:", (error as Error).message);
  }
}
