// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// A Queue as a kind of the shared-object layer: the ring and the queue's
// counters in shared memory, used directly by the owner and its workers
// (LocalCore), and the operations every other holder sends the owner, which
// runs them on its LocalCore and keeps a ledger of items handed out until
// the taker acknowledges them, so an item a dead taker never got goes back.
//
// Items travel as encoded bytes; the owner never decodes them.
import { inPlaceFrame } from "./_frame.ts";
import { FrameWriter } from "./_feeder.ts";
import { deadlineOf, waitFor, wake } from "./_futex.ts";
import { Ring, type RingBuffers } from "./_ring.ts";
import { beginEffect, endEffect, selfCode } from "./_isolates.ts";
import { holdBatch } from "./_runtime.ts";
import { joined } from "./_wire.ts";
import { asyncOp, blockingOp, notifyOp, type Shared } from "./_shared.ts";
import {
  EmptyError,
  FullError,
  ShutDownError,
  TimeoutError,
} from "./errors.ts";

/** Flag: `shutdown()` was called. */
const SHUT_DOWN = 1;
/** Flag: `shutdown({ immediate: true })` was called. */
const IMMEDIATE = 2;

// The queue's counters, in the words its ring keeps for its user.
/** Items reserved by writers and not yet taken (the queue's size). */
const SIZE = 0;
/** Bumped whenever `SIZE` drops or a flag is set (its waiters follow). */
const SIZE_SEQ = 1;
const FLAGS = 3;
const MAXSIZE = 4;
const UNFINISHED = 5;
/** Bumped when the last unfinished task is done (its waiters follow). */
const TASK_SEQ = 6;
/**
 * The writers' ledger: pairs of (isolate code, items it reserved and has
 * not written yet), so that when a writer dies before writing what it
 * reserved (killed while copying an item in, or with items kept while the
 * ring was full) the queue stops counting them. A writer claims a pair the
 * first time it reserves; past `WRITERS` live writers, the rest go
 * unrecorded, and a death among them leaves its items counted.
 */
const LEDGER = 16;
const WRITERS = 16;
/** A pair's code while a reaper clears it: no writer claims it then. */
const CLEARING = -1;

/**
 * What a queue's put, get and their nowait forms run on: its memory where
 * mapped, else calls to its owner. Its other operations run through the
 * shared object either way.
 */
export type QueueCore = LocalCore | ViaOwner;

const RESOLVED = Promise.resolve();

function shutDownError(action: "put to" | "get from"): ShutDownError {
  return new ShutDownError(
    `Cannot ${action} the queue as it is shut down`,
  );
}

/** The ring in shared memory, with this process's pending writes. */
export class LocalCore {
  #ring: Ring;
  /** The queue's counters, in the words its ring keeps for its user. */
  #words: Int32Array;
  /** Writes items reserved but not yet in the ring, in put order. */
  #writer: FrameWriter;
  /**
   * The owner's ledger: items handed to a caller without the memory and
   * not yet acknowledged, by key, with the caller's code.
   */
  #unacked = new Map<number, { caller: number; bytes: Uint8Array }>();
  #nextKey = 1;
  /** This writer's pair in the ledger, or -1; `null` in the owner. */
  #pair: number | null;

  /**
   * @param handOff Takes over the writes this isolate could not make before
   * it exits; `null` in the owner, which has nobody to hand them to.
   */
  constructor(ring: Ring, handOff: ((frames: Uint8Array[]) => void) | null) {
    this.#ring = ring;
    this.#words = ring.state;
    this.#writer = new FrameWriter(ring, {
      discardAll: () => {
        if (this.#readable()) return false;
        this.#forget(this.#writer.discard());
        return true;
      },
      onGone: (count) => this.#unreserve(count),
    });
    // The owner outlives its queue's users: nobody reaps it.
    this.#pair = handOff === null ? null : -1;
    if (handOff !== null) {
      ring.onCommit = () => this.#unreserve(1);
      this.#writer.handOffAtExit(handOff);
    }
  }

  /** A new queue's memory; `maxsize` ≤ 0 means unbounded. */
  static memory(maxsize: number): RingBuffers {
    const ring = Ring.create();
    Atomics.store(ring.state, MAXSIZE, Math.max(0, maxsize));
    return ring.buffers;
  }

  /**
   * Takes a slot for one item without waiting; `undefined` when the queue
   * is full. An effect (see `beginEffect`), so that a worker stopped from
   * outside reserves nothing once its parent has reaped what it held.
   */
  #tryReserve(): "ok" | "shut down" | undefined {
    const words = this.#words;
    beginEffect();
    try {
      while (true) {
        if (Atomics.load(words, FLAGS) & SHUT_DOWN) return "shut down";
        const size = Atomics.load(words, SIZE);
        const maxsize = Atomics.load(words, MAXSIZE);
        if (maxsize > 0 && size >= maxsize) return undefined;
        if (Atomics.compareExchange(words, SIZE, size, size + 1) === size) {
          Atomics.add(words, UNFINISHED, 1);
          this.#reserved();
          return "ok";
        }
      }
    } finally {
      endEffect();
    }
  }

  /** Records in the ledger that this writer reserved an item. */
  #reserved(): void {
    if (this.#pair === null) return;
    const words = this.#words;
    if (this.#pair < 0) {
      const code = selfCode();
      for (let pair = LEDGER; pair < LEDGER + 2 * WRITERS; pair += 2) {
        if (Atomics.compareExchange(words, pair, 0, code) === 0) {
          Atomics.store(words, pair + 1, 0);
          this.#pair = pair;
          break;
        }
      }
      if (this.#pair < 0) return;
    }
    Atomics.add(words, this.#pair + 1, 1);
  }

  /** Records in the ledger that `count` reserved items left this writer. */
  #unreserve(count: number): void {
    const pair = this.#pair ?? -1;
    if (pair >= 0) Atomics.sub(this.#words, pair + 1, count);
  }

  /** Stops counting the items dead writers reserved and never wrote. */
  #forgetDeadWriters(dead: (code: number) => boolean): void {
    const words = this.#words;
    for (let pair = LEDGER; pair < LEDGER + 2 * WRITERS; pair += 2) {
      const code = Atomics.load(words, pair);
      if (code <= 0 || !dead(code)) continue;
      const count = Atomics.load(words, pair + 1);
      if (Atomics.compareExchange(words, pair, code, CLEARING) !== code) {
        continue;
      }
      Atomics.store(words, pair + 1, 0);
      Atomics.store(words, pair, 0);
      this.#forget(count);
    }
  }

  /** Stops counting `count` items that will never be taken. */
  #forget(count: number): void {
    if (count === 0) return;
    const words = this.#words;
    Atomics.sub(words, SIZE, count);
    wake(words, SIZE_SEQ);
    if (Atomics.sub(words, UNFINISHED, count) <= count) wake(words, TASK_SEQ);
  }

  /** Marks one taken item gone from the queue's size. */
  #takenOne(): void {
    Atomics.sub(this.#words, SIZE, 1);
    wake(this.#words, SIZE_SEQ);
  }

  /**
   * Puts plain JSON data or a typed array with one copy, when there is room
   * for it now; `null` means nothing was done: use `put`. The promise
   * resolves once this producer may go on (see `FrameWriter.backPressure`).
   */
  tryPutFast(item: unknown): Promise<void> | null {
    const frame = inPlaceFrame(item);
    if (frame === null || this.#tryReserve() !== "ok") return null;
    return this.#writer.writeWith(frame)
      ? RESOLVED
      : this.#writer.backPressure();
  }

  /**
   * Takes an item without waiting, handing `decode` its frame in place (see
   * `Ring.tryReadWith`); `undefined` when there is none.
   */
  tryGetFast<T>(decode: (frame: Uint8Array) => T): T | undefined {
    if (!this.#readable()) return undefined;
    const item = this.#ring.tryReadWith(decode);
    if (item !== undefined) this.#takenOne();
    return item;
  }

  /**
   * {@linkcode tryGetFast}, after a spin for an item if none is there: an
   * item that comes within it is taken without a wait's async returns.
   */
  tryGetSoon<T>(decode: (frame: Uint8Array) => T): T | undefined {
    return this.tryGetFast(decode) ??
      (this.#readable() && !this.#drained() && this.#ring.frameSoon()
        ? this.tryGetFast(decode)
        : undefined);
  }

  async put(
    bytes: Uint8Array,
    timeout: number,
    signal?: AbortSignal,
  ): Promise<void> {
    const reserve = () => this.#tryReserve();
    const deadline = deadlineOf(timeout);
    const words = this.#words;
    const result = await waitFor(words, SIZE_SEQ, deadline, signal, reserve);
    this.#afterReserve(result, bytes);
    await this.#writer.backPressure();
  }

  putNowait(bytes: Uint8Array): void {
    this.#afterReserve(this.#tryReserve(), bytes);
  }

  #afterReserve(result: string | undefined, bytes: Uint8Array): void {
    if (result === undefined) {
      throw new FullError(
        `Cannot put to the queue as it is full: maxsize is ${
          Atomics.load(this.#words, MAXSIZE)
        }`,
      );
    }
    if (result === "shut down") throw shutDownError("put to");
    this.enqueue(bytes);
  }

  /** Writes a reserved item, now if it can, else in order after the others. */
  enqueue(bytes: Uint8Array): void {
    this.#writer.send(bytes);
  }

  async get(timeout: number, signal?: AbortSignal): Promise<Uint8Array> {
    const fast = this.#readable() ? this.#ring.tryRead() : null;
    const bytes = fast ??
      await this.#ring.read(deadlineOf(timeout), signal, () => this.#drained());
    return this.#taken(bytes);
  }

  getNowait(): Uint8Array {
    return this.#taken(this.#readable() ? this.#ring.tryRead() : null);
  }

  #readable(): boolean {
    return (Atomics.load(this.#words, FLAGS) & IMMEDIATE) === 0;
  }

  /** Whether a reader should stop waiting: shut down and nothing left. */
  #drained(): boolean {
    const flags = Atomics.load(this.#words, FLAGS);
    return (flags & SHUT_DOWN) !== 0 &&
      ((flags & IMMEDIATE) !== 0 || Atomics.load(this.#words, SIZE) <= 0);
  }

  #taken(bytes: Uint8Array | null): Uint8Array {
    if (bytes === null) {
      throw this.#drained()
        ? shutDownError("get from")
        : new EmptyError("Cannot get from the queue as it is empty");
    }
    this.#takenOne();
    return bytes;
  }

  qsize(): number {
    return Math.max(0, Atomics.load(this.#words, SIZE));
  }

  shutdown(immediate: boolean): void {
    Atomics.or(this.#words, FLAGS, SHUT_DOWN | (immediate ? IMMEDIATE : 0));
    wake(this.#words, SIZE_SEQ);
    this.#ring.wakeReaders();
    if (!immediate) return;
    let dropped = this.#writer.discard();
    while (this.#ring.tryRead() !== null) dropped++;
    this.#forget(dropped);
  }

  taskDone(): void {
    const words = this.#words;
    while (true) {
      const count = Atomics.load(words, UNFINISHED);
      if (count <= 0) {
        throw new RangeError(
          "Cannot mark a task done as none is unfinished: taskDone() was called more times than items were put",
        );
      }
      if (
        Atomics.compareExchange(words, UNFINISHED, count, count - 1) === count
      ) {
        if (count === 1) wake(words, TASK_SEQ);
        return;
      }
    }
  }

  async join(timeout: number, signal?: AbortSignal): Promise<void> {
    const unfinished = () => Atomics.load(this.#words, UNFINISHED);
    const done = () => unfinished() <= 0 || undefined;
    const deadline = deadlineOf(timeout);
    if (!await waitFor(this.#words, TASK_SEQ, deadline, signal, done)) {
      throw new TimeoutError(
        `Cannot join the queue as ${unfinished()} tasks are still unfinished after ${timeout} ms`,
      );
    }
  }

  /** Puts the items a child packed with `joined` (see `ViaOwner`), in order. */
  putPacked(packed: Uint8Array): void {
    const view = new DataView(packed.buffer, packed.byteOffset);
    for (let offset = 0; offset < packed.length;) {
      const length = view.getUint32(offset, true);
      // The child does not wait for an answer, so an item put after
      // shutdown has nobody to tell: it is dropped, as the shutdown intended.
      if (this.#tryReserve() === "ok") {
        this.enqueue(packed.subarray(offset + 4, offset + 4 + length));
      }
      offset += 4 + length;
    }
  }

  /** Keeps an item until the child acknowledges it, so a crash loses nothing. */
  deliver(caller: number, bytes: Uint8Array): [number, Uint8Array] {
    const key = this.#nextKey++;
    this.#unacked.set(key, { caller, bytes });
    return [key, bytes];
  }

  /** The taker got the item of `key`. */
  ack(key: number): void {
    this.#unacked.delete(key);
  }

  /**
   * Frees what dead parties held of the ring, requeues the items dead
   * takers never acknowledged, and forgets those dead writers never wrote.
   */
  requeueDead(dead: (code: number) => boolean): void {
    this.#ring.releaseDead();
    this.#forgetDeadWriters(dead);
    for (const [key, { caller, bytes }] of this.#unacked) {
      if (!dead(caller)) continue;
      this.#unacked.delete(key);
      Atomics.add(this.#words, SIZE, 1);
      this.enqueue(bytes);
    }
  }
}

/** The queue kind: its state, and what a holder without the memory sends. */
export const QUEUE = {
  name: "queue",
  module: new URL("./queue.ts", import.meta.url).href,
  open: (
    memory: RingBuffers,
    _config: { maxsize: number },
    shared: QueueShared,
  ): LocalCore =>
    new LocalCore(
      new Ring(memory),
      shared.owned ? null : (frames) => shared.atOwner("handOff", [frames]),
    ),
  ops: {
    put: asyncOp((
      core: LocalCore,
      { signal },
      bytes: Uint8Array,
      timeout: number,
    ) => core.put(bytes, timeout, signal)),
    /** Puts to an unbounded queue, batched: unanswered, applied in order. */
    putBatch: notifyOp((core: LocalCore, _, packed: Uint8Array) => {
      core.putPacked(packed);
    }),
    putNowait: blockingOp((core: LocalCore, _, bytes: Uint8Array) =>
      core.putNowait(bytes)
    ),
    handOff: notifyOp((core: LocalCore, _, frames: Uint8Array[]) => {
      for (const frame of frames) core.enqueue(frame);
    }),
    get: asyncOp(async (core: LocalCore, { caller, signal }, timeout: number) =>
      core.deliver(caller, await core.get(timeout, signal))
    ),
    getNowait: blockingOp((core: LocalCore, { caller }) =>
      core.deliver(caller, core.getNowait())
    ),
    ack: notifyOp((core: LocalCore, _, key: number) => core.ack(key)),
    qsize: blockingOp((core: LocalCore) => core.qsize()),
    shutdown: blockingOp((core: LocalCore, _, immediate: boolean) =>
      core.shutdown(immediate)
    ),
    taskDone: blockingOp((core: LocalCore) => core.taskDone()),
    join: asyncOp((core: LocalCore, { signal }, timeout: number) =>
      core.join(timeout, signal)
    ),
  },
  reap: (core: LocalCore, dead: (code: number) => boolean) =>
    core.requeueDead(dead),
};

/** A queue as this isolate reaches it. */
export type QueueShared = Shared<
  LocalCore,
  { maxsize: number },
  typeof QUEUE.ops
>;

/**
 * A queue's put and get reached through calls to its owner: an unbounded
 * put goes out batched and unanswered (like Python's feeder), and an item
 * taken is acknowledged, so the owner can put back one a dead taker never
 * got.
 */
export class ViaOwner {
  #shared: QueueShared;
  /**
   * Unbounded puts of this tick, sent to the owner as one message:
   * per-message costs (encoding, a syscall, a dispatch) then fall on the
   * batch, not on each item. Held (see `holdBatch`), so they go out before
   * anything else this process sends, and before it exits.
   */
  #batch: Uint8Array[] = [];
  #batchBytes = 0;
  #flush = () => this.#sendBatch();

  constructor(shared: QueueShared) {
    this.#shared = shared;
  }

  async put(
    bytes: Uint8Array,
    timeout: number,
    signal?: AbortSignal,
  ): Promise<void> {
    if (this.#shared.config.maxsize === 0) this.#hold(bytes);
    else await this.#shared.run("put", [bytes, timeout], signal);
  }

  putNowait(bytes: Uint8Array): void {
    if (this.#shared.config.maxsize === 0) this.#hold(bytes);
    else this.#shared.run("putNowait", [bytes]);
  }

  #hold(frame: Uint8Array): void {
    holdBatch(this.#flush);
    this.#batch.push(frame);
    this.#batchBytes += 4 + frame.length;
    if (this.#batchBytes >= 1024 * 1024) this.#sendBatch();
  }

  #sendBatch(): void {
    if (this.#batch.length === 0) return;
    const packed = joined(this.#batch);
    this.#batch = [];
    this.#batchBytes = 0;
    this.#shared.run("putBatch", [packed]);
  }

  async get(timeout: number, signal?: AbortSignal): Promise<Uint8Array> {
    return this.#acknowledge(
      await this.#shared.run("get", [timeout], signal),
    );
  }

  getNowait(): Uint8Array {
    return this.#acknowledge(this.#shared.run("getNowait", []));
  }

  #acknowledge([key, bytes]: [number, Uint8Array]): Uint8Array {
    this.#shared.run("ack", [key]);
    return bytes;
  }
}
