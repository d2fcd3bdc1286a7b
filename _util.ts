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

/**
 * Settles as `promise` does, unless `timeout` ms pass first (then as
 * `onTimeout()` returns or throws) or `signal` aborts (then rejects with its
 * reason). The promise itself is not cancelled.
 */
export function settleWithin<T, U>(
  promise: Promise<T>,
  timeout: number,
  signal: AbortSignal | undefined,
  onTimeout: () => U,
): Promise<T | U> {
  if (timeout === Infinity && signal === undefined) return promise;
  return new Promise<T | U>((resolve, reject) => {
    const onAbort = () => done(() => reject(signal!.reason));
    if (signal?.aborted) return onAbort();
    const timer = timeout === Infinity
      ? undefined
      : setTimeout(() => done(() => resolve(onTimeout())), timeout);
    signal?.addEventListener("abort", onAbort, { once: true });
    function done(settle: () => void) {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      try {
        settle();
      } catch (error) {
        reject(error);
      }
    }
    promise.then(
      (value) => done(() => resolve(value)),
      (error) => done(() => reject(error)),
    );
  });
}

/** Names a value's kind and, briefly, the value, for error messages. */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  switch (typeof value) {
    case "string": {
      const text = value.length > 20 ? `${value.slice(0, 20)}…` : value;
      return `a string (${JSON.stringify(text)})`;
    }
    case "number":
    case "boolean":
    case "bigint":
      return `a ${typeof value} (${String(value)})`;
    case "object": {
      const name = Object.getPrototypeOf(value)?.constructor?.name;
      return typeof name === "string" && name !== "Object"
        ? `an instance of class ${name}`
        : "a plain object";
    }
    default:
      return `a ${typeof value}`;
  }
}
