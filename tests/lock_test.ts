import {
  assert,
  assertEquals,
  assertFalse,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { deadline } from "@std/async/deadline";
import { delay } from "@std/async/delay";
import {
  Barrier,
  BoundedSemaphore,
  BrokenBarrierError,
  Condition,
  Event,
  Lock,
  RLock,
  Semaphore,
  type WaitOptions,
} from "../lock.ts";
import {
  CANCELLED,
  ConditionCore,
  LOCK_WORDS,
  LockCore,
  NOTIFIED,
} from "../_lock_core.ts";
import { EmptyError, TimeoutError } from "../errors.ts";
import { Queue } from "../queue.ts";
import { Process, type StartMethod } from "../process.ts";
import { Cell } from "./testdata/lock_cell.ts";
import {
  acquireAll,
  acquireAndExit,
  acquireAndSleep,
  acquireFromQueue,
  acquireWithLongTimeout,
  actionRunsHere,
  barrierViews,
  conditionMisuse,
  countAction,
  grandchildDiesHolding,
  grandchildDiesHoldingWhileIAlive,
  grandchildHolds,
  holdReentrant,
  incrementInGrandchild,
  incrementUnderLock,
  lockedViews,
  passBarrier,
  putLock,
  release,
  setAndClear,
  setEvent,
  tryAcquire,
  waitBarrier,
  waitBarrierForever,
  waitConditionForever,
  waitEvent,
  waitForCell,
  waitOnCondition,
} from "./testdata/lock_targets.ts";
import { Recorder } from "./testdata/recorder.ts";
import { runDeno, START_METHODS, TIMEOUT } from "./_helpers.ts";

const LOCK_TARGETS = new URL("./testdata/lock_targets.ts", import.meta.url);
const LOCK_PROGRAM =
  new URL("./testdata/lock_program.ts", import.meta.url).pathname;

function spawn<A extends unknown[]>(
  target: (...args: A) => unknown,
  args: A,
  startMethod: StartMethod,
): Process<A> {
  const child = new Process({
    target,
    args,
    module: LOCK_TARGETS,
    startMethod,
  });
  child.start();
  return child;
}

function joined<A extends unknown[]>(child: Process<A>) {
  return child.join({ timeout: TIMEOUT });
}

/** A test whose whole run is bounded, on top of each wait's own timeout. */
function test(name: string, fn: () => Promise<void> | void): void {
  Deno.test(name, () => deadline(Promise.resolve(fn()), TIMEOUT * 3));
}

/** Waits, bounded, until `check` holds. */
async function until(check: () => boolean): Promise<void> {
  const end = Date.now() + TIMEOUT;
  while (!check()) {
    if (Date.now() > end) throw new Error("The condition never held");
    await delay(5);
  }
}

// ---------------------------------------------------------------------------
// Lock, in one process

test("Lock.acquire() and release() toggle locked()", async () => {
  const lock = new Lock();
  assertFalse(lock.locked());
  assertEquals(await lock.acquire(), true);
  assert(lock.locked());
  assertFalse(lock.ownerDied);
  lock.release();
  assertFalse(lock.locked());
});

test("Lock.acquire() answers false at the timeout, and at once when not blocking", async () => {
  const lock = new Lock();
  await lock.acquire();
  assertEquals(await lock.acquire({ timeout: 20 }), false);
  assertEquals(await lock.acquire({ blocking: false }), false);
  assertEquals(await lock.acquire({ timeout: 0 }), false);
  lock.release();
  assertEquals(await lock.acquire({ blocking: false }), true);
  lock.release();
});

test("Lock.acquire() waits for the holder's release", async () => {
  const lock = new Lock();
  await lock.acquire();
  const waiting = lock.acquire({ timeout: TIMEOUT });
  await delay(10);
  lock.release();
  assertEquals(await waiting, true);
  assert(lock.locked());
  lock.release();
});

test("Lock.release() throws when the lock is not held", async () => {
  const lock = new Lock();
  assertThrows(
    () => lock.release(),
    RangeError,
    "Cannot release the lock as it is not held: acquire it first",
  );
  await lock.acquire();
  lock.release();
  assertThrows(() => lock.release(), RangeError, "not held");
  assertEquals(await lock.acquire({ blocking: false }), true);
  lock.release();
});

test("Lock.acquire() rejects bad options and the lock stays usable", async () => {
  const lock = new Lock();
  await assertRejects(
    () => lock.acquire({ timeout: -1 }),
    RangeError,
    "timeout -1",
  );
  await assertRejects(
    () => lock.acquire({ timeout: NaN }),
    RangeError,
    "timeout NaN",
  );
  assertFalse(lock.locked());
  assertEquals(await lock.acquire({ timeout: 10 }), true);
  lock.release();
});

test("acquire({ blocking: false }) ignores a timeout on every lock kind, as Python does", async () => {
  const options = { blocking: false, timeout: 100 };
  const lock = new Lock();
  assertEquals(await lock.acquire(options), true);
  assertEquals(await lock.acquire(options), false);
  assertEquals(await lock.acquire({ blocking: false, timeout: -1 }), false);
  lock.release();
  const rlock = new RLock();
  assertEquals(await rlock.acquire(options), true);
  assertEquals(await rlock.acquire(options), true);
  rlock.release();
  rlock.release();
  const semaphore = new Semaphore(1);
  assertEquals(await semaphore.acquire(options), true);
  assertEquals(await semaphore.acquire(options), false);
  semaphore.release();
  const bounded = new BoundedSemaphore(1);
  assertEquals(await bounded.acquire(options), true);
  assertEquals(await bounded.acquire(options), false);
  bounded.release();
  const condition = new Condition(new Lock());
  assertEquals(await condition.acquire(options), true);
  assertEquals(await condition.acquire(options), false);
  condition.release();
  await assertRejects(() => lock.acquire({ timeout: -1 }), RangeError);
});

/** Whether `promise` is still pending after `ms` (it is left to run). */
async function pendingAfter(
  promise: Promise<unknown>,
  ms: number,
): Promise<boolean> {
  let settled = false;
  promise.then(() => settled = true, () => settled = true);
  await delay(ms);
  return !settled;
}

test("Waits with a timeout of 2³¹ ms or more keep waiting", async () => {
  const lock = new Lock();
  await lock.acquire();
  const semaphore = new Semaphore(0);
  const bounded = new BoundedSemaphore(1);
  await bounded.acquire();
  const condition = new Condition();
  const event = new Event();
  const waits: [string, (options: WaitOptions) => Promise<unknown>][] = [
    ["Lock.acquire()", (options) => lock.acquire(options)],
    ["Semaphore.acquire()", (options) => semaphore.acquire(options)],
    ["BoundedSemaphore.acquire()", (options) => bounded.acquire(options)],
    ["Condition.acquire()", (options) => new Condition(lock).acquire(options)],
    ["Condition.wait()", async (options) => {
      await condition.acquire();
      try {
        return await condition.wait(options);
      } finally {
        condition.release();
      }
    }],
    ["Event.wait()", (options) => event.wait(options)],
  ];
  for (const timeout of [2 ** 31, 2 ** 32 + 5]) {
    for (const [what, wait] of waits) {
      const controller = new AbortController();
      const waiting = wait({ timeout, signal: controller.signal });
      assert(
        await pendingAfter(waiting, 100),
        `${what} with timeout ${timeout} ended early`,
      );
      controller.abort(new Error("stop"));
      await assertRejects(() => waiting, Error, "stop");
    }
  }
  lock.release();
  bounded.release();
});

test("Lock.acquire() rejects with the signal's reason and leaves the lock usable", async () => {
  const lock = new Lock();
  const aborted = AbortSignal.abort(new Error("already aborted"));
  await assertRejects(
    () => lock.acquire({ signal: aborted }),
    Error,
    "already",
  );
  assertFalse(lock.locked());
  await lock.acquire();
  const controller = new AbortController();
  const waiting = lock.acquire({ signal: controller.signal });
  controller.abort(new Error("stop waiting"));
  await assertRejects(() => waiting, Error, "stop waiting");
  lock.release();
  assertFalse(lock.locked());
  assertEquals(await lock.acquire({ timeout: TIMEOUT }), true);
  lock.release();
});

test("Lock excludes concurrent tasks of one process", async () => {
  const lock = new Lock();
  let inside = 0;
  let most = 0;
  await Promise.all(Array.from({ length: 5 }, async () => {
    for (let i = 0; i < 20; i++) {
      await lock.withLock(async () => {
        most = Math.max(most, ++inside);
        await delay(0);
        inside--;
      }, { timeout: TIMEOUT });
    }
  }));
  assertEquals(most, 1);
  assertFalse(lock.locked());
});

test("Lock.withLock() releases when the function throws, and times out with TimeoutError", async () => {
  const lock = new Lock();
  assertEquals(await lock.withLock(() => 42), 42);
  assertEquals(await lock.withLock(() => Promise.resolve("async")), "async");
  await assertRejects(
    () =>
      lock.withLock(() => {
        throw new Error("inside");
      }),
    Error,
    "inside",
  );
  assertFalse(lock.locked());
  await lock.acquire();
  await assertRejects(
    () => lock.withLock(() => 1, { timeout: 10 }),
    TimeoutError,
    "was not acquired within 10 ms",
  );
  lock.release();
  await assertRejects(
    () => lock.withLock(42 as unknown as () => number),
    TypeError,
    "Cannot run number under the lock",
  );
  assertFalse(lock.locked());
});

test("Lock.hold() releases at the end of a using block, once", async () => {
  const lock = new Lock();
  {
    using held = await lock.hold();
    assert(lock.locked());
    held[Symbol.dispose]();
    assertFalse(lock.locked());
    await lock.acquire();
  }
  // The block's own dispose did nothing: the second hold is still ours.
  assert(lock.locked());
  await assertRejects(() => lock.hold({ timeout: 5 }), TimeoutError);
  lock.release();
});

// ---------------------------------------------------------------------------
// RLock, Semaphore, BoundedSemaphore, Event, in one process

test("RLock counts re-entry and frees at the last release", async () => {
  const lock = new RLock();
  assertEquals(await lock.acquire(), true);
  assertEquals(await lock.acquire({ blocking: false }), true);
  assertEquals(await lock.acquire({ timeout: 10 }), true);
  lock.release();
  lock.release();
  assert(lock.locked());
  lock.release();
  assertFalse(lock.locked());
  assertThrows(
    () => lock.release(),
    RangeError,
    "Cannot release the re-entrant lock as it is not held",
  );
  await lock.withLock(() => lock.withLock(() => assert(lock.locked())));
  assertFalse(lock.locked());
});

test("Semaphore counts units", async () => {
  const semaphore = new Semaphore(2);
  assertEquals(await semaphore.acquire(), true);
  assertEquals(await semaphore.acquire(), true);
  assertEquals(await semaphore.acquire({ blocking: false }), false);
  assertEquals(await semaphore.acquire({ timeout: 10 }), false);
  const waiting = semaphore.acquire({ timeout: TIMEOUT });
  semaphore.release(2);
  assertEquals(await waiting, true);
  assertEquals(await semaphore.acquire({ blocking: false }), true);
  assertEquals(await semaphore.acquire({ blocking: false }), false);
  semaphore.release();
  assertEquals(await semaphore.withLock(() => "ran"), "ran");
  {
    using _unit = await semaphore.hold();
    assertEquals(await semaphore.acquire({ blocking: false }), false);
  }
  assertEquals(await new Semaphore().acquire({ blocking: false }), true);
  const empty = new Semaphore(0);
  assertEquals(await empty.acquire({ blocking: false }), false);
  const controller = new AbortController();
  const aborted = empty.acquire({ signal: controller.signal });
  controller.abort(new Error("gave up"));
  await assertRejects(() => aborted, Error, "gave up");
  empty.release();
  // The aborted waiter took nothing: the unit is still there.
  assertEquals(await empty.acquire({ blocking: false }), true);
});

test("Semaphore rejects a bad value or release count and stays usable", async () => {
  for (const value of [-1, 1.5, NaN, 2 ** 31]) {
    assertThrows(() => new Semaphore(value), RangeError, `value ${value}`);
    assertThrows(() => new BoundedSemaphore(value), RangeError, "bounded");
  }
  const semaphore = new Semaphore(1);
  for (const n of [0, -1, 0.5]) {
    assertThrows(() => semaphore.release(n), RangeError, `${n} times`);
  }
  assertEquals(await semaphore.acquire({ blocking: false }), true);
  assertEquals(await semaphore.acquire({ blocking: false }), false);
});

test("BoundedSemaphore.release() past its initial value throws and keeps the value", async () => {
  const semaphore = new BoundedSemaphore(2);
  assertThrows(
    () => semaphore.release(),
    RangeError,
    "Cannot release the bounded semaphore 1 time(s) as its value 2 would exceed its initial value 2",
  );
  await semaphore.acquire();
  assertThrows(() => semaphore.release(2), RangeError, "value 1");
  semaphore.release();
  assertThrows(() => semaphore.release(), RangeError);
  assertEquals(await semaphore.acquire({ blocking: false }), true);
  assertEquals(await semaphore.acquire({ blocking: false }), true);
  assertEquals(await semaphore.acquire({ blocking: false }), false);
  assert(semaphore instanceof Semaphore);
});

test("Event set(), clear(), isSet(), and wait() with a timeout", async () => {
  const event = new Event();
  assertFalse(event.isSet());
  assertEquals(await event.wait({ timeout: 10 }), false);
  const waiting = event.wait({ timeout: TIMEOUT });
  event.set();
  assert(event.isSet());
  assertEquals(await waiting, true);
  assertEquals(await event.wait(), true);
  event.set();
  event.clear();
  assertFalse(event.isSet());
  assertEquals(await event.wait({ timeout: 0 }), false);
  await assertRejects(() => event.wait({ timeout: -5 }), RangeError);
  const controller = new AbortController();
  const aborted = event.wait({ signal: controller.signal });
  controller.abort(new Error("no more"));
  await assertRejects(() => aborted, Error, "no more");
});

test("Event.wait() is true when set and cleared again while waiting", async () => {
  const event = new Event();
  const waiting = event.wait({ timeout: TIMEOUT });
  event.set();
  event.clear();
  assertEquals(await waiting, true);
});

// ---------------------------------------------------------------------------
// Condition, in one process

test("Condition.notify(n) wakes exactly n waiters, notifyAll() the rest", async () => {
  const condition = new Condition(new Lock());
  const woken: number[] = [];
  let waiting = 0;
  const waiters = Array.from(
    { length: 5 },
    (_, i) =>
      condition.withLock(async () => {
        waiting++;
        if (await condition.wait({ timeout: TIMEOUT })) woken.push(i);
      }),
  );
  await until(() => waiting === 5);
  // Every waiter is in wait() once the lock is free again.
  await condition.withLock(() => condition.notify(2));
  await until(() => woken.length === 2);
  await condition.withLock(() => condition.notify(0));
  await delay(20);
  assertEquals(woken.length, 2);
  await condition.withLock(() => condition.notifyAll());
  await Promise.all(waiters);
  assertEquals(woken.toSorted(), [0, 1, 2, 3, 4]);
  assertEquals(woken.slice(0, 2), [0, 1]);
});

test("Condition holds more waiters than its initial room, and notifyAll() wakes them all", async () => {
  const condition = new Condition(new Lock());
  let waiting = 0;
  const waiters = Array.from(
    { length: 40 },
    () =>
      condition.withLock(async () => {
        waiting++;
        return await condition.wait({ timeout: TIMEOUT });
      }),
  );
  await until(() => waiting === 40);
  await condition.withLock(() => condition.notify(15));
  await condition.withLock(() => condition.notifyAll());
  assertEquals(await Promise.all(waiters), Array(40).fill(true));
});

test("Condition.notify() does not count waiters that timed out", async () => {
  const condition = new Condition(new Lock());
  const results: string[] = [];
  await condition.withLock(async () => {
    results.push(`early ${await condition.wait({ timeout: 10 })}`);
  });
  let waiting = false;
  const late = condition.withLock(async () => {
    waiting = true;
    results.push(`late ${await condition.wait({ timeout: TIMEOUT })}`);
  });
  await until(() => waiting);
  // The waiter holds the lock until wait() releases it.
  await condition.withLock(() => condition.notify());
  await late;
  assertEquals(results, ["early false", "late true"]);
});

test("Condition.notify(1) wakes the oldest waiter, skipping one that timed out", async () => {
  const condition = new Condition(new Lock());
  const woken: number[] = [];
  let waiting = 0;
  const waiters = [TIMEOUT, 20, TIMEOUT, TIMEOUT].map((timeout, i) =>
    condition.withLock(async () => {
      waiting++;
      if (await condition.wait({ timeout })) woken.push(i);
    })
  );
  await until(() => waiting === 4);
  await delay(60);
  for (let n = 1; n <= 3; n++) {
    await condition.withLock(() => condition.notify(1));
    await until(() => woken.length === n);
  }
  await Promise.all(waiters);
  assertEquals(woken, [0, 2, 3]);
});

test("Event.wait() is true for a set() that a clear() follows at once, and set() twice stays set", async () => {
  const event = new Event();
  const waiting = event.wait({ timeout: TIMEOUT });
  event.set();
  event.set();
  assert(event.isSet());
  event.clear();
  event.clear();
  assertFalse(event.isSet());
  assert(await waiting);
  event.set();
  assert(await event.wait({ timeout: 0 }));
});

test("Lock.release() twice throws the second time and leaves the lock free", async () => {
  const lock = new Lock();
  await lock.acquire();
  lock.release();
  assertThrows(() => lock.release(), RangeError, "not held");
  assertFalse(lock.locked());
  assert(await lock.acquire({ blocking: false }));
  lock.release();
});

test("A condition keeps taking waiters after its ticket count wraps past 2³¹", async () => {
  const buffer = ConditionCore.newBuffer();
  new Int32Array(buffer)[0] = 2 ** 31 - 2; // The next waiter's ticket.
  const lock = new LockCore(new Int32Array(LOCK_WORDS), false);
  const condition = new ConditionCore(buffer, lock);
  for (let i = 0; i < 4; i++) {
    lock.tryAcquire(1);
    assertEquals(await condition.wait(1, 0, undefined), CANCELLED);
    const waiting = condition.wait(1, TIMEOUT, undefined);
    await until(() => !lock.holder());
    lock.tryAcquire(2);
    condition.notify(1);
    lock.release(2);
    assertEquals(await waiting, NOTIFIED);
    lock.release(1);
  }
});

test("Condition.wait() and notify() throw TypeError without the lock", async () => {
  const condition = new Condition();
  assertThrows(
    () => condition.notify(),
    TypeError,
    "Cannot notify on the condition as its lock is not held: acquire it first",
  );
  assertThrows(() => condition.notifyAll(), TypeError);
  await assertRejects(
    () => condition.wait(),
    TypeError,
    "Cannot wait on the condition as its lock is not held: acquire it first",
  );
  await assertRejects(() => condition.waitFor(() => false), TypeError);
  assertThrows(() => condition.notify(-1), RangeError, "-1 waiters");
  assertThrows(
    () => new Condition({} as Lock),
    TypeError,
    "its lock is not a Lock or RLock",
  );
  await condition.withLock(() => condition.notify());
});

test("Condition.waitFor() returns false at the timeout and true once the predicate holds", async () => {
  const condition = new Condition(new Lock());
  let value = 0;
  await condition.withLock(async () => {
    assertEquals(
      await condition.waitFor(() => value > 0, { timeout: 10 }),
      false,
    );
    // wait() took the lock back before settling.
    assertEquals(await condition.acquire({ blocking: false }), false);
  });
  const waiter = condition.withLock(() =>
    condition.waitFor(async () => {
      await delay(0);
      return value >= 3;
    }, { timeout: TIMEOUT })
  );
  for (let i = 0; i < 3; i++) {
    await condition.withLock(() => {
      value++;
      condition.notify();
    });
  }
  assertEquals(await waiter, true);
});

test("Condition.wait() rejects with the signal's reason holding the lock again", async () => {
  const condition = new Condition(new Lock());
  const controller = new AbortController();
  let waiting = false;
  const waiter = condition.withLock(async () => {
    waiting = true;
    await assertRejects(
      () => condition.wait({ signal: controller.signal }),
      Error,
      "stop",
    );
    // Held again: a non-blocking acquire of the (non re-entrant) lock fails.
    return await condition.acquire({ blocking: false });
  });
  await until(() => waiting);
  await condition.withLock(() => controller.abort(new Error("stop")));
  assertEquals(await waiter, false);
  assertEquals(await condition.acquire({ blocking: false }), true);
  condition.release();
});

test("Condition with an RLock restores its re-entry count after wait()", async () => {
  const lock = new RLock();
  const condition = new Condition(lock);
  await lock.acquire();
  await lock.acquire();
  assertEquals(await condition.wait({ timeout: 5 }), false);
  lock.release();
  assert(lock.locked());
  lock.release();
  assertFalse(lock.locked());
});

// ---------------------------------------------------------------------------
// Barrier, in one process

test("Barrier returns distinct indexes and runs its action once per cycle", async () => {
  let runs = 0;
  const barrier = new Barrier(3, { action: () => void runs++ });
  assertEquals(barrier.parties, 3);
  for (let cycle = 1; cycle <= 3; cycle++) {
    const first = barrier.wait();
    await until(() => barrier.nWaiting === 1);
    const indexes = await Promise.all([first, barrier.wait(), barrier.wait()]);
    assertEquals(indexes.toSorted(), [0, 1, 2]);
    assertEquals(runs, cycle);
  }
  assertEquals(barrier.nWaiting, 0);
  assertFalse(barrier.broken);
});

test("Barrier runs its own action when another barrier's action has the same name", async () => {
  const runs: string[] = [];
  const first = new Barrier(1, { action: () => void runs.push("first") });
  const second = new Barrier(1, { action: () => void runs.push("second") });
  await first.wait();
  await second.wait();
  assertEquals(runs, ["first", "second"]);
});

test("Barrier.abort() breaks it for every waiter until reset()", async () => {
  const barrier = new Barrier(3);
  const waiters = [barrier.wait(), barrier.wait()];
  await until(() => barrier.nWaiting === 2);
  barrier.abort();
  for (const waiter of waiters) {
    await assertRejects(
      () => waiter,
      BrokenBarrierError,
      "broke while waiting",
    );
  }
  assert(barrier.broken);
  assertEquals(barrier.nWaiting, 0);
  await assertRejects(
    () => barrier.wait(),
    BrokenBarrierError,
    "Cannot wait on the barrier as it is broken: reset() it first",
  );
  barrier.reset();
  assertFalse(barrier.broken);
  const indexes = await Promise.all([0, 1, 2].map(() => barrier.wait()));
  assertEquals(indexes.toSorted(), [0, 1, 2]);
});

test("Barrier.wait() timeout breaks it for every waiter", async () => {
  const barrier = new Barrier(3);
  const patient = barrier.wait({ timeout: TIMEOUT });
  await assertRejects(
    () => barrier.wait({ timeout: 20 }),
    BrokenBarrierError,
  );
  await assertRejects(() => patient, BrokenBarrierError);
  assert(barrier.broken);
  const defaulted = new Barrier(2, { timeout: 10 });
  await assertRejects(() => defaulted.wait(), BrokenBarrierError);
  assert(defaulted.broken);
});

test("Barrier.reset() gives waiting parties BrokenBarrierError and starts afresh", async () => {
  const barrier = new Barrier(2);
  const waiting = barrier.wait();
  await until(() => barrier.nWaiting === 1);
  barrier.reset();
  await assertRejects(() => waiting, BrokenBarrierError);
  assertFalse(barrier.broken);
  assertEquals(barrier.nWaiting, 0);
  assertEquals(
    (await Promise.all([barrier.wait(), barrier.wait()])).toSorted(),
    [
      0,
      1,
    ],
  );
});

test("Barrier.wait() rejects with the signal's reason and breaks the barrier", async () => {
  const barrier = new Barrier(2);
  const controller = new AbortController();
  const waiting = barrier.wait({ signal: controller.signal });
  await until(() => barrier.nWaiting === 1);
  controller.abort(new Error("leaving"));
  await assertRejects(() => waiting, Error, "leaving");
  assert(barrier.broken);
});

test("Barrier action that throws breaks the barrier; its party gets the error", async () => {
  const barrier = new Barrier(2, {
    action: () => {
      throw new Error("action failed");
    },
  });
  const first = barrier.wait();
  await until(() => barrier.nWaiting === 1);
  await assertRejects(() => barrier.wait(), Error, "action failed");
  await assertRejects(() => first, BrokenBarrierError);
  assert(barrier.broken);
});

test("Process.start() refuses a Barrier whose action a worker child cannot import", async () => {
  function unexported() {}
  const cases = [
    [countAction.bind(null), "as its action is an anonymous or bound function"],
    [
      unexported,
      "as function unexported is not exported from " + LOCK_TARGETS.href,
    ],
  ] as const;
  for (const [action, message] of cases) {
    const barrier = new Barrier(2, { action, module: LOCK_TARGETS });
    const child = new Process({
      target: passBarrier,
      args: [barrier, 1, new Recorder()],
      module: LOCK_TARGETS,
      startMethod: "worker",
    });
    assertThrows(
      () => child.start(),
      TypeError,
      `Cannot send the barrier to a worker child ${message}`,
    );
  }
  // Nothing was started, and a barrier that can be sent still is.
  const barrier = new Barrier(2, { action: countAction, module: LOCK_TARGETS });
  const child = spawn(passBarrier, [barrier, 1, new Recorder()], "worker");
  await barrier.wait({ timeout: TIMEOUT });
  assertEquals(await joined(child), 0);
});

test("new Barrier() rejects bad parties, timeout and action", () => {
  for (const parties of [0, -1, 1.5, 65_536]) {
    assertThrows(
      () => new Barrier(parties),
      RangeError,
      `Cannot create a barrier for ${parties} parties`,
    );
  }
  assertThrows(() => new Barrier(2, { timeout: -1 }), RangeError);
  assertThrows(
    () => new Barrier(2, { action: "x" as unknown as () => void }),
    TypeError,
    "string action",
  );
  assertEquals(new Barrier(1).parties, 1);
});

// ---------------------------------------------------------------------------
// Across processes, under each start method

for (const startMethod of START_METHODS) {
  test(`Any process may release a Lock: a child releases the parent's hold (${startMethod})`, async () => {
    const lock = new Lock();
    await lock.acquire();
    const recorder = new Recorder();
    const child = spawn(release, [lock, recorder], startMethod);
    assertEquals(await joined(child), 0);
    assertEquals(await recorder.values(), ["released"]);
    assertFalse(lock.locked());
    assertEquals(await lock.acquire({ blocking: false }), true);
    lock.release();
  });

  test(`Lock.release() in a child throws when the lock is not held (${startMethod})`, async () => {
    const { stdout, stderr } = await runDeno([
      LOCK_PROGRAM,
      startMethod,
      "releaseUnheld",
    ]);
    const message =
      "RangeError: Cannot release the lock as it is not held: acquire it first";
    // In a subprocess child, release() of a lock it does not hold asks the
    // owner synchronously, so it throws there too.
    assertEquals(stdout, `caught ${message}\nstill running\nexit 0\n`);
    assertEquals(stderr, "");
  });

  test(`A Lock gives a child a hold the parent waits for (${startMethod})`, async () => {
    const lock = new Lock();
    const acquired = new Event();
    const child = spawn(acquireAndSleep, [lock, acquired], startMethod);
    assert(await acquired.wait({ timeout: TIMEOUT }));
    assert(lock.locked());
    assertEquals(await lock.acquire({ blocking: false }), false);
    assertEquals(await lock.acquire({ timeout: 20 }), false);
    child.kill();
    assertEquals(await joined(child), -9);
  });

  test(`Lock.locked() in a child sees its own release and others' holds (${startMethod})`, async () => {
    const lock = new Lock();
    const step = new Semaphore(0);
    const proceed = new Event();
    const recorder = new Recorder();
    const child = spawn(
      lockedViews,
      [lock, step, proceed, recorder],
      startMethod,
    );
    assert(await step.acquire({ timeout: TIMEOUT }));
    assertEquals(await lock.acquire({ timeout: TIMEOUT }), true);
    proceed.set();
    assertEquals(await joined(child), 0);
    lock.release();
    assertEquals(await recorder.values(), [[true, false, true]]);
  });

  test(`RLock counts re-entry in a child and only its owner releases (${startMethod})`, async () => {
    const lock = new RLock();
    await lock.acquire();
    const refused = new Recorder();
    assertEquals(await joined(spawn(release, [lock, refused], startMethod)), 0);
    assertEquals(await refused.values(), [
      "RangeError: Cannot release the re-entrant lock as another process holds it: only its owner may release it",
    ]);
    assert(lock.locked());
    lock.release();

    const entered = new Semaphore(0);
    const proceed = new Event();
    const recorder = new Recorder();
    const child = spawn(
      holdReentrant,
      [lock, entered, proceed, recorder],
      startMethod,
    );
    assert(await entered.acquire({ timeout: TIMEOUT }));
    // Acquired twice, released once: still held by the child.
    assertEquals(await lock.acquire({ blocking: false }), false);
    assertThrows(() => lock.release(), RangeError, "another process holds it");
    proceed.set();
    assertEquals(await lock.acquire({ timeout: TIMEOUT }), true);
    assertFalse(lock.ownerDied);
    lock.release();
    assertEquals(await joined(child), 0);
    assertEquals(await recorder.values(), [true]);
  });

  test(`A child's acquire with a timeout of 2³¹ ms waits for the release (${startMethod})`, async () => {
    const semaphore = new Semaphore(0);
    const lock = new Lock();
    const rlock = new RLock();
    await lock.acquire();
    await rlock.acquire();
    for (const primitive of [lock, rlock, semaphore]) {
      const results = new Queue<unknown>();
      const child = spawn(
        acquireWithLongTimeout,
        [primitive, results],
        startMethod,
      );
      assertEquals(await results.get({ timeout: TIMEOUT }), "waiting");
      // Long enough for an overflowed timer to have fired.
      await assertRejects(() => results.get({ timeout: 100 }), EmptyError);
      primitive.release();
      assertEquals(await results.get({ timeout: TIMEOUT }), true);
      assertEquals(await joined(child), 0);
    }
  });

  test(`Semaphore counts units across processes (${startMethod})`, async () => {
    const semaphore = new Semaphore(2);
    await semaphore.acquire();
    const recorder = new Recorder();
    assertEquals(
      await joined(spawn(acquireAll, [semaphore, recorder], startMethod)),
      0,
    );
    assertEquals(await recorder.values(), [[true, false, false]]);
    // The child released the unit it took, so one is left for the parent.
    assertEquals(await semaphore.acquire({ blocking: false }), true);
    assertEquals(await semaphore.acquire({ blocking: false }), false);
    const waiting = new Recorder();
    assertEquals(
      await joined(spawn(tryAcquire, [semaphore, waiting], startMethod)),
      0,
    );
    assertEquals(await waiting.values(), [false]);
  });

  test(`BoundedSemaphore.release() in a child past its initial value throws (${startMethod})`, async () => {
    const { stdout, stderr } = await runDeno([
      LOCK_PROGRAM,
      startMethod,
      "overRelease",
    ]);
    const message =
      "RangeError: Cannot release the bounded semaphore 1 time(s) as its value 1 would exceed its initial value 1: release only what was acquired";
    assertEquals(stdout, `caught ${message}\nstill running\nexit 0\n`);
    assertEquals(stderr, "");
  });

  test(`Event set(), clear() and wait() work across processes (${startMethod})`, async () => {
    const event = new Event();
    const recorder = new Recorder();
    assertEquals(
      await joined(spawn(waitEvent, [event, 20, recorder], startMethod)),
      0,
    );
    const waiter = spawn(waitEvent, [event, TIMEOUT, recorder], startMethod);
    await delay(50);
    event.set();
    assertEquals(await joined(waiter), 0);
    assertEquals(await recorder.values(), [false, true]);

    event.clear();
    assertEquals(await joined(spawn(setEvent, [event], startMethod)), 0);
    assert(event.isSet());
    assertEquals(await event.wait({ timeout: 0 }), true);
    const seen = new Recorder();
    assertEquals(
      await joined(spawn(setAndClear, [event, seen], startMethod)),
      0,
    );
    assertEquals(await seen.values(), [[true, false]]);
    assertFalse(event.isSet());
  });

  test(`Condition.notify(n) wakes exactly n waiting children, notifyAll() the rest (${startMethod})`, async () => {
    const condition = new Condition();
    const ready = new Semaphore(0);
    const woken = new Semaphore(0);
    const children = [0, 1, 2].map(() =>
      spawn(waitOnCondition, [condition, ready, woken], startMethod)
    );
    for (let i = 0; i < 3; i++) {
      assert(await ready.acquire({ timeout: TIMEOUT }));
    }
    // A child signals `ready` holding the lock, so once the parent holds
    // it, all three are waiting.
    await condition.withLock(() => condition.notify(2));
    assert(await woken.acquire({ timeout: TIMEOUT }));
    assert(await woken.acquire({ timeout: TIMEOUT }));
    assertEquals(await woken.acquire({ timeout: 50 }), false);
    await condition.withLock(() => condition.notifyAll());
    assert(await woken.acquire({ timeout: TIMEOUT }));
    for (const child of children) assertEquals(await joined(child), 0);
  });

  test(`Condition.waitFor() in a child waits for its predicate, with a timeout (${startMethod})`, async () => {
    const condition = new Condition();
    const cell = new Cell();
    const ready = new Semaphore(0);
    const recorder = new Recorder();
    const patient = spawn(
      waitForCell,
      [condition, cell, 2, TIMEOUT, ready, recorder],
      startMethod,
    );
    assert(await ready.acquire({ timeout: TIMEOUT }));
    for (let value = 1; value <= 2; value++) {
      await condition.withLock(() => {
        cell.set(value);
        condition.notifyAll();
      });
    }
    assertEquals(await joined(patient), 0);
    const impatient = spawn(
      waitForCell,
      [condition, cell, 100, 20, ready, recorder],
      startMethod,
    );
    assertEquals(await joined(impatient), 0);
    assertEquals(await recorder.values(), [true, false]);
    assertEquals(await condition.acquire({ blocking: false }), true);
    condition.release();
  });

  test(`Condition.wait() and notify() in a child throw without the lock (${startMethod})`, async () => {
    const recorder = new Recorder();
    assertEquals(
      await joined(
        spawn(conditionMisuse, [new Condition(), recorder], startMethod),
      ),
      0,
    );
    assertEquals(await recorder.values(), [[
      "TypeError: Cannot notify on the condition as its lock is not held: acquire it first",
      "TypeError: Cannot wait on the condition as its lock is not held: acquire it first",
    ]]);
  });

  test(`Barrier gives parent and children distinct indexes and runs its action once per cycle (${startMethod})`, async () => {
    const barrier = new Barrier(3, {
      action: countAction,
      module: LOCK_TARGETS,
    });
    const before = actionRunsHere();
    const recorder = new Recorder();
    const children = [0, 1].map(() =>
      spawn(passBarrier, [barrier, 3, recorder], startMethod)
    );
    const mine: number[] = [];
    for (let i = 0; i < 3; i++) {
      mine.push(await barrier.wait({ timeout: TIMEOUT }));
    }
    for (const child of children) assertEquals(await joined(child), 0);
    const reports = await recorder.values() as {
      indexes: number[];
      actionRuns: number;
    }[];
    for (let cycle = 0; cycle < 3; cycle++) {
      const indexes = [mine[cycle], ...reports.map((r) => r.indexes[cycle])];
      assertEquals(indexes.toSorted(), [0, 1, 2]);
    }
    const runs = actionRunsHere() - before +
      reports.reduce((sum, r) => sum + r.actionRuns, 0);
    assertEquals(runs, 3);
  });

  test(`Barrier.abort(), timeouts and reset() break it for waiting children (${startMethod})`, async () => {
    const barrier = new Barrier(2);
    const recorder = new Recorder();
    const aborted = spawn(
      waitBarrier,
      [barrier, TIMEOUT, recorder],
      startMethod,
    );
    await until(() => barrier.nWaiting === 1);
    barrier.abort();
    assertEquals(await joined(aborted), 0);
    barrier.reset();
    const timedOut = spawn(waitBarrier, [barrier, 20, recorder], startMethod);
    assertEquals(await joined(timedOut), 0);
    assert(barrier.broken);
    await assertRejects(() => barrier.wait(), BrokenBarrierError);
    barrier.reset();
    const reset = spawn(waitBarrier, [barrier, TIMEOUT, recorder], startMethod);
    await until(() => barrier.nWaiting === 1);
    barrier.reset();
    assertEquals(await joined(reset), 0);
    const passing = spawn(
      waitBarrier,
      [barrier, TIMEOUT, recorder],
      startMethod,
    );
    const index = await barrier.wait({ timeout: TIMEOUT });
    assertEquals(await joined(passing), 0);
    const values = await recorder.values();
    const broke =
      "BrokenBarrierError: Cannot pass the barrier as it broke while waiting";
    for (const value of values.slice(0, 3)) {
      assertStringIncludes(String(value), broke);
    }
    assertEquals([index, values[3]].toSorted(), [0, 1]);
  });

  test(`Barrier.parties, nWaiting and broken read the same in a child (${startMethod})`, async () => {
    const barrier = new Barrier(3);
    const waiting = barrier.wait().catch((error) => error);
    await until(() => barrier.nWaiting === 1);
    const recorder = new Recorder();
    assertEquals(
      await joined(spawn(barrierViews, [barrier, recorder], startMethod)),
      0,
    );
    assert(await waiting instanceof BrokenBarrierError);
    assertEquals(await recorder.values(), [[[3, 1, false], [0, true], false]]);
    assertFalse(barrier.broken);
  });

  test(`A child that exits holding a Lock releases it to the next acquirer (${startMethod})`, async () => {
    for (const lock of [new Lock(), new RLock()]) {
      const child = spawn(acquireAndExit, [lock, 3], startMethod);
      assertEquals(await joined(child), 3);
      assertEquals(await lock.acquire({ timeout: TIMEOUT }), true);
      assert(lock.ownerDied, "the next acquirer learns the owner died");
      lock.release();
      assertEquals(await lock.acquire({ blocking: false }), true);
      assertFalse(lock.ownerDied);
      lock.release();
    }
  });

  test(`A child killed holding a Lock releases it to a waiting acquirer (${startMethod})`, async () => {
    const lock = new Lock();
    const acquired = new Event();
    const child = spawn(acquireAndSleep, [lock, acquired], startMethod);
    assert(await acquired.wait({ timeout: TIMEOUT }));
    const waiting = lock.acquire({ timeout: TIMEOUT });
    child.kill();
    assertEquals(await waiting, true);
    assert(lock.ownerDied);
    lock.release();
    assertEquals(await joined(child), -9);
  });

  test(`A child that dies waiting on a Condition is not counted by notify() (${startMethod})`, async () => {
    const condition = new Condition(new Lock());
    const ready = new Semaphore(0);
    const child = spawn(waitConditionForever, [condition, ready], startMethod);
    assert(await ready.acquire({ timeout: TIMEOUT }));
    // The child holds the lock until its wait() releases it.
    await condition.withLock(() => {}, { timeout: TIMEOUT });
    child.kill();
    assertEquals(await joined(child), -9);
    let waiting = false;
    const local = condition.withLock(() => {
      waiting = true;
      return condition.wait({ timeout: TIMEOUT });
    });
    await until(() => waiting);
    // The dead child waited first; the one wake-up goes to the live waiter.
    await condition.withLock(() => condition.notify(1));
    assertEquals(await local, true);
  });

  test(`A child that dies waiting at a Barrier breaks it (${startMethod})`, async () => {
    const barrier = new Barrier(2);
    const child = spawn(waitBarrierForever, [barrier], startMethod);
    await until(() => barrier.nWaiting === 1);
    child.kill();
    assertEquals(await joined(child), -9);
    assert(barrier.broken);
    await assertRejects(() => barrier.wait(), BrokenBarrierError);
  });

  for (const grandchildMethod of START_METHODS) {
    test(`A Lock passed on to a ${grandchildMethod} grandchild excludes, and is freed when it dies (${startMethod})`, async () => {
      const lock = new Lock();
      const cell = new Cell();
      const child = spawn(
        incrementInGrandchild,
        [lock, cell, 200, grandchildMethod],
        startMethod,
      );
      await incrementUnderLock(lock, cell, 200);
      assertEquals(await joined(child), 0);
      assertEquals(await cell.get(), 400);
      assertFalse(lock.locked());

      const dies = spawn(
        grandchildDiesHolding,
        [{ locks: new Map([["lock", lock]]) }, grandchildMethod],
        startMethod,
      );
      assertEquals(await joined(dies), 0);
      assertEquals(await lock.acquire({ timeout: TIMEOUT }), true);
      assert(lock.ownerDied);
      lock.release();
    });
  }
}

test("A Lock gives mutual exclusion to worker and subprocess children together", async () => {
  const lock = new Lock();
  const cell = new Cell();
  const times = 5_000;
  const methods: StartMethod[] = [
    "worker",
    "worker",
    "subprocess",
    "subprocess",
  ];
  const children = methods.map((method) =>
    spawn(incrementUnderLock, [lock, cell, times], method)
  );
  for (const child of children) {
    assertEquals(await child.join({ timeout: TIMEOUT * 2 }), 0);
  }
  assertEquals(await cell.get(), times * methods.length);
  assertFalse(lock.locked());
});

for (const middle of START_METHODS) {
  for (const grandchildMethod of START_METHODS) {
    test(`A Lock held by a ${grandchildMethod} grandchild is freed when its ${middle} parent is killed`, async () => {
      const lock = new Lock();
      const acquired = new Event();
      const child = spawn(
        grandchildHolds,
        [lock, acquired, grandchildMethod],
        middle,
      );
      assert(await acquired.wait({ timeout: TIMEOUT }));
      assertEquals(await lock.acquire({ blocking: false }), false);
      child.kill();
      assertEquals(await joined(child), -9);
      assertEquals(await lock.acquire({ timeout: TIMEOUT }), true);
      assert(lock.ownerDied);
      lock.release();
    });
  }
}

for (const middle of START_METHODS) {
  for (const grandchildMethod of START_METHODS) {
    test(`A Lock a ${grandchildMethod} grandchild dies holding is freed while its ${middle} parent lives on`, async () => {
      const lock = new Lock();
      const died = new Event();
      const child = spawn(
        grandchildDiesHoldingWhileIAlive,
        [lock, died, grandchildMethod],
        middle,
      );
      try {
        assert(await died.wait({ timeout: TIMEOUT }));
        assertEquals(await lock.acquire({ timeout: TIMEOUT }), true);
        assert(lock.ownerDied);
        lock.release();
      } finally {
        child.kill();
        await joined(child);
      }
    });
  }
}

for (const sender of START_METHODS) {
  for (const receiver of START_METHODS) {
    test(`A Lock a ${receiver} child got from a ${sender} sibling through a Queue excludes, and is freed when it dies`, async () => {
      const lock = new Lock();
      const queue = new Queue<{ lock: Lock }>();
      const acquired = new Event();
      assertEquals(await joined(spawn(putLock, [queue, lock], sender)), 0);
      const holder = spawn(acquireFromQueue, [queue, acquired], receiver);
      assert(await acquired.wait({ timeout: TIMEOUT }));
      assert(lock.locked());
      assertEquals(await lock.acquire({ blocking: false }), false);
      holder.kill();
      assertEquals(await joined(holder), -9);
      assertEquals(await lock.acquire({ timeout: TIMEOUT }), true);
      assert(lock.ownerDied);
      lock.release();
    });
  }
}
