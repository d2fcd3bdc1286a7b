// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// A byte ring in a SharedArrayBuffer that carries whole frames between the
// isolates of one OS process (the parent and its worker children).
//
// One writer at a time (the writer lock) and one reader at a time (the
// reader lock) make it a single-producer single-consumer ring between lock
// holders: the writer alone moves the tail, the reader alone moves the head,
// and the count of used bytes is the only word both change. A frame that
// fits the ring is committed whole, so a reader never sees half of it; a
// larger frame streams through in pieces under both locks, so nothing limits
// the size of an item.
//
// Waiting spins briefly, then sleeps with `Atomics.waitAsync`, so that no
// thread ever blocks and the main thread's event loop keeps running. Lock
// words hold the isolate token of their holder, so that the parent of a
// worker that died holding one can free it.
import { isolateToken, onChildExit, tokenOfPid } from "./_runtime.ts";

const WRITE_LOCK = 0;
const READ_LOCK = 1;
const HEAD = 2;
const TAIL = 3;
const USED = 4;
/** Items reserved by writers and not yet taken (the queue's size). */
const SIZE = 5;
/** Bumped on every commit of written bytes. */
const PUT_SEQ = 6;
/** Bumped on every commit of read bytes, and whenever `SIZE` drops. */
const GET_SEQ = 7;
const FLAGS = 8;
const MAXSIZE = 9;
const UNFINISHED = 10;
const TASK_SEQ = 11;
const READERS_WAITING = 12;
const WRITERS_WAITING = 13;
const LOCK_WAITERS = 14;
const TASK_WAITERS = 15;
/** Open handles that may still write (pipes: EOF once it drops to 0). */
const WRITE_HANDLES = 16;
const HEADER_WORDS = 32;

/** Flag: `shutdown()` was called. */
export const SHUT_DOWN = 1;

const HEADER = 4;
/**
 * How long a waiter spins before it sleeps. A wake-up through
 * `Atomics.waitAsync` costs 30–70 µs here (more when it crosses cores), while
 * the other side of a ping-pong answers in a few: spinning that long keeps
 * round trips short, and is cheap next to the sleep it avoids.
 */
const SPIN_MS = 0.05;
const MIN_SPIN_MS = 0.002;
let spinMs = SPIN_MS;
/** The longest single sleep; see `waitWhileEqual`. */
const MAX_SLEEP_MS = 10;

/** Default ring capacity in bytes: room for many small items or a 1 MiB one. */
export const DEFAULT_CAPACITY = 4 * 1024 * 1024;

/** Why a reservation did not happen. */
export type ReserveResult = "ok" | "full" | "shut down";

/**
 * Waits while `array[index] === value`: spins a little, then sleeps. It may
 * return early (callers re-check in a loop).
 *
 * @returns `false` when the deadline passed first.
 * @throws The signal's reason when it aborts.
 */
export async function waitWhileEqual(
  array: Int32Array,
  index: number,
  value: number,
  waiters: number,
  deadline: number,
  signal: AbortSignal | undefined,
): Promise<boolean> {
  const spinUntil = performance.now() + spinMs;
  do {
    for (let i = 0; i < 64; i++) {
      if (Atomics.load(array, index) !== value) {
        spinMs = Math.min(SPIN_MS, spinMs * 2 + 0.001);
        return true;
      }
    }
  } while (performance.now() < spinUntil);
  // Spinning failed: spin less next time. When the answer must come through
  // this thread's own event loop (a subprocess child's call), spinning only
  // delays it.
  spinMs = Math.max(MIN_SPIN_MS, spinMs / 2);
  signal?.throwIfAborted();
  const remaining = deadline - performance.now();
  if (remaining <= 0) return false;
  Atomics.add(array, waiters, 1);
  holdEventLoop();
  try {
    // Sleep in slices, re-checking between them: should a wake-up ever be
    // missed, it costs a slice, not the program.
    const slice = Math.min(remaining, MAX_SLEEP_MS);
    const result = Atomics.waitAsync(array, index, value, slice);
    if (!result.async) return true;
    const outcome = signal === undefined
      ? await result.value
      : await raceAbort(result.value, signal);
    if (outcome === "ok") return true;
    return Atomics.load(array, index) !== value ||
      performance.now() < deadline;
  } finally {
    Atomics.sub(array, waiters, 1);
    releaseEventLoop();
  }
}

// A pending `Atomics.waitAsync` does not keep Deno's event loop alive: with
// nothing else pending, the program would end mid-wait. A long timer, held
// only while some wait is pending, keeps it running.
let sleepers = 0;
let keepAlive: ReturnType<typeof setInterval> | undefined;

function holdEventLoop(): void {
  if (sleepers++ === 0) keepAlive = setInterval(() => {}, 2 ** 30);
}

function releaseEventLoop(): void {
  if (--sleepers === 0) clearInterval(keepAlive);
}

function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then((value) => {
      signal.removeEventListener("abort", onAbort);
      resolve(value);
    });
  });
}

function wake(array: Int32Array, seq: number, waiters: number): void {
  Atomics.add(array, seq, 1);
  if (Atomics.load(array, waiters) > 0) Atomics.notify(array, seq);
}

/**
 * A frame longer than the reader accepts; it stays unread. The lengths are
 * of whole frames, so a reader that adds a header can report its own.
 */
export class TooLongError extends RangeError {
  /** The frame's length and the longest accepted, in bytes. */
  constructor(readonly length: number, readonly maxLength: number) {
    super(
      `Cannot receive the message as it is ${length} bytes, longer than maxlength ${maxLength}: it stays unread`,
    );
  }
}

/**
 * Copies bytes out of shared memory into a new private array
 * (`TypedArray.prototype.slice` on shared memory is ~20× slower).
 */
export function copyOf(
  source: Uint8Array,
  start = 0,
  end = source.length,
): Uint8Array {
  const copy = new Uint8Array(end - start);
  copy.set(source.subarray(start, end));
  return copy;
}

let scratch = new Uint8Array(64 * 1024);

/** A reusable buffer of at least `bytes`, for copies around the wrap point. */
function scratchOf(bytes: number): Uint8Array {
  if (scratch.length < bytes) scratch = new Uint8Array(bytes);
  return scratch;
}

// Every ring this isolate uses, so that the locks of a worker child that died
// holding them are freed, whichever queue or pipe the ring belongs to.
const liveRings = new Set<WeakRef<Ring>>();

onChildExit((pid) => {
  const token = tokenOfPid(pid);
  if (token === null) return;
  for (const ref of liveRings) {
    const ring = ref.deref();
    if (ring === undefined) liveRings.delete(ref);
    else ring.releaseHeldBy(token);
  }
});

/** A frame ring in shared memory; see the module comment. */
export class Ring {
  readonly buffer: SharedArrayBuffer;
  #words: Int32Array;
  #data: Uint8Array;
  #capacity: number;

  constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.#words = new Int32Array(buffer, 0, HEADER_WORDS);
    this.#data = new Uint8Array(buffer, HEADER_WORDS * 4);
    this.#capacity = this.#data.length;
    liveRings.add(new WeakRef(this));
  }

  /** Allocates a ring; `maxsize` ≤ 0 means unbounded. */
  static create(maxsize: number, capacity = DEFAULT_CAPACITY): Ring {
    const ring = new Ring(new SharedArrayBuffer(HEADER_WORDS * 4 + capacity));
    Atomics.store(ring.#words, MAXSIZE, Math.max(0, maxsize));
    return ring;
  }

  get maxsize(): number {
    return Atomics.load(this.#words, MAXSIZE);
  }

  /** Items put and not yet taken, including those still being written. */
  get size(): number {
    return Atomics.load(this.#words, SIZE);
  }

  get flags(): number {
    return Atomics.load(this.#words, FLAGS);
  }

  setFlag(flag: number): void {
    Atomics.or(this.#words, FLAGS, flag);
    // Wake every waiter so each re-checks the flags.
    Atomics.add(this.#words, PUT_SEQ, 1);
    Atomics.add(this.#words, GET_SEQ, 1);
    Atomics.notify(this.#words, PUT_SEQ);
    Atomics.notify(this.#words, GET_SEQ);
  }

  // -- Reservation: the queue's maxsize and size -----------------------------

  /** Takes a slot for one item without waiting. */
  tryReserve(): ReserveResult {
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

  /** Takes a slot for one item, waiting while the ring holds `maxsize` items. */
  async reserve(
    deadline: number,
    signal: AbortSignal | undefined,
  ): Promise<ReserveResult> {
    while (true) {
      const seq = Atomics.load(this.#words, GET_SEQ);
      const result = this.tryReserve();
      if (result !== "full") return result;
      const changed = await waitWhileEqual(
        this.#words,
        GET_SEQ,
        seq,
        WRITERS_WAITING,
        deadline,
        signal,
      );
      if (!changed) return this.tryReserve();
    }
  }

  /** Puts back a slot for an item that was taken but never delivered. */
  forceReserve(): void {
    Atomics.add(this.#words, SIZE, 1);
    wake(this.#words, PUT_SEQ, READERS_WAITING);
  }

  /** Gives back a slot taken by a reservation whose item was never written. */
  unreserve(): void {
    Atomics.sub(this.#words, SIZE, 1);
    Atomics.sub(this.#words, UNFINISHED, 1);
    wake(this.#words, GET_SEQ, WRITERS_WAITING);
  }

  // -- Locks -----------------------------------------------------------------

  #tryLock(index: number): boolean {
    return Atomics.compareExchange(this.#words, index, 0, isolateToken()) ===
      0;
  }

  async #lock(
    index: number,
    deadline: number,
    signal: AbortSignal | undefined,
  ): Promise<boolean> {
    while (!this.#tryLock(index)) {
      const holder = Atomics.load(this.#words, index);
      if (holder === 0) continue;
      const changed = await waitWhileEqual(
        this.#words,
        index,
        holder,
        LOCK_WAITERS,
        deadline,
        signal,
      );
      if (!changed) return this.#tryLock(index);
    }
    return true;
  }

  #unlock(index: number): void {
    Atomics.store(this.#words, index, 0);
    if (Atomics.load(this.#words, LOCK_WAITERS) > 0) {
      Atomics.notify(this.#words, index);
    }
  }

  /**
   * Frees the locks held by an isolate that is gone, so the others do not
   * wait forever. Its half-written frame, if any, was never committed.
   */
  releaseHeldBy(token: number): void {
    for (const index of [WRITE_LOCK, READ_LOCK]) {
      if (Atomics.compareExchange(this.#words, index, token, 0) === token) {
        Atomics.notify(this.#words, index);
      }
    }
  }

  // -- Writing ---------------------------------------------------------------

  /** Writes a frame now if nobody else is writing and it fits; else `false`. */
  tryWrite(payload: Uint8Array): boolean {
    if (HEADER + payload.length > this.#free()) return false;
    if (!this.#tryLock(WRITE_LOCK)) return false;
    try {
      if (HEADER + payload.length > this.#free()) return false;
      this.#copyFrame(payload);
      return true;
    } finally {
      this.#unlock(WRITE_LOCK);
    }
  }

  /**
   * Writes a frame of at most `maxBytes` now, if nobody else is writing and
   * it fits: `fill(dest, offset)` writes the payload in place (no copy when
   * the room is contiguous) and returns its length.
   */
  tryWriteWith(
    maxBytes: number,
    fill: (dest: Uint8Array, offset: number) => number,
  ): boolean {
    if (HEADER + maxBytes > this.#free()) return false;
    if (!this.#tryLock(WRITE_LOCK)) return false;
    try {
      if (HEADER + maxBytes > this.#free()) return false;
      const tail = Atomics.load(this.#words, TAIL);
      const start = tail + HEADER;
      let length: number;
      if (start + maxBytes <= this.#capacity) {
        length = fill(this.#data, start);
      } else {
        const scratch = scratchOf(maxBytes);
        length = fill(scratch, 0);
        this.#copyAt(scratch.subarray(0, length), start % this.#capacity);
      }
      this.#writeLength(tail, length);
      Atomics.store(
        this.#words,
        TAIL,
        (tail + HEADER + length) % this.#capacity,
      );
      this.#commitWrite(HEADER + length);
      return true;
    } finally {
      this.#unlock(WRITE_LOCK);
    }
  }

  #copyAt(bytes: Uint8Array, at: number): void {
    const first = Math.min(bytes.length, this.#capacity - at);
    this.#data.set(bytes.subarray(0, first), at);
    if (first < bytes.length) this.#data.set(bytes.subarray(first), 0);
  }

  #writeLength(at: number, length: number): void {
    const data = this.#data;
    const capacity = this.#capacity;
    data[at] = length & 0xff;
    data[(at + 1) % capacity] = (length >>> 8) & 0xff;
    data[(at + 2) % capacity] = (length >>> 16) & 0xff;
    data[(at + 3) % capacity] = length >>> 24;
  }

  /**
   * Reads a frame now, if nobody else is reading and a whole one is there,
   * handing `read` a view of it, in shared memory when contiguous (valid
   * only during the call: copy what must outlive it).
   *
   * @returns What `read` returns, or `undefined` when no frame was read.
   */
  tryReadWith<T>(read: (view: Uint8Array) => T): T | undefined {
    if (Atomics.load(this.#words, USED) < HEADER) return undefined;
    if (!this.#tryLock(READ_LOCK)) return undefined;
    try {
      if (Atomics.load(this.#words, USED) < HEADER) return undefined;
      const head = Atomics.load(this.#words, HEAD);
      const length = this.#readLength(head);
      if (HEADER + length > this.#capacity) return undefined;
      const start = (head + HEADER) % this.#capacity;
      let view: Uint8Array;
      if (start + length <= this.#capacity) {
        view = this.#data.subarray(start, start + length);
      } else {
        view = scratchOf(length).subarray(0, length);
        const first = this.#capacity - start;
        view.set(this.#data.subarray(start));
        view.set(this.#data.subarray(0, length - first), first);
      }
      try {
        return read(view);
      } finally {
        this.#commitRead(HEADER + length);
      }
    } finally {
      this.#unlock(READ_LOCK);
    }
  }

  #readLength(at: number): number {
    const data = this.#data;
    const capacity = this.#capacity;
    return (data[at]! | data[(at + 1) % capacity]! << 8 |
      data[(at + 2) % capacity]! << 16 | data[(at + 3) % capacity]! << 24) >>>
      0;
  }

  /**
   * Writes a frame, waiting for the writer lock and for room. `signal` can
   * stop the wait only before any byte is written: a frame larger than the
   * ring, once started, is finished.
   */
  async write(payload: Uint8Array, signal?: AbortSignal): Promise<void> {
    await this.#lock(WRITE_LOCK, Infinity, signal);
    try {
      if (HEADER + payload.length <= this.#capacity) {
        await this.#waitFree(HEADER + payload.length, signal);
        this.#copyFrame(payload);
      } else {
        await this.#stream(payload);
      }
    } finally {
      this.#unlock(WRITE_LOCK);
    }
  }

  #free(): number {
    return this.#capacity - Atomics.load(this.#words, USED);
  }

  async #waitFree(bytes: number, signal?: AbortSignal): Promise<number> {
    while (true) {
      const seq = Atomics.load(this.#words, GET_SEQ);
      const free = this.#free();
      if (free >= bytes) return free;
      await waitWhileEqual(
        this.#words,
        GET_SEQ,
        seq,
        WRITERS_WAITING,
        Infinity,
        signal,
      );
    }
  }

  #copyFrame(payload: Uint8Array): void {
    const tail = Atomics.load(this.#words, TAIL);
    this.#writeLength(tail, payload.length);
    this.#copyAt(payload, (tail + HEADER) % this.#capacity);
    Atomics.store(
      this.#words,
      TAIL,
      (tail + HEADER + payload.length) % this.#capacity,
    );
    this.#commitWrite(HEADER + payload.length);
  }

  async #stream(payload: Uint8Array): Promise<void> {
    const header = new Uint8Array(HEADER);
    new DataView(header.buffer).setUint32(0, payload.length, true);
    await this.#waitFree(HEADER);
    this.#copyIn(header);
    this.#commitWrite(HEADER);
    let offset = 0;
    while (offset < payload.length) {
      const free = await this.#waitFree(1);
      const end = Math.min(payload.length, offset + free);
      this.#copyIn(payload.subarray(offset, end));
      this.#commitWrite(end - offset);
      offset = end;
    }
  }

  #copyIn(bytes: Uint8Array): void {
    const tail = Atomics.load(this.#words, TAIL);
    const first = Math.min(bytes.length, this.#capacity - tail);
    this.#data.set(bytes.subarray(0, first), tail);
    if (first < bytes.length) this.#data.set(bytes.subarray(first), 0);
    Atomics.store(this.#words, TAIL, (tail + bytes.length) % this.#capacity);
  }

  #commitWrite(bytes: number): void {
    Atomics.add(this.#words, USED, bytes);
    wake(this.#words, PUT_SEQ, READERS_WAITING);
  }

  // -- Reading ---------------------------------------------------------------

  /** Whether a whole frame could be read now (ignoring the reader lock). */
  hasFrame(): boolean {
    const used = Atomics.load(this.#words, USED);
    return used >= HEADER;
  }

  /**
   * Reads a frame now if nobody else is reading and one is there; else
   * `null`.
   *
   * @throws {RangeError} When the frame is longer than `maxLength`; it stays.
   */
  tryRead(maxLength = Infinity): Uint8Array | null {
    if (Atomics.load(this.#words, USED) < HEADER) return null;
    if (!this.#tryLock(READ_LOCK)) return null;
    try {
      if (Atomics.load(this.#words, USED) < HEADER) return null;
      const length = this.#peekLength(maxLength);
      if (HEADER + length > this.#capacity) return null;
      return this.#takeFrame(length);
    } finally {
      this.#unlock(READ_LOCK);
    }
  }

  /**
   * Reads a frame, waiting for the reader lock and for data, until the
   * deadline or until `stop()` says to give up.
   *
   * @returns The payload, or `null` at the deadline or when `stop()` is true
   * and no frame is there.
   * @throws {RangeError} When the frame is longer than `maxLength`; it stays.
   */
  async read(
    deadline: number,
    signal: AbortSignal | undefined,
    stop: () => boolean,
    maxLength = Infinity,
  ): Promise<Uint8Array | null> {
    if (!await this.#lock(READ_LOCK, deadline, signal)) return null;
    try {
      await this.waitReadable(deadline, signal, stop);
      if (!this.hasFrame()) return null;
      const length = this.#peekLength(maxLength);
      if (HEADER + length <= this.#capacity) return this.#takeFrame(length);
      return await this.#unstream(length);
    } finally {
      this.#unlock(READ_LOCK);
    }
  }

  #peekLength(maxLength = Infinity): number {
    const length = this.#readLength(Atomics.load(this.#words, HEAD));
    if (length > maxLength) throw new TooLongError(length, maxLength);
    return length;
  }

  /**
   * Waits until a frame is there to read, or `stop()` is true.
   *
   * @returns `false` when the deadline passed first.
   */
  async waitReadable(
    deadline: number,
    signal: AbortSignal | undefined,
    stop: () => boolean,
  ): Promise<boolean> {
    while (true) {
      const seq = Atomics.load(this.#words, PUT_SEQ);
      if (Atomics.load(this.#words, USED) >= HEADER || stop()) return true;
      const changed = await waitWhileEqual(
        this.#words,
        PUT_SEQ,
        seq,
        READERS_WAITING,
        deadline,
        signal,
      );
      if (!changed) return this.hasFrame() || stop();
    }
  }

  #takeFrame(length: number): Uint8Array {
    const head = Atomics.load(this.#words, HEAD);
    const payload = this.#copyOut((head + HEADER) % this.#capacity, length);
    this.#commitRead(HEADER + length);
    return payload;
  }

  async #unstream(length: number): Promise<Uint8Array> {
    this.#commitRead(HEADER);
    const payload = new Uint8Array(length);
    let offset = 0;
    while (offset < length) {
      const used = await this.#waitUsed();
      const end = Math.min(length, offset + used);
      const head = Atomics.load(this.#words, HEAD);
      payload.set(this.#copyOut(head, end - offset), offset);
      this.#commitRead(end - offset);
      offset = end;
    }
    return payload;
  }

  async #waitUsed(): Promise<number> {
    while (true) {
      const seq = Atomics.load(this.#words, PUT_SEQ);
      const used = Atomics.load(this.#words, USED);
      if (used > 0) return used;
      await waitWhileEqual(
        this.#words,
        PUT_SEQ,
        seq,
        READERS_WAITING,
        Infinity,
        undefined,
      );
    }
  }

  #copyOut(start: number, length: number): Uint8Array {
    const first = Math.min(length, this.#capacity - start);
    if (first === length) return copyOf(this.#data, start, start + length);
    const out = new Uint8Array(length);
    out.set(this.#data.subarray(start, start + first));
    out.set(this.#data.subarray(0, length - first), first);
    return out;
  }

  #commitRead(bytes: number): void {
    const head = Atomics.load(this.#words, HEAD);
    Atomics.store(this.#words, HEAD, (head + bytes) % this.#capacity);
    Atomics.sub(this.#words, USED, bytes);
    wake(this.#words, GET_SEQ, WRITERS_WAITING);
  }

  /** Marks one taken item gone from the queue's size. */
  taken(): void {
    Atomics.sub(this.#words, SIZE, 1);
    wake(this.#words, GET_SEQ, WRITERS_WAITING);
  }

  // -- Tasks (JoinableQueue) -------------------------------------------------

  get unfinished(): number {
    return Atomics.load(this.#words, UNFINISHED);
  }

  /** Counts one task done; `false` when none was unfinished. */
  taskDone(): boolean {
    while (true) {
      const count = Atomics.load(this.#words, UNFINISHED);
      if (count <= 0) return false;
      if (
        Atomics.compareExchange(this.#words, UNFINISHED, count, count - 1) ===
          count
      ) {
        if (count === 1) wake(this.#words, TASK_SEQ, TASK_WAITERS);
        return true;
      }
    }
  }

  /** Waits until every item put has been marked done. */
  async joinTasks(
    deadline: number,
    signal: AbortSignal | undefined,
  ): Promise<boolean> {
    while (true) {
      const seq = Atomics.load(this.#words, TASK_SEQ);
      if (Atomics.load(this.#words, UNFINISHED) <= 0) return true;
      const changed = await waitWhileEqual(
        this.#words,
        TASK_SEQ,
        seq,
        TASK_WAITERS,
        deadline,
        signal,
      );
      if (!changed) return Atomics.load(this.#words, UNFINISHED) <= 0;
    }
  }

  // -- Handles (Pipe EOF) ----------------------------------------------------

  get writeHandles(): number {
    return Atomics.load(this.#words, WRITE_HANDLES);
  }

  addWriteHandle(): void {
    Atomics.add(this.#words, WRITE_HANDLES, 1);
  }

  /** Drops a write handle; readers wake to notice end of stream. */
  dropWriteHandle(): void {
    Atomics.sub(this.#words, WRITE_HANDLES, 1);
    wake(this.#words, PUT_SEQ, READERS_WAITING);
    Atomics.notify(this.#words, PUT_SEQ);
  }
}

/** Kept bytes, or frames, above which `put` waits for the ring to drain. */
const HIGH_WATER = 8 * 1024 * 1024;
const HIGH_WATER_FRAMES = 4096;
/** How long a waiting `put` gives a reader to make progress. */
const STALL_MS = 100;

/**
 * A process's writes to a ring, in order: written at once when the ring has
 * room, else kept and written as room appears. Like Python's feeder thread,
 * it lets `put`/`send` return without waiting for a reader; unlike it, it
 * keeps memory bounded while a reader is draining (see `backPressure`).
 */
export class RingWriter {
  #ring: Ring;
  /** Kept frames are `#pending[#head..]`: shifting a long array is O(n). */
  #pending: Uint8Array[] = [];
  #head = 0;
  #pendingBytes = 0;
  #draining: Promise<void> | null = null;
  #stop = new AbortController();
  #discardAll: () => boolean;
  #progress = Promise.withResolvers<void>();
  #arena = new Uint8Array(0);
  #arenaUsed = 0;

  /**
   * @param discardAll Asked before each write: `true` drops everything kept
   * (a queue shut down with `immediate`); `onDiscard` is told how many.
   */
  constructor(
    ring: Ring,
    discardAll: () => boolean = () => false,
    onDiscard: (count: number) => void = () => {},
  ) {
    this.#ring = ring;
    this.#discardAll = () => {
      if (!discardAll()) return false;
      onDiscard(this.discard());
      return true;
    };
  }

  /** Whether no frame is kept: a new one may be written directly. */
  get idle(): boolean {
    return this.#head === this.#pending.length;
  }

  /** Writes a frame now if it can, else after the frames kept before it. */
  write(bytes: Uint8Array): void {
    if (this.idle && this.#ring.tryWrite(bytes)) return;
    this.#keep(bytes);
  }

  /**
   * Keeps a frame of at most `maxBytes` that `fill` writes (as in
   * `Ring.tryWriteWith`), to be written after the others. Small frames share
   * one arena: a buffer per item would leave the collector behind.
   */
  keepWith(
    maxBytes: number,
    fill: (dest: Uint8Array, offset: number) => number,
  ): void {
    if (this.#arena.length - this.#arenaUsed < maxBytes) {
      this.#arena = new Uint8Array(Math.max(ARENA_BYTES, maxBytes));
      this.#arenaUsed = 0;
    }
    const start = this.#arenaUsed;
    const length = fill(this.#arena, start);
    this.#arenaUsed = start + length;
    this.#keep(this.#arena.subarray(start, start + length));
  }

  #keep(bytes: Uint8Array): void {
    this.#pending.push(bytes);
    this.#pendingBytes += bytes.length;
    this.#draining ??= this.#drain();
  }

  /**
   * Waits while more than a few MiB are kept and a reader is making
   * progress; if none does for a while, calls `onStall` (which may move the
   * kept frames elsewhere) and returns, so a producer never waits forever.
   */
  async backPressure(onStall: () => Promise<void>): Promise<void> {
    while (
      this.#pendingBytes > HIGH_WATER ||
      this.#pending.length - this.#head > HIGH_WATER_FRAMES
    ) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const stalled = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), STALL_MS);
      });
      const progressed = this.#progress.promise.then(() => false);
      const isStalled = await Promise.race([stalled, progressed]);
      clearTimeout(timer);
      if (isStalled) return await onStall();
    }
  }

  /** Drops the frames not yet written, returning how many. */
  discard(): number {
    const count = this.#pending.length - this.#head;
    this.#pending = [];
    this.#head = 0;
    this.#pendingBytes = 0;
    return count;
  }

  async #drain(): Promise<void> {
    // Yield first: were the whole drain synchronous, it would finish inside
    // `#draining ??= this.#drain()`, before the assignment it clears.
    await undefined;
    try {
      while (!this.idle && !this.#discardAll()) {
        const frame = this.#pending[this.#head]!;
        // Write what fits at once; wait only for a frame that does not.
        if (!this.#ring.tryWrite(frame)) {
          await this.#ring.write(frame, this.#stop.signal);
        }
        this.#pending[this.#head++] = EMPTY;
        this.#pendingBytes -= frame.length;
        if (this.#head > 1024 && this.#head * 2 > this.#pending.length) {
          this.#pending = this.#pending.slice(this.#head);
          this.#head = 0;
        }
        if ((this.#head & 63) === 0 || this.idle) {
          this.#progress.resolve();
          this.#progress = Promise.withResolvers<void>();
        }
      }
    } catch {
      // Stopped by takeUnwritten().
    } finally {
      this.#draining = null;
      if (this.idle) this.discard();
    }
  }

  /** Resolves once every kept frame is written. */
  async flushed(): Promise<void> {
    while (this.#draining !== null) await this.#draining;
  }

  /**
   * Stops writing and returns the frames not yet written, for a child that
   * is about to exit to hand to the owner (a frame larger than the ring
   * that has started is finished first).
   */
  async takeUnwritten(): Promise<Uint8Array[]> {
    if (this.#draining === null) return [];
    this.#stop.abort();
    await this.#draining;
    this.#stop = new AbortController();
    const frames = this.#pending.slice(this.#head);
    this.discard();
    return frames;
  }
}

const EMPTY = new Uint8Array(0);
const ARENA_BYTES = 256 * 1024;
