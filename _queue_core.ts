// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// The two ways a Queue reaches its items, behind one interface:
//
// - LocalCore: the ring in shared memory, used by the process that created
//   the queue and by its worker children (and theirs).
// - RemoteCore: a subprocess child's proxy; each operation travels to the
//   queue's owner, which applies it to its LocalCore.
//
// Items travel as encoded bytes; the owner never decodes them.
import { type DecodedFrame, decodeFrame, inPlaceFrame } from "./_frame.ts";
import { RingWriter } from "./_feeder.ts";
import { Ring, type RingBuffers, waitFor, wake } from "./_ring.ts";
import {
  addFlusher,
  type CallContext,
  callOwner,
  callOwnerSync,
  current,
  expose,
  holdBatch,
  notifyOwner,
  onChildExit,
  type StartMethod,
} from "./_runtime.ts";
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

/** An item read in place: its value, and whether primitives need rebuilding. */
export type TakenItem = DecodedFrame;

/** What a queue is, whichever process it is used from. */
export interface QueueCore {
  readonly maxsize: number;
  /**
   * Puts plain JSON data or a typed array with one copy, when there is room
   * for it now; `null` means nothing was done: use `put`. The promise
   * resolves once this producer may go on (see `RingWriter.backPressure`).
   */
  tryPutFast(item: unknown): Promise<void> | null;
  /** Takes an item without waiting, decoding it in place; else `undefined`. */
  tryGetFast(): TakenItem | undefined;
  put(bytes: Uint8Array, timeout: number, signal?: AbortSignal): Promise<void>;
  putNowait(bytes: Uint8Array): void;
  get(timeout: number, signal?: AbortSignal): Promise<Uint8Array>;
  getNowait(): Uint8Array;
  qsize(): number;
  shutdown(immediate: boolean): void;
  taskDone(): void;
  join(timeout: number, signal?: AbortSignal): Promise<void>;
  /** Data from which a child rebuilds this queue. */
  describe(target: StartMethod, owner: object): QueueDescriptor;
}

/** How a queue crosses into a child. */
export interface QueueDescriptor {
  /** The pid of the process that owns the queue. */
  o: number;
  /** The queue's id among the owner's exposed objects. */
  id: number;
  maxsize: number;
  /** The ring, for a worker child of a process that has it. */
  sab?: RingBuffers;
}

const deadlineOf = (timeout: number) => performance.now() + timeout;
const RESOLVED = Promise.resolve();

function fullError(maxsize: number): FullError {
  return new FullError(
    `Cannot put to the queue as it is full: maxsize is ${maxsize}`,
  );
}

function emptyError(): EmptyError {
  return new EmptyError("Cannot get from the queue as it is empty");
}

function shutDownError(action: "put to" | "get from"): ShutDownError {
  return new ShutDownError(
    `Cannot ${action} the queue as it is shut down`,
  );
}

const liveCores = new Set<WeakRef<LocalCore>>();

function forEachLiveCore(fn: (core: LocalCore) => void): void {
  for (const ref of liveCores) {
    const core = ref.deref();
    if (core === undefined) liveCores.delete(ref);
    else fn(core);
  }
}

onChildExit((pid) => forEachLiveCore((core) => core.requeueFor(pid)));

/** The ring in shared memory, with this process's pending writes. */
export class LocalCore implements QueueCore {
  #ring: Ring;
  /** The queue's counters, in the words its ring keeps for its user. */
  #words: Int32Array;
  #owner: number;
  #id: number | null;
  /** Writes items reserved but not yet in the ring, in put order. */
  #writer: RingWriter;
  /** Items handed to a subprocess child and not yet acknowledged, by key. */
  #unacked = new Map<number, { route: number; bytes: Uint8Array }>();
  #nextKey = 1;

  constructor(ring: Ring, owner = current.pid, id: number | null = null) {
    this.#ring = ring;
    this.#words = ring.state;
    this.#writer = new RingWriter(ring, () => {
      if (this.#readable()) return false;
      this.#discard(this.#writer.discard());
      return true;
    });
    this.#owner = owner;
    this.#id = id;
    liveCores.add(new WeakRef(this));
    if (owner !== current.pid) addFlusher(() => this.#handOff());
  }

  /** A new queue's core; `maxsize` ≤ 0 means unbounded. */
  static create(maxsize: number): LocalCore {
    const ring = Ring.create();
    Atomics.store(ring.state, MAXSIZE, Math.max(0, maxsize));
    return new LocalCore(ring);
  }

  get maxsize(): number {
    return Atomics.load(this.#words, MAXSIZE);
  }

  #flags(): number {
    return Atomics.load(this.#words, FLAGS);
  }

  /** Takes a slot for one item without waiting. */
  #tryReserve(): "ok" | "full" | "shut down" {
    const words = this.#words;
    while (true) {
      if (Atomics.load(words, FLAGS) & SHUT_DOWN) return "shut down";
      const size = Atomics.load(words, SIZE);
      const maxsize = Atomics.load(words, MAXSIZE);
      if (maxsize > 0 && size >= maxsize) return "full";
      if (Atomics.compareExchange(words, SIZE, size, size + 1) === size) {
        Atomics.add(words, UNFINISHED, 1);
        return "ok";
      }
    }
  }

  /** Marks one taken item gone from the queue's size. */
  #takenOne(): void {
    Atomics.sub(this.#words, SIZE, 1);
    wake(this.#words, SIZE_SEQ);
  }

  tryPutFast(item: unknown): Promise<void> | null {
    const frame = inPlaceFrame(item);
    if (frame === null || this.#tryReserve() !== "ok") return null;
    if (
      this.#writer.idle && this.#ring.tryWriteWith(frame.maxBytes, frame.fill)
    ) {
      return RESOLVED;
    }
    this.#writer.keepWith(frame.maxBytes, frame.fill);
    return this.#writer.backPressure();
  }

  tryGetFast(): TakenItem | undefined {
    if (!this.#readable()) return undefined;
    const item = this.#ring.tryReadWith(decodeFrame);
    if (item !== undefined) this.#takenOne();
    return item;
  }

  async put(
    bytes: Uint8Array,
    timeout: number,
    signal?: AbortSignal,
  ): Promise<void> {
    const reserved = () => {
      const result = this.#tryReserve();
      return result === "full" ? undefined : result;
    };
    const deadline = deadlineOf(timeout);
    const result = reserved() ??
      await waitFor(this.#words, SIZE_SEQ, deadline, signal, reserved) ??
      "full";
    this.#afterReserve(result, bytes);
    await this.#writer.backPressure();
  }

  putNowait(bytes: Uint8Array): void {
    this.#afterReserve(this.#tryReserve(), bytes);
  }

  #afterReserve(result: string, bytes: Uint8Array): void {
    if (result === "full") throw fullError(this.maxsize);
    if (result === "shut down") throw shutDownError("put to");
    this.enqueue(bytes);
  }

  /** Writes a reserved item, now if it can, else in order after the others. */
  enqueue(bytes: Uint8Array): void {
    this.#writer.write(bytes);
  }

  #discard(count: number): void {
    for (let i = 0; i < count; i++) {
      this.#takenOne();
      this.taskDone();
    }
  }

  /**
   * Before a child exits: items it could not write yet (the ring is full
   * and nobody reads) go to the owner, which writes them later, so the
   * child can exit and `join()` never waits on unread data.
   */
  async #handOff(): Promise<void> {
    const items = await this.#writer.takeUnwritten();
    if (items.length > 0) notifyOwner(this.#owner, this.#id!, "handOff", items);
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
    return (this.#flags() & IMMEDIATE) === 0;
  }

  /** Whether a reader should stop waiting: shut down and nothing left. */
  #drained(): boolean {
    const flags = this.#flags();
    return (flags & SHUT_DOWN) !== 0 &&
      ((flags & IMMEDIATE) !== 0 || Atomics.load(this.#words, SIZE) <= 0);
  }

  #taken(bytes: Uint8Array | null): Uint8Array {
    if (bytes === null) {
      throw this.#flags() & SHUT_DOWN && this.#drained()
        ? shutDownError("get from")
        : emptyError();
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
    this.#discard(dropped);
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

  describe(target: StartMethod, owner: object): QueueDescriptor {
    this.#id ??= expose(
      owner,
      (op, args, context) => this.#answer(op, args, context),
    );
    const descriptor: QueueDescriptor = {
      o: this.#owner,
      id: this.#id,
      maxsize: this.maxsize,
    };
    if (target === "worker") descriptor.sab = this.#ring.buffers;
    return descriptor;
  }

  /** Applies an operation from a subprocess child (the owner's side). */
  #answer(op: string, args: unknown[], context: CallContext): unknown {
    const [first] = args;
    switch (op) {
      case "put":
        return this.put(first as Uint8Array, args[1] as number, context.signal);
      case "putQuietly":
        for (const frame of unpackFrames(first as Uint8Array)) {
          this.#putQuietly(frame);
        }
        return;
      case "putNowait":
        return this.putNowait(first as Uint8Array);
      case "handOff":
        for (const bytes of args as Uint8Array[]) this.enqueue(bytes);
        return;
      case "get":
        return this.get(first as number, context.signal).then((bytes) =>
          this.#deliver(bytes, context.route)
        );
      case "getNowait":
        return this.#deliver(this.getNowait(), context.route);
      case "ack":
        this.#unacked.delete(first as number);
        return;
      case "qsize":
        return this.qsize();
      case "shutdown":
        return this.shutdown(first as boolean);
      case "taskDone":
        return this.taskDone();
      case "join":
        return this.join(first as number, context.signal);
    }
    throw new TypeError(`Cannot apply unknown queue operation "${op}"`);
  }

  #putQuietly(bytes: Uint8Array): void {
    // The child does not wait for an answer, so an item put after shutdown
    // has nobody to tell: it is dropped, as the shutdown intended.
    if (this.#tryReserve() === "ok") this.enqueue(bytes);
  }

  /** Keeps an item until the child acknowledges it, so a crash loses nothing. */
  #deliver(bytes: Uint8Array, route: number): [number, Uint8Array] {
    const key = this.#nextKey++;
    this.#unacked.set(key, { route, bytes });
    return [key, bytes];
  }

  /** A direct child exited: requeue the items it never acknowledged. */
  requeueFor(pid: number): void {
    for (const [key, { route, bytes }] of this.#unacked) {
      if (route !== pid) continue;
      this.#unacked.delete(key);
      Atomics.add(this.#words, SIZE, 1);
      this.enqueue(bytes);
    }
  }
}

/**
 * Frames put in one tick, sent to the owner as one message: per-message
 * costs (encoding, a syscall, a dispatch) then fall on the batch, not on
 * each item.
 */
class FrameBatch {
  #frames: Uint8Array[] = [];
  #bytes = 0;
  #send: (packed: Uint8Array) => void;

  constructor(send: (packed: Uint8Array) => void) {
    this.#send = send;
  }

  #flush = () => this.flush();

  add(frame: Uint8Array): void {
    // Sent before anything else this process sends, so order holds.
    holdBatch(this.#flush);
    this.#frames.push(frame);
    this.#bytes += 4 + frame.length;
    if (this.#bytes >= 1024 * 1024) this.flush();
  }

  flush(): void {
    if (this.#frames.length === 0) return;
    const packed = new Uint8Array(this.#bytes);
    const view = new DataView(packed.buffer);
    let offset = 0;
    for (const frame of this.#frames) {
      view.setUint32(offset, frame.length, true);
      packed.set(frame, offset + 4);
      offset += 4 + frame.length;
    }
    this.#frames = [];
    this.#bytes = 0;
    this.#send(packed);
  }
}

/** Splits what {@linkcode FrameBatch} packed. */
function* unpackFrames(packed: Uint8Array): Generator<Uint8Array> {
  const view = new DataView(packed.buffer, packed.byteOffset);
  for (let offset = 0; offset < packed.length;) {
    const length = view.getUint32(offset, true);
    yield packed.subarray(offset + 4, offset + 4 + length);
    offset += 4 + length;
  }
}

/** A subprocess child's view of a queue owned by an ancestor. */
export class RemoteCore implements QueueCore {
  readonly maxsize: number;
  #owner: number;
  #id: number;
  #batch: FrameBatch;

  constructor(descriptor: QueueDescriptor) {
    this.#owner = descriptor.o;
    this.#id = descriptor.id;
    this.maxsize = descriptor.maxsize;
    this.#batch = new FrameBatch((packed) =>
      notifyOwner(this.#owner, this.#id, "putQuietly", [packed])
    );
    // Items put in the child's last tick go out before it exits.
    addFlusher(() => Promise.resolve(this.#batch.flush()));
  }

  tryPutFast(): null {
    return null;
  }

  tryGetFast(): undefined {
    return undefined;
  }

  async put(
    bytes: Uint8Array,
    timeout: number,
    signal?: AbortSignal,
  ): Promise<void> {
    signal?.throwIfAborted();
    if (this.maxsize === 0) {
      // Unbounded: nothing to wait for, so no round trip (Python's feeder).
      this.#batch.add(bytes);
      return;
    }
    await callOwner(this.#owner, this.#id, "put", [bytes, timeout], signal);
  }

  putNowait(bytes: Uint8Array): void {
    // Unbounded, it cannot be full: batched like put, and so kept in order.
    if (this.maxsize === 0) this.#batch.add(bytes);
    else callOwnerSync(this.#owner, this.#id, "putNowait", [bytes]);
  }

  async get(timeout: number, signal?: AbortSignal): Promise<Uint8Array> {
    const answer = await callOwner(
      this.#owner,
      this.#id,
      "get",
      [timeout],
      signal,
    );
    return this.#acknowledge(answer);
  }

  getNowait(): Uint8Array {
    return this.#acknowledge(
      callOwnerSync(this.#owner, this.#id, "getNowait", []),
    );
  }

  #acknowledge(answer: unknown): Uint8Array {
    const [key, bytes] = answer as [number, Uint8Array];
    notifyOwner(this.#owner, this.#id, "ack", [key]);
    return bytes;
  }

  qsize(): number {
    return callOwnerSync(this.#owner, this.#id, "qsize", []) as number;
  }

  shutdown(immediate: boolean): void {
    callOwnerSync(this.#owner, this.#id, "shutdown", [immediate]);
  }

  taskDone(): void {
    callOwnerSync(this.#owner, this.#id, "taskDone", []);
  }

  async join(timeout: number, signal?: AbortSignal): Promise<void> {
    await callOwner(this.#owner, this.#id, "join", [timeout], signal);
  }

  describe(): QueueDescriptor {
    return { o: this.#owner, id: this.#id, maxsize: this.maxsize };
  }
}

/** Rebuilds the core a child uses from a descriptor. */
export function coreFrom(descriptor: QueueDescriptor): QueueCore {
  return descriptor.sab === undefined
    ? new RemoteCore(descriptor)
    : new LocalCore(new Ring(descriptor.sab), descriptor.o, descriptor.id);
}
