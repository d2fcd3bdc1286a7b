// Python's remote manager (`BaseManager(address, authkey)`), as two
// programs: this one serves a dict of counters and a lock on 127.0.0.1 with
// an auth key, then runs the client program (this file with `client PORT`)
// twice as separate `deno` processes. Each client connects, increments the
// counters under the managed lock and prints them; a client with a wrong key
// is refused.
//
//   deno run -R -W -N --allow-run examples/manager_network.ts
import { type DictProxy, Manager } from "../manager.ts";
import type { Lock } from "../lock.ts";
import { AuthenticationError } from "../errors.ts";

const AUTHKEY = "correct horse battery staple";

async function client(port: number, name: string) {
  try {
    await Manager.connect({ port, authkey: "wrong key" });
  } catch (error) {
    if (error instanceof AuthenticationError) {
      console.log(`${name}: a wrong key is refused (${error.name})`);
    } else throw error;
  }
  const manager = await Manager.connect({ port, authkey: AUTHKEY });
  const counters = await manager.lookup<DictProxy<string, number>>("counters");
  const lock = await manager.lookup<Lock>("lock");
  for (let i = 0; i < 100; i++) {
    await lock.withLock(async () => {
      await counters.set("total", (await counters.get("total", 0))! + 1);
      await counters.set(name, (await counters.get(name, 0))! + 1);
    });
  }
  console.log(`${name}: counted ${await counters.get(name)} under the lock`);
}

async function serve() {
  await using manager = await Manager.serve({
    hostname: "127.0.0.1",
    port: 0,
    authkey: AUTHKEY,
  });
  const { port } = manager.address as { port: number };
  await manager.publish("counters", manager.dict<string, number>());
  await manager.publish("lock", manager.lock());
  const clients = ["a", "b"].map((name) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", import.meta.filename!, "client", String(port), name],
    }).output()
  );
  for (const { stdout } of await Promise.all(clients)) {
    const text = new TextDecoder().decode(stdout);
    for (const line of text.trim().split("\n").toSorted()) console.log(line);
  }
  const counters = await manager.lookup<DictProxy<string, number>>("counters");
  const { total, a, b } = await counters.toObject();
  console.log(`server: total ${total}, a ${a}, b ${b}`);
}

if (import.meta.main) {
  if (Deno.args[0] === "client") {
    await client(Number(Deno.args[1]), Deno.args[2]!);
  } else await serve();
}
