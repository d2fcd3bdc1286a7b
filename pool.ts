// Copyright 2026 the @mp/multiprocessing authors. MIT license.
/**
 * {@linkcode Pool}: Python's `multiprocessing.Pool` — a set of child
 * processes that run exported functions for you (`apply`, `map`, `imap`,
 * `starmap` and their async forms) — that never hangs: a child that dies
 * mid-task fails exactly the task it was running with a
 * {@linkcode ProcessError} naming its exit code, is replaced, and the pool
 * keeps serving.
 *
 * Functions travel by reference, as Python pickles them: each child imports
 * the pool's `module` (by default the main module) and looks the function up
 * among its exports, so task functions must be exported and the program's
 * main code guarded by `import.meta.main`.
 *
 * Beyond Python: every submit call takes `signal` and `timeout` (a task
 * still queued is dropped; a running one has its child terminated and
 * replaced), arguments may hold queues, locks and other primitives of this
 * package, iterables may be async and are read lazily, and
 * {@linkcode Pool.prototype.stats} reports load and timings.
 *
 * With a `broker` (such as `redisBroker(url)` from
 * `@mp/multiprocessing/redis`) the same API sends the tasks to workers on
 * any host (`worker.ts`, `@mp/multiprocessing/worker`) instead of to
 * children of this process.
 *
 * @example Run tasks in five children
 * ```ts ignore
 * import { Pool } from "@mp/multiprocessing/pool";
 *
 * export function foo(i: number) {
 *   return i + 100;
 * }
 *
 * if (import.meta.main) {
 *   await using pool = new Pool({ processes: 5 });
 *   for (let i = 0; i < 10; i++) {
 *     pool.applyAsync(foo, [i], {
 *       callback: (r) => console.log("callback function", r),
 *     });
 *   }
 *   console.log(await pool.map(foo, [1, 2, 3])); // [ 101, 102, 103 ]
 *   pool.close();
 *   await pool.join();
 * }
 * ```
 *
 * @module
 */
import {
  checkStartPermissions,
  childHandles,
  childSetups,
} from "./_backend.ts";
import { prestartWorker } from "./_backend_worker.ts";
import {
  type Broker,
  type BrokerPoolLink,
  poolInternals,
  validateQueueName,
} from "./_broker.ts";
import { decode } from "./_codec.ts";
import { fromWireError } from "./_errors_wire.ts";
import { encodeFrame, REDUCED } from "./_frame.ts";
import { holdsElsewhere } from "./_futex.ts";
import { type Percentiles, Samples } from "./_pool_stats.ts";
import {
  APPLY,
  AWAITED,
  type Failure,
  MAP,
  type Outcome,
  poolWorker,
  POSTED,
  type ResultMessage,
  STARMAP,
  type TaskMessage,
  toFailure,
  type Unit,
  type WorkerInit,
} from "./_pool_worker.ts";
import { reduce } from "./_reduce.ts";
import { getDefaultModule } from "./_runtime.ts";
import { checkNotImporting, exportedName, trustExports } from "./_target.ts";
import {
  nextTurn,
  setLongTimeout,
  settleWithin,
  unrefDelay,
  validateTimeout,
} from "./_util.ts";
import { ProcessError, TimeoutError } from "./errors.ts";
import {
  cpuCount,
  getStartMethod,
  Process,
  type StartMethod,
} from "./process.ts";
import { Queue } from "./queue.ts";

export type { Percentiles } from "./_pool_stats.ts";
export type {
  Broker,
  BrokerPoolEvents,
  BrokerPoolLink,
  BrokerTask,
  BrokerWorkerEvents,
  BrokerWorkerLink,
} from "./_broker.ts";

const WORKER_MODULE = new URL("./_pool_worker.ts", import.meta.url).href;
/** A worker child's entry, which loads `WORKER_MODULE` with its own modules. */
const CHILD_ENTRY = new URL("./_pool_child.ts", import.meta.url);
trustExports(WORKER_MODULE);

/** Options for {@linkcode Pool}. */
export interface PoolOptions {
  /**
   * How many children run tasks at once.
   *
   * @default {cpuCount()}
   */
  processes?: number;
  /**
   * How the children are created.
   *
   * @default {getStartMethod()}
   */
  startMethod?: StartMethod;
  /**
   * The URL of the module that exports the task functions (and the
   * initializer); pass `import.meta.url` when that is not the main module.
   *
   * @default {Deno.mainModule}
   */
  module?: string | URL;
  /**
   * An exported function each child calls once before its first task.
   * When it throws, the pool is broken: its tasks fail with the error as
   * `cause`.
   *
   * @default {undefined}
   */
  // deno-lint-ignore no-explicit-any
  initializer?: (...args: any[]) => unknown;
  /**
   * The arguments for `initializer`.
   *
   * @default {[]}
   */
  initargs?: unknown[];
  /**
   * How many tasks (or chunks) a child runs before it is replaced by a
   * fresh one; `undefined` keeps children for the pool's life.
   *
   * @default {undefined}
   */
  maxTasksPerChild?: number;
  /**
   * Deno flags for `"subprocess"` children, as for
   * {@linkcode Process}.
   *
   * @default {undefined}
   */
  denoFlags?: readonly string[];
  /**
   * Sends the tasks through a message engine to workers on any host
   * instead of to children of this process, such as
   * `redisBroker("redis://host:6379")` from `@mp/multiprocessing/redis`.
   * The workers run `worker.ts` with the same `name`; `processes` then
   * only sets how `map` cuts its input (about four chunks per process).
   *
   * @default {undefined}
   */
  broker?: Broker;
  /**
   * The queue a `broker` pool shares with its workers.
   *
   * @default {"default"}
   */
  name?: string;
}

/** Options of every call that submits work. */
export interface SubmitOptions {
  /**
   * Cancels the work: a task not yet running is dropped, a running one has
   * its child terminated (and replaced); the call rejects with
   * `signal.reason`.
   */
  signal?: AbortSignal;
  /**
   * Milliseconds from the call until the work is cancelled as by `signal`,
   * rejecting with a {@linkcode TimeoutError}.
   *
   * @default {Infinity}
   */
  timeout?: number;
  /**
   * `ArrayBuffer`s to move rather than copy. With the `"worker"` start
   * method, those the task's arguments hold are moved to the child that
   * runs it (zero-copy) and are detached here, as by `postMessage`; a task
   * whose child dies before running it then fails, as its bytes went with
   * the child. With `"subprocess"` (or a `broker`) they are copied and stay
   * usable here: another OS process cannot take memory over.
   *
   * @default {[]}
   */
  transfer?: readonly ArrayBuffer[];
}

/** Options for {@linkcode Pool.prototype.applyAsync}. */
export interface ApplyAsyncOptions<R> extends SubmitOptions {
  /** Called in this process with the result, once the task succeeds. */
  callback?: (result: R) => void;
  /** Called in this process with the error, once the task fails. */
  errorCallback?: (error: Error) => void;
}

/** Options for the map calls. */
export interface MapOptions extends SubmitOptions {
  /**
   * How many items go to a child as one task. For `map` and `starmap`, by
   * default the input is cut into about four chunks per child (Python's
   * rule), of at most 32,768 items each; for `imap` and `imapUnordered` the
   * default is 1.
   *
   * @default {undefined}
   */
  chunksize?: number;
}

/** Options for {@linkcode Pool.prototype.mapAsync} and `starmapAsync`. */
export interface MapAsyncOptions<R> extends MapOptions {
  /** Called in this process with the results, once all succeed. */
  callback?: (results: R[]) => void;
  /** Called in this process with the error, once one fails. */
  errorCallback?: (error: Error) => void;
}

/** Options for {@linkcode AsyncResult.prototype.get}. */
export interface AsyncResultWaitOptions {
  /**
   * How long to wait, in milliseconds.
   *
   * @default {Infinity}
   */
  timeout?: number;
  /** Stops waiting, rejecting with `signal.reason`; the task runs on. */
  signal?: AbortSignal;
}

/** What {@linkcode Pool.prototype.stats} reports. */
export interface PoolStats {
  /**
   * Children alive or being started (the first is created at once, the rest
   * once it has answered or work waits); for a `broker` pool, the remote
   * workers serving its queue, counted about once a second (a worker counts
   * until it closes, or for `visibilityTimeout` after its last heartbeat).
   */
  readonly workers: number;
  /**
   * Children running work now; for a `broker` pool, tasks (or chunks) sent
   * and not yet answered.
   */
  readonly busy: number;
  /** Tasks (or chunks) waiting in this process for a child. */
  readonly queued: number;
  /** Tasks (or chunks) that succeeded. */
  readonly completed: number;
  /** Tasks (or chunks) that failed, were cancelled or lost their child. */
  readonly failed: number;
  /** How long tasks ran in their child, over the most recent ones. */
  readonly runTime: Percentiles;
  /** How long tasks waited from the call until they started. */
  readonly waitTime: Percentiles;
}

/**
 * The pending result of {@linkcode Pool.prototype.applyAsync},
 * `mapAsync` or `starmapAsync` (Python's `AsyncResult`).
 *
 * @typeParam R The result's type.
 *
 * @example Wait for a result
 * ```ts ignore
 * import { Pool } from "@mp/multiprocessing/pool";
 *
 * export function square(x: number) {
 *   return x * x;
 * }
 *
 * if (import.meta.main) {
 *   await using pool = new Pool({ processes: 2 });
 *   const result = pool.applyAsync(square, [7]);
 *   console.log(await result.get({ timeout: 5_000 })); // 49
 *   console.log(result.successful()); // true
 * }
 * ```
 */
export class AsyncResult<R> {
  #promise: Promise<R>;
  #state: "pending" | "fulfilled" | "rejected" = "pending";

  /**
   * Wraps the promise of a result; pools make these, users need not.
   *
   * @param promise Settles with the result.
   */
  constructor(promise: Promise<R>) {
    this.#promise = promise;
    promise.then(
      () => this.#state = "fulfilled",
      () => this.#state = "rejected",
    );
  }

  /**
   * Waits for the result.
   *
   * @param options `timeout` in milliseconds and an abort `signal`.
   * @returns The result.
   * @throws {TimeoutError} When the result is not ready at the timeout.
   * @throws {Error} What the task threw, with the child's stack.
   *
   * @example Usage
   * ```ts ignore
   * import { Pool } from "@mp/multiprocessing/pool";
   *
   * export function one() {
   *   return 1;
   * }
   *
   * if (import.meta.main) {
   *   await using pool = new Pool({ processes: 1 });
   *   console.log(await pool.applyAsync(one).get()); // 1
   * }
   * ```
   */
  get(options: AsyncResultWaitOptions = {}): Promise<R> {
    const { timeout = Infinity, signal } = options;
    try {
      validateTimeout(timeout);
      signal?.throwIfAborted();
    } catch (error) {
      return Promise.reject(error);
    }
    return settleWithin(this.#promise, timeout, signal, () => {
      throw new TimeoutError(
        `Cannot get the result as it was not ready within ${timeout} ms`,
      );
    });
  }

  /**
   * Waits until the result is ready, or the timeout passes.
   *
   * @param options `timeout` in milliseconds and an abort `signal`.
   * @returns Whether the result is ready.
   *
   * @example Usage
   * ```ts ignore
   * import { Pool } from "@mp/multiprocessing/pool";
   *
   * export function one() {
   *   return 1;
   * }
   *
   * if (import.meta.main) {
   *   await using pool = new Pool({ processes: 1 });
   *   console.log(await pool.applyAsync(one).wait()); // true
   * }
   * ```
   */
  async wait(options: AsyncResultWaitOptions = {}): Promise<boolean> {
    const { timeout = Infinity, signal } = options;
    validateTimeout(timeout);
    signal?.throwIfAborted();
    const settled = this.#promise.then(() => true, () => true);
    return await settleWithin(settled, timeout, signal, () => false);
  }

  /**
   * Tells whether the result is ready.
   *
   * @returns `true` once the task has succeeded or failed.
   *
   * @example Usage
   * ```ts ignore
   * import { AsyncResult } from "@mp/multiprocessing/pool";
   *
   * const result = new AsyncResult(new Promise(() => {}));
   * console.log(result.ready()); // false
   * ```
   */
  ready(): boolean {
    return this.#state !== "pending";
  }

  /**
   * Tells whether the task succeeded.
   *
   * @returns `true` when it succeeded, `false` when it failed.
   * @throws {Error} When the result is not ready yet.
   *
   * @example Usage
   * ```ts
   * import { AsyncResult } from "@mp/multiprocessing/pool";
   *
   * const result = new AsyncResult(Promise.resolve(1));
   * await result.wait();
   * console.log(result.successful()); // true
   * ```
   */
  successful(): boolean {
    if (this.#state === "pending") {
      throw new Error(
        "Cannot tell whether the task succeeded as it is not ready: await wait() first",
      );
    }
    return this.#state === "fulfilled";
  }
}

// A task's states.
const QUEUED = 0;
const SENT = 1;
const DONE = 2;

/** One unit of work as the parent tracks it. */
interface Task {
  unit: Unit;
  state: typeof QUEUED | typeof SENT | typeof DONE;
  slot: Slot | null;
  /** When it was submitted, ms since the epoch. */
  submitted: number;
  /** The broker entry that carries it, for a `broker` pool. */
  entry?: Entry;
  /** Buffers its payload holds that move to its child. */
  transfer?: ArrayBuffer[];
  /** Its payload went to its child by message, with those buffers. */
  posted?: true;
  /** Receives the result: an error, or the value (and a chunk's partial values). */
  settle: (
    error: Error | null,
    value: unknown,
    partial?: unknown[],
    outcome?: Outcome,
  ) => void;
}

/** One child and what it holds. */
interface Slot {
  process: Process;
  tasks: Queue<TaskMessage>;
  /** Sent and not yet answered, in the order sent: the first is running. */
  inflight: Task[];
  /** Units sent over its life. */
  sent: number;
  answered: number;
  /** No more work goes to it. */
  stopping: boolean;
  /** The pool terminated it to cancel its running task. */
  killed: boolean;
  /** It was told to exit. */
  told: boolean;
}

/** A broker entry: its tasks, and how to take it back once all are cancelled. */
interface Entry {
  size: number;
  cancelled: number;
  drop: () => void;
}

/** The cancellation of one submit call: its tasks, its signal and timeout. */
interface Call {
  tasks: Set<Task>;
  dispose: () => void;
  /** The buffers to move to the children, when they can be. */
  transfer: Set<ArrayBuffer> | null;
}

// How much queued work each child holds, in milliseconds of its measured
// run time: enough that a child never waits for the parent between short
// tasks, little enough that long tasks spread over all children.
const WINDOW_MS = 4;
const MAX_WINDOW = 64;
// A child that dies three times in a row before answering anything (its
// initializer exits, its module throws on import) would be replaced
// forever: the pool breaks instead.
const MAX_STRIKES = 3;
/**
 * How long a pool with nothing pending waits before its children let go of
 * the program: the most it delays the end of one that forgot to close it.
 */
const RELEASE_MS = 10;

const now = () => performance.timeOrigin + performance.now();

/** The most items of a default `map` chunk. */
const MAX_CHUNK = 32_768;

/** The items one message to a child carries at most, unless one unit has more. */
const MESSAGE_ITEMS = 4096;

/**
 * Cuts a child's batch into messages of about `MESSAGE_ITEMS` items: many
 * small tasks share one, a large chunk of a map goes alone.
 */
function splitByWeight(batch: Task[]): Task[][] {
  const messages: Task[][] = [];
  let current: Task[] = [];
  let weight = 0;
  for (const task of batch) {
    const items = task.unit[3] === APPLY ? 1 : task.unit[4].length;
    if (current.length > 0 && weight + items > MESSAGE_ITEMS) {
      messages.push(current);
      current = [];
      weight = 0;
    }
    current.push(task);
    weight += items;
  }
  if (current.length > 0) messages.push(current);
  return messages;
}

/** The chunks' results as one array, faster than `flat()`. */
function joinParts<T>(parts: T[][]): T[] {
  let joined: T[] = [];
  // In slices: a spread of very many arrays would overflow the stack.
  for (let i = 0; i < parts.length; i += 8192) {
    joined = joined.concat(...parts.slice(i, i + 8192));
  }
  return joined;
}

function validateTransfer(transfer: unknown): void {
  if (!Array.isArray(transfer)) {
    throw new TypeError(
      `Cannot submit to the pool as transfer is ${typeof transfer}: pass an array of ArrayBuffers`,
    );
  }
  for (let i = 0; i < transfer.length; i++) {
    if (!(transfer[i] instanceof ArrayBuffer)) {
      throw new TypeError(
        `Cannot submit to the pool as transfer[${i}] is not an ArrayBuffer: list the ArrayBuffers to move (a view's \`.buffer\`)`,
      );
    }
  }
}

/** The buffers of `wanted` that `value` holds, each once. */
function buffersIn(value: unknown, wanted: Set<ArrayBuffer>): ArrayBuffer[] {
  const found = new Set<ArrayBuffer>();
  const seen = new Set<object>();
  const visit = (item: unknown): void => {
    if (typeof item !== "object" || item === null || seen.has(item)) return;
    seen.add(item);
    if (item instanceof ArrayBuffer) {
      if (wanted.has(item)) found.add(item);
    } else if (ArrayBuffer.isView(item)) visit(item.buffer);
    else if (item instanceof Map) {
      for (const [key, entry] of item) {
        visit(key);
        visit(entry);
      }
    } else if (Array.isArray(item) || item instanceof Set) {
      for (const entry of item) visit(entry);
    } else for (const key of Object.keys(item)) visit((item as never)[key]);
  };
  visit(value);
  return [...found];
}

/** What goes on a child's queue for a task: its unit, or word to take it. */
function unitOf(task: Task, awaited = false): Unit {
  if (task.posted !== true && !awaited) return task.unit;
  const [id, module, name, kind, payload] = task.unit;
  return task.posted === true
    ? [id, module, name, kind, [], POSTED | (awaited ? AWAITED : 0)]
    : [id, module, name, kind, payload, AWAITED];
}

/**
 * What the reader's waits are cancelled with. They run only while the pool
 * is busy, when its children keep the program running.
 */
function readerWait(): AbortController {
  const controller = new AbortController();
  holdsElsewhere(controller.signal);
  return controller;
}

/** Whether a value crosses as it is: no encoding needed to know it can. */
function isPrimitive(value: unknown): boolean {
  return value === null ||
    (typeof value !== "object" && typeof value !== "function" &&
      typeof value !== "symbol");
}

function validateCount(name: string, value: unknown, what: string): number {
  if (
    typeof value !== "number" || !Number.isInteger(value) || value <= 0
  ) {
    throw new RangeError(
      `Cannot ${what} as ${name} is ${value}: it must be an integer greater than 0`,
    );
  }
  return value;
}

function isAsyncIterable<T>(value: unknown): value is AsyncIterable<T> {
  return value !== null && typeof value === "object" &&
    typeof (value as AsyncIterable<T>)[Symbol.asyncIterator] === "function";
}

function isIterable<T>(value: unknown): value is Iterable<T> {
  return value !== null && (typeof value === "object" ||
    typeof value === "string") &&
    typeof (value as Iterable<T>)[Symbol.iterator] === "function";
}

function fromFailure(
  failure: Failure,
  exports: Record<string, unknown> | null,
): Error {
  const error = fromWireError(failure.error);
  // A class of the task's module, as Python unpickles one by its module.
  const Class = exports?.[error.name];
  if (
    error.constructor === Error && typeof Class === "function" &&
    Class.prototype instanceof Error
  ) Object.setPrototypeOf(error, Class.prototype);
  if (failure.props !== undefined) Object.assign(error, failure.props);
  return error;
}

let poolWorkers = 0;

/**
 * A pool of child processes that run tasks (Python's
 * `multiprocessing.Pool`).
 *
 * Each child holds a few tasks at a time and runs them in order; the pool
 * keeps the rest and hands them out as children answer, several per
 * message when tasks are short. A child that dies (`Deno.exit`, an uncaught
 * error outside a task, out of memory, killed) fails the task it was
 * running with a {@linkcode ProcessError} naming the exit code, its other
 * tasks go to other children, and a new child takes its place: every task
 * settles exactly once.
 *
 * Close the pool and join it, or terminate it (`await using` does so), to
 * end its children cleanly. A pool holds the program only while a task is
 * pending or a `join()` waits: one that was forgotten lets the program end
 * with its own exit code, and its children end with it (Python's pool
 * children are daemonic).
 *
 * @example Map over a list in two children
 * ```ts ignore
 * import { Pool } from "@mp/multiprocessing/pool";
 *
 * export function double(x: number) {
 *   return x * 2;
 * }
 *
 * if (import.meta.main) {
 *   await using pool = new Pool({ processes: 2 });
 *   console.log(await pool.map(double, [1, 2, 3])); // [ 2, 4, 6 ]
 * }
 * ```
 */
export class Pool {
  #processes: number;
  #startMethod: StartMethod;
  #module: string;
  #init: Omit<WorkerInit, "slot">;
  #maxTasks: number;
  #denoFlags: readonly string[] | undefined;
  #results: Queue<ResultMessage>;
  #slots = new Set<Slot>();
  /** Children not created yet (see `#startRest`). */
  #starting = 0;
  /** Whether a turn is awaited to create the next child. */
  #startAwaited = false;
  #onStarted: (() => void) | null = null;
  #answeredAny = false;
  #exits = new Set<Promise<void>>();
  /** Tasks to send, in order; those already taken are `undefined`. */
  #pending: (Task | undefined)[] = [];
  #pendingHead = 0;
  #queued = 0;
  /** Running imap loops, which may submit more after close(). */
  #iterating = 0;
  #sent = new Map<number, Task>();
  #nextId = 1;
  #closed = false;
  #terminated = false;
  #broken: Error | null = null;
  #strikes = 0;
  #averageRun = -1;
  #completed = 0;
  #failed = 0;
  #runTime = new Samples();
  #waitTime = new Samples();
  /**
   * Tasks submitted and not settled, and joins under way: while any, the
   * children (and the reader's wait for their results) keep the program
   * running; once none are left for `RELEASE_MS`, they let go of it.
   */
  #busy = 0;
  /**
   * Nothing is pending at first: a pool never used does not hold the
   * program. (Not let go of by a timer: a process's first timer costs
   * milliseconds, and would delay the first task.)
   */
  #held = false;
  /** Cancels the pending let-go (see `#idle`). */
  #cancelRelease: (() => void) | undefined;
  /** Ends the reader's wait: when it is let go of, and when joined. */
  #wait = readerWait();
  #readingStopped = false;
  #wakeReader: (() => void) | null = null;
  /** The task module's exports, to give errors their own class back. */
  #exports: Record<string, unknown> | null = null;
  /** Functions already checked, so a hot loop of `apply` reads no source. */
  #names = new WeakMap<object, string>();
  #reading: Promise<void>;
  /** The link to the remote workers of a `broker` pool; null until connected. */
  #link: BrokerPoolLink | null = null;
  #remote: boolean;
  /** Wakes `join()` of a broker pool once nothing is left to settle. */
  #onDrained: (() => void) | null = null;

  static {
    poolInternals.runUnit = (pool, unit, signal) =>
      (pool as Pool).#runUnit(unit, signal);
  }

  /**
   * Starts the children.
   *
   * @param options How many children, how to start them, and where the
   * task functions live.
   * @throws {RangeError} When `processes` or `maxTasksPerChild` is not an
   * integer greater than 0.
   * @throws {TypeError} When `initializer` is not an exported function, or
   * `initargs` cannot be cloned.
   * @throws {Deno.errors.NotCapable} When the `"subprocess"` start method
   * lacks `--allow-run`.
   */
  constructor(options: PoolOptions = {}) {
    const {
      processes = cpuCount(),
      startMethod = getStartMethod(),
      module = getDefaultModule(),
      initializer,
      initargs = [],
      maxTasksPerChild,
      denoFlags,
      broker,
      name = "default",
    } = options;
    this.#processes = validateCount(
      "processes",
      processes,
      "create the pool",
    );
    this.#maxTasks = maxTasksPerChild === undefined ? Infinity : validateCount(
      "maxTasksPerChild",
      maxTasksPerChild,
      "create the pool",
    );
    checkNotImporting("a pool");
    if (startMethod !== "worker" && startMethod !== "subprocess") {
      throw new TypeError(
        `Cannot create the pool with start method ${
          JSON.stringify(startMethod) ?? String(startMethod)
        }: use "worker" or "subprocess"`,
      );
    }
    this.#startMethod = startMethod;
    this.#module = new URL(module).href;
    this.#denoFlags = denoFlags;
    if (!Array.isArray(initargs)) {
      throw new TypeError(
        `Cannot create the pool as initargs is ${typeof initargs}: pass an array`,
      );
    }
    this.#init = { initargs, module: this.#module };
    if (initializer !== undefined) {
      this.#init.initializer = [this.#module, this.#nameOf(initializer)];
      encodeFrame(initargs, "initargs");
    }
    if (broker !== undefined) {
      validateQueueName(name);
      const local = initializer !== undefined
        ? "initializer"
        : maxTasksPerChild !== undefined
        ? "maxTasksPerChild"
        : denoFlags !== undefined
        ? "denoFlags"
        : null;
      if (local !== null) {
        throw new TypeError(
          `Cannot create the pool with both broker and ${local}: the children are the remote workers', started by worker.ts; drop ${local}`,
        );
      }
    }
    this.#remote = broker !== undefined;
    if (!this.#remote) {
      checkStartPermissions(startMethod, `the pool's ${startMethod} children`);
    }
    // The first child's worker comes before anything else is made (see
    // `#spawn`), even the result queue.
    const first = !this.#remote && startMethod === "worker"
      ? prestartWorker(`PoolWorker-${poolWorkers + 1}`, CHILD_ENTRY)
      : undefined;
    this.#results = new Queue<ResultMessage>();
    // The main module cannot be imported while it runs (it may be awaiting
    // this pool): its error classes arrive as Error with their name.
    if (this.#module !== Deno.mainModule) {
      import(this.#module).then(
        (exports) => this.#exports = exports,
        () => {},
      );
    }
    if (broker !== undefined) {
      this.#reading = this.#connect(broker, name);
      return;
    }
    this.#spawn(first);
    this.#starting = this.#processes - 1;
    if (this.#starting > 0) {
      const started = new Promise<void>((resolve) => this.#onStarted = resolve)
        .finally(() => this.#exits.delete(started));
      this.#exits.add(started);
      // Not yet: a first task submitted right after construction goes out
      // first, and holds the other children back until it is answered.
      queueMicrotask(() => this.#startRest());
    }
    this.#reading = this.#read();
  }

  /**
   * Runs `fn(...args)` in a child and waits for its result (Python's
   * `apply`).
   *
   * @typeParam A The function's parameter types.
   * @typeParam R The function's result type.
   * @param fn A function exported from the pool's `module`.
   * @param args Its arguments, sent by structured clone; primitives of this
   * package may appear anywhere inside.
   * @param options `signal` and `timeout` to cancel the task.
   * @returns The result.
   * @throws {TypeError} When `fn` is not exported or `args` cannot be cloned.
   * @throws {Error} When the pool is closed, or what the task threw.
   * @throws {ProcessError} When the child died while running the task.
   * @throws {TimeoutError} When `timeout` passed first.
   *
   * @example Usage
   * ```ts ignore
   * import { Pool } from "@mp/multiprocessing/pool";
   *
   * export function add(a: number, b: number) {
   *   return a + b;
   * }
   *
   * if (import.meta.main) {
   *   await using pool = new Pool({ processes: 1 });
   *   console.log(await pool.apply(add, [1, 2])); // 3
   * }
   * ```
   */
  apply<A extends unknown[], R>(
    fn: (...args: A) => R | Promise<R>,
    args?: A,
    options: SubmitOptions = {},
  ): Promise<Awaited<R>> {
    try {
      return this.#submitOne<R>(fn, args ?? [], options);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Runs `fn(...args)` in a child without waiting (Python's `apply_async`).
   *
   * @typeParam A The function's parameter types.
   * @typeParam R The function's result type.
   * @param fn A function exported from the pool's `module`.
   * @param args Its arguments, sent by structured clone.
   * @param options `callback` and `errorCallback`, `signal` and `timeout`.
   * @returns The pending result.
   * @throws {TypeError} When `fn` is not exported or `args` cannot be cloned
   * (nothing is submitted; the pool stays usable).
   * @throws {Error} When the pool is closed.
   *
   * @example Usage
   * ```ts ignore
   * import { Pool } from "@mp/multiprocessing/pool";
   *
   * export function add(a: number, b: number) {
   *   return a + b;
   * }
   *
   * if (import.meta.main) {
   *   await using pool = new Pool({ processes: 1 });
   *   const result = pool.applyAsync(add, [1, 2], {
   *     callback: (sum) => console.log("sum", sum), // sum 3
   *   });
   *   await result.wait();
   * }
   * ```
   */
  applyAsync<A extends unknown[], R>(
    fn: (...args: A) => R | Promise<R>,
    args?: A,
    options: ApplyAsyncOptions<Awaited<R>> = {},
  ): AsyncResult<Awaited<R>> {
    const promise = this.#submitOne<R>(fn, args ?? [], options);
    return this.#withCallbacks(promise, options);
  }

  /**
   * Runs `fn(item)` for every item in the children and waits for all the
   * results, in input order (Python's `map`). An input without a known
   * length is read whole first, as in Python; use `imap` to stream.
   *
   * @typeParam T The items' type.
   * @typeParam R The function's result type.
   * @param fn A function exported from the pool's `module`.
   * @param iterable The items; sync or async.
   * @param options `chunksize`, `signal` and `timeout`.
   * @returns The results.
   * @throws {RangeError} When `chunksize` is not an integer greater than 0.
   * @throws {Error} The first error a task threw; the rest is cancelled.
   *
   * @example Usage
   * ```ts ignore
   * import { Pool } from "@mp/multiprocessing/pool";
   *
   * export function square(x: number) {
   *   return x * x;
   * }
   *
   * if (import.meta.main) {
   *   await using pool = new Pool({ processes: 2 });
   *   console.log(await pool.map(square, [1, 2, 3])); // [ 1, 4, 9 ]
   * }
   * ```
   */
  map<T, R>(
    fn: (item: T) => R | Promise<R>,
    iterable: Iterable<T> | AsyncIterable<T>,
    options: MapOptions = {},
  ): Promise<Awaited<R>[]> {
    return this.#mapAll(fn, iterable, MAP, options);
  }

  /**
   * Like {@linkcode Pool.prototype.map}, without waiting (Python's
   * `map_async`).
   *
   * @typeParam T The items' type.
   * @typeParam R The function's result type.
   * @param fn A function exported from the pool's `module`.
   * @param iterable The items; sync or async.
   * @param options `chunksize`, `callback`, `errorCallback`, `signal` and
   * `timeout`.
   * @returns The pending results.
   * @throws {TypeError} When `fn` is not exported.
   * @throws {Error} When the pool is closed.
   *
   * @example Usage
   * ```ts ignore
   * import { Pool } from "@mp/multiprocessing/pool";
   *
   * export function square(x: number) {
   *   return x * x;
   * }
   *
   * if (import.meta.main) {
   *   await using pool = new Pool({ processes: 2 });
   *   console.log(await pool.mapAsync(square, [1, 2]).get()); // [ 1, 4 ]
   * }
   * ```
   */
  mapAsync<T, R>(
    fn: (item: T) => R | Promise<R>,
    iterable: Iterable<T> | AsyncIterable<T>,
    options: MapAsyncOptions<Awaited<R>> = {},
  ): AsyncResult<Awaited<R>[]> {
    return this.#mapAsync<R>(fn, iterable, MAP, options);
  }

  /**
   * Runs `fn(...args)` for every argument list and waits for the results,
   * in input order (Python's `starmap`).
   *
   * @typeParam A The function's parameter types.
   * @typeParam R The function's result type.
   * @param fn A function exported from the pool's `module`.
   * @param iterable The argument lists; sync or async.
   * @param options `chunksize`, `signal` and `timeout`.
   * @returns The results.
   * @throws {RangeError} When `chunksize` is not an integer greater than 0.
   * @throws {Error} The first error a task threw.
   *
   * @example Usage
   * ```ts ignore
   * import { Pool } from "@mp/multiprocessing/pool";
   *
   * export function add(a: number, b: number) {
   *   return a + b;
   * }
   *
   * if (import.meta.main) {
   *   await using pool = new Pool({ processes: 2 });
   *   console.log(await pool.starmap(add, [[1, 2], [3, 4]])); // [ 3, 7 ]
   * }
   * ```
   */
  starmap<A extends unknown[], R>(
    fn: (...args: A) => R | Promise<R>,
    iterable: Iterable<A> | AsyncIterable<A>,
    options: MapOptions = {},
  ): Promise<Awaited<R>[]> {
    return this.#mapAll(fn, iterable, STARMAP, options);
  }

  /**
   * Like {@linkcode Pool.prototype.starmap}, without waiting (Python's
   * `starmap_async`).
   *
   * @typeParam A The function's parameter types.
   * @typeParam R The function's result type.
   * @param fn A function exported from the pool's `module`.
   * @param iterable The argument lists; sync or async.
   * @param options `chunksize`, `callback`, `errorCallback`, `signal` and
   * `timeout`.
   * @returns The pending results.
   * @throws {TypeError} When `fn` is not exported.
   * @throws {Error} When the pool is closed.
   *
   * @example Usage
   * ```ts ignore
   * import { Pool } from "@mp/multiprocessing/pool";
   *
   * export function add(a: number, b: number) {
   *   return a + b;
   * }
   *
   * if (import.meta.main) {
   *   await using pool = new Pool({ processes: 2 });
   *   console.log(await pool.starmapAsync(add, [[1, 2]]).get()); // [ 3 ]
   * }
   * ```
   */
  starmapAsync<A extends unknown[], R>(
    fn: (...args: A) => R | Promise<R>,
    iterable: Iterable<A> | AsyncIterable<A>,
    options: MapAsyncOptions<Awaited<R>> = {},
  ): AsyncResult<Awaited<R>[]> {
    return this.#mapAsync<R>(fn, iterable, STARMAP, options);
  }

  /**
   * Runs `fn(item)` for every item and yields the results in input order
   * as they come (Python's `imap`). The input is read lazily, a bounded
   * number of chunks ahead; leaving the loop early stops reading it and
   * drops the tasks not yet running.
   *
   * @typeParam T The items' type.
   * @typeParam R The function's result type.
   * @param fn A function exported from the pool's `module`.
   * @param iterable The items; sync or async, of any length.
   * @param options `chunksize` (default 1), `signal` and `timeout`.
   * @returns The results, in order.
   * @throws {TypeError} When `fn` is not exported.
   * @throws {RangeError} When `chunksize` is not an integer greater than 0.
   * @throws {Error} When the pool is closed.
   *
   * @example Usage
   * ```ts ignore
   * import { Pool } from "@mp/multiprocessing/pool";
   *
   * export function square(x: number) {
   *   return x * x;
   * }
   *
   * if (import.meta.main) {
   *   await using pool = new Pool({ processes: 2 });
   *   for await (const y of pool.imap(square, [1, 2, 3])) console.log(y);
   * }
   * ```
   */
  imap<T, R>(
    fn: (item: T) => R | Promise<R>,
    iterable: Iterable<T> | AsyncIterable<T>,
    options: MapOptions = {},
  ): AsyncIterableIterator<Awaited<R>> {
    return this.#iterate(fn, iterable, MAP, true, options);
  }

  /**
   * Like {@linkcode Pool.prototype.imap}, yielding each result as soon as
   * it is ready, in any order (Python's `imap_unordered`).
   *
   * @typeParam T The items' type.
   * @typeParam R The function's result type.
   * @param fn A function exported from the pool's `module`.
   * @param iterable The items; sync or async, of any length.
   * @param options `chunksize` (default 1), `signal` and `timeout`.
   * @returns The results, in the order they finish.
   * @throws {TypeError} When `fn` is not exported.
   * @throws {RangeError} When `chunksize` is not an integer greater than 0.
   * @throws {Error} When the pool is closed.
   *
   * @example Usage
   * ```ts ignore
   * import { Pool } from "@mp/multiprocessing/pool";
   *
   * export function square(x: number) {
   *   return x * x;
   * }
   *
   * if (import.meta.main) {
   *   await using pool = new Pool({ processes: 2 });
   *   for await (const y of pool.imapUnordered(square, [1, 2, 3])) {
   *     console.log(y);
   *   }
   * }
   * ```
   */
  imapUnordered<T, R>(
    fn: (item: T) => R | Promise<R>,
    iterable: Iterable<T> | AsyncIterable<T>,
    options: MapOptions = {},
  ): AsyncIterableIterator<Awaited<R>> {
    return this.#iterate(fn, iterable, MAP, false, options);
  }

  /**
   * Accepts no more work; the children exit once every submitted task is
   * done (Python's `close`).
   *
   * @example Usage
   * ```ts ignore
   * import { Pool } from "@mp/multiprocessing/pool";
   *
   * export function one() {
   *   return 1;
   * }
   *
   * if (import.meta.main) {
   *   const pool = new Pool({ processes: 1 });
   *   pool.applyAsync(one);
   *   pool.close();
   *   await pool.join();
   * }
   * ```
   */
  close(): void {
    this.#closed = true;
    this.#stopIdle();
    this.#startRest();
  }

  /**
   * Stops every child at once (Python's `terminate`); work not yet done
   * fails with an error saying the pool was terminated.
   *
   * @example Usage
   * ```ts ignore
   * import { Pool } from "@mp/multiprocessing/pool";
   *
   * if (import.meta.main) {
   *   const pool = new Pool({ processes: 1 });
   *   pool.terminate();
   *   await pool.join();
   * }
   * ```
   */
  terminate(): void {
    if (this.#terminated) return;
    this.#closed = true;
    this.#terminated = true;
    const error = new Error(
      "Cannot finish the task as the pool was terminated",
    );
    this.#failAll(error);
    this.#stopStarting();
    for (const slot of this.#slots) {
      slot.stopping = true;
      slot.process.terminate();
    }
  }

  /**
   * Waits for every child to exit, after {@linkcode Pool.prototype.close}
   * or {@linkcode Pool.prototype.terminate} (Python's `join`).
   *
   * @throws {Error} When the pool is neither closed nor terminated.
   *
   * @example Usage
   * ```ts ignore
   * import { Pool } from "@mp/multiprocessing/pool";
   *
   * if (import.meta.main) {
   *   const pool = new Pool({ processes: 1 });
   *   pool.close();
   *   await pool.join();
   * }
   * ```
   */
  async join(): Promise<void> {
    if (!this.#closed) {
      throw new Error(
        "Cannot join the pool as it is still running: call close() or terminate() first",
      );
    }
    if (this.#remote) {
      await this.#reading;
      while (!this.#drained()) {
        await new Promise<void>((resolve) => this.#onDrained = resolve);
      }
      await this.#link?.close();
      this.#link = null;
      return;
    }
    this.#engage();
    try {
      // Children that die while the pool drains are replaced: wait for
      // those too.
      while (this.#exits.size > 0) await Promise.all(this.#exits);
      this.#readingStopped = true;
      this.#cancelRelease?.();
      this.#wait.abort();
      this.#wakeReader?.();
      await this.#reading;
    } finally {
      this.#disengage();
    }
  }

  /**
   * Reports the pool's load and timings.
   *
   * @returns Children alive and busy, tasks queued, completed and failed,
   * and run-time and wait-time percentiles in milliseconds.
   *
   * @example Usage
   * ```ts ignore
   * import { Pool } from "@mp/multiprocessing/pool";
   *
   * if (import.meta.main) {
   *   await using pool = new Pool({ processes: 2 });
   *   console.log(pool.stats().workers); // 2
   * }
   * ```
   */
  stats(): PoolStats {
    let busy = this.#remote ? this.#sent.size : 0;
    for (const slot of this.#slots) if (slot.inflight.length > 0) busy++;
    return {
      workers: this.#remote
        ? this.#link?.workers() ?? 0
        : this.#slots.size + this.#starting,
      busy,
      queued: this.#queued,
      completed: this.#completed,
      failed: this.#failed,
      runTime: this.#runTime.percentiles(),
      waitTime: this.#waitTime.percentiles(),
    };
  }

  /**
   * Terminates the pool and waits for its children, so `await using`
   * leaves nothing behind (Python's `with Pool() as pool`).
   *
   * @example Usage
   * ```ts ignore
   * import { Pool } from "@mp/multiprocessing/pool";
   *
   * if (import.meta.main) {
   *   await using pool = new Pool({ processes: 1 });
   * }
   * ```
   */
  async [Symbol.asyncDispose](): Promise<void> {
    this.terminate();
    await this.join();
  }

  // --- submitting -------------------------------------------------------

  #checkOpen(): void {
    if (this.#broken !== null) throw this.#brokenError();
    if (this.#closed) {
      throw new Error("Cannot submit to the pool as it is closed");
    }
  }

  #brokenError(): Error {
    if (this.#remote) return this.#broken!;
    return new Error(
      "Cannot run the task as the pool is broken: its children fail before running any task",
      { cause: this.#broken },
    );
  }

  #nameOf(fn: unknown): string {
    const known = typeof fn === "function" ? this.#names.get(fn) : undefined;
    if (known !== undefined) return known;
    if (typeof fn !== "function") {
      throw new TypeError(
        `Cannot submit ${typeof fn} to the pool: pass a function exported from ${this.#module}`,
      );
    }
    const name = exportedName(fn, this.#module, {
      role: "the function",
      action: "submit to the pool",
      option: "the pool's `module`",
    });
    this.#names.set(fn, name);
    return name;
  }

  /** Starts watching a call's signal and timeout; the caller adds tasks. */
  /** Whether the buffers listed in `transfer` move (and are valid). */
  #moves(transfer: unknown): boolean {
    validateTransfer(transfer);
    return (transfer as unknown[]).length > 0 && !this.#remote &&
      this.#startMethod === "worker";
  }

  #call(options: SubmitOptions): Call {
    const { signal, timeout = Infinity, transfer = [] } = options;
    validateTimeout(timeout);
    const moves = this.#moves(transfer);
    signal?.throwIfAborted();
    const call: Call = {
      tasks: new Set(),
      dispose: () => {},
      transfer: moves ? new Set(transfer) : null,
    };
    if (signal === undefined && timeout === Infinity) return call;
    const abort = (reason: unknown) => {
      call.dispose();
      for (const task of [...call.tasks]) this.#cancel(task, reason, true);
    };
    const onAbort = () => abort(signal!.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    const cancelTimer = setLongTimeout(
      () =>
        abort(
          new TimeoutError(
            `Cannot finish the task as it did not finish within ${timeout} ms`,
          ),
        ),
      timeout,
    );
    call.dispose = () => {
      cancelTimer();
      signal?.removeEventListener("abort", onAbort);
    };
    return call;
  }

  #submitOne<R>(
    fn: (...args: never[]) => unknown,
    args: unknown[],
    options: SubmitOptions,
  ): Promise<Awaited<R>> {
    this.#checkOpen();
    const name = this.#nameOf(fn);
    if (!Array.isArray(args)) {
      throw new TypeError(
        `Cannot submit to the pool as args is ${typeof args}: pass an array`,
      );
    }
    // Checked here, so the caller hears of it and nothing is submitted;
    // without copying buffers that are to move.
    if (this.#moves(options.transfer ?? [])) reduce(args, "worker", "args");
    else if (!args.every(isPrimitive)) {
      const frame = encodeFrame(args, "args");
      if (this.#remote && frame[0] === REDUCED) {
        throw new TypeError(LOCAL_ONLY);
      }
    }
    const call = this.#call(options);
    return new Promise<Awaited<R>>((resolve, reject) => {
      const task = this.#task(call, name, APPLY, args, (error, value) => {
        call.dispose();
        if (error === null) resolve(value as Awaited<R>);
        else reject(error);
      });
      this.#enqueue(task);
      this.#dispatch();
    });
  }

  #mapAsync<R>(
    fn: (...args: never[]) => unknown,
    iterable: Iterable<unknown> | AsyncIterable<unknown>,
    kind: typeof MAP | typeof STARMAP,
    options: MapAsyncOptions<Awaited<R>>,
  ): AsyncResult<Awaited<R>[]> {
    this.#checkOpen();
    this.#nameOf(fn);
    return this.#withCallbacks(
      this.#mapAll<R>(fn, iterable, kind, options),
      options,
    );
  }

  #withCallbacks<R>(
    promise: Promise<R>,
    options: {
      callback?: (result: R) => void;
      errorCallback?: (error: Error) => void;
    },
  ): AsyncResult<R> {
    const { callback, errorCallback } = options;
    promise.then(
      (value) => callback?.(value),
      (error) => errorCallback?.(error),
    );
    return new AsyncResult(promise);
  }

  #task(
    call: Call,
    name: string,
    kind: Unit[3],
    payload: unknown[],
    settle: Task["settle"],
  ): Task {
    const task: Task = {
      unit: [this.#nextId++, this.#module, name, kind, payload],
      state: QUEUED,
      slot: null,
      submitted: now(),
      settle: (error, value, partial) => {
        if (call.tasks.delete(task)) this.#disengage();
        settle(error, value, partial);
      },
    };
    this.#engage();
    if (call.transfer !== null) {
      const moved = buffersIn(payload, call.transfer);
      if (moved.length > 0) task.transfer = moved;
    }
    call.tasks.add(task);
    return task;
  }

  #chunksizeOf(options: MapOptions, fallback: () => number): number {
    const { chunksize } = options;
    if (chunksize === undefined) return fallback();
    return validateCount("chunksize", chunksize, "map over the items");
  }

  async #mapAll<R>(
    fn: (...args: never[]) => unknown,
    iterable: Iterable<unknown> | AsyncIterable<unknown>,
    kind: typeof MAP | typeof STARMAP,
    options: MapOptions,
  ): Promise<Awaited<R>[]> {
    this.#checkOpen();
    const name = this.#nameOf(fn);
    const items = Array.isArray(iterable)
      ? iterable
      : isAsyncIterable(iterable)
      ? await Array.fromAsync(iterable)
      : isIterable(iterable)
      ? Array.from(iterable)
      : notIterable(iterable);
    // Python's rule, about four chunks per child, with chunks of at most
    // MAX_CHUNK items: a long input then goes in more of them, so children
    // start sooner and the last chunk ends sooner (1M numbers: 1.2× faster).
    const chunksize = this.#chunksizeOf(
      options,
      () =>
        Math.max(
          1,
          Math.min(
            MAX_CHUNK,
            Math.ceil(items.length / (this.#processes * 4)),
          ),
        ),
    );
    this.#checkOpen();
    const call = this.#call(options);
    if (items.length === 0) {
      call.dispose();
      return [];
    }
    return await new Promise<Awaited<R>[]>((resolve, reject) => {
      let left = Math.ceil(items.length / chunksize);
      let failed = false;
      // Each chunk's results as they came, joined once at the end.
      const parts: Awaited<R>[][] = new Array(left);
      for (let start = 0; start < items.length; start += chunksize) {
        const part = start / chunksize;
        const chunk = items.slice(start, start + chunksize);
        const task = this.#task(call, name, kind, chunk, (error, values) => {
          if (failed) return;
          if (error !== null) {
            failed = true;
            call.dispose();
            // The first error settles the map; the rest is not wanted.
            for (const other of [...call.tasks]) {
              this.#cancel(other, error, false);
            }
            reject(error);
            return;
          }
          parts[part] = values as Awaited<R>[];
          if (--left === 0) {
            call.dispose();
            resolve(parts.length === 1 ? parts[0]! : joinParts(parts));
          }
        });
        this.#enqueue(task);
      }
      this.#dispatch();
    });
  }

  #iterate<R>(
    fn: (...args: never[]) => unknown,
    iterable: Iterable<unknown> | AsyncIterable<unknown>,
    kind: typeof MAP | typeof STARMAP,
    ordered: boolean,
    options: MapOptions,
  ): AsyncIterableIterator<Awaited<R>> {
    this.#checkOpen();
    const name = this.#nameOf(fn);
    const chunksize = this.#chunksizeOf(options, () => 1);
    const call = this.#call(options);
    let sync: Iterator<unknown> | null = null;
    let async: AsyncIterator<unknown> | null = null;
    if (isAsyncIterable(iterable)) {
      async = iterable[Symbol.asyncIterator]();
    } else if (isIterable(iterable)) sync = iterable[Symbol.iterator]();
    else {
      call.dispose();
      notIterable(iterable);
    }
    return this.#results_(
      name,
      kind,
      ordered,
      chunksize,
      call,
      sync,
      async,
    ) as AsyncIterableIterator<Awaited<R>>;
  }

  async *#results_(
    name: string,
    kind: typeof MAP | typeof STARMAP,
    ordered: boolean,
    chunksize: number,
    call: Call,
    sync: Iterator<unknown> | null,
    async: AsyncIterator<unknown> | null,
  ): AsyncGenerator<unknown> {
    // Bounded read-ahead: enough chunks to keep every child's window full,
    // refilled once half are taken, so that they go out many per message
    // (one by one, each cost a subprocess child a round trip to get): 64
    // small chunks a child, down to 16 large ones, so at most 16 chunks or
    // 4,096 items a child, whichever is more.
    const perChild = Math.min(64, Math.max(16, Math.floor(4096 / chunksize)));
    const limit = Math.max(4, this.#processes * perChild);
    const refill = limit / 2;
    type Done = { error: Error | null; values: unknown[] };
    const done = new Map<number, Done>();
    const arrivals: Done[] = [];
    let submitted = 0;
    let yielded = 0;
    let inputDone = false;
    let wake: (() => void) | null = null;
    const pull = async (): Promise<unknown[]> => {
      const chunk: unknown[] = [];
      while (chunk.length < chunksize) {
        const next = sync !== null ? sync.next() : await async!.next();
        if (next.done) {
          inputDone = true;
          break;
        }
        chunk.push(next.value);
      }
      return chunk;
    };
    this.#iterating++;
    try {
      for (;;) {
        let added = false;
        const low = submitted - yielded <= refill;
        while (low && !inputDone && submitted - yielded < limit) {
          const chunk = await pull();
          if (chunk.length === 0) break;
          if (this.#broken !== null) throw this.#brokenError();
          if (this.#terminated) {
            throw new Error(
              "Cannot finish the task as the pool was terminated",
            );
          }
          const seq = submitted++;
          const task = this.#task(
            call,
            name,
            kind,
            chunk,
            (error, values, partial) => {
              const result: Done = {
                error,
                values: (error === null ? values : partial) as unknown[] ??
                  [],
              };
              if (ordered) done.set(seq, result);
              else arrivals.push(result);
              const resume = wake;
              wake = null;
              resume?.();
            },
          );
          this.#enqueue(task);
          added = true;
        }
        if (added) this.#dispatch();
        const next = ordered ? done.get(yielded) : arrivals.shift();
        if (next !== undefined) {
          if (ordered) done.delete(yielded);
          yielded++;
          yield* next.values;
          if (next.error !== null) throw next.error;
          continue;
        }
        if (inputDone && submitted === yielded) return;
        await new Promise<void>((resolve) => wake = resolve);
      }
    } finally {
      this.#iterating--;
      call.dispose();
      const reason = new Error("The iteration ended before the task ran");
      for (const task of [...call.tasks]) this.#cancel(task, reason, false);
      this.#stopIdle();
      if (!inputDone) {
        if (sync !== null) sync.return?.();
        else await async?.return?.();
      }
    }
  }

  // --- scheduling -------------------------------------------------------

  #enqueue(task: Task): void {
    this.#pending.push(task);
    this.#queued++;
  }

  /** Puts tasks a dead child held back at the front, in their order. */
  #requeue(tasks: Task[]): void {
    if (tasks.length === 0) return;
    const rest = this.#pending.slice(this.#pendingHead);
    this.#pending = [...tasks, ...rest];
    this.#pendingHead = 0;
    for (const task of tasks) {
      task.state = QUEUED;
      task.slot = null;
    }
    this.#queued += tasks.length;
  }

  #nextPending(): Task | undefined {
    while (this.#pendingHead < this.#pending.length) {
      const task = this.#pending[this.#pendingHead]!;
      // Let go of it: a taken task would live on with its arguments (and be
      // copied by every young-generation collection) until the list is cut.
      this.#pending[this.#pendingHead++] = undefined;
      if (this.#pendingHead === this.#pending.length) {
        this.#pending = [];
        this.#pendingHead = 0;
      } else if (
        this.#pendingHead > 1024 && this.#pendingHead * 2 > this.#pending.length
      ) {
        this.#pending = this.#pending.slice(this.#pendingHead);
        this.#pendingHead = 0;
      }
      if (task.state === QUEUED) return task;
    }
    return undefined;
  }

  #window(): number {
    // While children are still to come, one task each: a second waits for
    // them (and has them started) instead of queuing behind the first.
    if (this.#starting > 0) return 1;
    if (this.#averageRun < 0) return 2;
    const fit = Math.floor(WINDOW_MS / Math.max(this.#averageRun, 0.001));
    // At least one task waits behind the running one, so a child never
    // idles while its next task crosses.
    return Math.max(2, Math.min(MAX_WINDOW, fit));
  }

  /** Hands queued tasks to children with room, a batch per child. */
  #dispatch(): void {
    if (this.#queued === 0) return;
    if (this.#remote) return this.#sendRemote();
    if (this.#queued === 1 && this.#sendToIdle()) return;
    const window = this.#window();
    // A child is refilled once half its window is done, so short tasks go
    // out many per message.
    const low = window <= 2 ? window - 1 : Math.floor(window / 2);
    const open: Slot[] = [];
    for (const slot of this.#slots) {
      if (
        !slot.stopping && slot.inflight.length <= low &&
        slot.sent < this.#maxTasks
      ) open.push(slot);
    }
    if (open.length === 0) return this.#startRest();
    open.sort((a, b) => a.inflight.length - b.inflight.length);
    const batches = open.map(() => [] as Task[]);
    // Round robin, so a few long tasks spread over all children.
    let placed = true;
    while (placed && this.#queued > 0) {
      placed = false;
      for (let i = 0; i < open.length && this.#queued > 0; i++) {
        const slot = open[i]!;
        const batch = batches[i]!;
        if (
          slot.inflight.length + batch.length >= window ||
          slot.sent + batch.length >= this.#maxTasks
        ) continue;
        const task = this.#nextPending();
        if (task === undefined) break;
        this.#queued--;
        batch.push(task);
        placed = true;
      }
    }
    // A message at a time to each child in turn, so the first child starts
    // while the others' work is still being encoded.
    const messages = batches.map(splitByWeight);
    for (let round = 0, sent = true; sent; round++) {
      sent = false;
      for (let i = 0; i < open.length; i++) {
        const message = messages[i]![round];
        if (message === undefined) continue;
        this.#send(open[i]!, message);
        sent = true;
      }
    }
    if (this.#queued > 0) this.#startRest();
  }

  /** The one queued task to a child with nothing in flight, if one is. */
  #sendToIdle(): boolean {
    for (const slot of this.#slots) {
      if (
        slot.stopping || slot.inflight.length > 0 ||
        slot.sent >= this.#maxTasks
      ) continue;
      const task = this.#nextPending();
      if (task === undefined) return false;
      this.#queued--;
      this.#send(slot, [task]);
      return true;
    }
    return false;
  }

  #send(slot: Slot, tasks: Task[]): void {
    const batch = tasks.filter((task) =>
      task.transfer === undefined || this.#post(slot, task)
    );
    // A lone task while nothing else is out: its caller likely awaits it.
    const awaited = batch.length === 1 && this.#sent.size === 0;
    try {
      slot.tasks.putNowait(batch.map((task) => unitOf(task, awaited)));
      for (const task of batch) this.#sentTo(slot, task);
    } catch {
      // One of them cannot be cloned: send the rest one by one, failing
      // only that one.
      for (const task of batch) {
        try {
          slot.tasks.putNowait([unitOf(task)]);
          this.#sentTo(slot, task);
        } catch (error) {
          this.#failed++;
          task.state = DONE;
          task.settle(error as Error, undefined);
        }
      }
    }
    if (slot.sent >= this.#maxTasks) slot.stopping = true;
    this.#stopIdle();
  }

  /**
   * Moves a task's payload and buffers to a worker child by message; its
   * unit then says to take them. A payload that cannot be cloned fails the
   * task alone.
   */
  #post(slot: Slot, task: Task): boolean {
    const handle = childHandles.get(slot.process);
    if (handle?.post === undefined) return true;
    try {
      const { value, reduced } = reduce(task.unit[4], "worker", "args");
      handle.post(task.unit[0], { payload: value, reduced }, task.transfer!);
      task.posted = true;
      return true;
    } catch (error) {
      this.#failed++;
      task.state = DONE;
      task.settle(error as Error, undefined);
      return false;
    }
  }

  #sentTo(slot: Slot, task: Task): void {
    task.state = SENT;
    task.slot = slot;
    slot.inflight.push(task);
    slot.sent++;
    this.#sent.set(task.unit[0], task);
    this.#resumeReader();
  }

  /** Cancels a task; a running one has its child terminated when `kill`. */
  #cancel(task: Task, reason: unknown, kill: boolean): void {
    if (task.state === DONE) return;
    if (task.state === QUEUED) this.#queued--;
    else if (this.#remote) this.#unsend(task);
    const slot = task.slot;
    task.state = DONE;
    this.#failed++;
    task.settle(reason as Error, undefined);
    if (kill && slot !== null && slot.inflight[0] === task && !slot.killed) {
      slot.killed = true;
      slot.stopping = true;
      slot.process.terminate();
    }
  }

  #failAll(error: Error): void {
    for (const task of this.#pending.slice(this.#pendingHead)) {
      this.#cancel(task!, error, false);
    }
    this.#pending = [];
    this.#pendingHead = 0;
    for (const slot of this.#slots) {
      for (const task of slot.inflight) this.#cancel(task, error, false);
    }
    for (const task of [...this.#sent.values()]) {
      this.#cancel(task, error, false);
    }
  }

  /** Tells idle children to exit once the pool is closed and drained. */
  #stopIdle(): void {
    if (this.#drained()) {
      const wake = this.#onDrained;
      this.#onDrained = null;
      wake?.();
    }
    for (const slot of this.#slots) {
      const done = this.#closed && this.#queued === 0 &&
        this.#iterating === 0;
      if (slot.inflight.length > 0 || slot.killed) continue;
      if ((done || slot.sent >= this.#maxTasks) && !slot.told) {
        slot.stopping = true;
        slot.told = true;
        slot.tasks.putNowait(null);
      }
    }
  }

  // --- holding the program ----------------------------------------------

  /** One more thing pending: the children hold the program again. */
  #engage(): void {
    this.#busy++;
    if (this.#held) return;
    this.#held = true;
    for (const slot of this.#slots) childHandles.get(slot.process)?.hold(true);
    this.#resumeReader();
  }

  #resumeReader(): void {
    const wake = this.#wakeReader;
    this.#wakeReader = null;
    wake?.();
  }

  /** One thing fewer pending; with none left, let go of the program soon. */
  #disengage(): void {
    if (--this.#busy > 0 || this.#cancelRelease !== undefined) return;
    // A joined pool has nothing left to let go of.
    if (this.#readingStopped) return;
    this.#idle();
  }

  #idle(): void {
    // Not at once: a caller awaiting tasks one by one submits the next
    // right after each result, and would toggle every child each time.
    this.#cancelRelease = unrefDelay(() => this.#release(), RELEASE_MS);
  }

  #release(): void {
    this.#cancelRelease = undefined;
    if (this.#busy > 0 || !this.#held) return;
    this.#held = false;
    for (const slot of this.#slots) childHandles.get(slot.process)?.hold(false);
    const wait = this.#wait;
    this.#wait = readerWait();
    wait.abort();
  }

  // --- children ---------------------------------------------------------

  /** Starts a child, in the worker `prestarted` for it if there is one. */
  #spawn(prestarted?: Worker): void {
    const number = ++poolWorkers;
    const name = `PoolWorker-${number}`;
    // First: the worker loads its modules while the rest is made here.
    const worker = prestarted ??
      (this.#startMethod === "worker"
        ? prestartWorker(name, CHILD_ENTRY)
        : undefined);
    try {
      this.#start(number, name, worker);
    } catch (error) {
      worker?.terminate();
      throw error;
    }
  }

  #start(number: number, name: string, worker: Worker | undefined): void {
    const tasks = new Queue<TaskMessage>();
    const init: WorkerInit = { ...this.#init, slot: number };
    const process = new Process({
      target: poolWorker,
      args: [tasks, this.#results, init],
      module: WORKER_MODULE,
      startMethod: this.#startMethod,
      name,
      ...(this.#denoFlags === undefined ? {} : { denoFlags: this.#denoFlags }),
    });
    // The task module loads while the child sets up, not after.
    childSetups.set(process, {
      preload: [this.#module],
      ...(worker === undefined ? {} : { worker }),
    });
    const slot: Slot = {
      process: process as unknown as Process,
      tasks,
      inflight: [],
      sent: 0,
      answered: 0,
      stopping: false,
      killed: false,
      told: false,
    };
    process.start();
    if (!this.#held) childHandles.get(process)?.hold(false);
    this.#slots.add(slot);
    const exit: Promise<void> = process.join().then((code) =>
      this.#onExit(slot, code ?? -1)
    ).finally(() => this.#exits.delete(exit));
    this.#exits.add(exit);
  }

  /**
   * Starts the children after the first, one per turn of the event loop.
   * Creating a worker blocks this thread for several milliseconds, so while
   * the first child holds an unanswered task and nothing waits, they wait
   * for that answer: it is read first, not after the creations.
   */
  #startRest(): void {
    if (this.#starting === 0 || this.#startAwaited || !this.#startsNow()) {
      return;
    }
    this.#startAwaited = true;
    // A turn, not a timer: this is most often reached with a first result,
    // which would wait for the milliseconds a process's first timer costs.
    nextTurn().then(() => {
      if (!this.#startAwaited) return;
      this.#startAwaited = false;
      if (!this.#startsNow()) return;
      this.#starting--;
      this.#spawn();
      this.#dispatch();
      if (this.#starting > 0) this.#startRest();
      else this.#stopStarting();
    });
  }

  /**
   * Whether to create the next child now: not while a first answer is on
   * its way and nothing waits; never once no more are needed (a pool
   * terminated, broken, or closed with nothing left to run).
   */
  #startsNow(): boolean {
    const idle = this.#closed && this.#queued === 0 && this.#iterating === 0;
    if (this.#terminated || this.#broken !== null || idle) {
      this.#stopStarting();
      return false;
    }
    return this.#answeredAny || this.#queued > 0 || this.#sent.size === 0;
  }

  /** Gives up the children not created yet. */
  #stopStarting(): void {
    this.#startAwaited = false;
    this.#starting = 0;
    const done = this.#onStarted;
    this.#onStarted = null;
    done?.();
  }

  async #onExit(slot: Slot, code: number): Promise<void> {
    // Whatever it answered before it died is read first; one turn lets a
    // result the reader had already taken be handled too.
    this.#drain();
    await new Promise((resolve) => setTimeout(resolve, 0));
    this.#drain();
    this.#slots.delete(slot);
    const held = slot.inflight;
    slot.inflight = [];
    for (const task of held) this.#sent.delete(task.unit[0]);
    const running = held[0];
    const rest: Task[] = [];
    for (const task of held) {
      if (task.state === DONE) continue;
      if (task.posted === true && task !== running) {
        // Its payload and buffers went to the dead child: nothing is left
        // to run it with.
        task.state = DONE;
        this.#failed++;
        task.settle(
          new ProcessError(
            `Cannot run the task as pool worker ${slot.process.name} died with exit code ${code} holding the buffers transferred to it`,
            { exitCode: code },
          ),
          undefined,
        );
      } else if (task === running && !slot.killed) {
        task.state = DONE;
        this.#failed++;
        task.settle(
          new ProcessError(
            `Cannot finish the task as pool worker ${slot.process.name} died with exit code ${code}`,
            { exitCode: code },
          ),
          undefined,
        );
      } else rest.push(task);
    }
    this.#requeue(rest);
    if (
      slot.answered === 0 && held.length === 0 && !slot.told &&
      !slot.killed && !this.#terminated
    ) {
      if (++this.#strikes >= MAX_STRIKES && this.#broken === null) {
        this.#break(
          new ProcessError(
            `Pool worker ${slot.process.name} exited with code ${code} before running any task`,
            { exitCode: code },
          ),
        );
      }
    }
    const needed = !this.#closed || this.#queued > 0 ||
      this.#iterating > 0;
    if (!this.#terminated && this.#broken === null && needed) this.#spawn();
    this.#dispatch();
    this.#stopIdle();
    this.#startRest();
  }

  #break(error: Error): void {
    this.#broken = error;
    this.#closed = true;
    this.#failAll(this.#brokenError());
    this.#stopStarting();
    for (const slot of this.#slots) {
      slot.stopping = true;
      slot.process.terminate();
    }
  }

  // --- results ----------------------------------------------------------

  async #read(): Promise<void> {
    while (!this.#readingStopped) {
      if (!this.#held || this.#sent.size === 0) {
        // Waiting would keep the program running: results are read once
        // something is pending again. And nothing comes back before a task
        // goes out: a wait begun now would spin while the caller's next
        // task is still on its way, and then sleep through its answer.
        await new Promise<void>((resolve) => this.#wakeReader = resolve);
        continue;
      }
      const wait = this.#wait;
      let message: ResultMessage;
      try {
        message = await this.#results.get({ signal: wait.signal });
      } catch {
        if (wait.signal.aborted) continue;
        return;
      }
      this.#handle(message);
      this.#drain();
      this.#dispatch();
      this.#stopIdle();
      this.#startRest();
    }
  }

  #drain(): void {
    // Asked first: an EmptyError costs a stack trace each time.
    while (this.#results.qsize() > 0) {
      let message: ResultMessage;
      try {
        message = this.#results.getNowait();
      } catch {
        return;
      }
      this.#handle(message);
    }
  }

  #handle(message: ResultMessage): void {
    if (message[0] === "init") {
      if (this.#broken === null) {
        this.#break(fromFailure(message[2], this.#exports));
      }
      return;
    }
    this.#answeredAny = true;
    const outcome = message as Outcome;
    const id = outcome[0];
    const task = this.#sent.get(id);
    // Unknown: a duplicate of a redelivered task, or one cancelled.
    if (task === undefined) return;
    this.#sent.delete(id);
    const slot = task.slot;
    if (slot !== null) {
      const at = slot.inflight[0] === task ? 0 : slot.inflight.indexOf(task);
      if (at >= 0) slot.inflight.splice(at, 1);
      slot.answered++;
    }
    this.#strikes = 0;
    const ran = outcome[4];
    this.#runTime.add(ran);
    this.#waitTime.add(Math.max(0, outcome[3] - task.submitted));
    this.#averageRun = this.#averageRun < 0
      ? ran
      : this.#averageRun * 0.8 + ran * 0.2;
    if (task.state === DONE) return;
    task.state = DONE;
    if (outcome[1] === 1) {
      this.#completed++;
      task.settle(null, outcome[2], undefined, outcome);
    } else {
      this.#failed++;
      task.settle(
        fromFailure(outcome[2], this.#exports),
        undefined,
        outcome[5],
        outcome,
      );
    }
  }

  // --- remote workers (a broker) ----------------------------------------

  #drained(): boolean {
    return this.#closed && this.#queued === 0 && this.#sent.size === 0 &&
      this.#iterating === 0;
  }

  async #connect(broker: Broker, name: string): Promise<void> {
    try {
      this.#link = await broker.connectPool(name, {
        results: (body) => this.#onRemoteResults(body),
        reset: () => this.#resend(),
        lost: (error) => this.#break(error),
      });
    } catch (error) {
      this.#break(error as Error);
      return;
    }
    if (this.#terminated) return;
    this.#dispatch();
    this.#stopIdle();
  }

  /**
   * Forgets a sent remote task: an entry none of whose tasks is wanted any
   * more is taken back before a worker takes it; a worker that runs it is
   * told to stop it, and what it answers is dropped.
   */
  #unsend(task: Task): void {
    this.#sent.delete(task.unit[0]);
    this.#link?.cancel([task.unit[0]]);
    const entry = task.entry;
    if (entry !== undefined && ++entry.cancelled === entry.size) entry.drop();
  }

  /** Sends every queued task, several to an entry when many wait. */
  #sendRemote(): void {
    if (this.#link === null) return;
    const batch: Task[] = [];
    for (let task = this.#nextPending(); task; task = this.#nextPending()) {
      this.#queued--;
      task.state = SENT;
      this.#sent.set(task.unit[0], task);
      batch.push(task);
    }
    this.#sendEntries(batch);
  }

  #sendEntries(batch: Task[]): void {
    // Packed when many wait, so short tasks cost a few stream entries,
    // yet spread: at least four entries per planned process.
    const perEntry = Math.max(
      1,
      Math.min(64, Math.floor(batch.length / (this.#processes * 4))),
    );
    for (let at = 0; at < batch.length; at += perEntry) {
      const tasks = batch.slice(at, at + perEntry);
      try {
        this.#entry(tasks, remoteBody(tasks.map((task) => task.unit)));
      } catch {
        // One of them cannot be encoded: send the rest one by one, failing
        // only that one.
        for (const task of tasks) {
          try {
            this.#entry([task], remoteBody([task.unit]));
          } catch (error) {
            this.#cancel(task, error, false);
          }
        }
      }
    }
  }

  #entry(tasks: Task[], body: Uint8Array): void {
    const entry = { size: tasks.length, cancelled: 0, drop: () => {} };
    entry.drop = this.#link!.send(body);
    for (const task of tasks) task.entry = entry;
  }

  /** The broker lost the tasks it held (a restart): send what is unanswered. */
  #resend(): void {
    this.#sendEntries([...this.#sent.values()]);
  }

  #onRemoteResults(body: Uint8Array): void {
    let outcomes: Outcome[];
    try {
      outcomes = decode(body) as Outcome[];
    } catch {
      return;
    }
    if (!Array.isArray(outcomes)) return;
    for (const outcome of outcomes) {
      if (Array.isArray(outcome) && typeof outcome[0] === "number") {
        this.#handle(outcome);
      }
    }
    this.#stopIdle();
  }

  /** Runs a unit a remote worker took; its own id goes back with it. */
  #runUnit(unit: Unit, signal: AbortSignal): Promise<Outcome> {
    const [remoteId, , name, kind, payload] = unit;
    const call = this.#call({ signal });
    return new Promise((resolve) => {
      const started = now();
      const task = this.#task(
        call,
        name,
        kind,
        payload,
        (error, value, partial, outcome) => {
          if (outcome !== undefined) {
            const own = [...outcome] as Outcome;
            own[0] = remoteId;
            resolve(own);
          } else if (error === null) {
            resolve([remoteId, 1, value, started, now() - started]);
          } else {
            const failed: Outcome = [
              remoteId,
              0,
              toFailure(error),
              started,
              now() - started,
            ];
            if (partial !== undefined) failed.push(partial);
            resolve(failed);
          }
        },
      );
      this.#enqueue(task);
      this.#dispatch();
    });
  }
}

const LOCAL_ONLY =
  "Cannot send the task to remote workers as its arguments hold a queue, lock or other primitive of this package: those live in one process tree; pass plain data";

/** A broker entry's bytes: the package codec, without this host's primitives. */
function remoteBody(units: Unit[]): Uint8Array {
  const frame = encodeFrame(units, "args");
  if (frame[0] === REDUCED) throw new TypeError(LOCAL_ONLY);
  return frame.subarray(1);
}

function notIterable(value: unknown): never {
  throw new TypeError(
    `Cannot map over ${typeof value} as it is not iterable: pass an array, an iterable or an async iterable`,
  );
}

/**
 * Fails early, naming the flag, when the children cannot start: else each
 * would fail on its own, inside the child.
 */
