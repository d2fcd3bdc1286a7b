// The shared-object layer (`_shared.ts`, `_isolates.ts`), proved with a kind
// declared in a few lines (tests/testdata/counter.ts).
import {
  assert,
  assertEquals,
  assertFalse,
  assertNotEquals,
  assertStrictEquals,
  assertThrows,
} from "@std/assert";
import { deadline } from "@std/async/deadline";
import { delay } from "@std/async/delay";
import {
  callerCode,
  isDead,
  markExited,
  nextWorkerPid,
  onDeath,
  selfCode,
} from "../_isolates.ts";
import { Queue } from "../queue.ts";
import { Counter } from "./testdata/counter.ts";
import {
  addFromQueue,
  bumpTwiceThenGet,
  claimThen,
  grandchildClaims,
  inGrandchild,
  sameObject,
  sendBack,
  unknownOps,
  useCounter,
} from "./testdata/shared_targets.ts";
import { childStarter, runDeno, START_METHODS, TIMEOUT } from "./_helpers.ts";

const start = childStarter(
  new URL("./testdata/shared_targets.ts", import.meta.url),
);

/** A test whose whole run is bounded, on top of each wait's own timeout. */
function test(
  name: string,
  fn: () => Promise<void> | void,
  options: { ignore?: boolean } = {},
): void {
  Deno.test({
    name,
    ignore: options.ignore ?? false,
    fn: () => deadline(Promise.resolve(fn()), TIMEOUT * 3),
  });
}

/** Waits, bounded, until `check` holds. */
async function until(check: () => boolean, what: string): Promise<void> {
  const end = Date.now() + TIMEOUT;
  while (!check()) {
    if (Date.now() > end) throw new Error(`Never: ${what}`);
    await delay(5);
  }
}

// ---------------------------------------------------------------------------
// In the parent

test("Counter: every op works in the process that made it", async () => {
  const counter = new Counter();
  assertEquals(counter.get(), 0);
  const added = counter.add(5);
  assert(added instanceof Promise, "a local async op answers a Promise");
  assertEquals(await added, 5);
  counter.bump();
  assertEquals(counter.get(), 6);
  assertFalse(counter.claimed());
  assertEquals(await counter.claim(), true);
  assertEquals(counter.claimedBy(), selfCode());
  assertEquals(await counter.claim(), false, "the claim is held already");
  assertEquals(counter.release(), true);
  assertEquals(counter.release(), false, "nothing left to release");
  assertFalse(counter.claimed());
});

test("Shared.run() of an unknown op throws a TypeError naming it", () => {
  const shared = Counter.shared(new Counter());
  for (const op of ["nope", "toString", "constructor"]) {
    assertThrows(
      () => shared.run(op as "get", [] as never),
      TypeError,
      `Cannot apply operation "${op}" as a test.counter has no such operation`,
    );
  }
});

// ---------------------------------------------------------------------------
// From children and grandchildren

for (const method of START_METHODS) {
  test(`Counter: a ${method} child uses every op`, async () => {
    const counter = new Counter();
    const child = start(method, useCounter, counter, 10);
    assertEquals(await child.join({ timeout: TIMEOUT }), 0);
    assertEquals(counter.get(), 11);
  });
}

for (const middle of START_METHODS) {
  for (const last of START_METHODS) {
    test(`Counter: a ${last} grandchild under a ${middle} child uses every op`, async () => {
      const counter = new Counter();
      const child = start(middle, inGrandchild, counter, 20, last);
      assertEquals(await child.join({ timeout: TIMEOUT }), 0);
      assertEquals(counter.get(), 21);
    });
  }
}

for (const method of START_METHODS) {
  test(`Counter: travels inside a Queue item to a ${method} child`, async () => {
    const counter = new Counter();
    const queue = new Queue<{ c: Counter; n: number }>();
    const child = start(method, addFromQueue, queue);
    await queue.put({ c: counter, n: 7 });
    assertEquals(await child.join({ timeout: TIMEOUT }), 0);
    assertEquals(counter.get(), 8);
  });

  test(`Counter: comes back from a ${method} child as the same object`, async () => {
    const counter = new Counter();
    const queue = new Queue<{ counter: Counter }>();
    const child = start(method, sendBack, counter, queue);
    const item = await queue.get({ timeout: TIMEOUT });
    assertStrictEquals(item.counter, counter);
    assertEquals(await child.join({ timeout: TIMEOUT }), 0);
  });

  test(`Counter: comes back from a ${method} child after its owner dropped it`, async () => {
    const program = new URL(
      "./testdata/owner_drops_program.ts",
      import.meta.url,
    );
    const { code, stdout, stderr } = await runDeno([
      "--v8-flags=--expose-gc",
      program.pathname,
      method,
    ]);
    assertEquals(code, 0, stderr);
    // Collected, then rebuilt on its own state: add(1) after add(41).
    assertEquals(JSON.parse(stdout), [true, 42, 0]);
  });

  test(`Counter: passed twice to a ${method} child is one object there`, async () => {
    const counter = new Counter();
    const child = start(method, sameObject, counter, counter, { c: counter });
    assertEquals(await child.join({ timeout: TIMEOUT }), 0);
  });

  test(`Counter: an unknown op from a ${method} child rejects with a TypeError`, async () => {
    const counter = new Counter();
    const queue = new Queue<string[]>();
    const child = start(method, unknownOps, counter, queue);
    const answers = await queue.get({ timeout: TIMEOUT });
    assertEquals(await child.join({ timeout: TIMEOUT }), 0);
    assertEquals(answers, [
      'TypeError: Cannot apply operation "nope" as a test.counter has no such operation',
      'TypeError: Cannot apply operation "toString" as a test.counter has no such operation',
      'TypeError: Cannot apply operation "nope" as a test.counter has no such operation',
    ]);
    assertEquals(counter.get(), 0);
  });
}

// ---------------------------------------------------------------------------
// A dead party's claim is freed

for (const method of START_METHODS) {
  for (const end of ["return", "exit"] as const) {
    test(`Counter: the claim of a ${method} child that ends by ${end} is freed`, async () => {
      const counter = new Counter();
      const child = start(method, claimThen, counter, end);
      assertEquals(
        await child.join({ timeout: TIMEOUT }),
        end === "exit" ? 3 : 0,
      );
      assertEquals(counter.get(), 1, "the child claimed");
      assertFalse(counter.claimed());
      assertEquals(await counter.claim(), true);
    });
  }

  test(`Counter: the claim of a killed ${method} child is freed`, async () => {
    const counter = new Counter();
    const child = start(method, claimThen, counter, "sleep");
    await until(() => counter.get() === 1, "the child claimed");
    const holder = counter.claimedBy();
    assertNotEquals(holder, 0);
    assertNotEquals(holder, selfCode());
    assertFalse(isDead(holder));
    child.kill();
    assertEquals(await child.join({ timeout: TIMEOUT }), -9);
    assert(isDead(holder));
    assertFalse(counter.claimed());
  });
}

for (const middle of START_METHODS) {
  for (const last of START_METHODS) {
    test(`Counter: a ${last} grandchild's claim is freed when its ${middle} parent is killed`, async () => {
      const counter = new Counter();
      const child = start(middle, grandchildClaims, counter, last, "sleep");
      await until(() => counter.get() === 101, "the grandchild claimed");
      assert(counter.claimed());
      child.kill();
      assertEquals(await child.join({ timeout: TIMEOUT }), -9);
      // A worker's death is seen by the isolate that started it, a
      // subprocess's by its parent process: in both cases, the owner learns
      // of it as the middle's descendant.
      await until(() => !counter.claimed(), "the claim was freed");
    });

    test(`Counter: the claim of a ${last} grandchild that exits under a living ${middle} parent is freed`, async () => {
      const counter = new Counter();
      const child = start(middle, grandchildClaims, counter, last, "exit");
      await until(() => counter.get() === 101, "the grandchild exited");
      await until(() => !counter.claimed(), "the claim was freed");
      child.kill();
      assertEquals(await child.join({ timeout: TIMEOUT }), -9);
    });
  }
}

// ---------------------------------------------------------------------------
// Identities and the parent chain

// Pids no OS process or worker can have: above Linux's pid_max, below the
// worker pids of any OS process.
const FAKE = 0x400000 + 100;

test("callerCode() names a remote caller once, above the isolate codes", () => {
  const child = callerCode(FAKE + 1, FAKE + 1);
  assert(child >= 1 << 16);
  assertEquals(callerCode(FAKE + 1, FAKE + 1), child, "stable");
  const grandchild = callerCode(FAKE + 2, FAKE + 1);
  assertNotEquals(grandchild, child);
  assertEquals(callerCode(FAKE + 2, FAKE + 1), grandchild);
  assertEquals(selfCode(), 1, "the main isolate");
});

test("isDead() walks the parent chain of remote callers", () => {
  const child = callerCode(FAKE + 10, FAKE + 10);
  const grandchild = callerCode(FAKE + 11, FAKE + 10);
  const other = callerCode(FAKE + 12, FAKE + 12);
  assertFalse(isDead(child) || isDead(grandchild) || isDead(other));
  let heard = 0;
  const stop = onDeath(() => heard++);
  markExited(FAKE + 10);
  stop();
  assertEquals(heard, 1, "listeners run at once in the isolate that saw it");
  assert(isDead(child));
  assert(isDead(grandchild), "dead through its parent");
  assertFalse(isDead(other));
  assertFalse(isDead(selfCode()));
  assertFalse(isDead(0));
});

test("isDead() walks from remote callers to worker tokens", () => {
  const workerPid = nextWorkerPid();
  const token = callerCode(workerPid, workerPid);
  assert(token > 1 && token < 1 << 16, "a worker is named by its token");
  const behind = callerCode(FAKE + 20, workerPid);
  assert(behind >= 1 << 16);
  assertFalse(isDead(token) || isDead(behind));
  markExited(workerPid);
  assert(isDead(token));
  assert(isDead(behind));
});

test("callerCode() registers a caller whose route hashes to the same slot", async () => {
  const program = new URL(
    "./testdata/caller_code_program.ts",
    import.meta.url,
  );
  const { code, stdout, stderr } = await runDeno([program.pathname]);
  assertEquals(code, 0, stderr);
  const [grandchild, route] = JSON.parse(stdout) as number[];
  assert(grandchild! >= 1 << 16 && route! >= 1 << 16);
  assertNotEquals(grandchild, route);
});

test("markExited() of a pid that never called marks nothing", () => {
  const other = callerCode(FAKE + 30, FAKE + 30);
  markExited(FAKE + 31);
  assertFalse(isDead(other));
});

// ---------------------------------------------------------------------------
// Fire-and-forget ordering

for (const method of START_METHODS) {
  test(
    `Counter: bump(); bump(); get() in a ${method} child sees both bumps`,
    async () => {
      const counter = new Counter();
      const queue = new Queue<number>();
      const child = start(method, bumpTwiceThenGet, counter, queue);
      assertEquals(await queue.get({ timeout: TIMEOUT }), 2);
      assertEquals(await child.join({ timeout: TIMEOUT }), 0);
    },
  );
}
