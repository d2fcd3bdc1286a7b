// Python's Pool example: Foo sleeps, then returns i + 100; Bar prints each
// result. First one task at a time with apply, then ten with applyAsync, five
// at a time, Bar called back as each finishes; then a map.
//
//   deno run -R examples/pool.ts
//
// -R (--allow-read) is the least it needs: worker children load their modules.
import { Pool } from "../pool.ts";

/** Sleeps a moment, then returns `i + 100`. */
export async function Foo(i: number): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, 200));
  return i + 100;
}

/** Prints a result, as the callback of `applyAsync`. */
export function Bar(result: number): void {
  console.log("callback function", result);
}

if (import.meta.main) {
  await using pool = new Pool({ processes: 5 });
  // Serial: each apply waits for its result.
  for (let i = 0; i < 5; i++) {
    console.log("apply", await pool.apply(Foo, [i]));
  }
  // Parallel: ten tasks, five at a time; Bar prints each result.
  for (let i = 0; i < 10; i++) {
    pool.applyAsync(Foo, [i], { callback: Bar });
  }
  console.log("map", await pool.map(Foo, [1, 2, 3]));
  console.log("end");
  pool.close();
  await pool.join();
}
