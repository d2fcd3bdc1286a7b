// Targets for the lock benchmarks' children, kept apart from the bench
// files so that children do not register benchmarks of their own. Each one
// says it is `ready`, waits for `go`, does its work and says it is `done`,
// so that the parent times the work alone, not the child's start.
import { type Event, Lock, type Semaphore } from "../lock.ts";

/**
 * `times` × acquire → increment → release. The counter is shared memory in
 * a worker child (a plain increment, like Python's `Value(lock=False)`);
 * `null` in a subprocess child, which shares no memory with its parent and
 * increments a local number instead. With `warmup`, first runs that many
 * pairs on a lock of its own, so that the JIT has compiled the loop.
 */
export async function contend(
  lock: Lock,
  counter: Int32Array | null,
  times: number,
  warmup: number,
  ready: Semaphore,
  go: Event,
  done: Semaphore,
): Promise<void> {
  if (warmup > 0) await loop(new Lock(), new Int32Array(1), warmup);
  ready.release();
  await go.wait();
  if (counter !== null) await loop(lock, counter, times);
  else if (await loop(lock, new Int32Array(1), times) !== times) {
    throw new Error("Lost increments");
  }
  done.release();
}

async function loop(lock: Lock, counter: Int32Array, times: number) {
  for (let i = 0; i < times; i++) {
    await lock.acquire();
    counter[0]!++;
    lock.release();
  }
  return counter[0];
}

/** `times` acquire → release pairs, with no other process contending. */
export async function uncontended(
  lock: Lock,
  times: number,
  ready: Semaphore,
  go: Event,
  done: Semaphore,
): Promise<void> {
  ready.release();
  await go.wait();
  for (let i = 0; i < times; i++) {
    await lock.acquire();
    lock.release();
  }
  done.release();
}

/**
 * `times` calls that make one round trip to the owner and do nothing there
 * (`Event.wait({ timeout: 0 })` in a subprocess child): what bounds an
 * acquire from a subprocess child.
 */
export async function roundTrips(
  event: Event,
  times: number,
  ready: Semaphore,
  go: Event,
  done: Semaphore,
): Promise<void> {
  ready.release();
  await go.wait();
  for (let i = 0; i < times; i++) await event.wait({ timeout: 0 });
  done.release();
}
