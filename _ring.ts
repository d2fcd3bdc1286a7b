// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// A ring of whole frames in a SharedArrayBuffer, between the isolates that
// map it (the parent and its worker children, and with shared memory across
// OS processes, `_shm.ts`, subprocess children too).
//
// One writer at a time (the writer lock) and one reader at a time (the
// reader lock) make it a single-producer single-consumer ring between lock
// holders: the writer alone moves the tail, the reader alone moves the head.
// A frame is committed whole, by one store of the tail (a read by one of
// the head), so a reader never sees half of one, and a writer or reader
// that dies anywhere in the middle, even an OS process killed between two
// instructions, commits nothing.
//
// A frame too large for the ring never streams through it in pieces (a
// writer dying mid-stream would leave its reader waiting forever). It is
// copied whole into the large-frame area, a second, growable buffer (the
// ring's own stays fixed: views of a growable one copy slower), and only
// then is a marker committed to the ring, in the frame's place in the
// order. The area holds one frame at a time; its word packs a
// generation, bumped by each writer that takes it, with its holder: the
// writer's party code while it copies, `IN_RING` once the marker is
// committed, the reader's token while it copies out. A marker names its
// generation, so one whose writer died after committing it, and whose area
// was freed and taken again, is recognised and skipped. The area keeps the
// size of the largest frame it held: a growable buffer cannot shrink.
//
// Waiting spins briefly, then sleeps with `Atomics.waitAsync`, so that no
// thread ever blocks and the main thread's event loop keeps running. The
// two locks are `LockCore`s, and they and the area's word hold the code of
// their holder, so that whoever learns it died (the kind's `reap`, or a
// waiter) can free what it held.
import { notify, spinWhile, waitFor, wake } from "./_futex.ts";
import { LOCK_WORDS, LockCore, NOT_ACQUIRED } from "./_lock_core.ts";
import { grownTo, sharedBuffer } from "./_shm.ts";
import { beginEffect, endEffect, isDead, selfCode } from "./_isolates.ts";

const WRITE_LOCK = 0;
const READ_LOCK = WRITE_LOCK + LOCK_WORDS;
// Each other word waited on is followed by the count of its waiters (see
// `waitFor`), so that wakers skip the notify when nobody sleeps.
/** The large-frame area's generation and holder; see the module comment. */
const AREA = 6;
/** Bumped on every commit of written bytes. */
const PUT_SEQ = 8;
/** Bumped on every commit of read bytes. */
const GET_SEQ = 10;
/**
 * Where the reader and the writer are, in [0, 2 × capacity): each is moved
 * by one store of its own side, so a commit is a single write that a
 * process killed at any point has made whole or not at all.
 */
const HEAD = 12;
const TAIL = 13;
const AREA_LENGTH = 14;
const RING_WORDS = 16;
/** Words the ring's user (a queue or a pipe) keeps its own state in. */
const STATE_WORDS = 48;
const DATA_START = (RING_WORDS + STATE_WORDS) * 4;

const HEADER = 4;
/**
 * The bytes a frame of `length` takes: whole words, so that a length word
 * never wraps around the end of the ring.
 */
const frameBytes = (length: number) => HEADER + 4 * Math.ceil(length / 4);
/** Set in a frame's length word: a marker of the frame in the area. */
const MARKER = 0x80000000;
const HOLDER_BITS = 0x40000;
/** The area's holder once its marker is in the ring (codes are < 0x20000). */
const IN_RING = 0x20000;
const GENERATIONS = 0x2000;
/** The largest frame: its length must fit the 32-bit length word. */
export const MAX_FRAME = 2 ** 32 - 1;

const holderOf = (area: number) => area % HOLDER_BITS;
const generationOf = (area: number) => Math.floor(area / HOLDER_BITS);
const areaWord = (generation: number, holder: number) =>
  generation * HOLDER_BITS + holder;

/** Default ring capacity in bytes: room for many small items or a 1 MiB one. */
export const DEFAULT_CAPACITY = 4 * 1024 * 1024;

/** What a ring is made of: its own buffer, and the large-frame area. */
export type RingBuffers = readonly [
  ring: SharedArrayBuffer,
  area: SharedArrayBuffer,
];

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
export function copyOf(source: Uint8Array, start = 0): Uint8Array {
  const copy = new Uint8Array(source.length - start);
  copy.set(source.subarray(start));
  return copy;
}

/** A filler (see `Ring.tryWriteWith`) that copies `payload`. */
function copier(payload: Uint8Array) {
  return (dest: Uint8Array, offset: number) => {
    dest.set(payload, offset);
    return payload.length;
  };
}

let scratch = new Uint8Array(64 * 1024);

/**
 * A reusable buffer of at least `bytes`, for copies around the wrap point
 * (and into private memory: see `decodeFrame`).
 */
export function scratchOf(bytes: number): Uint8Array {
  if (scratch.length < bytes) scratch = new Uint8Array(bytes);
  return scratch;
}

/** A frame ring in shared memory; see the module comment. */
export class Ring {
  readonly buffers: RingBuffers;
  /** Words for the user's own counters, in the ring's buffer. */
  readonly state: Int32Array;
  /**
   * Run with each frame this isolate commits, in the same effect (see
   * `beginEffect`): a worker stopped from outside has either committed the
   * frame and run this, or done neither.
   */
  onCommit: (() => void) | null = null;
  #words: Int32Array;
  #writeLock: LockCore;
  #readLock: LockCore;
  #data: Uint8Array;
  /** The data as words, to read and write the length word of a frame. */
  #lengths: Uint32Array;
  /** The large-frame area: tracks the buffer's length as it grows. */
  #area: Uint8Array;
  #capacity: number;

  constructor(buffers: RingBuffers) {
    const [buffer, area] = this.buffers = buffers;
    this.#words = new Int32Array(buffer, 0, RING_WORDS);
    const lockAt = (at: number) =>
      new LockCore(new Int32Array(buffer, at * 4, LOCK_WORDS), false);
    this.#writeLock = lockAt(WRITE_LOCK);
    this.#readLock = lockAt(READ_LOCK);
    this.state = new Int32Array(buffer, RING_WORDS * 4, STATE_WORDS);
    // Whole words, as frames are.
    this.#capacity = (buffer.byteLength - DATA_START) & ~3;
    this.#data = new Uint8Array(buffer, DATA_START, this.#capacity);
    this.#lengths = new Uint32Array(buffer, DATA_START, this.#capacity / 4);
    this.#area = new Uint8Array(area);
  }

  /** Allocates a ring whose area may grow to any frame's size. */
  static create(capacity = DEFAULT_CAPACITY): Ring {
    return new Ring([
      sharedBuffer(DATA_START + capacity),
      sharedBuffer(0, MAX_FRAME),
    ]);
  }

  /** Bumped by every read: whether readers are making progress. */
  get reads(): number {
    return Atomics.load(this.#words, GET_SEQ);
  }

  /** Wakes every reader, to re-check a condition of the user's (EOF, shutdown). */
  wakeReaders(): void {
    wake(this.#words, PUT_SEQ);
  }

  // -- Locks -----------------------------------------------------------------

  /**
   * Takes `lock` for this isolate if it is free. An effect, so that a
   * worker stopped from outside takes no lock once its parent freed those
   * it held.
   */
  #tryLock(lock: LockCore): boolean {
    beginEffect();
    try {
      return lock.tryAcquire(selfCode()) !== NOT_ACQUIRED;
    } finally {
      endEffect();
    }
  }

  #lock(
    lock: LockCore,
    deadline: number,
    signal: AbortSignal | undefined,
  ): Promise<boolean> {
    return lock.acquireUntil(deadline, signal, () => this.#tryLock(lock));
  }

  /**
   * Frees the locks and the area held by an isolate that is gone, so the
   * others do not wait forever. Its half-written frame was never committed.
   * Run by the kind of the ring's user on each death this isolate hears
   * of; a waiter frees a dead holder itself (the locks' waiters, and the
   * area's here), as one that died in an OS process whose death the
   * processes holding this ring never hear of (a sibling of the owner's)
   * is found only by whoever waits for it.
   *
   * @returns `undefined`, to chain after a failed attempt.
   */
  releaseDead(): undefined {
    this.#writeLock.reap(isDead);
    this.#readLock.reap(isDead);
    const area = Atomics.load(this.#words, AREA);
    const holder = holderOf(area);
    // Holders below IN_RING are party codes; IN_RING and above are not.
    if (holder !== 0 && holder < IN_RING && isDead(holder)) {
      this.#setArea(area, generationOf(area), 0);
    }
  }

  // -- The large-frame area --------------------------------------------------

  /** Sets the area's word from `expected`; `false` if it changed meanwhile. */
  #setArea(expected: number, generation: number, holder: number): boolean {
    const word = areaWord(generation, holder);
    if (
      Atomics.compareExchange(this.#words, AREA, expected, word) !== expected
    ) {
      return false;
    }
    if (holder === 0) notify(this.#words, AREA);
    return true;
  }

  /** Takes the free area for a new frame; its generation, else `undefined`. */
  #tryTakeArea(): number | undefined {
    const area = Atomics.load(this.#words, AREA);
    if (holderOf(area) !== 0) return this.releaseDead();
    const generation = (generationOf(area) + 1) % GENERATIONS;
    beginEffect();
    try {
      if (this.#setArea(area, generation, selfCode())) return generation;
    } finally {
      endEffect();
    }
  }

  /** Whether the area still holds the frame of `generation`, now held by this reader. */
  #claimArea(generation: number): boolean {
    while (true) {
      const area = Atomics.load(this.#words, AREA);
      if (generationOf(area) !== generation) return false;
      if (this.#setArea(area, generation, selfCode())) return true;
    }
  }

  // -- Writing ---------------------------------------------------------------

  /** The offset in the data of a HEAD or TAIL position. */
  #offset(position: number): number {
    return position >= this.#capacity ? position - this.#capacity : position;
  }

  #used(): number {
    const used = Atomics.load(this.#words, TAIL) -
      Atomics.load(this.#words, HEAD);
    return used < 0 ? used + 2 * this.#capacity : used;
  }

  #free(): number {
    return this.#capacity - this.#used();
  }

  /** Writes a frame now if nobody else is writing and it fits; else `false`. */
  tryWrite(payload: Uint8Array): boolean {
    return this.tryWriteWith(payload.length, copier(payload));
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
    const room = frameBytes(maxBytes);
    if (room > this.#free() || !this.#tryLock(this.#writeLock)) return false;
    try {
      if (room > this.#free()) return false;
      this.#writeWith(maxBytes, fill);
      return true;
    } finally {
      this.#writeLock.free();
    }
  }

  /**
   * Writes a frame, waiting for room (and, for a large frame, for the area).
   * `signal` stops the wait; the frame is then not written at all.
   */
  async write(payload: Uint8Array, signal?: AbortSignal): Promise<void> {
    const length = payload.length;
    if (HEADER + length <= this.#capacity) {
      const write = () => this.#writeWith(length, copier(payload));
      return await this.#underWriteLock(frameBytes(length), signal, write);
    }
    const taken = () => this.#tryTakeArea();
    const generation =
      (await waitFor(this.#words, AREA, Infinity, signal, taken))!;
    const held = areaWord(generation, selfCode());
    try {
      if (this.#area.length < length) this.buffers[1].grow(length);
      this.#area.set(payload);
      Atomics.store(this.#words, AREA_LENGTH, length | 0);
      await this.#underWriteLock(HEADER, signal, () => {
        const marker = (MARKER | generation) >>> 0;
        this.#commitFrame(Atomics.load(this.#words, TAIL), 0, marker);
        // The area passes to the ring with its marker.
        this.#setArea(held, generation, IN_RING);
      });
    } finally {
      // Unless the marker went in, the area is free again.
      this.#setArea(held, generation, 0);
    }
  }

  async #underWriteLock(
    room: number,
    signal: AbortSignal | undefined,
    commit: () => void,
  ): Promise<void> {
    await this.#lock(this.#writeLock, Infinity, signal);
    try {
      const fits = () => this.#free() >= room || undefined;
      await waitFor(this.#words, GET_SEQ, Infinity, signal, fits);
      commit();
    } finally {
      this.#writeLock.free();
    }
  }

  #writeWith(
    maxBytes: number,
    fill: (dest: Uint8Array, offset: number) => number,
  ): void {
    const tail = Atomics.load(this.#words, TAIL);
    const start = this.#offset(tail) + HEADER;
    if (start + maxBytes <= this.#capacity) {
      return this.#commitFrame(tail, fill(this.#data, start));
    }
    const scratch = scratchOf(maxBytes);
    const length = fill(scratch, 0);
    const first = Math.min(length, this.#capacity - start);
    this.#data.set(scratch.subarray(0, first), start);
    this.#data.set(scratch.subarray(first, length), 0);
    this.#commitFrame(tail, length);
  }

  /** Commits the frame whose payload is written after `tail`. */
  #commitFrame(tail: number, length: number, word = length): void {
    beginEffect();
    try {
      this.#lengths[this.#offset(tail) / 4] = word;
      const next = (tail + frameBytes(length)) % (2 * this.#capacity);
      Atomics.store(this.#words, TAIL, next);
      this.onCommit?.();
      wake(this.#words, PUT_SEQ);
    } finally {
      endEffect();
    }
  }

  // -- Reading ---------------------------------------------------------------

  /** Whether a frame could be read now (ignoring the reader lock). */
  hasFrame(): boolean {
    return this.#used() >= HEADER;
  }

  /**
   * Reads a frame now, if nobody else is reading and one is there, handing
   * `read` a view of it, in shared memory when contiguous (valid only during
   * the call: copy what must outlive it).
   *
   * @returns What `read` returns, or `undefined` when no frame was read.
   * @throws {RangeError} When the frame is longer than `maxLength`; it stays.
   */
  tryReadWith<T>(
    read: (view: Uint8Array) => T,
    maxLength = Infinity,
  ): T | undefined {
    if (!this.hasFrame() || !this.#tryLock(this.#readLock)) return undefined;
    try {
      return this.#readFrame(read, maxLength);
    } finally {
      this.#readLock.free();
    }
  }

  /**
   * Whether a frame is there, or comes within a spin: what a wait would
   * see before it sleeps, without its chain of async returns.
   */
  frameSoon(): boolean {
    const seen = Atomics.load(this.#words, PUT_SEQ);
    if (this.hasFrame()) return true;
    return spinWhile(this.#words, PUT_SEQ, seen) && this.hasFrame();
  }

  /**
   * Reads a frame now if nobody else is reading and one is there; else
   * `null`.
   *
   * @throws {RangeError} When the frame is longer than `maxLength`; it stays.
   */
  tryRead(maxLength = Infinity): Uint8Array | null {
    return this.tryReadWith(copyOf, maxLength) ?? null;
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
    if (!await this.#lock(this.#readLock, deadline, signal)) return null;
    try {
      while (await this.waitReadable(deadline, signal, stop)) {
        if (!this.hasFrame()) return null;
        const frame = this.#readFrame(copyOf, maxLength);
        if (frame !== undefined) return frame;
      }
      return null;
    } finally {
      this.#readLock.free();
    }
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
    const ready = () => this.hasFrame() || stop() || undefined;
    return await waitFor(this.#words, PUT_SEQ, deadline, signal, ready) ??
      false;
  }

  /** Reads the frame at the head, the reader lock held; skips lost markers. */
  #readFrame<T>(
    read: (view: Uint8Array) => T,
    maxLength: number,
  ): T | undefined {
    while (this.hasFrame()) {
      const at = this.#offset(Atomics.load(this.#words, HEAD));
      const word = this.#lengths[at / 4]!;
      if ((word & MARKER) === 0) {
        return this.#readSmall(at + HEADER, word, read, maxLength);
      }
      const generation = word & (GENERATIONS - 1);
      if (this.#claimArea(generation)) {
        return this.#readLarge(generation, read, maxLength);
      }
      // Its writer died after committing it, and the area moved on.
      this.#commitRead(HEADER);
    }
    return undefined;
  }

  /** Reads the small frame of `length` whose payload is at `start`. */
  #readSmall<T>(
    start: number,
    length: number,
    read: (view: Uint8Array) => T,
    maxLength: number,
  ): T {
    if (length > maxLength) throw new TooLongError(length, maxLength);
    let view = this.#data.subarray(start, start + length);
    if (view.length < length) {
      // The frame wraps: join its two parts.
      const joined = scratchOf(length).subarray(0, length);
      joined.set(view);
      joined.set(this.#data.subarray(0, length - view.length), view.length);
      view = joined;
    }
    try {
      return read(view);
    } finally {
      this.#commitRead(frameBytes(length));
    }
  }

  #readLarge<T>(
    generation: number,
    read: (view: Uint8Array) => T,
    maxLength: number,
  ): T {
    const held = areaWord(generation, selfCode());
    const length = Atomics.load(this.#words, AREA_LENGTH) >>> 0;
    // Grown by a writer in another OS process: a buffer's length is each
    // process's own.
    grownTo(this.buffers[1], length);
    if (length > maxLength) {
      this.#setArea(held, generation, IN_RING);
      throw new TooLongError(length, maxLength);
    }
    try {
      return read(this.#area.subarray(0, length));
    } finally {
      // Free the area before the marker: a reader dying between the two then
      // leaves a marker that is read again or skipped, never a stuck area.
      this.#setArea(held, generation, 0);
      this.#commitRead(HEADER);
    }
  }

  #commitRead(bytes: number): void {
    beginEffect();
    try {
      const head = Atomics.load(this.#words, HEAD);
      Atomics.store(this.#words, HEAD, (head + bytes) % (2 * this.#capacity));
      wake(this.#words, GET_SEQ);
    } finally {
      endEffect();
    }
  }
}
