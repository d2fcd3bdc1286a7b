// Targets run by children in the lock tests.
import type {
  Barrier,
  Condition,
  Event,
  Lock,
  RLock,
  Semaphore,
} from "../../lock.ts";
import { Process, type StartMethod } from "../../process.ts";
import type { Queue } from "../../queue.ts";
import type { Cell } from "./lock_cell.ts";
import type { Recorder } from "./recorder.ts";

const TIMEOUT = 30_000;
const module = import.meta.url;

function describe(error: unknown): string {
  return error instanceof Error
    ? `${error.name}: ${error.message}`
    : String(error);
}

export async function incrementUnderLock(
  lock: Lock,
  cell: Cell,
  times: number,
) {
  for (let i = 0; i < times; i++) {
    await lock.acquire();
    const value = await cell.get();
    await cell.set(value + 1);
    lock.release();
  }
}

export async function release(lock: Lock | RLock, recorder: Recorder) {
  try {
    lock.release();
    await recorder.record("released");
  } catch (error) {
    await recorder.record(describe(error));
  }
}

/** Releases a lock it does not hold, then makes a round trip to its owner. */
export async function releaseUnheld(lock: Lock) {
  try {
    lock.release();
  } catch (error) {
    console.log(`caught ${describe(error)}`);
  }
  // In a subprocess child the owner's refusal arrives meanwhile.
  await lock.acquire({ timeout: TIMEOUT });
  lock.release();
  console.log("still running");
}

/** Releases a bounded semaphore above its initial value. */
export async function overRelease(semaphore: Semaphore) {
  try {
    semaphore.release();
  } catch (error) {
    console.log(`caught ${describe(error)}`);
  }
  await semaphore.acquire({ timeout: TIMEOUT });
  semaphore.release();
  console.log("still running");
}

export async function holdReentrant(
  lock: RLock,
  entered: Semaphore,
  proceed: Event,
  recorder: Recorder,
) {
  await lock.acquire();
  await lock.acquire();
  lock.release();
  entered.release();
  await recorder.record(await proceed.wait({ timeout: TIMEOUT }));
  lock.release();
}

export async function tryAcquire(
  primitive: Lock | RLock | Semaphore,
  recorder: Recorder,
) {
  await recorder.record(await primitive.acquire({ blocking: false }));
}

export async function acquireAll(
  semaphore: Semaphore,
  recorder: Recorder,
) {
  const results = [];
  for (let i = 0; i < 3; i++) {
    results.push(await semaphore.acquire({ blocking: false }));
  }
  semaphore.release();
  await recorder.record(results);
}

export async function waitEvent(
  event: Event,
  timeout: number,
  recorder: Recorder,
) {
  await recorder.record(await event.wait({ timeout }));
}

export function setEvent(event: Event) {
  event.set();
}

export async function setAndClear(event: Event, recorder: Recorder) {
  event.set();
  const set = event.isSet();
  event.clear();
  await recorder.record([set, event.isSet()]);
}

/** Waits on the condition; says so on `ready`, and on `woken` once notified. */
export async function waitOnCondition(
  condition: Condition,
  ready: Semaphore,
  woken: Semaphore,
) {
  await condition.acquire();
  ready.release();
  const notified = await condition.wait({ timeout: TIMEOUT });
  condition.release();
  if (notified) woken.release();
}

export async function waitForCell(
  condition: Condition,
  cell: Cell,
  atLeast: number,
  timeout: number,
  ready: Semaphore,
  recorder: Recorder,
) {
  const result = await condition.withLock(() => {
    ready.release();
    return condition.waitFor(async () => await cell.get() >= atLeast, {
      timeout,
    });
  });
  await recorder.record(result);
}

export async function conditionMisuse(
  condition: Condition,
  recorder: Recorder,
) {
  const errors = [];
  try {
    condition.notify();
  } catch (error) {
    errors.push(describe(error));
  }
  try {
    await condition.wait({ timeout: 10 });
  } catch (error) {
    errors.push(describe(error));
  }
  await recorder.record(errors);
}

let actionRuns = 0;

/** A barrier action: counts its runs in the process that runs it. */
export function countAction() {
  actionRuns++;
}

export function actionRunsHere(): number {
  return actionRuns;
}

export async function passBarrier(
  barrier: Barrier,
  cycles: number,
  recorder: Recorder,
) {
  const indexes = [];
  for (let i = 0; i < cycles; i++) {
    indexes.push(await barrier.wait({ timeout: TIMEOUT }));
  }
  await recorder.record({ indexes, actionRuns });
}

export async function waitBarrier(
  barrier: Barrier,
  timeout: number,
  recorder: Recorder,
) {
  try {
    await recorder.record(await barrier.wait({ timeout }));
  } catch (error) {
    await recorder.record(describe(error));
  }
}

export async function acquireAndExit(lock: Lock | RLock, code: number) {
  await lock.acquire();
  Deno.exit(code);
}

export async function acquireAndSleep(lock: Lock | RLock, acquired: Event) {
  await lock.acquire();
  acquired.set();
  await new Promise(() => setInterval(() => {}, 1_000));
}

export async function waitBarrierForever(barrier: Barrier) {
  await barrier.wait();
}

export async function waitConditionForever(
  condition: Condition,
  ready: Semaphore,
) {
  await condition.acquire();
  ready.release();
  await condition.wait();
}

export async function incrementInGrandchild(
  lock: Lock,
  cell: Cell,
  times: number,
  startMethod: StartMethod,
) {
  const grandchild = new Process({
    target: incrementUnderLock,
    args: [lock, cell, times],
    module,
    startMethod,
  });
  grandchild.start();
  const code = await grandchild.join({ timeout: TIMEOUT });
  if (code !== 0) throw new Error(`The grandchild exited with code ${code}`);
}

export async function grandchildDiesHolding(
  nested: { locks: Map<string, Lock> },
  startMethod: StartMethod,
) {
  const grandchild = new Process({
    target: acquireAndExit,
    args: [nested.locks.get("lock")!, 3],
    module,
    startMethod,
  });
  grandchild.start();
  const code = await grandchild.join({ timeout: TIMEOUT });
  if (code !== 3) throw new Error(`The grandchild exited with code ${code}`);
}

export async function lockedViews(
  lock: Lock,
  step: Semaphore,
  proceed: Event,
  recorder: Recorder,
) {
  await lock.acquire();
  const held = lock.locked();
  lock.release();
  const released = lock.locked();
  step.release();
  await proceed.wait({ timeout: TIMEOUT });
  await recorder.record([held, released, lock.locked()]);
}

export async function barrierViews(barrier: Barrier, recorder: Recorder) {
  const before = [barrier.parties, barrier.nWaiting, barrier.broken];
  barrier.abort();
  const after = [barrier.nWaiting, barrier.broken];
  barrier.reset();
  await recorder.record([before, after, barrier.broken]);
}

/** Says it is about to wait, then acquires with a timeout past 2³¹ ms. */
export async function acquireWithLongTimeout(
  primitive: Lock | RLock | Semaphore,
  results: Queue<unknown>,
) {
  await results.put("waiting");
  const acquired = await primitive.acquire({ timeout: 2 ** 31 });
  await results.put(acquired);
  if (acquired) primitive.release();
}

/** Starts a grandchild that takes the lock and sleeps; then sleeps too. */
export async function grandchildHolds(
  lock: Lock,
  acquired: Event,
  startMethod: StartMethod,
) {
  new Process({
    target: acquireAndSleep,
    args: [lock, acquired],
    module,
    startMethod,
  }).start();
  await new Promise(() => setInterval(() => {}, 1_000));
}

/** Gets a lock from a queue, takes it, says so, and sleeps. */
export async function acquireFromQueue(
  queue: Queue<{ lock: Lock }>,
  acquired: Event,
) {
  const { lock } = await queue.get({ timeout: TIMEOUT });
  await acquireAndSleep(lock, acquired);
}

/** Passes a lock on to a sibling through a queue. */
export async function putLock(queue: Queue<{ lock: Lock }>, lock: Lock) {
  await queue.put({ lock });
}

/** Starts a grandchild that takes the lock and dies holding it; lives on. */
export async function grandchildDiesHoldingWhileIAlive(
  lock: Lock,
  died: Event,
  startMethod: StartMethod,
) {
  const grandchild = new Process({
    target: acquireAndExit,
    args: [lock, 3],
    module,
    startMethod,
  });
  grandchild.start();
  await grandchild.join({ timeout: TIMEOUT });
  died.set();
  await new Promise(() => setInterval(() => {}, 1_000));
}
