// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// The one way this package waits on a word of shared memory: without ever
// blocking a thread (the main thread's event loop keeps running), with a
// deadline and a signal.

/**
 * The longest single sleep. Sleeping in slices bounds what a missed wake-up
 * could cost, and keeps every timer far below the 2³¹ ms that overflow.
 */
const MAX_SLICE_MS = 1_000;

let holds = 0;
let keepAlive: ReturnType<typeof setInterval> | undefined;

// A pending `Atomics.waitAsync` does not keep the event loop alive, so a
// program whose only work is waiting would exit: a timer holds it while
// anything waits.
/** Keeps the event loop alive until the matching {@linkcode unhold}. */
export function hold(): void {
  if (holds++ === 0) keepAlive = setInterval(() => {}, 1e9);
}

/** Ends one {@linkcode hold}. */
export function unhold(): void {
  if (--holds === 0) {
    clearInterval(keepAlive);
    keepAlive = undefined;
  }
}

/** The deadline, in `performance.now()` time, of a timeout in ms. */
export function deadlineOf(timeout: number): number {
  return timeout === Infinity ? Infinity : performance.now() + timeout;
}

function untilAborted<T>(promise: Promise<T>, signal: AbortSignal) {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then((value) => {
      signal.removeEventListener("abort", onAbort);
      resolve(value);
    });
  });
}

/**
 * Waits while `view[index] === value`, until the word changes (or might
 * have: callers re-check), the deadline passes or `signal` aborts.
 *
 * @returns `false` when the deadline passed with the word unchanged.
 * @throws The signal's reason when it aborts.
 */
export async function waitWhile(
  view: Int32Array,
  index: number,
  value: number,
  deadline = Infinity,
  signal?: AbortSignal,
): Promise<boolean> {
  if (Atomics.load(view, index) !== value) return true;
  signal?.throwIfAborted();
  if (deadline <= performance.now()) return false;
  hold();
  try {
    while (Atomics.load(view, index) === value) {
      signal?.throwIfAborted();
      const left = deadline - performance.now();
      if (left <= 0) return false;
      const slice = Math.min(left, MAX_SLICE_MS);
      const wait = Atomics.waitAsync(view, index, value, slice);
      if (!wait.async) continue;
      if (signal === undefined) await wait.value;
      else await untilAborted(wait.value, signal);
    }
    return true;
  } finally {
    unhold();
  }
}
