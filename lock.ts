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
 * How they work: each primitive is one object of the shared-object layer.
 * Its state lives in a `SharedArrayBuffer` owned by the process that created
 * it; that process and every worker of its OS process the object reaches
 * work on it directly with Atomics. Nothing blocks a thread: waits use
 * `Atomics.waitAsync`, after a brief spin when the holder runs on another
 * thread. Any other process that holds the object — a subprocess child, a
 * grandchild, a process that got it in a queue item from a sibling — sends
 * each operation to the owner, which runs the same code on its behalf, so
 * workers and subprocess children contend on the same lock. Methods that
 * are synchronous here stay synchronous there, and throw where Python
 * throws: `locked()`, `isSet()`, `set()`, `clear()`, `notify()`, `reset()`,
 * `abort()`, `nWaiting`, `broken`, and `release()` of a `BoundedSemaphore` or
 * of a `Lock` the process does not hold block it for one round trip.
 * Releasing a lock the process holds, or a `Semaphore`, is sent without
 * waiting, in order with its other calls.
 *
 * **A process that dies holding a lock.** Python leaves the lock held, so
 * every other process waits forever. Here, when a process dies (it returns,
 * throws, calls `Deno.exit()`, or is terminated or killed) while it holds a
 * {@linkcode Lock} or an {@linkcode RLock} (also the lock of a
 * {@linkcode Condition}), the lock is released as soon as its parent sees it
 * exit, and the next process to acquire it finds
 * {@linkcode Lock.prototype.ownerDied} `true`: what the lock protected may be
 * half-updated. The rule holds at any depth and however the process got the
 * lock: every party is recorded with the party it descends from, so the holds
 * of a dead child's children and grandchildren are freed with it. When the
 * owner is the process that sees the exit, the lock is free before `join()`
 * resolves. A process that dies while waiting on a {@linkcode Barrier} breaks
 * it, as a timeout does; one that dies waiting on a {@linkcode Condition} is
 * not counted by `notify()`. Semaphore units are not given back: any process
 * may release a semaphore, so a dead process's acquisitions cannot be told
 * from units it legitimately consumed.
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
  CANCELLED,
  ConditionCore,
  EVENT_WORDS,
  EventCore,
  LOCK_WORDS,
  LockCore,
  MAX_CONDITION_WAITERS,
  MAX_SEMAPHORE_VALUE,
  NOT_ACQUIRED,
  NOTIFIED,
  SemaphoreCore,
  TAKEN_OVER,
} from "./_lock_core.ts";
import { selfCode } from "./_isolates.ts";
import { sharedBuffer, wordsOf } from "./_shm.ts";
import {
  adopted,
  adopter,
  asyncOp,
  blockingOp,
  type Kind,
  notifyOp,
  Shared,
} from "./_shared.ts";
import { getDefaultModule, type StartMethod } from "./_runtime.ts";
import { exportedName, findExport, notExportedMessage } from "./_target.ts";
import { validateTimeout } from "./_util.ts";
import { BrokenBarrierError, TimeoutError } from "./errors.ts";

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
   * Whether to wait for the lock; with `false` the answer comes at once, and
   * `timeout` is ignored (as Python's multiprocessing locks do).
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

/** The answer of an acquire that succeeded at once. */
const TRUE = Promise.resolve(true);
/** `notifyAll()`: more waiters than a condition can hold. */
const ALL = 0x7fffffff;

/**
 * Reads the options of a waiting method. A non-blocking acquire answers at
 * once, so its timeout is ignored, as Python's multiprocessing locks do.
 *
 * @throws {RangeError} When a blocking call's `timeout` is negative.
 */
function waitArguments(
  options: AcquireOptions | undefined,
  fallback = Infinity,
): { timeout: number; signal: AbortSignal | undefined } {
  const { blocking = true, timeout = fallback, signal } = options ?? {};
  signal?.throwIfAborted();
  if (!blocking) return { timeout: 0, signal };
  validateTimeout(timeout);
  return { timeout, signal };
}

/** What Lock, RLock and Semaphore share for `withLock()` and `hold()`. */
type Holdable = Pick<Semaphore, "acquire" | "release">;

/**
 * Acquires, always waiting (up to the timeout), and returns what releases
 * it (once) at the end of a `using` block.
 *
 * @throws {TimeoutError} When not acquired within the timeout.
 */
async function holdFor(
  what: string,
  holdable: Holdable,
  options: WaitOptions | undefined,
  doing = `hold the ${what}`,
): Promise<DisposableStack> {
  if (!await holdable.acquire(options && { ...options, blocking: true })) {
    throw new TimeoutError(
      `Cannot ${doing} as the ${what} was not acquired within ${options?.timeout} ms`,
    );
  }
  const held = new DisposableStack();
  held.defer(() => holdable.release());
  return held;
}

/** Acquires, runs `fn`, releases: Python's `with`. */
async function runHeld<T>(
  what: string,
  holdable: Holdable,
  fn: () => T | Promise<T>,
  options: WaitOptions | undefined,
): Promise<T> {
  if (typeof fn !== "function") {
    throw new TypeError(
      `Cannot run ${typeof fn} under the ${what}: pass a function`,
    );
  }
  using _held = await holdFor(what, holdable, options, "run the function");
  return await fn();
}

// ---------------------------------------------------------------------------
// The kinds: each primitive's state and operations, declared once on the
// shared-object layer. An isolate that maps the memory runs them itself; the
// owner runs them for every other caller.

const LOCK = {
  name: "lock",
  module: import.meta.url,
  open: (memory: SharedArrayBuffer, config: { reentrant: boolean }) =>
    new LockCore(wordsOf(memory), config.reentrant),
  ops: {
    acquire: asyncOp((core: LockCore, { caller, signal }, timeout: number) =>
      core.acquire(caller, timeout, signal)
    ),
    release: blockingOp((core: LockCore, { caller }) => core.release(caller)),
    /** A release the caller knows is valid: nothing to answer. */
    releaseHeld: notifyOp((core: LockCore, { caller }) => core.release(caller)),
    locked: blockingOp((core: LockCore) => core.holder() !== 0),
  },
  reap: (core: LockCore, dead: (code: number) => boolean) => core.reap(dead),
};

/** The object of a kind declared here. */
type SharedOf<K> = K extends Kind<infer S, infer C, infer O> ? Shared<S, C, O>
  : never;

type LockShared = SharedOf<typeof LOCK>;

const SEMAPHORE = {
  name: "semaphore",
  module: import.meta.url,
  open: (memory: SharedArrayBuffer) => new SemaphoreCore(wordsOf(memory)),
  ops: {
    acquire: asyncOp((
      core: SemaphoreCore,
      { signal },
      timeout: number,
    ) => core.acquire(timeout, signal)),
    release: blockingOp((core: SemaphoreCore, _, n: number) => core.release(n)),
    /** An unbounded release fails only past 2³¹ units: nothing to answer. */
    releaseUnbounded: notifyOp((core: SemaphoreCore, _, n: number) =>
      core.release(n)
    ),
  },
};

type SemaphoreShared = SharedOf<typeof SEMAPHORE>;

const EVENT = {
  name: "event",
  module: import.meta.url,
  open: (memory: SharedArrayBuffer) => new EventCore(wordsOf(memory)),
  ops: {
    isSet: blockingOp((core: EventCore) => core.isSet()),
    set: blockingOp((core: EventCore) => core.set()),
    clear: blockingOp((core: EventCore) => core.clear()),
    wait: asyncOp((core: EventCore, { signal }, timeout: number) =>
      core.wait(timeout, signal)
    ),
  },
};

type EventShared = SharedOf<typeof EVENT>;

const CONDITION = {
  name: "condition",
  module: import.meta.url,
  open: (memory: SharedArrayBuffer, config: { lock: Lock | RLock }) => {
    const lock = lockOf(config.lock).state;
    if (lock === null) {
      throw new TypeError(
        "Cannot create the condition as its lock is reached through calls to another process: create the condition where the lock was created",
      );
    }
    return new ConditionCore(memory, lock);
  },
  ops: {
    wait: asyncOp((
      core: ConditionCore,
      { caller, signal },
      timeout: number,
    ) => core.wait(caller, timeout, signal)),
    notify: blockingOp((core: ConditionCore, { caller }, n: number) => {
      core.checkHeld(caller, "notify on");
      core.notify(n);
    }),
  },
  reap: (core: ConditionCore, dead: (code: number) => boolean) =>
    core.reap(dead),
};

type ConditionShared = SharedOf<typeof CONDITION>;

interface BarrierConfig {
  parties: number;
  timeout: number;
  /** The action, by reference: where the wait that trips it runs. */
  action: { module: string; name: string } | null;
}

/**
 * Each barrier's action in this isolate, by the barrier's config: the
 * function itself where the barrier was made (two actions may share a
 * name), else the export it names, found at the first trip here.
 */
const actions = new WeakMap<BarrierConfig, () => unknown>();

async function actionOf(config: BarrierConfig): Promise<() => unknown> {
  if (!actions.has(config)) {
    const { module, name } = config.action!;
    const fn = findExport(await import(module), name);
    if (fn === undefined) {
      throw new TypeError(
        notExportedMessage(name, module, {
          action: "run the barrier's action",
        }),
      );
    }
    actions.set(config, fn);
  }
  return actions.get(config)!;
}

/**
 * A barrier's words after its lock's: how many parties wait in the current
 * cycle, and whether it is broken. A cycle ends (filled, broken or reset)
 * at once, leaving each waiter's outcome in its slot of the condition, so
 * the next cycle need not wait for the last one's parties to leave.
 */
const COUNT = LOCK_WORDS;
const BROKEN = LOCK_WORDS + 1;
const BARRIER_WORDS = LOCK_WORDS + 2;
/** The outcomes a cycle leaves its waiters: NOTIFIED (they pass), or this. */
const BROKE = NOTIFIED + 1;
/** The most parties a barrier may have: each may wait on its condition. */
const MAX_PARTIES = MAX_CONDITION_WAITERS;

interface BarrierState {
  config: BarrierConfig;
  words: Int32Array;
  condition: ConditionCore;
}

/** Ends the cycle with `outcome` for its waiters; the caller holds the lock. */
function endCycle(
  { words, condition }: BarrierState,
  outcome: number,
  broken: 0 | 1,
): void {
  words[COUNT] = 0;
  words[BROKEN] = broken;
  condition.endAll(outcome);
}

async function barrierWait(
  barrier: BarrierState,
  caller: number,
  timeout: number,
  signal: AbortSignal | undefined,
): Promise<number> {
  const { config, words, condition: { lock } } = barrier;
  // Rejects at once when the signal has aborted, before anything changes.
  // Taken over: a party died inside wait() holding the lock.
  if (await lock.acquire(caller, Infinity, signal) === TAKEN_OVER) {
    endCycle(barrier, BROKE, 1);
  }
  try {
    if (words[BROKEN] === 1) {
      throw new BrokenBarrierError(
        "Cannot wait on the barrier as it is broken: reset() it first",
      );
    }
    const index = words[COUNT]!++;
    let outcome = NOTIFIED;
    try {
      if (index + 1 < config.parties) {
        outcome = await barrier.condition.wait(caller, timeout, signal);
      } else {
        // The last party runs the action, then lets the others go.
        if (config.action !== null) await (await actionOf(config))();
        endCycle(barrier, NOTIFIED, 0);
      }
    } catch (error) {
      endCycle(barrier, BROKE, 1);
      throw error;
    }
    // Timed out while its cycle still filled.
    if (outcome === CANCELLED) endCycle(barrier, BROKE, 1);
    if (outcome !== NOTIFIED) {
      throw new BrokenBarrierError(
        "Cannot pass the barrier as it broke while waiting: it was aborted, reset, timed out, or a party died or failed",
      );
    }
    return index;
  } finally {
    lock.release(caller);
  }
}

const BARRIER = {
  name: "barrier",
  module: import.meta.url,
  open: (
    [words, slots]: readonly SharedArrayBuffer[],
    config: BarrierConfig,
  ): BarrierState => ({
    config,
    words: wordsOf(words!),
    condition: new ConditionCore(slots!, new LockCore(wordsOf(words!), false)),
  }),
  ops: {
    wait: asyncOp((
      barrier: BarrierState,
      { caller, signal },
      timeout: number,
    ) => barrierWait(barrier, caller, timeout, signal)),
    abort: blockingOp((barrier: BarrierState) =>
      barrier.condition.lock.runLocked(() => endCycle(barrier, BROKE, 1))
    ),
    reset: blockingOp((barrier: BarrierState) =>
      barrier.condition.lock.runLocked(() => endCycle(barrier, BROKE, 0))
    ),
    state: blockingOp(({ words }: BarrierState): [boolean, number] => [
      words[BROKEN] === 1,
      words[COUNT]!,
    ]),
  },
  /** A party that died inside `wait()` breaks the barrier, as a timeout does. */
  reap: (barrier: BarrierState, dead: (code: number) => boolean) => {
    const holderDied = barrier.condition.lock.reap(dead);
    if (barrier.condition.reap(dead) || holderDied) {
      barrier.condition.lock.runLocked(() => endCycle(barrier, BROKE, 1));
    }
  },
};

type BarrierShared = SharedOf<typeof BARRIER>;

// ---------------------------------------------------------------------------
// Lock and RLock

let lockOf: (lock: BaseLock) => LockShared;

/**
 * What {@linkcode Lock} and {@linkcode RLock} share (CPython's `SemLock`):
 * not constructed directly.
 */
export abstract class BaseLock {
  #shared: LockShared;
  /**
   * Holds this process took through calls to the owner: releasing one of
   * them cannot fail, so it goes out without waiting for an answer, in
   * order with this process's other calls.
   */
  #remoteHolds = 0;
  #remoteRecovered = false;

  /**
   * Creates an unlocked lock, or adopts a rebuilt one.
   *
   * @param reentrant Whether the holder may acquire it again.
   */
  protected constructor(reentrant: boolean) {
    this.#shared = adopted<LockShared>() ??
      new Shared(LOCK, { reentrant }, sharedBuffer(LOCK_WORDS * 4));
  }

  /**
   * Acquires the lock (Python's `acquire`).
   *
   * @param options Whether to wait (`blocking`), for how long (`timeout`),
   * and a `signal` to stop waiting.
   * @returns `true` once acquired; `false` if `timeout` passed first, or at
   * once when `blocking` is `false` and the lock is held.
   * @throws {RangeError} When `timeout` is negative.
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
    const core = this.#shared.state;
    if (options === undefined && core?.tryAcquire(selfCode())) return TRUE;
    return this.#acquire(options);
  }

  async #acquire(options: AcquireOptions | undefined): Promise<boolean> {
    const { timeout, signal } = waitArguments(options);
    const result = await this.#shared.run("acquire", [timeout], signal);
    if (result === NOT_ACQUIRED) return false;
    if (!this.#shared.local) {
      this.#remoteHolds++;
      this.#remoteRecovered = result === TAKEN_OVER;
    }
    return true;
  }

  /**
   * Releases the lock (Python's `release`): any process may release a
   * {@linkcode Lock}; only the holder an {@linkcode RLock}, one level of
   * its hold at a time.
   *
   * @throws {RangeError} When the lock is not held (by this process, for
   * an RLock).
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
    const shared = this.#shared;
    const core = shared.state;
    if (core !== null) return core.release(selfCode());
    if (this.#remoteHolds === 0) return shared.run("release", []);
    if (--this.#remoteHolds === 0) this.#remoteRecovered = false;
    shared.run("releaseHeld", []);
  }

  /**
   * Tells whether some process holds the lock.
   *
   * @returns `true` while held; it sees this process's own release at once,
   * in any process.
   *
   * @example Usage
   * ```ts
   * import { RLock } from "@mp/multiprocessing/lock";
   *
   * console.log(new RLock().locked()); // false
   * ```
   */
  locked(): boolean {
    return this.#remoteHolds > 0 || this.#shared.run("locked", []);
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
    const core = this.#shared.state;
    return core === null ? this.#remoteRecovered : core.recovered();
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
    return runHeld("lock", this, fn, options);
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
    return holdFor("lock", this, options);
  }

  static {
    lockOf = (lock) => lock.#shared;
  }
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
export class Lock extends BaseLock {
  /** Creates an unlocked lock. */
  constructor() {
    super(false);
  }
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
export class RLock extends BaseLock {
  /** Creates an unlocked re-entrant lock. */
  constructor() {
    super(true);
  }
}

// ---------------------------------------------------------------------------
// Semaphore and BoundedSemaphore

/** A new semaphore's object, its value checked. */
function newSemaphore(value: number, bounded: boolean): SemaphoreShared {
  const what = bounded ? "bounded semaphore" : "semaphore";
  if (!Number.isInteger(value) || value < 0 || value > MAX_SEMAPHORE_VALUE) {
    throw new RangeError(
      `Cannot create a ${what} with value ${value}: pass an integer from 0 to ${MAX_SEMAPHORE_VALUE}`,
    );
  }
  const buffer = SemaphoreCore.newBuffer(value, bounded ? value : -1);
  return new Shared(SEMAPHORE, null, buffer);
}

let semaphoreOf: (semaphore: Semaphore) => SemaphoreShared;

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
  #shared: SemaphoreShared;

  /**
   * Creates a semaphore.
   *
   * @param value The initial count.
   * @throws {RangeError} When `value` is not an integer from 0 to 2³¹ − 1.
   */
  constructor(value = 1) {
    this.#shared = adopted<SemaphoreShared>() ??
      newSemaphore(value, this instanceof BoundedSemaphore);
  }

  /**
   * Takes one unit (Python's `acquire`).
   *
   * @param options Whether to wait (`blocking`), for how long (`timeout`),
   * and a `signal` to stop waiting.
   * @returns `true` once a unit is taken; `false` if `timeout` passed first,
   * or at once when `blocking` is `false` and none is left.
   * @throws {RangeError} When `timeout` is negative.
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
    if (options === undefined && this.#shared.state?.tryAcquire()) return TRUE;
    return this.#acquire(options);
  }

  async #acquire(options: AcquireOptions | undefined): Promise<boolean> {
    const { timeout, signal } = waitArguments(options);
    return await this.#shared.run("acquire", [timeout], signal);
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
    // A process without the memory sends an unbounded release unanswered.
    const bounded = this instanceof BoundedSemaphore;
    this.#shared.run(bounded ? "release" : "releaseUnbounded", [n]);
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
    return runHeld("semaphore", this, fn, options);
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
    return holdFor("semaphore", this, options);
  }

  static {
    semaphoreOf = (semaphore) => semaphore.#shared;
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
export class BoundedSemaphore extends Semaphore {}

// ---------------------------------------------------------------------------
// Event

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
  #shared: EventShared;

  /** Creates an event whose flag is not set. */
  constructor() {
    this.#shared = adopted<EventShared>() ??
      new Shared(EVENT, null, sharedBuffer(EVENT_WORDS * 4));
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
    return this.#shared.run("isSet", []);
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
    this.#shared.run("set", []);
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
    this.#shared.run("clear", []);
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
    return await this.#shared.run("wait", [timeout], signal);
  }

  static {
    Shared.register(EVENT, Event, (event) => event.#shared);
  }
}

// ---------------------------------------------------------------------------
// Condition

/** A new condition's object, its lock checked. */
function newCondition(lock: Lock | RLock): ConditionShared {
  if (!(lock instanceof BaseLock)) {
    throw new TypeError(
      "Cannot create the condition as its lock is not a Lock or RLock: pass one, or nothing for a new RLock",
    );
  }
  return new Shared(CONDITION, { lock }, ConditionCore.newBuffer());
}

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
 * Async tasks of one process share an `RLock`'s hold, so a task's `wait()`
 * would release the lock for all of them: when tasks of one process both
 * wait and notify, give the condition a {@linkcode Lock}, which serializes
 * them.
 *
 * @example Producer and consumer in one process
 * ```ts
 * import { Condition, Lock } from "@mp/multiprocessing/lock";
 *
 * const condition = new Condition(new Lock());
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
  #shared: ConditionShared;
  #lock: Lock | RLock;

  /**
   * Creates a condition.
   *
   * @param lock The lock it uses; a new {@linkcode RLock} by default.
   * @throws {TypeError} When `lock` is not a {@linkcode Lock} or
   * {@linkcode RLock}.
   */
  constructor(lock?: Lock | RLock) {
    this.#shared = adopted<ConditionShared>() ??
      newCondition(lock ?? new RLock());
    this.#lock = this.#shared.config.lock;
  }

  /**
   * Acquires the condition's lock.
   *
   * @param options Whether to wait (`blocking`), for how long (`timeout`),
   * and a `signal` to stop waiting.
   * @returns `true` once acquired; `false` if not (see
   * {@linkcode Lock.prototype.acquire}).
   * @throws {RangeError} When `timeout` is negative.
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
    // How the wait ended: CANCELLED at the timeout, else notified.
    return await this.#shared.run("wait", [timeout], signal) !== CANCELLED;
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
    const deadline = performance.now() + timeout;
    let result = await predicate();
    while (!result && deadline > performance.now()) {
      await this.#shared.run("wait", [deadline - performance.now()], signal);
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
    this.#shared.run("notify", [Math.min(n, ALL)]);
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
    this.#shared.run("notify", [ALL]);
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

  static {
    Shared.register(CONDITION, Condition, (condition) => condition.#shared);
  }
}

// ---------------------------------------------------------------------------
// Barrier

/** A new barrier's object, its arguments checked. */
function newBarrier(parties: number, options: BarrierOptions): BarrierShared {
  const {
    action,
    timeout = Infinity,
    module = getDefaultModule(),
  } = options ?? {};
  if (!Number.isInteger(parties) || parties < 1 || parties > MAX_PARTIES) {
    throw new RangeError(
      `Cannot create a barrier for ${parties} parties: pass an integer from 1 to ${MAX_PARTIES}`,
    );
  }
  validateTimeout(timeout);
  if (action !== undefined && typeof action !== "function") {
    throw new TypeError(
      `Cannot create a barrier with a ${typeof action} action: pass a function`,
    );
  }
  const config: BarrierConfig = { parties, timeout, action: null };
  if (action !== undefined) {
    config.action = { module: new URL(module).href, name: action.name };
    actions.set(config, action);
  }
  return new Shared(BARRIER, config, [
    sharedBuffer(BARRIER_WORDS * 4),
    ConditionCore.newBuffer(),
  ]);
}

/** A worker child imports the action by name: it must be exported. */
function checkAction({ action }: BarrierConfig, target: StartMethod): void {
  if (action === null || target !== "worker") return;
  exportedName(action, action.module, {
    role: "its action",
    action: "send the barrier to a worker child",
  });
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
  #shared: BarrierShared;

  /**
   * Creates a barrier.
   *
   * @param parties How many calls to `wait()` fill it, from 1 to 16,384.
   * @param options An `action` to run once per cycle, a default `timeout`,
   * and the `module` that exports the action.
   * @throws {RangeError} When `parties` is out of range or `timeout` is
   * negative.
   * @throws {TypeError} When `action` is not a function.
   */
  constructor(parties: number, options: BarrierOptions = {}) {
    this.#shared = adopted<BarrierShared>() ?? newBarrier(parties, options);
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
    return this.#shared.config.parties;
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
    return this.#shared.run("state", [])[1];
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
    return this.#shared.run("state", [])[0];
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
    const { timeout, signal } = waitArguments(
      options,
      this.#shared.config.timeout,
    );
    return await this.#shared.run("wait", [timeout], signal);
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
    this.#shared.run("reset", []);
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
    this.#shared.run("abort", []);
  }

  static {
    Shared.register(BARRIER, Barrier, (barrier, target) => {
      checkAction(barrier.#shared.config, target);
      return barrier.#shared;
    }, { wrap: adopter(() => new Barrier(1)) });
  }
}

// ---------------------------------------------------------------------------
// Passing them to children (Event, Condition and Barrier register in their
// class bodies)

Shared.register(LOCK, Lock, lockOf, { name: "lock.Lock" });
Shared.register(LOCK, RLock, lockOf, { name: "lock.RLock" });
Shared.register(SEMAPHORE, Semaphore, semaphoreOf, { name: "lock.Semaphore" });
Shared.register(SEMAPHORE, BoundedSemaphore, semaphoreOf, {
  name: "lock.BoundedSemaphore",
});
