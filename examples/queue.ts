// Python's Queue example, line for line: a child puts a value, the parent
// gets it.
//
//   deno run -R examples/queue.ts
import { Process } from "../process.ts";
import { Queue } from "../queue.ts";

export function f(q: Queue<[string, number]>) {
  q.put(["xiaoming", 12]);
}

if (import.meta.main) {
  const q = new Queue<[string, number]>();
  const p = new Process({ target: f, args: [q] });
  p.start();
  console.log(await q.get()); // prints [ "xiaoming", 12 ]
  await p.join();
}
