// Copyright 2026 the @mp/multiprocessing authors. MIT license.
/**
 * The errors this package rejects with, one class per condition a caller may
 * want to catch. Each sets `name` to its class name, so it survives a trip
 * through structured clone and can be told apart with `error.name`.
 *
 * Misuse (a wrong argument type, a negative timeout) throws the built-in
 * `TypeError` or `RangeError` instead.
 *
 * @example Telling a timeout apart from other failures
 * ```ts
 * import { EmptyError } from "@mp/multiprocessing/errors";
 *
 * const error: Error = new EmptyError("Cannot get from the queue as it is empty");
 * console.log(error instanceof EmptyError, error.name); // true "EmptyError"
 * ```
 *
 * @module
 */

/**
 * Thrown when a non-blocking or timed `get` finds nothing to take
 * (Python's `queue.Empty`).
 *
 * @example Usage
 * ```ts
 * import { EmptyError } from "@mp/multiprocessing/errors";
 *
 * const error = new EmptyError("Cannot get from the queue as it is empty");
 * console.log(error.name); // "EmptyError"
 * ```
 */
export class EmptyError extends Error {
  /** Always `"EmptyError"`, to tell the error apart by name. */
  override name = "EmptyError";
}

/**
 * Thrown when a non-blocking or timed `put` finds a bounded queue full
 * (Python's `queue.Full`).
 *
 * @example Usage
 * ```ts
 * import { FullError } from "@mp/multiprocessing/errors";
 *
 * const error = new FullError("Cannot put to the queue as it is full: maxsize is 3");
 * console.log(error.name); // "FullError"
 * ```
 */
export class FullError extends Error {
  /** Always `"FullError"`, to tell the error apart by name. */
  override name = "FullError";
}

/**
 * Thrown by a queue after `shutdown()`: on `put`, and on `get` once drained
 * (Python 3.13's `queue.ShutDown`).
 *
 * @example Usage
 * ```ts
 * import { ShutDownError } from "@mp/multiprocessing/errors";
 *
 * const error = new ShutDownError("Cannot put to the queue as it is shut down");
 * console.log(error.name); // "ShutDownError"
 * ```
 */
export class ShutDownError extends Error {
  /** Always `"ShutDownError"`, to tell the error apart by name. */
  override name = "ShutDownError";
}

/**
 * Thrown by `Connection.recv()` once the other end is closed and nothing is
 * left to read (Python's `EOFError`).
 *
 * @example Usage
 * ```ts
 * import { EOFError } from "@mp/multiprocessing/errors";
 *
 * const error = new EOFError("Cannot receive as the other end is closed");
 * console.log(error.name); // "EOFError"
 * ```
 */
export class EOFError extends Error {
  /** Always `"EOFError"`, to tell the error apart by name. */
  override name = "EOFError";
}

/**
 * Thrown when a result is not ready within the given timeout
 * (Python's `multiprocessing.TimeoutError`).
 *
 * @example Usage
 * ```ts
 * import { TimeoutError } from "@mp/multiprocessing/errors";
 *
 * const error = new TimeoutError("Cannot get the result as it is not ready after 100 ms");
 * console.log(error.name); // "TimeoutError"
 * ```
 */
export class TimeoutError extends Error {
  /** Always `"TimeoutError"`, to tell the error apart by name. */
  override name = "TimeoutError";
}

/**
 * Thrown to every waiter of a `Barrier` that is aborted, reset or timed out
 * (Python's `threading.BrokenBarrierError`).
 *
 * @example Usage
 * ```ts
 * import { BrokenBarrierError } from "@mp/multiprocessing/errors";
 *
 * const error = new BrokenBarrierError("Cannot wait on the barrier as it is broken");
 * console.log(error.name); // "BrokenBarrierError"
 * ```
 */
export class BrokenBarrierError extends Error {
  /** Always `"BrokenBarrierError"`, to tell the error apart by name. */
  override name = "BrokenBarrierError";
}

/**
 * Thrown when a child process dies before finishing what it was asked to do,
 * or cannot be started at all.
 *
 * @example Usage
 * ```ts
 * import { ProcessError } from "@mp/multiprocessing/errors";
 *
 * const error = new ProcessError("The child died with exit code -9", { exitCode: -9 });
 * console.log(error.exitCode); // -9
 * ```
 */
export class ProcessError extends Error {
  /** Always `"ProcessError"`, to tell the error apart by name. */
  override name = "ProcessError";
  /** The exit code of the child, or `null` when it never ran. */
  exitCode: number | null;

  /**
   * Creates the error.
   *
   * @param message What failed and why.
   * @param options The standard error options, plus the child's `exitCode`.
   */
  constructor(
    message?: string,
    options?: ErrorOptions & { exitCode?: number | null },
  ) {
    super(message, options);
    this.exitCode = options?.exitCode ?? null;
  }
}

/**
 * Thrown when a manager client presents the wrong authentication key
 * (Python's `multiprocessing.AuthenticationError`).
 *
 * @example Usage
 * ```ts
 * import { AuthenticationError } from "@mp/multiprocessing/errors";
 *
 * const error = new AuthenticationError("Cannot connect to the manager as the authkey is wrong");
 * console.log(error.name); // "AuthenticationError"
 * ```
 */
export class AuthenticationError extends Error {
  /** Always `"AuthenticationError"`, to tell the error apart by name. */
  override name = "AuthenticationError";
}

/**
 * Thrown when an index is out of range, as for a managed list (Python's
 * `IndexError`). A `RangeError`, so code that catches those catches it too.
 *
 * @example Usage
 * ```ts
 * import { IndexError } from "@mp/multiprocessing/errors";
 *
 * const error = new IndexError("Cannot get index 99 of the list as it has 5 items");
 * console.log(error.name); // "IndexError"
 * ```
 */
export class IndexError extends RangeError {
  /** Always `"IndexError"`, to tell the error apart by name. */
  override name = "IndexError";
}

/**
 * Thrown when a key is missing, as for a managed dict (Python's
 * `KeyError`).
 *
 * @example Usage
 * ```ts
 * import { KeyError } from "@mp/multiprocessing/errors";
 *
 * const error = new KeyError('Cannot delete key "a" from the dict as it is not there');
 * console.log(error.name); // "KeyError"
 * ```
 */
export class KeyError extends Error {
  /** Always `"KeyError"`, to tell the error apart by name. */
  override name = "KeyError";
}

/**
 * Thrown when a value is not what an operation needs, as `list.remove(x)`
 * of a value that is not in a managed list (Python's `ValueError`).
 *
 * @example Usage
 * ```ts
 * import { ValueError } from "@mp/multiprocessing/errors";
 *
 * const error = new ValueError("Cannot remove 7 from the list as it is not there");
 * console.log(error.name); // "ValueError"
 * ```
 */
export class ValueError extends Error {
  /** Always `"ValueError"`, to tell the error apart by name. */
  override name = "ValueError";
}
