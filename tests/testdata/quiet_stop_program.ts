// Pools of worker children stopped while their children wait for tasks: the
// children run on briefly after `terminate()`, and must print nothing.
import { Pool } from "../../pool.ts";

export function add100(i: number): number {
  return i + 100;
}

if (import.meta.main) {
  for (let round = 0; round < 5; round++) {
    const pool = new Pool({ processes: 2, startMethod: "worker" });
    console.log(await pool.apply(add100, [round]));
    pool.terminate();
    await pool.join();
  }
}
