// Copyright 2026 the @mp/multiprocessing authors. MIT license.
/**
 * {@linkcode Queue}, {@linkcode JoinableQueue} and {@linkcode SimpleQueue}:
 * Python's process-safe FIFO queues. Any number of producers and consumers,
 * in the parent and in children of either start method at once; every item
 * is delivered exactly once, the items of one producer in the order put, and
 * an item may be of any size.
 *
 * Between the parent and its worker children, items move through a ring in
 * a `SharedArrayBuffer`; a subprocess child's operations travel to the
 * queue's owner (the process that created it), which applies them.
 *
 * @example Get a value from a child
 * ```ts ignore
 * import { Process } from "@mp/multiprocessing/process";
 * import { Queue } from "@mp/multiprocessing/queue";
 *
 * export function run(q: Queue<[string, number]>) {
 *   q.put(["xiaoming", 12]);
 * }
 *
 * if (import.meta.main) {
 *   const q = new Queue<[string, number]>();
 *   const p = new Process({ target: run, args: [q] });
 *   p.start();
 *   console.log(await q.get()); // [ "xiaoming", 12 ]
 *   await p.join();
 * }
 * ```
 *
 * @module
 */
import {
  LocalCore,
  QUEUE,
  type QueueCore,
  type QueueShared,
  ViaOwner,
} from "./_queue_core.ts";
import {
  decodeFrame,
  decodeFrameFully,
  encodeFrame,
  rebuiltSync,
} from "./_frame.ts";
import { adopted, Shared } from "./_shared.ts";
import { validateTimeout } from "./_util.ts";
import { ShutDownError } from "./errors.ts";

/** Options for {@linkcode Queue}. */
export interface QueueOptions {
  /**
   * How many items the queue holds before `put` waits; 0 or less means no
   * limit.
   *
   * @default {0}
   */
  maxsize?: number;
}

/** Options for the waiting calls of a queue. */
export interface QueueWaitOptions {
  /**
   * How long to wait, in milliseconds, before rejecting with
   * `FullError`/`EmptyError`.
   *
   * @default {Infinity}
   */
  timeout?: number;
  /** Stops waiting, rejecting with `signal.reason`. */
  signal?: AbortSignal;
}

/** Options for {@linkcode Queue.prototype.shutdown}. */
export interface ShutdownOptions {
  /**
   * Drop the items still in the queue, so `get` rejects at once.
   *
   * @default {false}
   */
  immediate?: boolean;
}

// Reads a queue's shared object from outside the class, for subclasses and
// reduction.
let sharedOf: (queue: Queue<unknown>) => QueueShared;

// The queue keeps `maxsize` in a 32-bit word of shared memory.
const MAX_MAXSIZE = 2 ** 31 - 1;

/**
 * A FIFO queue shared between processes (Python's
 * `multiprocessing.Queue`).
 *
 * Pass it to children in `args`, or inside an item of another queue. `put`
 * returns once the item is in the queue — it does not wait for a consumer —
 * and a child's pending items are delivered before it exits, even when
 * nothing awaited the `put`.
 *
 * @typeParam T The type of the items.
 *
 * @example Producer and consumer
 * ```ts
 * import { Queue } from "@mp/multiprocessing/queue";
 *
 * const q = new Queue<number>({ maxsize: 2 });
 * await q.put(1);
 * q.putNowait(2);
 * console.log(q.full(), await q.get(), q.getNowait()); // true 1 2
 * ```
 */
export class Queue<T> implements AsyncIterable<T> {
  #shared: QueueShared;
  #core: QueueCore;
  #closed = false;

  /**
   * Creates a queue.
   *
   * @param options The `maxsize`.
   * @throws {RangeError} When `maxsize` is not an integer up to 2³¹ − 1.
   */
  constructor(options: QueueOptions = {}) {
    let shared = adopted<QueueShared>();
    if (shared === null) {
      const { maxsize = 0 } = options;
      if (!Number.isInteger(maxsize) || maxsize > MAX_MAXSIZE) {
        throw new RangeError(
          `Cannot create a queue with maxsize ${maxsize}: it must be an integer up to ${MAX_MAXSIZE} (0 or less for no limit)`,
        );
      }
      const bound = Math.max(0, maxsize);
      shared = new Shared(QUEUE, { maxsize: bound }, LocalCore.memory(bound));
    }
    this.#shared = shared;
    this.#core = shared.state ?? new ViaOwner(shared);
  }

  /** The most items the queue holds; 0 for no limit. */
  get maxsize(): number {
    return this.#shared.config.maxsize;
  }

  /**
   * Puts an item, waiting while the queue is full.
   *
   * @param item Any structured-cloneable value; primitives of this package
   * may appear inside.
   * @param options `timeout` in milliseconds and an abort `signal`.
   * @returns A promise that resolves once the item is in the queue.
   * @throws {TypeError} When the item holds something that cannot be cloned
   * (the error names where); nothing is put.
   * @throws {FullError} When the queue is still full after `timeout`.
   * @throws {ShutDownError} When the queue is shut down.
   *
   * @example Usage
   * ```ts
   * import { Queue } from "@mp/multiprocessing/queue";
   *
   * const q = new Queue<string>();
   * await q.put("hello");
   * console.log(await q.get()); // "hello"
   * ```
   */
  put(item: T, options: QueueWaitOptions = {}): Promise<void> {
    const { timeout = Infinity, signal } = options;
    try {
      validateTimeout(timeout);
      signal?.throwIfAborted();
      const done = this.#closed ? null : this.#shared.state?.tryPutFast(item);
      return done ?? this.#core.put(this.#encode(item), timeout, signal);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Puts an item without waiting.
   *
   * @param item Any structured-cloneable value.
   * @throws {FullError} When the queue is full.
   * @throws {ShutDownError} When the queue is shut down.
   * @throws {TypeError} When the item cannot be cloned.
   *
   * @example Usage
   * ```ts
   * import { Queue } from "@mp/multiprocessing/queue";
   *
   * const q = new Queue<number>({ maxsize: 1 });
   * q.putNowait(1);
   * try {
   *   q.putNowait(2);
   * } catch (error) {
   *   console.log((error as Error).name); // "FullError"
   * }
   * ```
   */
  putNowait(item: T): void {
    if (this.#closed || !this.#shared.state?.tryPutFast(item)) {
      this.#core.putNowait(this.#encode(item));
    }
  }

  #encode(item: T): Uint8Array {
    if (this.#closed) {
      throw new Error(
        "Cannot put to the queue as it was closed in this process: put before calling close()",
      );
    }
    return encodeFrame(item, "item");
  }

  /**
   * Takes the next item, waiting while the queue is empty.
   *
   * @param options `timeout` in milliseconds and an abort `signal`.
   * @returns The item.
   * @throws {EmptyError} When the queue is still empty after `timeout`.
   * @throws {ShutDownError} When the queue is shut down and drained.
   *
   * @example Usage
   * ```ts
   * import { Queue } from "@mp/multiprocessing/queue";
   *
   * const q = new Queue<number>();
   * try {
   *   await q.get({ timeout: 10 });
   * } catch (error) {
   *   console.log((error as Error).name); // "EmptyError"
   * }
   * ```
   */
  get(options: QueueWaitOptions = {}): Promise<T> {
    const { timeout = Infinity, signal } = options;
    try {
      validateTimeout(timeout);
      signal?.throwIfAborted();
      const state = this.#shared.state;
      const taken = timeout > 0
        ? state?.tryGetSoon(decodeFrameFully)
        : state?.tryGetFast(decodeFrameFully);
      if (taken !== undefined) return taken as Promise<T>;
    } catch (error) {
      return Promise.reject(error);
    }
    const bytes = this.#core.get(timeout, signal);
    return bytes.then(decodeFrameFully) as Promise<T>;
  }

  /**
   * Takes the next item without waiting.
   *
   * @returns The item.
   * @throws {EmptyError} When no item is there right now.
   * @throws {ShutDownError} When the queue is shut down and drained.
   *
   * @example Usage
   * ```ts
   * import { Queue } from "@mp/multiprocessing/queue";
   *
   * const q = new Queue<number>();
   * q.putNowait(7);
   * console.log(q.getNowait()); // 7
   * ```
   */
  getNowait(): T {
    // Not decodeFrameSync: an item may be `undefined`.
    const taken = this.#shared.state?.tryGetFast(decodeFrame) ??
      decodeFrame(this.#core.getNowait());
    return rebuiltSync(taken) as T;
  }

  /**
   * Counts the items in the queue; approximate while others put and get.
   *
   * @returns The number of items put and not yet taken.
   *
   * @example Usage
   * ```ts
   * import { Queue } from "@mp/multiprocessing/queue";
   *
   * const q = new Queue<number>();
   * q.putNowait(1);
   * console.log(q.qsize()); // 1
   * ```
   */
  qsize(): number {
    return this.#shared.run("qsize", []);
  }

  /**
   * Tells whether the queue is empty; approximate while others put and get.
   *
   * @returns `true` when no item is in the queue.
   *
   * @example Usage
   * ```ts
   * import { Queue } from "@mp/multiprocessing/queue";
   *
   * console.log(new Queue().empty()); // true
   * ```
   */
  empty(): boolean {
    return this.qsize() === 0;
  }

  /**
   * Tells whether the queue holds `maxsize` items; approximate while others
   * put and get.
   *
   * @returns `true` when `put` would wait.
   *
   * @example Usage
   * ```ts
   * import { Queue } from "@mp/multiprocessing/queue";
   *
   * const q = new Queue<number>({ maxsize: 1 });
   * q.putNowait(1);
   * console.log(q.full()); // true
   * ```
   */
  full(): boolean {
    return this.maxsize > 0 && this.qsize() >= this.maxsize;
  }

  /**
   * Declares that this process will put no more items (Python's `close`);
   * later puts from this process throw. Other processes are not affected, and
   * items already put are still delivered.
   *
   * @example Usage
   * ```ts
   * import { Queue } from "@mp/multiprocessing/queue";
   *
   * const q = new Queue<number>();
   * q.close();
   * ```
   */
  close(): void {
    this.#closed = true;
  }

  /**
   * Shuts the queue down for every process (Python 3.13's `shutdown`):
   * `put` then throws {@linkcode ShutDownError}; `get` takes what is left,
   * then throws it. With `immediate`, what is left is dropped.
   *
   * @param options Whether to drop the items left.
   *
   * @example Usage
   * ```ts
   * import { Queue } from "@mp/multiprocessing/queue";
   *
   * const q = new Queue<number>();
   * q.putNowait(1);
   * q.shutdown();
   * console.log(await q.get()); // 1
   * ```
   */
  shutdown(options: ShutdownOptions = {}): void {
    const { immediate = false } = options;
    this.#shared.run("shutdown", [immediate]);
  }

  /**
   * Yields items as they come until the queue is shut down and drained.
   *
   * @returns An async iterator over the items.
   *
   * @example Usage
   * ```ts
   * import { Queue } from "@mp/multiprocessing/queue";
   *
   * const q = new Queue<number>();
   * q.putNowait(1);
   * q.putNowait(2);
   * q.shutdown();
   * for await (const item of q) console.log(item); // 1, then 2
   * ```
   */
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    while (true) {
      try {
        yield await this.get();
      } catch (error) {
        if (error instanceof ShutDownError) return;
        throw error;
      }
    }
  }

  static {
    sharedOf = (queue) => queue.#shared;
  }
}

/**
 * A {@linkcode Queue} whose consumers mark each item done, so a producer can
 * wait until every item has been handled (Python's
 * `multiprocessing.JoinableQueue`).
 *
 * @typeParam T The type of the items.
 *
 * @example Wait until all work is done
 * ```ts
 * import { JoinableQueue } from "@mp/multiprocessing/queue";
 *
 * const q = new JoinableQueue<number>();
 * q.putNowait(1);
 * await q.get();
 * q.taskDone();
 * await q.join();
 * ```
 */
export class JoinableQueue<T> extends Queue<T> {
  /**
   * Marks one item taken with `get` as handled.
   *
   * @throws {RangeError} When called more times than items were put.
   *
   * @example Usage
   * ```ts
   * import { JoinableQueue } from "@mp/multiprocessing/queue";
   *
   * const q = new JoinableQueue<number>();
   * q.putNowait(1);
   * await q.get();
   * q.taskDone();
   * ```
   */
  taskDone(): void {
    sharedOf(this).run("taskDone", []);
  }

  /**
   * Waits until every item put has been marked done with `taskDone`.
   *
   * @param options `timeout` in milliseconds and an abort `signal`.
   * @throws {TimeoutError} When items are still unfinished after `timeout`.
   *
   * @example Usage
   * ```ts
   * import { JoinableQueue } from "@mp/multiprocessing/queue";
   *
   * const q = new JoinableQueue<number>();
   * await q.join({ timeout: 1000 }); // nothing was put
   * ```
   */
  async join(options: QueueWaitOptions = {}): Promise<void> {
    const { timeout = Infinity, signal } = options;
    validateTimeout(timeout);
    signal?.throwIfAborted();
    await sharedOf(this).run("join", [timeout], signal);
  }
}

/**
 * A plain unbounded queue with only `put`, `get`, `empty` and `close`
 * (Python's `multiprocessing.SimpleQueue`).
 *
 * @typeParam T The type of the items.
 *
 * @example Usage
 * ```ts
 * import { SimpleQueue } from "@mp/multiprocessing/queue";
 *
 * const q = new SimpleQueue<string>();
 * await q.put("x");
 * console.log(await q.get(), q.empty()); // "x" true
 * ```
 */
export class SimpleQueue<T> {
  #queue: Queue<T>;

  /** Creates an unbounded queue. */
  constructor() {
    this.#queue = new Queue<T>();
  }

  /**
   * Puts an item.
   *
   * @param item Any structured-cloneable value.
   * @throws {TypeError} When the item cannot be cloned.
   *
   * @example Usage
   * ```ts
   * import { SimpleQueue } from "@mp/multiprocessing/queue";
   *
   * await new SimpleQueue<number>().put(1);
   * ```
   */
  put(item: T): Promise<void> {
    return this.#queue.put(item);
  }

  /**
   * Takes the next item, waiting while the queue is empty.
   *
   * @param options `timeout` in milliseconds and an abort `signal`.
   * @returns The item.
   * @throws {EmptyError} When the queue is still empty after `timeout`.
   *
   * @example Usage
   * ```ts
   * import { SimpleQueue } from "@mp/multiprocessing/queue";
   *
   * const q = new SimpleQueue<number>();
   * await q.put(1);
   * console.log(await q.get()); // 1
   * ```
   */
  get(options: QueueWaitOptions = {}): Promise<T> {
    return this.#queue.get(options);
  }

  /**
   * Tells whether the queue is empty.
   *
   * @returns `true` when no item is in the queue.
   *
   * @example Usage
   * ```ts
   * import { SimpleQueue } from "@mp/multiprocessing/queue";
   *
   * console.log(new SimpleQueue().empty()); // true
   * ```
   */
  empty(): boolean {
    return this.#queue.empty();
  }

  /**
   * Declares that this process will put no more items.
   *
   * @example Usage
   * ```ts
   * import { SimpleQueue } from "@mp/multiprocessing/queue";
   *
   * new SimpleQueue().close();
   * ```
   */
  close(): void {
    this.#queue.close();
  }

  static {
    Shared.register(QUEUE, SimpleQueue, (queue) => sharedOf(queue.#queue), {
      name: "simple-queue",
    });
  }
}

Shared.register(QUEUE, Queue, sharedOf);
Shared.register(QUEUE, JoinableQueue, sharedOf, { name: "joinable-queue" });
