import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { deadline } from "@std/async/deadline";
import { type DictProxy, Manager, type ObjectProxy } from "../manager.ts";
import {
  AuthenticationError,
  IndexError,
  KeyError,
  ProcessError,
  ValueError,
} from "../errors.ts";
import { Process, type StartMethod } from "../process.ts";
import { Queue } from "../queue.ts";
import {
  acquireAndDie,
  acquireAndHang,
  Counter,
  incrementCounter,
  incrementUnderLock,
  largeValue,
  sendProxies,
  setAndAppend,
  setLargeUntilKilled,
  setThenSignal,
  setUnawaited,
  syncObjects,
  takeProxies,
  viaGrandchild,
  writeNested,
} from "./testdata/manager_targets.ts";
import { assertEndsByItself, START_METHODS, TIMEOUT } from "./_helpers.ts";

const TARGETS = new URL("./testdata/manager_targets.ts", import.meta.url);
const FORGOTTEN =
  new URL("./testdata/forgotten_program.ts", import.meta.url).pathname;

Manager.register("Counter", Counter, { module: TARGETS });

function start<A extends unknown[]>(
  startMethod: StartMethod,
  target: (...args: A) => unknown,
  ...args: A
): Process<A> {
  const child = new Process({ target, args, module: TARGETS, startMethod });
  child.start();
  return child;
}

async function joined<A extends unknown[]>(
  child: Process<A>,
): Promise<number | null> {
  return await child.join({ timeout: TIMEOUT });
}

Deno.test("a dict proxy has Python's dict methods, atomically on the server", async () => {
  await using manager = await Manager.start();
  const d = manager.dict<string, number>({ a: 1 });
  await d.set("b", 2);
  assertEquals(await d.get("a"), 1);
  assertEquals(await d.get("zz"), undefined);
  assertEquals(await d.get("zz", 9), 9);
  assertEquals(await d.item("b"), 2);
  assertEquals(await d.has("b"), true);
  assertEquals(await d.size(), 2);
  assertEquals(await d.keys(), ["a", "b"]);
  assertEquals(await d.values(), [1, 2]);
  assertEquals(await d.entries(), [["a", 1], ["b", 2]]);
  assertEquals(await d.setDefault("c", 3), 3);
  assertEquals(await d.setDefault("c", 4), 3);
  await d.update({ d: 4 });
  await d.update(new Map([["e", 5]]));
  assertEquals(await d.pop("e"), 5);
  assertEquals(await d.pop("e", -1), -1);
  assertEquals(await d.popItem(), ["d", 4]);
  assertEquals(await d.toObject(), { a: 1, b: 2, c: 3 });
  assertEquals(await d.toMap(), new Map([["a", 1], ["b", 2], ["c", 3]]));
  await d.delete("a");
  const missing = await assertRejects(() => d.delete("a"), KeyError);
  assertStringIncludes(missing.message, '"a"');
  await assertRejects(() => d.item("nope"), KeyError, '"nope"');
  await assertRejects(() => d.pop("nope"), KeyError, '"nope"');
  await d.clear();
  assertEquals(await d.size(), 0);
  await assertRejects(() => d.popItem(), KeyError, "empty");
});

Deno.test("a list proxy has Python's indexes, slices and sort order", async () => {
  await using manager = await Manager.start();
  const l = manager.list([0, 1, 2, 3, 4]);
  assertEquals(await l.get(-1), 4);
  assertEquals(await l.get(0), 0);
  const error = await assertRejects(() => l.get(99), IndexError);
  assertStringIncludes(error.message, "99");
  assertInstanceOf(error, RangeError);
  await assertRejects(() => l.get(-6), IndexError, "-6");
  await assertRejects(() => l.set(5, 0), IndexError, "5");
  await l.set(-1, 40);
  await l.insert(-100, -1);
  await l.insert(100, 50);
  assertEquals(await l.toArray(), [-1, 0, 1, 2, 3, 40, 50]);
  assertEquals(await l.pop(), 50);
  assertEquals(await l.pop(0), -1);
  assertEquals(await l.slice(1, 3), [1, 2]);
  assertEquals(await l.slice(null, null, -1), [40, 3, 2, 1, 0]);
  assertEquals(await l.slice(-2), [3, 40]);
  assertEquals(await l.slice(null, null, 2), [0, 2, 40]);
  await assertRejects(() => l.slice(0, 1, 0), ValueError, "step");
  await l.extend([3, 3]);
  assertEquals(await l.count(3), 3);
  assertEquals(await l.index(3), 3);
  assertEquals(await l.index(3, 4), 5);
  await assertRejects(() => l.index(77), ValueError, "77");
  await l.remove(3);
  await assertRejects(() => l.remove(77), ValueError, "77");
  assertEquals(await l.length(), 6);
  await l.delete(0);
  await l.reverse();
  assertEquals(await l.toArray(), [3, 3, 40, 2, 1]);
  await l.sort();
  assertEquals(await l.toArray(), [1, 2, 3, 3, 40]);
  await l.sort({ reverse: true });
  assertEquals(await l.toArray(), [40, 3, 3, 2, 1]);
  // Python orders strings by code point, numbers by value (not as text).
  const words = manager.list(["b", "B", "a", "\u{1F600}", "\uFFFF", "10", "9"]);
  await words.sort();
  assertEquals(await words.toArray(), [
    "10",
    "9",
    "B",
    "a",
    "b",
    "\uFFFF",
    "\u{1F600}",
  ]);
  const numbers = manager.list([10, 9, -1, 2.5, 100]);
  await numbers.sort();
  assertEquals(await numbers.toArray(), [-1, 2.5, 9, 10, 100]);
  const mixed = manager.list<unknown>([1, "a", 2]);
  await assertRejects(() => mixed.sort(), TypeError, "Cannot order");
  assertEquals(await mixed.toArray(), [1, "a", 2]);
  await l.clear();
  await assertRejects(() => l.pop(), IndexError, "empty");
});

Deno.test("a namespace and a value proxy", async () => {
  await using manager = await Manager.start();
  const ns = manager.namespace({ x: 1 });
  await ns.set("y", [1, 2]);
  assertEquals(await ns.get("x"), 1);
  assertEquals(await ns.has("y"), true);
  assertEquals(await ns.toObject(), { x: 1, y: [1, 2] });
  await ns.delete("x");
  await assertRejects(() => ns.delete("x"), KeyError, '"x"');
  const v = manager.value(new Map([[1, new Date(0)]]));
  assertEquals(await v.get(), new Map([[1, new Date(0)]]));
  await v.set(new Map());
  assertEquals(await v.get(), new Map());
});

Deno.test("bad input is refused at the caller, and the server state is unchanged", async () => {
  await using manager = await Manager.start();
  const d = manager.dict<string, unknown>({ a: 1 });
  const l = manager.list<unknown>([1]);
  const error = assertThrows(
    () => d.set("a", { nested: { f: () => 1 } }),
    TypeError,
  );
  assertStringIncludes(error.message, ".nested.f");
  assertThrows(() => l.append(Symbol("s")), TypeError, "symbol");
  assertThrows(() => d.set({} as string, 1), TypeError, "key");
  assertThrows(() => manager.list([() => 1]), TypeError, "function");
  assertEquals(await d.toObject(), { a: 1 });
  assertEquals(await l.toArray(), [1]);
  await assertRejects(
    () => l.get("a" as unknown as number),
    TypeError,
    "integers",
  );
  await assertRejects(() => l.get(1.5), TypeError, "integers");
  const counter = manager.create<Counter>("Counter");
  await assertRejects(
    () => counter.callMethod("nope"),
    TypeError,
    "no such public method",
  );
  await assertRejects(
    () => counter.callMethod("_hidden"),
    TypeError,
    "no such public method",
  );
  assertThrows(() => manager.create("Unknown"), TypeError, "Unknown");
  // Still serving.
  assertEquals(await counter.increment(), 1);
});

Deno.test("a registered type's public methods are awaited calls on the server", async () => {
  await using manager = await Manager.start();
  const counter = manager.create<Counter>("Counter", 10);
  assertEquals(await counter.increment(), 11);
  assertEquals(await counter.increment(5), 16);
  assertEquals(await counter.value(), 16);
  assertEquals(await counter.later(1), "done");
  assertEquals(counter.typeid, "Counter");
  assertEquals("_hidden" in counter, false);
});

for (const server of START_METHODS) {
  Deno.test(`${server} server: a program that never shuts its manager down ends with its own exit code once its last call is answered, and the server with it`, () =>
    assertEndsByItself("manager", server, [1, false]));

  Deno.test(`${server} server: a network manager keeps its program running until shut down, as it serves other programs`, async () => {
    const program = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", FORGOTTEN],
      env: { FORGOTTEN_KIND: "serve", FORGOTTEN_START_METHOD: server },
      stdout: "piped",
    }).spawn();
    const lines = program.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    try {
      const { value } = await deadline(lines.read(), TIMEOUT);
      const { got: port } = JSON.parse(value!);
      // Long enough for a program that nothing holds to have ended.
      await assertRejects(() => deadline(program.status, 500), DOMException);
      await Manager.connect({ port, authkey: "k" });
    } finally {
      program.kill("SIGTERM");
      await program.status;
      await lines.cancel();
    }
  });

  for (const method of START_METHODS) {
    Deno.test(`${server} server: ${method} children set and append, the parent sees all`, async () => {
      await using manager = await Manager.start({ startMethod: server });
      const d = manager.dict<number, number>();
      const l = manager.list([0, 1, 2, 3, 4]);
      const children = [1, 2, 3].map((i) =>
        start(method, setAndAppend, d, l, i)
      );
      for (const child of children) assertEquals(await joined(child), 0);
      assertEquals(await d.toMap(), new Map([[1, 1], [2, 2], [3, 3]]));
      const items = await l.toArray();
      assertEquals(items.slice(0, 5), [0, 1, 2, 3, 4]);
      assertEquals(items.slice(5).sort(), [1, 2, 3]);
    });

    Deno.test(`${server} server: a ${method} child reaches it directly, while the creator's event loop is blocked`, async () => {
      await using manager = await Manager.start({ startMethod: server });
      const d = manager.dict<string, number>();
      const [ready, go, done] = [
        manager.event(),
        manager.event(),
        manager.event(),
      ];
      const child = start(method, setThenSignal, d, ready, go, done);
      // A subprocess child reads its start from this event loop: it must be
      // running before the loop is blocked.
      assert(await ready.wait({ timeout: TIMEOUT }));
      go.set();
      // isSet() blocks this thread for a round trip and never yields to its
      // event loop: a call relayed through this process would never arrive.
      const until = Date.now() + TIMEOUT;
      while (!done.isSet() && Date.now() < until) {
        // Spin without yielding.
      }
      assert(done.isSet(), "the child's calls did not reach the server");
      assertEquals(await d.get("child"), 1);
      assertEquals(await joined(child), 0);
    });

    Deno.test(`${server} server: a ${method} grandchild and a proxy passed through a queue`, async () => {
      await using manager = await Manager.start({ startMethod: server });
      const d = manager.dict<number, number>();
      const l = manager.list<number>();
      const middle = start(method, viaGrandchild, d, l, method);
      assertEquals(await joined(middle), 0);
      const queue = new Queue<unknown>();
      const taker = start(method, takeProxies, queue);
      const sender = start(method, sendProxies, queue, d, l);
      assertEquals(await joined(sender), 0);
      assertEquals(await joined(taker), 0);
      assertEquals(await d.toMap(), new Map([[42, 42], [5, 5]]));
      assertEquals((await l.toArray()).sort(), [42, 5].sort());
    });

    Deno.test(`${server} server: a ${method} child's last unawaited write arrives`, async () => {
      await using manager = await Manager.start({ startMethod: server });
      const d = manager.dict<string, number>();
      const child = start(method, setUnawaited, d);
      assertEquals(await joined(child), 0);
      assertEquals(await d.get("last"), 1);
    });

    Deno.test(`${server} server: a dict stored in a list is a live proxy in a ${method} child`, async () => {
      await using manager = await Manager.start({ startMethod: server });
      const inner = manager.dict<string, string>();
      const l = manager.list<unknown>([inner]);
      const child = start(method, writeNested, l);
      assertEquals(await joined(child), 0);
      assertEquals(await inner.toObject(), { from: "child" });
      const back = await l.get(0) as DictProxy<string, string>;
      assertEquals(back, inner);
      assertEquals(await back.get("from"), "child");
    });

    Deno.test(`${server} server: managed lock and registered type shared with ${method} children`, async () => {
      await using manager = await Manager.start({ startMethod: server });
      const lock = manager.lock();
      const ns = manager.namespace({ n: 0 });
      const counter = manager.create<Counter>("Counter");
      const children = [0, 1].map(() =>
        start(method, incrementUnderLock, lock, ns, 25)
      );
      const counting = [0, 1].map(() =>
        start(method, incrementCounter, counter as ObjectProxy, 25)
      );
      for (const child of children) assertEquals(await joined(child), 0);
      for (const child of counting) assertEquals(await joined(child), 0);
      assertEquals(await ns.get("n"), 50);
      assertEquals(await counter.value(), 50);
    });

    Deno.test(`${server} server: managed event, semaphore, barrier and queues with a ${method} child`, async () => {
      await using manager = await Manager.start({ startMethod: server });
      const event = manager.event();
      const semaphore = manager.semaphore(1);
      const barrier = manager.barrier(2);
      const queue = manager.queue<number>({ maxsize: 4 });
      const joinable = manager.joinableQueue<string>();
      const child = start(
        method,
        syncObjects,
        event,
        semaphore,
        barrier,
        queue,
        joinable,
      );
      event.set();
      assertEquals(await queue.get({ timeout: TIMEOUT }), 1);
      await joinable.put("four");
      await joinable.join({ timeout: TIMEOUT });
      assertEquals(await queue.get({ timeout: TIMEOUT }), 4);
      await barrier.wait({ timeout: TIMEOUT });
      assertEquals(await joined(child), 0);
      assertEquals(await semaphore.acquire({ blocking: false }), false);
      assertEquals(queue.qsize(), 0);
    });

    Deno.test(`${server} server: a ${method} client that dies holding a managed lock frees it, and others go on`, async () => {
      await using manager = await Manager.start({ startMethod: server });
      const lock = manager.lock();
      const held = manager.event();
      const child = start(method, acquireAndDie, lock, held);
      assertEquals(await joined(child), 3);
      assert(held.isSet());
      assertEquals(await lock.acquire({ timeout: TIMEOUT }), true);
      assert(lock.ownerDied);
      lock.release();
      const d = manager.dict<string, number>();
      await d.set("still", 1);
      assertEquals(await d.get("still"), 1);
    });

    Deno.test(`${server} server: a ${method} client killed while setting large values leaves whole values, in order`, async () => {
      await using manager = await Manager.start({ startMethod: server });
      const d = manager.dict<string, Uint8Array>();
      const started = manager.event();
      const child = start(method, setLargeUntilKilled, d, started);
      assert(await started.wait({ timeout: TIMEOUT }));
      await new Promise((resolve) => setTimeout(resolve, 20));
      child.kill();
      assertEquals(await joined(child), -9);
      const keys = await d.keys();
      assert(keys.length >= 3);
      // A prefix of what it sent, each value whole: nothing half-applied,
      // nothing overtaken.
      assertEquals(keys, keys.map((_, i) => `k${i}`));
      for (const [i, key] of keys.entries()) {
        assertEquals(await d.get(key), largeValue(i));
      }
      await d.set("after", largeValue(7));
      assertEquals(await d.get("after"), largeValue(7));
    });

    Deno.test(`${server} server: a ${method} client killed while holding a lock frees it`, async () => {
      await using manager = await Manager.start({ startMethod: server });
      const lock = manager.lock();
      const held = manager.event();
      const child = start(method, acquireAndHang, lock, held);
      assert(await held.wait({ timeout: TIMEOUT }));
      child.kill();
      assertEquals(await joined(child), -9);
      assertEquals(await lock.acquire({ timeout: TIMEOUT }), true);
      lock.release();
    });
  }

  Deno.test(`${server} server: a proxy used after shutdown rejects at once`, async () => {
    const manager = await Manager.start({ startMethod: server });
    const d = manager.dict<string, number>();
    await d.set("a", 1);
    await manager.shutdown();
    await assertRejects(() => d.get("a"), ProcessError, "shut down");
    assertThrows(() => manager.dict(), Error, "shut down");
    await manager.shutdown();
  });

  Deno.test(`${server} server: when the server dies, pending and later calls reject saying so`, async () => {
    await using manager = await Manager.start({ startMethod: server });
    const lock = manager.lock();
    await lock.acquire();
    const d = manager.dict<string, number>();
    await d.set("a", 1);
    const pending = lock.acquire();
    const counter = manager.create<Counter>("Counter");
    counter.crash().catch(() => {});
    const error = await deadline(
      assertRejects(() => pending, ProcessError),
      TIMEOUT,
    );
    assertStringIncludes(error.message, "gone");
    await assertRejects(() => d.get("a"), ProcessError, "gone");
  });
}

Deno.test("a network manager: a client with the key works, a wrong key is refused before anything", async () => {
  await using server = await Manager.serve({
    hostname: "127.0.0.1",
    port: 0,
    authkey: "s3cret",
  });
  const { port } = server.address as { port: number };
  const d = server.dict<string, number>({ n: 0 });
  const client = await Manager.connect({ port, authkey: "s3cret" });
  const lock = client.lock();
  const remote = client.dict<string, number>();
  await remote.set("x", 1);
  await lock.withLock(async () => {
    await d.set("n", (await d.get("n"))! + 1);
  });
  assertEquals(await remote.get("x"), 1);
  await assertRejects(
    () => Manager.connect({ port, authkey: "wrong" }),
    AuthenticationError,
  );
  await assertRejects(
    () => Manager.connect({ port, authkey: new Uint8Array([1, 2, 3]) }),
    AuthenticationError,
  );
  assertEquals(await d.get("n"), 1);
  await client.shutdown();
  assertThrows(() => client.dict(), Error, "shut down");
  // The server still serves after the client left.
  assertEquals(await d.get("n"), 1);
  assertEquals(await remote.get("x"), 1);
});

Deno.test("a network manager refuses frames over its limit, at the sender and at the server", async () => {
  await using server = await Manager.serve({
    port: 0,
    authkey: new Uint8Array([9, 9, 9]),
    maxFrameBytes: 64 * 1024,
  });
  const d = server.dict<string, Uint8Array>();
  await assertRejects(
    () => d.set("big", new Uint8Array(100 * 1024)),
    RangeError,
    "frame limit",
  );
  await d.set("small", new Uint8Array(10));
  // A peer that is no client: a huge length, then nothing.
  const { port } = server.address as { port: number };
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const header = new Uint8Array(4);
  new DataView(header.buffer).setUint32(0, 0xffffffff, true);
  await conn.write(header).catch(() => 0);
  const buffer = new Uint8Array(4096);
  while ((await conn.read(buffer).catch(() => null)) !== null) {
    // Read until the server drops the connection.
  }
  conn.close();
  assertEquals((await d.get("small"))?.length, 10);
});

Deno.test("Manager.register refuses a class that is not exported", async () => {
  class Local {}
  Manager.register("Local", Local, { module: TARGETS });
  try {
    await assertRejects(
      () => Manager.start(),
      TypeError,
      "not exported",
    );
  } finally {
    Manager.register("Local", Counter, { module: TARGETS });
  }
});

Deno.test("published objects are found by name, as live proxies", async () => {
  await using manager = await Manager.start();
  const d = manager.dict<string, number>({ a: 1 });
  await manager.publish("d", { d, note: "plain data too" });
  const found = await manager.lookup<{ d: DictProxy<string, number> }>("d");
  assertEquals(found.d, d);
  await found.d.set("b", 2);
  assertEquals(await d.toObject(), { a: 1, b: 2 });
  await assertRejects(() => manager.lookup("nope"), KeyError, '"nope"');
});
