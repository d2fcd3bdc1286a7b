import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { Pipe } from "../pipe.ts";
import { Queue } from "../queue.ts";
import { EOFError, TimeoutError } from "../errors.ts";
import * as targets from "./testdata/pipe_targets.ts";
import {
  childStarter,
  EXIT_CODES,
  seedOf,
  START_METHODS,
  TIMEOUT,
} from "./_helpers.ts";
import { deadline } from "@std/async/deadline";
import { delay } from "@std/async/delay";

const module = new URL("./testdata/pipe_targets.ts", import.meta.url);
const wait = { timeout: TIMEOUT };

const start = childStarter(module);

/** Bounds a wait that once ignored its own timeout. */
const bounded = <T>(promise: Promise<T>) => deadline(promise, TIMEOUT);

Deno.test("Pipe() ends send and receive both ways, in order", async () => {
  const [a, b] = Pipe<unknown>();
  a.send(1);
  a.send({ two: new Map([[2, new Set([2])]]) });
  a.send(undefined);
  assertEquals(await b.recv(), 1);
  assertEquals(await b.recv(), { two: new Map([[2, new Set([2])]]) });
  assertEquals(await b.recv(), undefined);
  b.send("back");
  assertEquals(await a.recv(), "back");
  assert(a.readable && a.writable && !a.closed);
});

Deno.test("Pipe(false) gives a receive-only end and a send-only end", async () => {
  const [reader, writer] = Pipe<string>(false);
  assertEquals([reader.readable, reader.writable], [true, false]);
  assertEquals([writer.readable, writer.writable], [false, true]);
  assertThrows(() => reader.send("x"), Error, "one-way pipe");
  await assertRejects(() => writer.recv(), Error, "one-way pipe");
  writer.send("hello");
  assertEquals(await reader.recv(), "hello");
});

Deno.test("Connection.recv() rejects with EOFError once the other end is closed and drained", async () => {
  const [a, b] = Pipe<number>();
  b.send(1);
  b.close();
  assert(b.closed);
  assertThrows(() => b.send(2), Error, "closed");
  assertEquals(await a.recv(), 1);
  await assertRejects(() => a.recv(wait), EOFError);
  assert(await a.poll(), "poll is true at EOF");
});

Deno.test("Connection.poll() waits up to its timeout", async () => {
  const [a, b] = Pipe<number>();
  assertEquals(await b.poll(), false);
  assertEquals(await b.poll(20), false);
  a.send(1);
  assertEquals(await b.poll(TIMEOUT), true);
  await assertRejects(() => b.poll(-1), RangeError);
  assertEquals(await b.recv(), 1);
  await assertRejects(() => b.recv({ timeout: 10 }), TimeoutError);
});

Deno.test("Connection.sendBytes() and recvBytes() with offset, size and maxlength", async () => {
  const [a, b] = Pipe();
  a.sendBytes(new Uint8Array([1, 2, 3, 4, 5]), 1, 3);
  assertEquals(await b.recvBytes(), new Uint8Array([2, 3, 4]));
  assertThrows(
    () => a.sendBytes(new Uint8Array(3), 2, 5),
    RangeError,
    "offset and size",
  );
  a.sendBytes(new Uint8Array(100));
  await assertRejects(
    () => b.recvBytes(10),
    RangeError,
    "longer than maxlength",
  );
  // The long message stayed: nothing is lost.
  assertEquals((await b.recvBytes()).length, 100);
});

Deno.test("Connection.recvBytes() reports the message's own length when it is longer than maxlength", async () => {
  const [a, b] = Pipe();
  a.sendBytes(new Uint8Array(100));
  await assertRejects(
    () => b.recvBytes(10),
    RangeError,
    "Cannot receive the message as it is 100 bytes, longer than maxlength 10",
  );
  assertEquals((await b.recvBytes(100)).length, 100);
});

Deno.test("Connection.sendBytes() throws TypeError for a string, sending nothing", async () => {
  const [a, b] = Pipe();
  for (const bad of ["hello", 5, null, [1, 2], { length: 1 }]) {
    assertThrows(
      () => a.sendBytes(bad as unknown as Uint8Array),
      TypeError,
      "sendBytes() takes an ArrayBuffer or a view of one",
    );
  }
  assertThrows(
    () => a.sendBytes("hello" as unknown as Uint8Array),
    TypeError,
    'Cannot send bytes of a string ("hello"): sendBytes() takes an ArrayBuffer or a view of one; encode a string with TextEncoder',
  );
  assertEquals(await b.poll(), false);
  a.sendBytes(new TextEncoder().encode("hello"));
  assertEquals(
    new TextDecoder().decode(await b.recvBytes(Infinity, wait)),
    "hello",
  );
});

Deno.test("Connection.send() rejects an uncloneable value, sending nothing", async () => {
  const [a, b] = Pipe<unknown>();
  assertThrows(() => a.send({ f: () => {} }), TypeError, "Cannot send value.f");
  a.send("ok");
  assertEquals(await b.recv(), "ok");
  assertEquals(await b.poll(), false);
});

Deno.test("Connection cannot be constructed directly", () => {
  assertThrows(
    () => new (Pipe()[0].constructor as new () => unknown)(),
    TypeError,
    "call Pipe()",
  );
});

Deno.test("Pipe carries a 100 MiB Uint8Array and a deeply nested object intact", async () => {
  const [a, b] = Pipe<unknown>();
  const big = new Uint8Array(100 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 4096) big[i] = (i / 4096) % 251;
  a.send(big);
  const copy = await b.recv(wait) as Uint8Array;
  assertEquals(copy.length, big.length);
  for (let i = 0; i < big.length; i += 4096) {
    if (copy[i] !== big[i]) throw new Error(`byte ${i} differs`);
  }
  let nested: unknown = "leaf";
  for (let i = 0; i < 500; i++) nested = { i, pad: "y".repeat(20_000), nested };
  a.send(nested);
  assertEquals(await b.recv(wait), nested);
});

for (const startMethod of START_METHODS) {
  Deno.test(`Connection: a child's recvBytes() and sendBytes() report misuse precisely (${startMethod})`, async () => {
    const [parent, childEnd] = Pipe<unknown>();
    const child = start(startMethod, targets.checksBytes, childEnd);
    parent.sendBytes(new Uint8Array(100));
    assertEquals(await parent.recv(wait), [
      "RangeError",
      "Cannot receive the message as it is 100 bytes, longer than maxlength 10: it stays unread",
    ]);
    assertEquals(await parent.recv(wait), 100);
    const [name, message] = await parent.recv(wait) as [string, string];
    assertEquals(name, "TypeError");
    assert(message.startsWith('Cannot send bytes of a string ("hello")'));
    assertEquals(await parent.recvBytes(Infinity, wait), new Uint8Array([7]));
    assertEquals(await child.join(wait), 0);
  });

  Deno.test(`Connection: a child sends and closes; the parent receives, then EOF (${startMethod})`, async () => {
    const [parentEnd, childEnd] = Pipe<string>();
    const child = start(startMethod, targets.sendsAndCloses, childEnd);
    assertEquals(await parentEnd.recv(wait), "send data");
    childEnd.close(); // The parent's copy, as in Python.
    await assertRejects(() => parentEnd.recv(wait), EOFError);
    assertEquals(await child.join(wait), 0);
  });

  Deno.test(`Connection: a child that exits without close() still gives EOF (${startMethod})`, async () => {
    const [parentEnd, childEnd] = Pipe<number>();
    const child = start(startMethod, targets.sendsWithoutClosing, childEnd);
    childEnd.close();
    assertEquals(await child.join(wait), 0);
    assertEquals(await parentEnd.recv(wait), 1);
    assertEquals(await parentEnd.recv(wait), 2);
    await assertRejects(() => parentEnd.recv(wait), EOFError);
  });

  for (const how of ["kill", "terminate", "exit"] as const) {
    Deno.test(`Connection keeps working after a child sending messages larger than the ring dies (${how}, ${startMethod})`, async () => {
      const size = 100 * 1024 * 1024;
      const [parentEnd, childEnd] = Pipe<unknown>();
      const started = new Queue<string>();
      const child = start(
        startMethod,
        targets.sendsHugeThenDies,
        childEnd,
        started,
        size,
        how === "exit" ? "exit" : "wait",
      );
      assertEquals(await started.get(wait), "sending");
      await delay(100);
      if (how === "kill") child.kill();
      if (how === "terminate") child.terminate();
      assertEquals(await child.join(wait), EXIT_CODES[how]);
      childEnd.send("after");
      const seeds = [];
      for (
        let message = await bounded(parentEnd.recv(wait));
        message !== "after";
      ) {
        seeds.push(seedOf(message, size));
        message = await bounded(parentEnd.recv(wait));
      }
      // Whole or not at all, and in the order sent.
      assertEquals(seeds, [1, 2].slice(0, seeds.length));
      await assertRejects(
        () => bounded(parentEnd.recv({ timeout: 50 })),
        TimeoutError,
      );
    });
  }

  Deno.test(`Connection: values echo through a child in order (${startMethod})`, async () => {
    const [parentEnd, childEnd] = Pipe<unknown>();
    const child = start(startMethod, targets.echoes, childEnd);
    childEnd.close();
    const values = [1, "two", { three: [3n] }, new Date(4), null];
    for (const value of values) parentEnd.send(value);
    for (const value of values) assertEquals(await parentEnd.recv(wait), value);
    parentEnd.close();
    assertEquals(await child.join(wait), 0);
  });

  Deno.test(`Connection: 100 MiB from a child, then bytes (${startMethod})`, async () => {
    const size = 100 * 1024 * 1024;
    const [parentEnd, childEnd] = Pipe<unknown>();
    const child = start(startMethod, targets.sendsBig, childEnd, size);
    const copy = await parentEnd.recv(wait) as Uint8Array;
    assertEquals(copy.length, size);
    for (let i = 0; i < size; i += 4096) {
      if (copy[i] !== (i / 4096) % 251) throw new Error(`byte ${i} differs`);
    }
    assertEquals((await parentEnd.recvBytes(10, wait)).length, 10);
    assertEquals(await child.join(wait), 0);
  });

  Deno.test(`Connection: an uncloneable value fails in the sending child only (${startMethod})`, async () => {
    const [parentEnd, childEnd] = Pipe<unknown>();
    const child = start(startMethod, targets.sendsBadThenGood, childEnd);
    const message = await parentEnd.recv(wait) as string;
    assert(message.startsWith("Cannot send value.f"), message);
    assertEquals(await parentEnd.recv(wait), "still works");
    assertEquals(await child.join(wait), 0);
  });

  Deno.test(`Connection: messages a child did not take stay readable (${startMethod})`, async () => {
    const [parentEnd, childEnd] = Pipe<number>();
    for (const value of [1, 2, 3]) childEnd.send(value);
    const child = start(startMethod, targets.receivesOne, parentEnd);
    assertEquals(await child.join(wait), 0);
    assertEquals(await childEnd.recv(wait), 10);
    parentEnd.send(4);
    // 2 and 3 were sent to the end the child held: they are still there.
    const rest = [];
    for (let i = 0; i < 2; i++) rest.push(await parentEnd.recv(wait));
    assertEquals(rest, [2, 3]);
    assertEquals(await childEnd.recv(wait), 4);
  });

  Deno.test(`Connection carries a Queue that keeps working in the child (${startMethod})`, async () => {
    const [parentEnd, childEnd] = Pipe<unknown>();
    const q = new Queue<string>();
    const child = start(startMethod, targets.putsIntoReceivedQueue, childEnd);
    parentEnd.send(q);
    assertEquals(await q.get(wait), "via a pipe");
    assertEquals(await child.join(wait), 0);
  });

  Deno.test(`Connection: ping-pong with a child (${startMethod})`, async () => {
    const [parentEnd, childEnd] = Pipe<number>();
    const child = start(startMethod, targets.pingPongs, childEnd, 200);
    for (let i = 0; i < 200; i++) {
      parentEnd.send(i);
      assertEquals(await parentEnd.recv(wait), i);
    }
    assertEquals(await child.join(wait), 0);
  });
}
