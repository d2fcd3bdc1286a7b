import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import type { StartMethod } from "../process.ts";
import { JoinableQueue, Queue, SimpleQueue } from "../queue.ts";
import {
  EmptyError,
  FullError,
  ShutDownError,
  TimeoutError,
} from "../errors.ts";
import * as targets from "./testdata/queue_targets.ts";
import {
  childStarter,
  EXIT_CODES,
  seedOf,
  START_METHODS,
  TIMEOUT,
} from "./_helpers.ts";
import { deadline } from "@std/async/deadline";
import { delay } from "@std/async/delay";

const module = new URL("./testdata/queue_targets.ts", import.meta.url);
const wait = { timeout: TIMEOUT };

const start = childStarter(module);

/** Bounds a wait that once ignored its own timeout. */
const bounded = <T>(promise: Promise<T>) => deadline(promise, TIMEOUT);

function nested(depth: number, breadth: number): unknown {
  let value: unknown = { leaf: "x".repeat(10) };
  for (let i = 0; i < depth; i++) {
    value = {
      level: i,
      items: Array.from({ length: breadth }, (_, j) => j),
      child: value,
    };
  }
  return value;
}

Deno.test("Queue put/get/putNowait/getNowait/qsize/empty/full in one process", async () => {
  const q = new Queue<number>({ maxsize: 2 });
  assert(q.empty());
  await q.put(1);
  q.putNowait(2);
  assertEquals([q.qsize(), q.full()], [2, true]);
  assertThrows(() => q.putNowait(3), FullError, "maxsize is 2");
  await assertRejects(() => q.put(3, { timeout: 10 }), FullError);
  assertEquals(await q.get(), 1);
  assertEquals(q.getNowait(), 2);
  assertThrows(() => q.getNowait(), EmptyError);
  await assertRejects(() => q.get({ timeout: 10 }), EmptyError);
  await q.put(3);
  assertEquals(await q.get(), 3);
});

Deno.test("Queue rejects bad options and bad items with clear errors, staying usable", async () => {
  assertThrows(() => new Queue({ maxsize: 1.5 }), RangeError, "maxsize 1.5");
  for (const maxsize of [2 ** 31, 2 ** 32 + 1, Infinity]) {
    assertThrows(
      () => new Queue({ maxsize }),
      RangeError,
      `Cannot create a queue with maxsize ${maxsize}: it must be an integer up to 2147483647 (0 or less for no limit)`,
    );
    assertThrows(() => new JoinableQueue({ maxsize }), RangeError, "maxsize");
  }
  assertEquals(new Queue({ maxsize: 2 ** 31 - 1 }).maxsize, 2 ** 31 - 1);
  assertEquals(new Queue({ maxsize: -(2 ** 40) }).maxsize, 0);
  const q = new Queue<unknown>();
  await q.put("before");
  await assertRejects(
    () => q.put({ ok: 1, cb: () => {} }),
    TypeError,
    "Cannot send item.cb",
  );
  assertThrows(
    () => q.putNowait([Symbol("s")]),
    TypeError,
    "Cannot send item[0]",
  );
  class Point {
    x = 1;
  }
  assertThrows(() => q.putNowait(new Point()), TypeError, "class Point");
  await assertRejects(() => q.get({ timeout: -5 }), RangeError, "timeout -5");
  assertEquals(q.qsize(), 1);
  assertEquals(await q.get(), "before");
});

Deno.test("Queue.get() rejects with the signal's reason", async () => {
  const q = new Queue<number>();
  const controller = new AbortController();
  const getting = q.get({ signal: controller.signal });
  controller.abort(new Error("stop"));
  await assertRejects(() => getting, Error, "stop");
  q.putNowait(1);
  assertEquals(await q.get(wait), 1);
});

Deno.test("Queue.shutdown() lets get drain, then throws ShutDownError; immediate drops", async () => {
  const q = new Queue<number>();
  q.putNowait(1);
  q.putNowait(2);
  q.shutdown();
  await assertRejects(() => q.put(3), ShutDownError);
  const seen: number[] = [];
  for await (const item of q) seen.push(item);
  assertEquals(seen, [1, 2]);
  await assertRejects(() => q.get(wait), ShutDownError);

  const r = new Queue<number>();
  r.putNowait(1);
  r.shutdown({ immediate: true });
  assertThrows(() => r.getNowait(), ShutDownError);
  assertEquals(r.qsize(), 0);
});

Deno.test("Queue.shutdown() wakes a waiting get", async () => {
  const q = new Queue<number>();
  const getting = q.get(wait);
  q.shutdown();
  await assertRejects(() => getting, ShutDownError);
});

Deno.test("Queue.close() refuses later puts from this process only", async () => {
  const q = new Queue<number>();
  q.putNowait(1);
  q.close();
  assertThrows(() => q.putNowait(2), Error, "closed in this process");
  assertEquals(await q.get(wait), 1);
});

Deno.test("JoinableQueue.taskDone() throws when called too often; join() waits for all", async () => {
  const q = new JoinableQueue<number>();
  q.putNowait(1);
  await assertRejects(() => q.join({ timeout: 10 }), TimeoutError);
  await q.get();
  q.taskDone();
  await q.join(wait);
  assertThrows(() => q.taskDone(), RangeError, "called more times");
});

Deno.test("SimpleQueue puts and gets", async () => {
  const q = new SimpleQueue<string>();
  assert(q.empty());
  await q.put("a");
  assertEquals(await q.get(wait), "a");
});

Deno.test("Queue carries a 100 MiB Uint8Array and a deeply nested 10 MB object intact", async () => {
  const q = new Queue<unknown>();
  const big = new Uint8Array(100 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 4096) big[i] = (i / 4096) % 251;
  const getting = q.get(wait);
  await q.put(big);
  const copy = await getting as Uint8Array;
  assertEquals(copy.length, big.length);
  for (let i = 0; i < big.length; i += 4096) {
    if (copy[i] !== big[i]) throw new Error(`byte ${i} differs`);
  }
  const object = nested(500, 2_000);
  await q.put(object);
  assertEquals(await q.get(wait), object);
});

/**
 * A JoinableQueue holding "before", and a child that puts two items of
 * `size` bytes to it while nobody reads, then dies as `how` says.
 */
async function startHugePutter(
  startMethod: StartMethod,
  size: number,
  how: "wait" | "exit",
) {
  const q = new JoinableQueue<unknown>();
  const started = new Queue<string>();
  await q.put("before");
  const child = start(
    startMethod,
    targets.putsHugeThenDies,
    q,
    started,
    size,
    how,
  );
  assertEquals(await started.get(wait), "putting");
  return { q, child };
}

for (const startMethod of START_METHODS) {
  Deno.test(`Queue delivers a child's unawaited last put (${startMethod})`, async () => {
    const q = new Queue<[string, number]>();
    const child = start(startMethod, targets.putsPair, q);
    assertEquals(await q.get(wait), ["xiaoming", 12]);
    assertEquals(await child.join(wait), 0);
  });

  for (const how of ["kill", "terminate", "exit"] as const) {
    Deno.test(`Queue keeps working after a child putting items larger than the ring dies (${how}, ${startMethod})`, async () => {
      const size = 20_000_000;
      const { q, child } = await startHugePutter(
        startMethod,
        size,
        how === "exit" ? "exit" : "wait",
      );
      await delay(100);
      if (how === "kill") child.kill();
      if (how === "terminate") child.terminate();
      assertEquals(await child.join(wait), EXIT_CODES[how]);
      await q.put("after", wait);
      assertEquals(await bounded(q.get(wait)), "before");
      const seeds = [];
      for (let item = await bounded(q.get(wait)); item !== "after";) {
        seeds.push(seedOf(item, size));
        item = await bounded(q.get(wait));
      }
      // Whole or not at all, and in the order put.
      assertEquals(seeds, [1, 2].slice(0, seeds.length));
      await assertRejects(() => bounded(q.get({ timeout: 50 })), EmptyError);
      // What the dead child reserved and never wrote is not counted.
      assertEquals(q.qsize(), 0);
      for (let i = 0; i < seeds.length + 2; i++) q.taskDone();
      await q.join(wait);
    });
  }

  Deno.test(`Queue counts nothing a child killed at any point of its puts reserved and never wrote (${startMethod})`, async () => {
    const size = 20_000_000;
    for (const after of [0, 1, 2, 5, 10, 20]) {
      const { q, child } = await startHugePutter(startMethod, size, "wait");
      await delay(after);
      child.kill();
      await child.join(wait);
      await q.put("after", wait);
      let got = 0;
      while (await bounded(q.get(wait)) !== "after") got++;
      assertEquals(q.qsize(), 0, `killed ${after} ms in, ${got} items got`);
      for (let i = 0; i < got + 1; i++) q.taskDone();
      await q.join(wait);
    }
  });

  Deno.test(`Process.join() does not wait for a child's unread item of the ring's size (${startMethod})`, async () => {
    const size = 4 << 20;
    const q = new Queue<Uint8Array>();
    const child = start(startMethod, targets.putsOneAndReturns, q, size);
    assertEquals(await child.join(wait), 0);
    assertEquals(seedOf(await q.get(wait), size), 7);
  });

  Deno.test(`Queue answers synchronous calls in a child (${startMethod})`, async () => {
    const q = new Queue<number>();
    const results = new Queue<unknown>();
    q.putNowait(5);
    const child = start(startMethod, targets.syncCalls, q, results);
    assertEquals(await results.get(wait), [1, false, false, 5, "EmptyError"]);
    assertEquals(await q.get(wait), 99);
    assertEquals(await child.join(wait), 0);
  });

  Deno.test(`Queue back-pressure reaches a child: put times out with FullError (${startMethod})`, async () => {
    const q = new Queue<number>({ maxsize: 1 });
    const results = new Queue<unknown>();
    const child = start(startMethod, targets.putsWithTimeout, q, results);
    assertEquals(await results.get(wait), "FullError");
    assertEquals(await child.join(wait), 0);
    assertEquals(await q.get(wait), 1);
    assertEquals(q.qsize(), 0);
  });

  Deno.test(`Queue rejects an uncloneable item in the child that put it (${startMethod})`, async () => {
    const q = new Queue<unknown>();
    const results = new Queue<unknown>();
    const child = start(startMethod, targets.triesBadPut, q, results);
    const [name, message] = await results.get(wait) as [string, string];
    assertEquals(name, "TypeError");
    assert(message.startsWith("Cannot send item.cb"), message);
    assertEquals(await q.get(wait), "still works");
    assertEquals(await child.join(wait), 0);
    assert(q.empty());
  });

  Deno.test(`Queue moves 100 MiB and a 10 MB nested object to and from a child (${startMethod})`, async () => {
    const size = 100 * 1024 * 1024;
    const q = new Queue<unknown>();
    const child = start(startMethod, targets.putsBig, q, size);
    const copy = await q.get(wait) as Uint8Array;
    assertEquals(copy.length, size);
    for (let i = 0; i < size; i += 4096) {
      if (copy[i] !== (i / 4096) % 251) throw new Error(`byte ${i} differs`);
    }
    assertEquals(await child.join(wait), 0);

    const inbox = new Queue<unknown>();
    const outbox = new Queue<unknown>();
    const echo = start(startMethod, targets.echoesNested, inbox, outbox);
    const object = nested(500, 2_000);
    await inbox.put(object);
    assertEquals(await outbox.get(wait), object);
    assertEquals(await echo.join(wait), 0);
  });

  Deno.test(`Process.join() does not wait for unread items of a child (${startMethod})`, async () => {
    const q = new Queue<Uint8Array>();
    const child = start(startMethod, targets.putsMany, q, 200, 64 * 1024);
    assertEquals(await child.join(wait), 0);
    for (let i = 0; i < 200; i++) {
      const item = await q.get(wait);
      assertEquals([item.length, item[0]], [64 * 1024, i % 256]);
    }
    assert(q.empty());
  });

  Deno.test(`Queue loses no item when a consumer child blocked in get() is killed (${startMethod})`, async () => {
    const q = new Queue<string>();
    const started = new Queue<string>();
    const child = start(startMethod, targets.getsForever, q, started);
    assertEquals(await started.get(wait), "blocked");
    // Give the child's get() time to reach the queue before killing it.
    await new Promise((resolve) => setTimeout(resolve, 100));
    child.kill();
    assertEquals(await child.join(wait), -9);
    await q.put("survives");
    assertEquals(await q.get(wait), "survives");
  });

  Deno.test(`JoinableQueue.join() waits for a child's taskDone() calls (${startMethod})`, async () => {
    const q = new JoinableQueue<number>();
    const results = new Queue<number>();
    const child = start(startMethod, targets.worksTasks, q, results);
    for (let i = 1; i <= 5; i++) await q.put(i);
    await q.join(wait);
    const squares = [];
    for (let i = 0; i < 5; i++) squares.push(await results.get(wait));
    assertEquals(squares, [1, 4, 9, 16, 25]);
    child.kill();
    await child.join(wait);
  });

  Deno.test(`Queue travels inside another Queue and keeps working (${startMethod})`, async () => {
    const carrier = new Queue<Queue<string>>();
    const inner = new Queue<string>();
    const child = start(startMethod, targets.usesReceivedQueue, carrier);
    await carrier.put(inner);
    assertEquals(await inner.get(wait), "via a queue");
    assertEquals(await child.join(wait), 0);
  });
}

for (
  const [producerMethod, consumerMethod] of [["worker", "subprocess"], [
    "subprocess",
    "worker",
  ]] as const
) {
  Deno.test(`Queue: 4 producers × 4 consumers × 5,000 items, exactly once, in order (${producerMethod} producers first)`, async () => {
    const q = new Queue<[number, number] | null>({ maxsize: 1000 });
    const results = new Queue<[number, number][]>();
    const methods = (first: StartMethod): StartMethod[] =>
      first === "worker"
        ? ["worker", "subprocess", "worker", "subprocess"]
        : ["subprocess", "worker", "subprocess", "worker"];
    const consumers = methods(consumerMethod).map((m) =>
      start(m, targets.consumes, q as Queue<unknown>, results as Queue<unknown>)
    );
    const producers = methods(producerMethod).map((m, i) =>
      start(m, targets.produces, q as Queue<[number, number]>, i, 5_000)
    );
    for (const producer of producers) {
      assertEquals(await producer.join(wait), 0);
    }
    for (let i = 0; i < consumers.length; i++) await q.put(null, wait);
    const seen = new Set<string>();
    for (let i = 0; i < consumers.length; i++) {
      const got = await results.get(wait);
      const last = [-1, -1, -1, -1];
      for (const [producer, n] of got) {
        assert(
          n > last[producer]!,
          `producer ${producer}: ${n} after ${last[producer]}`,
        );
        last[producer] = n;
        const key = `${producer}:${n}`;
        assert(!seen.has(key), `${key} delivered twice`);
        seen.add(key);
      }
    }
    assertEquals(seen.size, 4 * 5_000);
    for (const consumer of consumers) {
      assertEquals(await consumer.join(wait), 0);
    }
  });
}

Deno.test("Queue keeps each producer's order: 8 producers × 100,000 items of both start methods, consumers of both", async () => {
  const count = 100_000;
  const q = new Queue<[number, number] | null>();
  const results = new Queue<[number, string[]]>();
  const consumers = START_METHODS.map((m) =>
    start(m, targets.checksOrder, q, results, 25_000)
  );
  const producers = Array.from(
    { length: 8 },
    (_, i) => start(START_METHODS[i % 2]!, targets.producesTagged, q, i, count),
  );
  for (const producer of producers) {
    assertEquals(await producer.join({ timeout: 4 * TIMEOUT }), 0);
  }
  for (const _ of consumers) await q.put(null, wait);
  let total = 0;
  for (const _ of consumers) {
    const [taken, wrong] = await results.get(wait);
    assertEquals(wrong, []);
    total += taken;
  }
  assertEquals(total, 8 * count);
  for (const consumer of consumers) {
    assertEquals(await consumer.join(wait), 0);
  }
});
