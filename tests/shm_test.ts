// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// Shared memory across OS processes (`_shm.ts`): a subprocess child on it
// runs operations without its owner, and one that dies in the middle of
// one leaves the object whole. The suite runs with it on and, through the
// `test` task, again with MP_SHARED_MEMORY=0.
import { assert, assertEquals } from "@std/assert";
import { deadline } from "@std/async/deadline";
import { Event, Lock } from "../lock.ts";
import { Pipe } from "../pipe.ts";
import { Queue } from "../queue.ts";
import * as targets from "./testdata/shm_targets.ts";
import {
  childStarter,
  EXIT_CODES,
  START_METHODS,
  TIMEOUT,
} from "./_helpers.ts";

const start = childStarter(
  new URL("./testdata/shm_targets.ts", import.meta.url),
);
const wait = { timeout: TIMEOUT };

/** What the suite runs with: shared memory on unless switched off. */
const SHARED = Deno.build.os === "linux" &&
  Deno.env.get("MP_SHARED_MEMORY") !== "0";

function test(name: string, fn: () => Promise<void>): void {
  Deno.test(name, () => deadline(fn(), TIMEOUT * 3));
}

/**
 * Sets `go`, then keeps this thread busy (no event loop: nothing of this
 * process can answer a call) until `done` is set or `ms` pass.
 */
function setGoAndSpin(go: Event, done: Event, ms: number): boolean {
  go.set();
  const end = performance.now() + ms;
  while (performance.now() < end) {
    if (done.isSet()) return true;
  }
  return done.isSet();
}

function objects() {
  const [mine, end] = Pipe<string>();
  mine.send("ping");
  const o = {
    go: new Event(),
    done: new Event(),
    lock: new Lock(),
    items: new Queue<number>({ maxsize: 10 }),
    end,
  };
  return { o, mine };
}

const ways = {
  "in its args": (o: targets.Objects) =>
    start("subprocess", targets.actOnGo, o),
  "through a queue": (o: targets.Objects) => {
    const queue = new Queue<targets.Objects>();
    queue.put(o);
    return start("subprocess", targets.actOnGoFromQueue, queue);
  },
  "as a grandchild": (o: targets.Objects) =>
    start("subprocess", targets.actOnGoInGrandchild, o),
  "as a grandchild under a worker": (o: targets.Objects) =>
    start("worker", targets.actOnGoInGrandchild, o),
};

for (const [way, spawn] of Object.entries(ways)) {
  test(`A subprocess child that got objects ${way} ${SHARED ? "runs operations while their owner's event loop is blocked" : "reaches them through its owner"}`, async () => {
    const { o, mine } = objects();
    const child = spawn(o);
    // Long enough for a child on shared memory to answer on a loaded machine;
    // one on calls can never answer while this thread spins.
    await new Promise((resolve) =>
      setTimeout(resolve, way.startsWith("as a grandchild") ? 1500 : 500)
    );
    assertEquals(setGoAndSpin(o.go, o.done, 3_000), SHARED);
    assertEquals(await child.join(wait), 0);
    assertEquals(await o.items.get(wait), 1);
    assertEquals(await mine.recv(wait), "ping-pong");
    assert(o.done.isSet());
    assert(!o.lock.locked());
  });
}

for (const how of ["kill", "exit"] as const) {
  for (const startMethod of START_METHODS) {
    test(`A Lock held by a ${startMethod} child is freed for the others when it dies (${how})`, async () => {
      const lock = new Lock();
      const held = new Queue<string>();
      const child = start(
        startMethod,
        targets.holdLockThenDie,
        lock,
        held,
        how === "exit" ? "exit" : "wait",
      );
      assertEquals(await held.get(wait), "held");
      // A child that exits at once may be gone, and its hold freed, already.
      if (how === "kill") {
        assert(lock.locked());
        child.kill();
      }
      assertEquals(await child.join(wait), EXIT_CODES[how]);
      assert(await lock.acquire(wait));
      assert(lock.ownerDied);
      lock.release();
    });
  }
}

for (const startMethod of START_METHODS) {
  test(`A ${startMethod} child killed while getting large items loses and duplicates nothing`, async () => {
    const size = 8 * 1024 * 1024;
    const items = new Queue<unknown>();
    const got = new Queue<number>();
    const child = start(startMethod, targets.getAndReport, items, got);
    assertEquals(await got.get(wait), -1);
    const count = 12;
    for (let seed = 1; seed <= count; seed++) {
      items.put(new Uint8Array(size).fill(seed));
    }
    // Kill it in the middle of its gets.
    const first = await got.get(wait);
    await new Promise((resolve) => setTimeout(resolve, 20));
    child.kill();
    assertEquals(await child.join(wait), -9);
    const reported = [first];
    // Not qsize(): it counts an item a killed child reserved but never wrote.
    for (;;) {
      const item = await got.get({ timeout: 200 }).catch(() => null);
      if (item === null) break;
      reported.push(item);
    }
    const left: number[] = [];
    while (items.qsize() > 0 || left.length + reported.length < count - 1) {
      const item = await items.get({ timeout: 1000 }).catch(() => null);
      if (item === null) break;
      left.push((item as Uint8Array)[0]!);
    }
    // At most the item in the child's hands when it died is gone, and
    // nothing comes twice (an item a taker on calls never acknowledged goes
    // back to the end of the queue).
    const all = [...reported, ...left];
    assertEquals(new Set(all).size, all.length, `twice: ${all}`);
    assert(all.length >= count - 1, `lost: ${all}`);
    assert(reported.every((seed, i) => i === 0 || seed > reported[i - 1]!));
  });
}
