// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// A program that never closes its pool or shuts down its manager: it must
// still end once its own work is done, with its own exit code. It prints
// one JSON line: what it got, and the pids of its pool's children or its
// manager's server (OS pids for subprocess children), for the test to check
// that they are gone afterwards.
import { Manager } from "../../manager.ts";
import { Pool } from "../../pool.ts";
import type { StartMethod } from "../../process.ts";
import { add, napThenWho, sleepy } from "./pool_targets.ts";

const kind = Deno.env.get("FORGOTTEN_KIND");
const startMethod = Deno.env.get("FORGOTTEN_START_METHOD") as StartMethod;
const module = new URL("./pool_targets.ts", import.meta.url);

if (kind === "serve") {
  // A network manager serves other programs: it keeps this one running.
  const manager = await Manager.serve({ port: 0, authkey: "k", startMethod });
  const { port } = manager.address as { port: number };
  console.log(JSON.stringify({ got: port, pids: [manager.pid] }));
} else if (kind === "manager") {
  const manager = await Manager.start({ startMethod });
  const d = manager.dict<string, number>();
  await d.set("x", 1);
  // The last thing awaited is a call that takes a while on the server.
  const got = [await d.get("x"), await manager.event().wait({ timeout: 300 })];
  console.log(JSON.stringify({ got, pids: [manager.pid] }));
} else {
  const pool = new Pool({ processes: 2, startMethod, module });
  // Which children ran these: the tasks nap so that both take some.
  const pids = [
    ...new Set(await pool.map(napThenWho, [50, 50, 50, 50], { chunksize: 1 })),
  ];
  let got;
  if (kind === "pending") {
    // Nothing but this task is awaited: the pool alone keeps the program
    // running until its result comes.
    const late = pool.applyAsync(sleepy, [300, "late"]);
    got = await late.get();
  } else got = await pool.starmap(add, [[1, 2], [3, 4]]);
  console.log(JSON.stringify({ got, pids }));
}
Deno.exitCode = Number(Deno.env.get("FORGOTTEN_EXIT_CODE") ?? 0);
