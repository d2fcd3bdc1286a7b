// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// Small helpers the public modules share.

/**
 * Checks a `timeout` option: a number of milliseconds, zero or more.
 *
 * @throws {RangeError} When `timeout` is negative or not a number.
 */
export function validateTimeout(timeout: number | undefined): void {
  if (timeout === undefined) return;
  if (typeof timeout !== "number" || Number.isNaN(timeout) || timeout < 0) {
    throw new RangeError(
      `Cannot wait with timeout ${timeout}: it must be a number of milliseconds, 0 or more`,
    );
  }
}

/** Resolves with `promise`'s value, or `null` once `timeout` ms have passed. */
export function waitFor<T>(
  promise: Promise<T>,
  timeout: number,
  signal: AbortSignal | undefined,
): Promise<T | null> {
  if (timeout === Infinity && signal === undefined) return promise;
  return new Promise<T | null>((resolve, reject) => {
    const timer = timeout === Infinity
      ? undefined
      : setTimeout(() => done(() => resolve(null)), timeout);
    const onAbort = () => done(() => reject(signal!.reason));
    signal?.addEventListener("abort", onAbort, { once: true });
    function done(settle: () => void) {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      settle();
    }
    promise.then(
      (value) => done(() => resolve(value)),
      (error) => done(() => reject(error)),
    );
  });
}
