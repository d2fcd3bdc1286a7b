// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// A program that never closes its pool or shuts down its manager: it must
// still exit once its own work is done, with its own exit code. It prints
// one JSON line: what it got, and the pids of its pool's children or its
// manager's server, for the test to check that they are gone.
import { Manager } from "../../manager.ts";
import { Pool } from "../../pool.ts";
import type { StartMethod } from "../../process.ts";
import { add, napThenWho, sleepy } from "./pool_targets.ts";

const kind = Deno.env.get("FORGOTTEN_KIND");
const startMethod = Deno.env.get("FORGOTTEN_START_METHOD") as StartMethod;
const module = new URL("./pool_targets.ts", import.meta.url);

if (kind === "manager") {
  const manager = await Manager.start({ startMethod });
  const d = manager.dict<string, number>();
  await d.set("x", 1);
  console.log(JSON.stringify({ got: await d.get("x"), pids: [manager.pid] }));
} else {
  const pool = new Pool({ processes: 2, startMethod, module });
  if (kind === "pending") {
    // Nothing awaited but the task: the pool alone keeps the program alive.
    const late = pool.applyAsync(sleepy, [300, "late"]);
    console.log(JSON.stringify({ got: await late.get() }));
  } else {
    const got = await pool.starmap(add, [[1, 2], [3, 4]]);
    // Which children ran them: their OS pids, for a subprocess pool.
    const pids = await pool.map(napThenWho, [50, 50, 50, 50], { chunksize: 1 });
    console.log(JSON.stringify({ got, pids: [...new Set(pids)] }));
  }
}
Deno.exitCode = Number(Deno.env.get("FORGOTTEN_EXIT_CODE") ?? 0);
