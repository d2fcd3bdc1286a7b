// Python's Pipe example, line for line: a child sends a value and closes its
// end, the parent receives it.
//
//   deno run -R examples/pipe.ts
import { type Connection, Pipe } from "../pipe.ts";
import { Process } from "../process.ts";

export function f(conn: Connection<string>) {
  conn.send("send data");
  conn.close();
}

if (import.meta.main) {
  const [parentConn, childConn] = Pipe<string>();
  const p = new Process({ target: f, args: [childConn] });
  p.start();
  console.log(await parentConn.recv()); // prints "send data"
  await p.join();
}
