// Lock family throughput with Deno.bench.
//
//   deno bench -A --no-check bench/lock_bench.ts
//   deno task compare --only=lock   (side by side with Python)
//
// Main-thread cases do 1,000 operations per iteration (divide the time by
// 1,000). The child cases time only the children's work (`b.start()` /
// `b.end()`), not their start; "warm" children first run 200,000 pairs on
// a lock of their own, so that the JIT has compiled the loop.
import type { StartMethod } from "../process.ts";
import { Condition, Lock, RLock, Semaphore } from "../lock.ts";
import { lockRun, type LockWork } from "./_ours.ts";

const lock = new Lock();
const rlock = new RLock();
const semaphore = new Semaphore(1);
const condition = new Condition(new Lock());
/** Operations per iteration, so that the harness's own cost per call fades. */
const BATCH = 1_000;

Deno.bench({
  name: "Lock acquire → release",
  group: "uncontended ×1,000, main thread",
  baseline: true,
  async fn() {
    for (let i = 0; i < BATCH; i++) {
      await lock.acquire();
      lock.release();
    }
  },
});

Deno.bench({
  name: "RLock acquire → release",
  group: "uncontended ×1,000, main thread",
  async fn() {
    for (let i = 0; i < BATCH; i++) {
      await rlock.acquire();
      rlock.release();
    }
  },
});

Deno.bench({
  name: "Semaphore acquire → release",
  group: "uncontended ×1,000, main thread",
  async fn() {
    for (let i = 0; i < BATCH; i++) {
      await semaphore.acquire();
      semaphore.release();
    }
  },
});

Deno.bench({
  name: "Lock acquire({ timeout }) → release",
  group: "uncontended ×1,000, main thread",
  async fn() {
    for (let i = 0; i < BATCH; i++) {
      await lock.acquire({ timeout: 1_000 });
      lock.release();
    }
  },
});

Deno.bench({
  name: "Lock withLock()",
  group: "uncontended ×1,000, main thread",
  async fn() {
    for (let i = 0; i < BATCH; i++) await lock.withLock(() => {});
  },
});

Deno.bench({
  name: "Lock hold() + using",
  group: "uncontended ×1,000, main thread",
  async fn() {
    for (let i = 0; i < BATCH; i++) {
      using _held = await lock.hold();
    }
  },
});

Deno.bench({
  name: "Condition notify() under its lock",
  group: "uncontended ×1,000, main thread",
  async fn() {
    for (let i = 0; i < BATCH; i++) {
      await condition.acquire();
      condition.notify();
      condition.release();
    }
  },
});

function inChildren(
  name: string,
  group: string,
  [work, startMethod, times, warmup = 0]: [
    LockWork,
    StartMethod,
    number,
    number?,
  ],
  baseline = false,
) {
  Deno.bench({
    name,
    group,
    baseline,
    n: 5,
    warmup: 1,
    async fn(b) {
      await lockRun(work, startMethod, times, {
        warmup,
        timing: { start: b.start, end: b.end },
      });
    },
  });
}

inChildren(
  "2 workers × 20,000",
  "contended acquire → increment → release",
  ["contended", "worker", 20_000],
  true,
);
inChildren(
  "2 workers × 20,000, warm",
  "contended acquire → increment → release",
  ["contended", "worker", 20_000, 200_000],
);
inChildren(
  "2 subprocesses × 2,000",
  "contended acquire → increment → release",
  ["contended", "subprocess", 2_000],
);
inChildren(
  "1 worker × 1,000,000",
  "uncontended acquire → release in a child",
  ["uncontended", "worker", 1_000_000],
  true,
);
inChildren(
  "1 subprocess × 2,000",
  "uncontended acquire → release in a child",
  ["uncontended", "subprocess", 2_000],
);
inChildren(
  "1 subprocess × 2,000 bare round trips",
  "uncontended acquire → release in a child",
  ["round trip", "subprocess", 2_000],
);
