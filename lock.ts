// Copyright 2026 the @mp/multiprocessing authors. MIT license.
/**
 * Synchronization between processes, as Python's `multiprocessing` offers
 * it: {@linkcode Lock}, {@linkcode RLock}, {@linkcode Semaphore},
 * {@linkcode BoundedSemaphore}, {@linkcode Event}, {@linkcode Condition} and
 * {@linkcode Barrier}.
 *
 * Pass them to children in `args`, at any depth, under either start method;
 * every copy works on the same underlying object. Python's blocking calls are
 * `async` here: each waiting method takes `timeout` (milliseconds) and
 * `signal` (an `AbortSignal`; the call then rejects with `signal.reason`).
 *
 * How they work: the state lives in a `SharedArrayBuffer`, used with Atomics
 * by the process that created the object and all its worker children (a
 * worker shares the OS process). Nothing blocks a thread: waits use
 * `Atomics.waitAsync`, after a brief spin when the holder runs on another
 * thread. A subprocess child has no shared memory with its parent yet, so
 * each of its operations is a call to the process that passed it the object,
 * which performs it on the shared state on the child's behalf: workers and
 * subprocess children contend on the same lock. Methods that are synchronous
 * here stay synchronous in a subprocess child, and throw where Python
 * throws: `locked()`, `isSet()`, `set()`, `clear()`, `notify()`, `reset()`,
 * `abort()`, `nWaiting`, `broken`, and `release()` of a `BoundedSemaphore` or
 * of a `Lock` the child does not hold, block it for one round trip. Releasing
 * a lock the child holds, or a `Semaphore`, is sent without waiting (and
 * applied in order, before anything the child does next).
 *
 * **A process that dies holding a lock.** Python leaves the lock held, so
 * every other process waits forever. Here, when a child dies (it returns,
 * throws, calls `Deno.exit()`, or is terminated or killed) while it holds a
 * {@linkcode Lock} or an {@linkcode RLock} (also the lock of a
 * {@linkcode Condition}), its parent releases the lock as it sees the child
 * exit, before `join()` resolves, and the next process to acquire it finds
 * {@linkcode Lock.prototype.ownerDied} `true`: what the lock protected may be
 * half-updated. This covers holds by the dead child's own children too (its
 * subprocess children exit with it and its worker children die with it). A
 * process that dies while waiting on a {@linkcode Barrier} breaks it, as a
 * timeout does; one that dies waiting on a {@linkcode Condition} is not
 * counted by `notify()`. Semaphore units are not given back: any process may
 * release a semaphore, so a dead process's acquisitions cannot be told from
 * units it legitimately consumed. Not covered: a lock the dying child's
 * parent never held (one that reached the child from a sibling through a
 * queue, say), and a hold by a worker two or more worker levels below the
 * worker that died.
 *
 * @example Python's `with lock:` is `withLock()`, or `using`
 * ```ts
 * import { Lock } from "@mp/multiprocessing/lock";
 *
 * const lock = new Lock();
 * await lock.withLock(() => console.log("under the lock"));
 * {
 *   using _held = await lock.hold();
 *   console.log(lock.locked()); // true
 * }
 * console.log(lock.locked()); // false
 * ```
 *
 * @example Ten children print a line each, one at a time
 * ```ts ignore
 * import { Lock } from "@mp/multiprocessing/lock";
 * import { Process } from "@mp/multiprocessing/process";
 *
 * export async function f(lock: Lock, i: number) {
 *   await lock.withLock(() => console.log("hello world", i));
 * }
 *
 * if (import.meta.main) {
 *   const lock = new Lock();
 *   const children = Array.from(
 *     { length: 10 },
 *     (_, i) => new Process({ target: f, args: [lock, i] }),
 *   );
 *   for (const child of children) child.start();
 *   for (const child of children) await child.join();
 * }
 * ```
 *
 * @module
 */
import {
  adopt,
  type BarrierAction,
  type BarrierBackend,
  type ConditionBackend,
  type EventBackend,
  fromWire,
  keyOfReduced,
  LocalBarrier,
  LocalCondition,
  LocalEvent,
  LocalLock,
  LocalSemaphore,
  type LockBackend,
  ownCodes,
  type Reduced,
  RemoteBarrier,
  RemoteCondition,
  RemoteEvent,
  RemoteLock,
  RemoteSemaphore,
  type SemaphoreBackend,
  toWire,
} from "./_lock_backends.ts";
import {
  BarrierCore,
  ConditionCore,
  EVENT_WORDS,
  EventCore,
  LOCK_WORDS,
  LockCore,
  MAX_PARTIES,
  MAX_SEMAPHORE_VALUE,
  NOT_ACQUIRED,
  SEMAPHORE_WORDS,
  SemaphoreCore,
  sharedWords,
} from "./_lock_core.ts";
import { type ReduceContext, registerReducible } from "./_reduce.ts";
import { getDefaultModule, type StartMethod } from "./_runtime.ts";
import { certainlyNotExported } from "./_target.ts";
import { validateTimeout } from "./_util.ts";
import { TimeoutError } from "./errors.ts";

export { BrokenBarrierError } from "./errors.ts";

/** Options for the waiting methods: {@linkcode Event.prototype.wait}, {@linkcode Condition.prototype.wait}, {@linkcode Barrier.prototype.wait}, `withLock()` and `hold()`. */
export interface WaitOptions {
  /**
   * How long to wait, in milliseconds.
   *
   * @default {Infinity}
   */
  timeout?: number;
  /** Stops waiting, rejecting with `signal.reason`. */
  signal?: AbortSignal;
}

/** Options for `acquire()` on a lock, semaphore or condition. */
export interface AcquireOptions extends WaitOptions {
  /**
   * Whether to wait for the lock; with `false` the answer comes at once and
   * any `timeout` is ignored (as in Python's multiprocessing).
   *
   * @default {true}
   */
  blocking?: boolean;
}

/** Options for {@linkcode Barrier}. */
export interface BarrierOptions {
  /**
   * Called once per cycle, by the party whose arrival fills the barrier,
   * before any party is released (Python's `action`); it may be async. If
   * it throws, the barrier breaks and that party's `wait()` rejects with the
   * error. Like a process target, it travels to children by reference: to
   * use the barrier in a worker child, export the function from `module`.
   * For a subprocess child's arrival, the process that passed it the
   * barrier runs the action.
   *
   * @default {undefined}
   */
  action?: () => unknown;
  /**
   * The timeout, in milliseconds, of a `wait()` that gives none.
   *
   * @default {Infinity}
   */
  timeout?: number;
  /**
   * The URL of the module that exports `action`.
   *
   * @default {Deno.mainModule}
   */
  module?: string | URL;
}

/** The backends of the locks, for the Condition built around them. */
const lockBackends = new WeakMap<object, LockBackend>();
/** How each primitive describes itself for a child (kept off the public API). */
type Reducer = (target: StartMethod, context?: ReduceContext) => unknown;
const reducers = new WeakMap<object, Reducer>();
/** A backend handed to a constructor by a rebuild, instead of a new object. */
let adopting: unknown = null;
const TRUE = Promise.resolve(true);

function take<T>(): T | null {
  const backend = adopting as T | null;
  adopting = null;
  return backend;
}

/**
 * Reads `acquire()` options. A non-blocking acquire answers at once, so its
 * timeout is ignored, as Python's multiprocessing locks do.
 *
 * @throws {RangeError} When a blocking acquire's `timeout` is negative.
 */
function acquireArguments(
  options: AcquireOptions | undefined,
): { timeout: number; signal: AbortSignal | undefined } {
  const { blocking = true, timeout, signal } = options ?? {};
  if (blocking) validateTimeout(timeout);
  signal?.throwIfAborted();
  return { timeout: blocking ? timeout ?? Infinity : 0, signal };
}

/** Reads {@linkcode WaitOptions}. */
function waitArguments(
  options: WaitOptions | undefined,
  fallback = Infinity,
): { timeout: number; signal: AbortSignal | undefined } {
  const { timeout = fallback, signal } = options ?? {};
  validateTimeout(timeout);
  signal?.throwIfAborted();
  return { timeout, signal };
}

/** Takes a lock or unit at once when free, without the async machinery. */
type AcquireNow = () => boolean | undefined;

/** Acquires, runs `fn`, releases: Python's `with`. */
async function runHeld<T>(
  what: string,
  acquireNow: AcquireNow,
  acquire: (
    timeout: number,
    signal: AbortSignal | undefined,
  ) => Promise<boolean>,
  release: () => void,
  fn: () => T | Promise<T>,
  options: WaitOptions | undefined,
): Promise<T> {
  if (typeof fn !== "function") {
    throw new TypeError(
      `Cannot run ${typeof fn} under the ${what}: pass a function`,
    );
  }
  if (options !== undefined || !acquireNow()) {
    const { timeout, signal } = waitArguments(options);
    if (!await acquire(timeout, signal)) {
      throw new TimeoutError(
        `Cannot run the function as the ${what} was not acquired within ${timeout} ms`,
      );
    }
  }
  try {
    return await fn();
  } finally {
    release();
  }
}

/** Acquires and returns what releases it at the end of a `using` block. */
async function holdFor(
  what: string,
  acquireNow: AcquireNow,
  acquire: (
    timeout: number,
    signal: AbortSignal | undefined,
  ) => Promise<boolean>,
  release: () => void,
  options: WaitOptions | undefined,
): Promise<Disposable> {
  if (options !== undefined || !acquireNow()) {
    const { timeout, signal } = waitArguments(options);
    if (!await acquire(timeout, signal)) {
      throw new TimeoutError(
        `Cannot hold the ${what} as it was not acquired within ${timeout} ms`,
      );
    }
  }
  return new Held(release);
}

/** Releases once, at the end of a `using` block. */
class Held implements Disposable {
  #release: (() => void) | null;

  constructor(release: () => void) {
    this.#release = release;
  }

  [Symbol.dispose](): void {
    const release = this.#release;
    this.#release = null;
    release?.();
  }
}

function newLockBackend(reentrant: boolean): LockBackend {
  return new LocalLock(
    new LockCore(sharedWords(LOCK_WORDS), 0, reentrant),
  );
}

function lockBackendOf(data: Reduced, reentrant: boolean): LockBackend {
  return "sab" in data
    ? new LocalLock(
      new LockCore(new Int32Array(data.sab), 0, reentrant),
      data.uid,
    )
    : new RemoteLock(data.id, reentrant);
}

/**
 * A lock shared by processes (Python's `multiprocessing.Lock`). At most one
 * process holds it at a time; any process may release it, also one that
 * did not acquire it. It is not re-entrant: acquiring it again in the process
 * that holds it waits (use {@linkcode RLock} for that). Within a process,
 * each acquire excludes every other, so concurrent async tasks of one process
 * are serialized too.
 *
 * A child that dies holding the lock has it released by its parent; the next
 * acquirer then sees {@linkcode Lock.prototype.ownerDied} (see the module
 * documentation).
 *
 * @example Mutual exclusion in children
 * ```ts ignore
 * import { Lock } from "@mp/multiprocessing/lock";
 * import { Process } from "@mp/multiprocessing/process";
 *
 * export async function work(lock: Lock, id: number) {
 *   await lock.acquire();
 *   try {
 *     console.log(`child ${id} holds the lock`);
 *   } finally {
 *     lock.release();
 *   }
 * }
 *
 * if (import.meta.main) {
 *   const lock = new Lock();
 *   const children = [0, 1].map((id) =>
 *     new Process({ target: work, args: [lock, id], startMethod: "subprocess" })
 *   );
 *   for (const child of children) child.start();
 *   for (const child of children) await child.join();
 * }
 * ```
 */
export class Lock {
  #backend: LockBackend;
  #core: LockCore | null;

  /** Creates an unlocked lock. */
  constructor() {
    const backend = take<LockBackend>() ?? newLockBackend(false);
    this.#backend = backend;
    this.#core = backend instanceof LocalLock ? backend.core : null;
    lockBackends.set(this, backend);
    reducers.set(
      this,
      (target, context) => backend.reduce(target, context, this, "lock.Lock"),
    );
  }

  /**
   * Acquires the lock (Python's `acquire`).
   *
   * @param options Whether to wait (`blocking`), for how long (`timeout`),
   * and a `signal` to stop waiting.
   * @returns `true` once acquired; `false` if `timeout` passed first, or at
   * once when `blocking` is `false` and the lock is held.
   * @throws {RangeError} When `timeout` is negative (and `blocking` is not
   * `false`, which ignores it).
   *
   * @example Usage
   * ```ts
   * import { Lock } from "@mp/multiprocessing/lock";
   *
   * const lock = new Lock();
   * console.log(await lock.acquire()); // true
   * console.log(await lock.acquire({ timeout: 10 })); // false
   * lock.release();
   * ```
   */
  acquire(options?: AcquireOptions): Promise<boolean> {
    if (options === undefined && this.#core?.acquireOwn()) return TRUE;
    return acquireLock(this.#backend, options);
  }

  /**
   * Releases the lock (Python's `release`). Any process may release it.
   *
   * @throws {RangeError} When the lock is not held.
   *
   * @example Usage
   * ```ts
   * import { Lock } from "@mp/multiprocessing/lock";
   *
   * const lock = new Lock();
   * await lock.acquire();
   * lock.release();
   * console.log(lock.locked()); // false
   * ```
   */
  release(): void {
    const core = this.#core;
    if (core !== null) core.releaseAny();
    else this.#backend.release(null);
  }

  /**
   * Tells whether some process holds the lock.
   *
   * @returns `true` while held. Right after this process released it, in
   * a subprocess child: `false` until the owner next answers it.
   *
   * @example Usage
   * ```ts
   * import { Lock } from "@mp/multiprocessing/lock";
   *
   * const lock = new Lock();
   * console.log(lock.locked()); // false
   * ```
   */
  locked(): boolean {
    return this.#backend.locked();
  }

  /**
   * Whether the current hold was taken over from a process that died
   * holding the lock, so that what it protects may be half-updated. `true`
   * from the acquire that follows the death until the next release.
   *
   * @example Usage
   * ```ts
   * import { Lock } from "@mp/multiprocessing/lock";
   *
   * const lock = new Lock();
   * await lock.acquire();
   * console.log(lock.ownerDied); // false
   * lock.release();
   * ```
   */
  get ownerDied(): boolean {
    return this.#backend.recovered();
  }

  /**
   * Runs `fn` holding the lock, releasing it when `fn` ends, also when it
   * throws (Python's `with lock:`).
   *
   * @typeParam T What `fn` returns.
   * @param fn The function to run.
   * @param options `timeout` and `signal` for the acquire.
   * @returns What `fn` returns.
   * @throws {TimeoutError} When the lock is not acquired within `timeout`.
   * @throws {RangeError} When `timeout` is negative.
   *
   * @example Usage
   * ```ts
   * import { Lock } from "@mp/multiprocessing/lock";
   *
   * const lock = new Lock();
   * console.log(await lock.withLock(() => 42)); // 42
   * ```
   */
  withLock<T>(fn: () => T | Promise<T>, options?: WaitOptions): Promise<T> {
    return runHeld(
      "lock",
      () => this.#core?.acquireOwn(),
      (timeout, signal) => this.#acquireFor(timeout, signal),
      () => this.release(),
      fn,
      options,
    );
  }

  /**
   * Acquires the lock and returns a `Disposable` that releases it, for
   * `using`.
   *
   * @param options `timeout` and `signal` for the acquire.
   * @returns What releases the lock when disposed (once).
   * @throws {TimeoutError} When the lock is not acquired within `timeout`.
   * @throws {RangeError} When `timeout` is negative.
   *
   * @example Usage
   * ```ts
   * import { Lock } from "@mp/multiprocessing/lock";
   *
   * const lock = new Lock();
   * {
   *   using _held = await lock.hold();
   *   console.log(lock.locked()); // true
   * }
   * console.log(lock.locked()); // false
   * ```
   */
  hold(options?: WaitOptions): Promise<Disposable> {
    return holdFor(
      "lock",
      () => this.#core?.acquireOwn(),
      (timeout, signal) => this.#acquireFor(timeout, signal),
      () => this.release(),
      options,
    );
  }

  async #acquireFor(
    timeout: number,
    signal: AbortSignal | undefined,
  ): Promise<boolean> {
    return await this.#backend.acquire(null, timeout, signal) !==
      NOT_ACQUIRED;
  }
}

async function acquireLock(
  backend: LockBackend,
  options: AcquireOptions | undefined,
): Promise<boolean> {
  const { timeout, signal } = acquireArguments(options);
  return await backend.acquire(null, timeout, signal) !== NOT_ACQUIRED;
}

/**
 * A re-entrant lock shared by processes (Python's
 * `multiprocessing.RLock`): the process that holds it may acquire it again,
 * and must release it as many times; only that process may release it. A
 * process is the unit of ownership, so all async tasks of the holding
 * process share the hold.
 *
 * A child that dies holding it has it released by its parent, whatever its
 * count (see the module documentation).
 *
 * @example Re-entry
 * ```ts
 * import { RLock } from "@mp/multiprocessing/lock";
 *
 * const lock = new RLock();
 * await lock.acquire();
 * await lock.acquire(); // the holder may take it again
 * lock.release();
 * lock.release();
 * console.log(lock.locked()); // false
 * ```
 */
export class RLock {
  #backend: LockBackend;
  #core: LockCore | null;

  /** Creates an unlocked re-entrant lock. */
  constructor() {
    const backend = take<LockBackend>() ?? newLockBackend(true);
    this.#backend = backend;
    this.#core = backend instanceof LocalLock ? backend.core : null;
    lockBackends.set(this, backend);
    reducers.set(
      this,
      (target, context) => backend.reduce(target, context, this, "lock.RLock"),
    );
  }

  /**
   * Acquires the lock, or once more if this process holds it.
   *
   * @param options Whether to wait (`blocking`), for how long (`timeout`),
   * and a `signal` to stop waiting.
   * @returns `true` once acquired; `false` if `timeout` passed first, or at
   * once when `blocking` is `false` and another process holds it.
   * @throws {RangeError} When `timeout` is negative (and `blocking` is not
   * `false`, which ignores it).
   *
   * @example Usage
   * ```ts
   * import { RLock } from "@mp/multiprocessing/lock";
   *
   * const lock = new RLock();
   * console.log(await lock.acquire({ blocking: false })); // true
   * lock.release();
   * ```
   */
  acquire(options?: AcquireOptions): Promise<boolean> {
    if (options === undefined && this.#core?.acquireOwn()) return TRUE;
    return acquireLock(this.#backend, options);
  }

  /**
   * Releases one level of this process's hold; the last release frees the
   * lock.
   *
   * @throws {RangeError} When this process does not hold the lock (it is
   * free, or another process holds it).
   *
   * @example Usage
   * ```ts
   * import { RLock } from "@mp/multiprocessing/lock";
   *
   * const lock = new RLock();
   * await lock.acquire();
   * lock.release();
   * ```
   */
  release(): void {
    const core = this.#core;
    if (core !== null) core.releaseOwned(ownCodes().self);
    else this.#backend.release(null);
  }

  /**
   * Tells whether some process holds the lock.
   *
   * @returns `true` while held. Right after this process released it, in
   * a subprocess child: `false` until the owner next answers it.
   *
   * @example Usage
   * ```ts
   * import { RLock } from "@mp/multiprocessing/lock";
   *
   * console.log(new RLock().locked()); // false
   * ```
   */
  locked(): boolean {
    return this.#backend.locked();
  }

  /**
   * Whether the current hold was taken over from a process that died
   * holding the lock; see {@linkcode Lock.prototype.ownerDied}.
   *
   * @example Usage
   * ```ts
   * import { RLock } from "@mp/multiprocessing/lock";
   *
   * console.log(new RLock().ownerDied); // false
   * ```
   */
  get ownerDied(): boolean {
    return this.#backend.recovered();
  }

  /**
   * Runs `fn` holding the lock, releasing it when `fn` ends, also when it
   * throws (Python's `with lock:`).
   *
   * @typeParam T What `fn` returns.
   * @param fn The function to run.
   * @param options `timeout` and `signal` for the acquire.
   * @returns What `fn` returns.
   * @throws {TimeoutError} When the lock is not acquired within `timeout`.
   * @throws {RangeError} When `timeout` is negative.
   *
   * @example Usage
   * ```ts
   * import { RLock } from "@mp/multiprocessing/lock";
   *
   * const lock = new RLock();
   * await lock.withLock(() => lock.withLock(() => console.log("twice")));
   * ```
   */
  withLock<T>(fn: () => T | Promise<T>, options?: WaitOptions): Promise<T> {
    return runHeld(
      "re-entrant lock",
      () => this.#core?.acquireOwn(),
      (timeout, signal) => this.#acquireFor(timeout, signal),
      () => this.release(),
      fn,
      options,
    );
  }

  /**
   * Acquires the lock and returns a `Disposable` that releases it, for
   * `using`.
   *
   * @param options `timeout` and `signal` for the acquire.
   * @returns What releases the lock when disposed (once).
   * @throws {TimeoutError} When the lock is not acquired within `timeout`.
   * @throws {RangeError} When `timeout` is negative.
   *
   * @example Usage
   * ```ts
   * import { RLock } from "@mp/multiprocessing/lock";
   *
   * const lock = new RLock();
   * using _held = await lock.hold();
   * ```
   */
  hold(options?: WaitOptions): Promise<Disposable> {
    return holdFor(
      "re-entrant lock",
      () => this.#core?.acquireOwn(),
      (timeout, signal) => this.#acquireFor(timeout, signal),
      () => this.release(),
      options,
    );
  }

  async #acquireFor(
    timeout: number,
    signal: AbortSignal | undefined,
  ): Promise<boolean> {
    return await this.#backend.acquire(null, timeout, signal) !==
      NOT_ACQUIRED;
  }
}

/** Whether the next Semaphore constructed is bounded. */
let bounding = false;

/**
 * Checks a semaphore count.
 *
 * @throws {RangeError} When `value` is not an integer from 0 to 2³¹ − 1.
 */
function validateValue(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > MAX_SEMAPHORE_VALUE) {
    throw new RangeError(
      `Cannot create the ${what} with value ${value}: it must be an integer from 0 to ${MAX_SEMAPHORE_VALUE}`,
    );
  }
}

/**
 * A counter shared by processes (Python's `multiprocessing.Semaphore`):
 * `acquire()` takes one unit, waiting while there is none; `release()` gives
 * units back. Any process may release. Units a process held when it died
 * are not given back (see the module documentation).
 *
 * @example At most two at a time
 * ```ts
 * import { Semaphore } from "@mp/multiprocessing/lock";
 *
 * const slots = new Semaphore(2);
 * await slots.acquire();
 * await slots.acquire();
 * console.log(await slots.acquire({ blocking: false })); // false
 * slots.release(2);
 * ```
 */
export class Semaphore {
  #backend: SemaphoreBackend;
  #core: SemaphoreCore | null;

  /**
   * Creates a semaphore.
   *
   * @param value The initial count.
   * @throws {RangeError} When `value` is not an integer from 0 to 2³¹ − 1.
   */
  constructor(value = 1) {
    const bounded = bounding;
    bounding = false;
    let backend = take<SemaphoreBackend>();
    if (backend === null) {
      validateValue(value, bounded ? "bounded semaphore" : "semaphore");
      const view = sharedWords(SEMAPHORE_WORDS);
      SemaphoreCore.init(view, value, bounded ? value : -1);
      backend = new LocalSemaphore(new SemaphoreCore(view));
    }
    this.#backend = backend;
    this.#core = backend instanceof LocalSemaphore ? backend.core : null;
    const kind = bounded ? "lock.BoundedSemaphore" : "lock.Semaphore";
    reducers.set(
      this,
      (target, context) => backend.reduce(target, context, this, kind),
    );
  }

  /**
   * Takes one unit (Python's `acquire`).
   *
   * @param options Whether to wait (`blocking`), for how long (`timeout`),
   * and a `signal` to stop waiting.
   * @returns `true` once a unit is taken; `false` if `timeout` passed first,
   * or at once when `blocking` is `false` and none is left.
   * @throws {RangeError} When `timeout` is negative (and `blocking` is not
   * `false`, which ignores it).
   *
   * @example Usage
   * ```ts
   * import { Semaphore } from "@mp/multiprocessing/lock";
   *
   * const semaphore = new Semaphore(1);
   * console.log(await semaphore.acquire({ timeout: 100 })); // true
   * ```
   */
  acquire(options?: AcquireOptions): Promise<boolean> {
    const core = this.#core;
    if (options === undefined && core !== null && core.tryAcquire()) {
      return TRUE;
    }
    return this.#acquire(options);
  }

  async #acquire(options: AcquireOptions | undefined): Promise<boolean> {
    const { timeout, signal } = acquireArguments(options);
    return await this.#backend.acquire(null, timeout, signal);
  }

  /**
   * Gives `n` units back, waking as many waiters.
   *
   * @param n How many units; Python's `release(n)`.
   * @throws {RangeError} When `n` is not a positive integer, or a
   * {@linkcode BoundedSemaphore} would go above its initial value.
   *
   * @example Usage
   * ```ts
   * import { Semaphore } from "@mp/multiprocessing/lock";
   *
   * const semaphore = new Semaphore(0);
   * semaphore.release();
   * console.log(await semaphore.acquire({ blocking: false })); // true
   * ```
   */
  release(n = 1): void {
    if (!Number.isInteger(n) || n < 1) {
      throw new RangeError(
        `Cannot release the semaphore ${n} times: pass a positive integer`,
      );
    }
    const core = this.#core;
    if (core !== null) core.release(n);
    else this.#backend.release(null, n);
  }

  /**
   * Runs `fn` holding one unit, giving it back when `fn` ends, also when it
   * throws (Python's `with semaphore:`).
   *
   * @typeParam T What `fn` returns.
   * @param fn The function to run.
   * @param options `timeout` and `signal` for the acquire.
   * @returns What `fn` returns.
   * @throws {TimeoutError} When no unit is acquired within `timeout`.
   * @throws {RangeError} When `timeout` is negative.
   *
   * @example Usage
   * ```ts
   * import { Semaphore } from "@mp/multiprocessing/lock";
   *
   * const semaphore = new Semaphore(3);
   * console.log(await semaphore.withLock(() => "ran")); // "ran"
   * ```
   */
  withLock<T>(fn: () => T | Promise<T>, options?: WaitOptions): Promise<T> {
    return runHeld(
      "semaphore",
      () => this.#core?.tryAcquire(),
      (timeout, signal) => this.#backend.acquire(null, timeout, signal),
      () => this.release(),
      fn,
      options,
    );
  }

  /**
   * Takes one unit and returns a `Disposable` that gives it back, for
   * `using`.
   *
   * @param options `timeout` and `signal` for the acquire.
   * @returns What gives the unit back when disposed (once).
   * @throws {TimeoutError} When no unit is acquired within `timeout`.
   * @throws {RangeError} When `timeout` is negative.
   *
   * @example Usage
   * ```ts
   * import { Semaphore } from "@mp/multiprocessing/lock";
   *
   * const semaphore = new Semaphore(3);
   * using _unit = await semaphore.hold();
   * ```
   */
  hold(options?: WaitOptions): Promise<Disposable> {
    return holdFor(
      "semaphore",
      () => this.#core?.tryAcquire(),
      (timeout, signal) => this.#backend.acquire(null, timeout, signal),
      () => this.release(),
      options,
    );
  }
}

/**
 * A {@linkcode Semaphore} that may not be released above its initial value
 * (Python's `multiprocessing.BoundedSemaphore`), which catches releasing
 * more than was acquired.
 *
 * @example Over-release throws
 * ```ts
 * import { BoundedSemaphore } from "@mp/multiprocessing/lock";
 *
 * const semaphore = new BoundedSemaphore(1);
 * try {
 *   semaphore.release();
 * } catch (error) {
 *   console.log(error instanceof RangeError); // true
 * }
 * ```
 */
export class BoundedSemaphore extends Semaphore {
  /**
   * Creates a bounded semaphore.
   *
   * @param value The initial count, and the most it may reach.
   * @throws {RangeError} When `value` is not an integer from 0 to 2³¹ − 1.
   */
  constructor(value = 1) {
    bounding = true;
    super(value);
  }
}

/**
 * A flag shared by processes (Python's `multiprocessing.Event`): `wait()`
 * resolves once some process calls `set()`.
 *
 * @example Usage
 * ```ts
 * import { Event } from "@mp/multiprocessing/lock";
 *
 * const ready = new Event();
 * setTimeout(() => ready.set(), 10);
 * console.log(await ready.wait({ timeout: 1_000 })); // true
 * ```
 */
export class Event {
  #backend: EventBackend;

  /** Creates an event whose flag is not set. */
  constructor() {
    const backend = take<EventBackend>() ??
      new LocalEvent(new EventCore(sharedWords(EVENT_WORDS)));
    this.#backend = backend;
    reducers.set(
      this,
      (target, context) => backend.reduce(target, context, this, "lock.Event"),
    );
  }

  /**
   * Tells whether the flag is set (Python's `is_set`).
   *
   * @returns The flag.
   *
   * @example Usage
   * ```ts
   * import { Event } from "@mp/multiprocessing/lock";
   *
   * console.log(new Event().isSet()); // false
   * ```
   */
  isSet(): boolean {
    return this.#backend.isSet();
  }

  /**
   * Sets the flag, waking every waiter.
   *
   * @example Usage
   * ```ts
   * import { Event } from "@mp/multiprocessing/lock";
   *
   * const event = new Event();
   * event.set();
   * console.log(event.isSet()); // true
   * ```
   */
  set(): void {
    this.#backend.set(null);
  }

  /**
   * Clears the flag.
   *
   * @example Usage
   * ```ts
   * import { Event } from "@mp/multiprocessing/lock";
   *
   * const event = new Event();
   * event.set();
   * event.clear();
   * console.log(event.isSet()); // false
   * ```
   */
  clear(): void {
    this.#backend.clear(null);
  }

  /**
   * Waits until the flag is set.
   *
   * @param options `timeout` and `signal`.
   * @returns `true` when the flag is set, or was set at some moment while
   * waiting (even if cleared again since); `false` at the timeout.
   * @throws {RangeError} When `timeout` is negative.
   *
   * @example Usage
   * ```ts
   * import { Event } from "@mp/multiprocessing/lock";
   *
   * console.log(await new Event().wait({ timeout: 10 })); // false
   * ```
   */
  async wait(options?: WaitOptions): Promise<boolean> {
    const { timeout, signal } = waitArguments(options);
    return await this.#backend.wait(null, timeout, signal);
  }
}

/** The notify count that wakes every waiter. */
const ALL = 0x7fffffff;

/**
 * A condition variable shared by processes (Python's
 * `multiprocessing.Condition`): waiters release its lock, sleep until
 * notified, and take the lock back before `wait()` settles.
 *
 * The lock is an {@linkcode RLock} unless one is given. `wait()`,
 * `waitFor()` and `notify()` need the calling process to hold it.
 * `notify(n)` wakes exactly `n` waiters (fewer if fewer wait), oldest
 * first; a waiter that timed out, was aborted or died is not counted. At
 * most 16,384 tasks may wait on one condition at once.
 *
 * @example Producer and consumer
 * ```ts
 * import { Condition } from "@mp/multiprocessing/lock";
 *
 * const condition = new Condition();
 * const items: number[] = [];
 * const consumer = condition.withLock(async () => {
 *   await condition.waitFor(() => items.length > 0, { timeout: 1_000 });
 *   return items.shift();
 * });
 * await condition.withLock(() => {
 *   items.push(42);
 *   condition.notify();
 * });
 * console.log(await consumer); // 42
 * ```
 */
export class Condition {
  #backend: ConditionBackend;
  #lock: Lock | RLock;

  /**
   * Creates a condition.
   *
   * @param lock The lock it uses; a new {@linkcode RLock} by default.
   * @throws {TypeError} When `lock` is not a {@linkcode Lock} or
   * {@linkcode RLock}.
   */
  constructor(lock?: Lock | RLock) {
    const adopted = take<{ backend: ConditionBackend; lock: Lock | RLock }>();
    if (adopted !== null) {
      this.#backend = adopted.backend;
      this.#lock = adopted.lock;
    } else {
      const chosen = lock ?? new RLock();
      const lockBackend = lockBackends.get(chosen);
      if (lockBackend === undefined) {
        throw new TypeError(
          "Cannot create the condition as its lock is not a Lock or RLock: pass one, or nothing for a new RLock",
        );
      }
      this.#lock = chosen;
      this.#backend = new LocalCondition(
        new ConditionCore(ConditionCore.newBuffer()),
        lockBackend,
      );
    }
    const backend = this.#backend;
    const ownLock = this.#lock;
    reducers.set(this, (target, context) => ({
      ...backend.reduce(target, context, this, "lock.Condition"),
      lock: reducers.get(ownLock)!(target, context),
      reentrant: ownLock instanceof RLock,
    }));
  }

  /**
   * Acquires the condition's lock.
   *
   * @param options Whether to wait (`blocking`), for how long (`timeout`),
   * and a `signal` to stop waiting.
   * @returns `true` once acquired; `false` if not (see
   * {@linkcode Lock.prototype.acquire}).
   * @throws {RangeError} When `timeout` is negative (and `blocking` is not
   * `false`, which ignores it).
   *
   * @example Usage
   * ```ts
   * import { Condition } from "@mp/multiprocessing/lock";
   *
   * const condition = new Condition();
   * await condition.acquire();
   * condition.release();
   * ```
   */
  acquire(options?: AcquireOptions): Promise<boolean> {
    return this.#lock.acquire(options);
  }

  /**
   * Releases the condition's lock.
   *
   * @throws {RangeError} As the lock's `release()` does.
   *
   * @example Usage
   * ```ts
   * import { Condition } from "@mp/multiprocessing/lock";
   *
   * const condition = new Condition();
   * await condition.acquire();
   * condition.release();
   * ```
   */
  release(): void {
    this.#lock.release();
  }

  /**
   * Releases the lock, waits to be notified, and takes the lock back
   * (always, also at the timeout or on abort) before settling.
   *
   * @param options `timeout` and `signal`.
   * @returns `true` when notified, `false` at the timeout.
   * @throws {TypeError} When this process does not hold the lock.
   * @throws {RangeError} When `timeout` is negative.
   *
   * @example Usage
   * ```ts
   * import { Condition } from "@mp/multiprocessing/lock";
   *
   * const condition = new Condition();
   * await condition.withLock(async () => {
   *   console.log(await condition.wait({ timeout: 10 })); // false
   * });
   * ```
   */
  async wait(options?: WaitOptions): Promise<boolean> {
    const { timeout, signal } = waitArguments(options);
    return await this.#backend.wait(null, timeout, signal);
  }

  /**
   * Waits until `predicate` returns a truthy value (Python's `wait_for`),
   * checking it first, then after each notification. The lock must be held;
   * `predicate` runs with it held.
   *
   * @param predicate What to wait for; may be async.
   * @param options `timeout` for the whole wait, and `signal`.
   * @returns Whether `predicate` was last truthy (`false` at the timeout).
   * @throws {TypeError} When this process does not hold the lock.
   * @throws {RangeError} When `timeout` is negative.
   *
   * @example Usage
   * ```ts
   * import { Condition } from "@mp/multiprocessing/lock";
   *
   * const condition = new Condition();
   * await condition.withLock(async () => {
   *   console.log(await condition.waitFor(() => true)); // true
   * });
   * ```
   */
  async waitFor(
    predicate: () => unknown,
    options?: WaitOptions,
  ): Promise<boolean> {
    if (typeof predicate !== "function") {
      throw new TypeError(
        `Cannot wait for ${typeof predicate}: pass a function`,
      );
    }
    const { timeout, signal } = waitArguments(options);
    const deadline = timeout === Infinity
      ? Infinity
      : performance.now() + timeout;
    let result = await predicate();
    while (!result) {
      const left = deadline === Infinity
        ? Infinity
        : deadline - performance.now();
      if (left <= 0) break;
      await this.#backend.wait(null, left, signal);
      result = await predicate();
    }
    return Boolean(result);
  }

  /**
   * Wakes `n` waiters, oldest first (fewer if fewer wait).
   *
   * @param n How many to wake.
   * @throws {TypeError} When this process does not hold the lock.
   * @throws {RangeError} When `n` is not an integer, 0 or more.
   *
   * @example Usage
   * ```ts
   * import { Condition } from "@mp/multiprocessing/lock";
   *
   * const condition = new Condition();
   * await condition.withLock(() => condition.notify());
   * ```
   */
  notify(n = 1): void {
    if (!Number.isInteger(n) || n < 0) {
      throw new RangeError(
        `Cannot notify ${n} waiters: pass an integer, 0 or more`,
      );
    }
    this.#backend.notify(null, Math.min(n, ALL));
  }

  /**
   * Wakes every waiter (Python's `notify_all`).
   *
   * @throws {TypeError} When this process does not hold the lock.
   *
   * @example Usage
   * ```ts
   * import { Condition } from "@mp/multiprocessing/lock";
   *
   * const condition = new Condition();
   * await condition.withLock(() => condition.notifyAll());
   * ```
   */
  notifyAll(): void {
    this.#backend.notify(null, ALL);
  }

  /**
   * Runs `fn` holding the condition's lock (Python's `with condition:`).
   *
   * @typeParam T What `fn` returns.
   * @param fn The function to run.
   * @param options `timeout` and `signal` for the acquire.
   * @returns What `fn` returns.
   * @throws {TimeoutError} When the lock is not acquired within `timeout`.
   * @throws {RangeError} When `timeout` is negative.
   *
   * @example Usage
   * ```ts
   * import { Condition } from "@mp/multiprocessing/lock";
   *
   * const condition = new Condition();
   * await condition.withLock(() => condition.notifyAll());
   * ```
   */
  withLock<T>(fn: () => T | Promise<T>, options?: WaitOptions): Promise<T> {
    return this.#lock.withLock(fn, options);
  }

  /**
   * Acquires the condition's lock and returns a `Disposable` that releases
   * it, for `using`.
   *
   * @param options `timeout` and `signal` for the acquire.
   * @returns What releases the lock when disposed (once).
   * @throws {TimeoutError} When the lock is not acquired within `timeout`.
   * @throws {RangeError} When `timeout` is negative.
   *
   * @example Usage
   * ```ts
   * import { Condition } from "@mp/multiprocessing/lock";
   *
   * const condition = new Condition();
   * {
   *   using _held = await condition.hold();
   *   condition.notify();
   * }
   * ```
   */
  hold(options?: WaitOptions): Promise<Disposable> {
    return this.#lock.hold(options);
  }
}

/** Checks a barrier's party count. */
function validateParties(parties: number): void {
  if (!Number.isInteger(parties) || parties < 1 || parties > MAX_PARTIES) {
    throw new RangeError(
      `Cannot create a barrier for ${parties} parties: pass an integer from 1 to ${MAX_PARTIES}`,
    );
  }
}

/**
 * A barrier shared by processes (Python's `multiprocessing.Barrier`):
 * `wait()` resolves once `parties` calls wait, in all processes together,
 * each with a distinct index from 0 to `parties - 1`; then the barrier
 * starts its next cycle.
 *
 * The barrier breaks (every pending and later `wait()` rejects with
 * {@linkcode BrokenBarrierError}) when `abort()` is called, when a wait times
 * out or is aborted (its own call rejects with the abort reason), when the
 * action throws, or when a waiting process dies; `reset()` breaks the
 * current cycle for its waiters and makes the barrier usable again.
 *
 * @example Two parties meet
 * ```ts
 * import { Barrier } from "@mp/multiprocessing/lock";
 *
 * const barrier = new Barrier(2);
 * const indexes = await Promise.all([barrier.wait(), barrier.wait()]);
 * console.log(indexes.toSorted()); // [ 0, 1 ]
 * ```
 */
export class Barrier {
  #backend: BarrierBackend;
  #timeout: number;

  /**
   * Creates a barrier.
   *
   * @param parties How many calls to `wait()` fill it, from 1 to 65,535.
   * @param options An `action` to run once per cycle, a default `timeout`,
   * and the `module` that exports the action.
   * @throws {RangeError} When `parties` is out of range or `timeout` is
   * negative.
   * @throws {TypeError} When `action` is not a function.
   */
  constructor(parties: number, options: BarrierOptions = {}) {
    const adopted = take<{ backend: BarrierBackend; timeout: number }>();
    if (adopted !== null) {
      this.#backend = adopted.backend;
      this.#timeout = adopted.timeout;
    } else {
      const {
        action,
        timeout = Infinity,
        module = getDefaultModule(),
      } = options ?? {};
      validateParties(parties);
      validateTimeout(timeout);
      if (action !== undefined && typeof action !== "function") {
        throw new TypeError(
          `Cannot create a barrier with a ${typeof action} action: pass a function`,
        );
      }
      this.#timeout = timeout;
      this.#backend = new LocalBarrier(
        new BarrierCore(BarrierCore.newView(parties)),
        action === undefined
          ? null
          : { fn: action, module: new URL(module).href, name: action.name },
      );
    }
    const backend = this.#backend;
    const timeout = toWire(this.#timeout);
    reducers.set(this, (target, context) => {
      if (target === "worker" && backend instanceof LocalBarrier) {
        const action = backend.action;
        if (action !== null) checkAction(action);
        return {
          ...backend.reduce(target, context, this, "lock.Barrier"),
          timeout,
          action: action === null
            ? null
            : { module: action.module, name: action.name },
        };
      }
      return {
        ...backend.reduce(target, context, this, "lock.Barrier"),
        parties: backend.parties,
        timeout,
      };
    });
  }

  /**
   * How many calls to `wait()` fill the barrier.
   *
   * @example Usage
   * ```ts
   * import { Barrier } from "@mp/multiprocessing/lock";
   *
   * console.log(new Barrier(3).parties); // 3
   * ```
   */
  get parties(): number {
    return this.#backend.parties;
  }

  /**
   * How many parties wait in the current cycle (0 once broken).
   *
   * @example Usage
   * ```ts
   * import { Barrier } from "@mp/multiprocessing/lock";
   *
   * console.log(new Barrier(3).nWaiting); // 0
   * ```
   */
  get nWaiting(): number {
    return this.#backend.nWaiting();
  }

  /**
   * Whether the barrier is broken.
   *
   * @example Usage
   * ```ts
   * import { Barrier } from "@mp/multiprocessing/lock";
   *
   * const barrier = new Barrier(2);
   * barrier.abort();
   * console.log(barrier.broken); // true
   * ```
   */
  get broken(): boolean {
    return this.#backend.broken();
  }

  /**
   * Waits until `parties` calls wait, across all processes.
   *
   * @param options `timeout` (default: the barrier's) and `signal`; either
   * ending the wait breaks the barrier.
   * @returns This call's index in the cycle, from 0 to `parties - 1`.
   * @throws {BrokenBarrierError} When the barrier is broken, or breaks while
   * waiting (also at this call's own timeout).
   * @throws {RangeError} When `timeout` is negative.
   *
   * @example Usage
   * ```ts
   * import { Barrier } from "@mp/multiprocessing/lock";
   *
   * console.log(await new Barrier(1).wait()); // 0
   * ```
   */
  async wait(options?: WaitOptions): Promise<number> {
    const { timeout, signal } = waitArguments(options, this.#timeout);
    return await this.#backend.wait(null, timeout, signal);
  }

  /**
   * Returns the barrier to its empty state; parties waiting in the current
   * cycle get {@linkcode BrokenBarrierError}.
   *
   * @example Usage
   * ```ts
   * import { Barrier } from "@mp/multiprocessing/lock";
   *
   * const barrier = new Barrier(2);
   * barrier.abort();
   * barrier.reset();
   * console.log(barrier.broken); // false
   * ```
   */
  reset(): void {
    this.#backend.reset(null);
  }

  /**
   * Breaks the barrier: pending and later `wait()` calls reject with
   * {@linkcode BrokenBarrierError} until `reset()`.
   *
   * @example Usage
   * ```ts
   * import { Barrier } from "@mp/multiprocessing/lock";
   *
   * const barrier = new Barrier(2);
   * barrier.abort();
   * console.log(barrier.broken); // true
   * ```
   */
  abort(): void {
    this.#backend.abort(null);
  }
}

/** @throws {TypeError} When a worker child could not import the action. */
function checkAction(action: BarrierAction): void {
  const { name, module } = action;
  if (name === "" || name === "anonymous" || name.startsWith("bound ")) {
    throw new TypeError(
      `Cannot send the barrier to a worker child as its action is an anonymous or bound function: declare it as \`export function name() {}\` in ${module}`,
    );
  }
  if (certainlyNotExported(name, module)) {
    throw new TypeError(
      `Cannot send the barrier to a worker child as its action ${name} is not exported from ${module}: export it, or pass the module that exports it as \`module\``,
    );
  }
}

// ---------------------------------------------------------------------------
// Rebuilding in a child

function rebuildLock(data: unknown, reentrant: boolean): Lock | RLock {
  const reduced = data as Reduced;
  return adopt(
    keyOfReduced(reentrant ? "lock.RLock" : "lock.Lock", reduced),
    () => {
      adopting = lockBackendOf(reduced, reentrant);
      return reentrant ? new RLock() : new Lock();
    },
  );
}

function rebuildSemaphore(data: unknown, bounded: boolean): Semaphore {
  const reduced = data as Reduced;
  return adopt(
    keyOfReduced(bounded ? "lock.BoundedSemaphore" : "lock.Semaphore", reduced),
    () => {
      adopting = "sab" in reduced
        ? new LocalSemaphore(
          new SemaphoreCore(new Int32Array(reduced.sab)),
          reduced.uid,
        )
        : new RemoteSemaphore(reduced.id, bounded);
      return bounded ? new BoundedSemaphore() : new Semaphore();
    },
  );
}

/** Describes a primitive of this module for a child. */
function reduce(
  primitive: object,
  target: StartMethod,
  context?: ReduceContext,
): unknown {
  return reducers.get(primitive)!(target, context);
}

registerReducible(
  "lock.Lock",
  import.meta.url,
  Lock,
  (data) => rebuildLock(data, false),
  reduce,
);
registerReducible(
  "lock.RLock",
  import.meta.url,
  RLock,
  (data) => rebuildLock(data, true),
  reduce,
);
registerReducible(
  "lock.Semaphore",
  import.meta.url,
  Semaphore,
  (data) => rebuildSemaphore(data, false),
  reduce,
);
registerReducible(
  "lock.BoundedSemaphore",
  import.meta.url,
  BoundedSemaphore,
  (data) => rebuildSemaphore(data, true),
  reduce,
);
registerReducible("lock.Event", import.meta.url, Event, (data) => {
  const reduced = data as Reduced;
  return adopt(keyOfReduced("lock.Event", reduced), () => {
    adopting = "sab" in reduced
      ? new LocalEvent(
        new EventCore(new Int32Array(reduced.sab)),
        reduced.uid,
      )
      : new RemoteEvent(reduced.id);
    return new Event();
  });
}, reduce);
registerReducible("lock.Condition", import.meta.url, Condition, (data) => {
  const reduced = data as Reduced & { lock: unknown; reentrant: boolean };
  return adopt(keyOfReduced("lock.Condition", reduced), () => {
    const lock = rebuildLock(reduced.lock, reduced.reentrant);
    const lockBackend = lockBackends.get(lock)!;
    adopting = {
      lock,
      backend: "sab" in reduced
        ? new LocalCondition(
          new ConditionCore(reduced.sab),
          lockBackend,
          reduced.uid,
        )
        : new RemoteCondition(reduced.id, lockBackend),
    };
    return new Condition();
  });
}, reduce);
registerReducible("lock.Barrier", import.meta.url, Barrier, (data) => {
  const reduced = data as Reduced & {
    timeout: number;
    parties?: number;
    action?: { module: string; name: string } | null;
  };
  return adopt(keyOfReduced("lock.Barrier", reduced), () => {
    const action = reduced.action ?? null;
    adopting = {
      timeout: fromWire(reduced.timeout),
      backend: "sab" in reduced
        ? new LocalBarrier(
          new BarrierCore(new Int32Array(reduced.sab)),
          action === null ? null : { fn: null, ...action },
          reduced.uid,
        )
        : new RemoteBarrier(reduced.id, reduced.parties!),
    };
    return new Barrier(1);
  });
}, reduce);
