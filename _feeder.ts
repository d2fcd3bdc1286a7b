// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// The feeder: the frames a process has sent and their destination (a ring,
// or a byte stream) has not taken yet, written in order as it takes them.
import type { Encoding } from "./_codec.ts";
import { MAX_FRAME, type Ring } from "./_ring.ts";
import { addFlusher } from "./_runtime.ts";
import { settleWithin } from "./_util.ts";
import { type StreamSink, writeFrames } from "./_wire.ts";

/** Kept bytes, or frames, above which `put` waits for the ring to drain. */
const HIGH_WATER = 8 * 1024 * 1024;
const HIGH_WATER_FRAMES = 4096;
/** How long a waiting `put` gives readers to make progress. */
const STALL_MS = 100;

/** Options for {@linkcode FrameWriter}. */
export interface FrameWriterOptions {
  /**
   * Asked before each write: `true` means it dropped everything kept (a
   * queue shut down with `immediate`).
   *
   * @default {() => false}
   */
  discardAll?: () => boolean;
  /**
   * Told of frames dropped, or taken to hand over, unwritten.
   *
   * @default {() => {}}
   */
  onGone?: (count: number) => void;
}

/**
 * A process's frames to a ring or a byte stream, in order: written at once
 * when a ring has room, else kept and written as room appears (to a stream,
 * all those of a tick in one write: one syscall per small message would cap
 * throughput far below what the stream carries). Like Python's feeder
 * thread, it lets `put`/`send` return without waiting for a reader; unlike
 * it, it keeps memory bounded while readers drain (see `backPressure`).
 * Frames leave it in order and only into their destination, so that none
 * overtakes another; a child hands what is left to the owner only as it
 * exits. It knows which frames are surely written: those a caller that
 * cannot wait for this thread's event loop must carry some other way (see
 * `unconfirmed`).
 */
export class FrameWriter {
  /** Where the frames go: one of the two. */
  #ring: Ring | null;
  #stream: StreamSink | null;
  /** Kept frames are `#frames[#head..]`: shifting a long array is O(n). */
  #frames: Uint8Array[] = [];
  #head = 0;
  #keptBytes = 0;
  /** How many frames were written before the kept ones. */
  #written = 0;
  #draining: Promise<void> | null = null;
  #stop = new AbortController();
  /** What stopped a stream's writes: every later send throws it. */
  #error: unknown = null;
  #discardAll: () => boolean;
  #onGone: (count: number) => void;
  #progress = Promise.withResolvers<void>();
  #arena = new Uint8Array(0);
  #arenaUsed = 0;
  /** The ring's read count when readers were last seen stalled. */
  #stalledAt = NaN;

  /**
   * @param to A ring, or what writes bytes to a stream.
   */
  constructor(to: Ring | StreamSink, options: FrameWriterOptions = {}) {
    const { discardAll = () => false, onGone = () => {} } = options;
    this.#ring = typeof to === "function" ? null : to;
    this.#stream = typeof to === "function" ? to : null;
    this.#discardAll = discardAll;
    this.#onGone = onGone;
  }

  /** Whether no frame is kept: a new one may be written directly. */
  get idle(): boolean {
    return this.#head === this.#frames.length;
  }

  /**
   * Writes a frame now if it can, else after the frames kept before it.
   *
   * @throws {RangeError} When the frame is larger than a ring carries.
   * @throws The error that stopped a stream's writes.
   */
  send(bytes: Uint8Array): void {
    if (this.#error !== null) throw this.#error;
    if (bytes.length > MAX_FRAME) {
      throw new RangeError(
        `Cannot send ${bytes.length} bytes as one item: at most ${MAX_FRAME} fit`,
      );
    }
    if (this.idle && this.#ring?.tryWrite(bytes)) {
      this.#written++;
      return;
    }
    this.#keep(bytes);
  }

  /**
   * Writes a frame that `fill` writes in place (as in `Ring.tryWriteWith`):
   * now if it can, else kept after the others. Small kept frames share one
   * arena: a buffer per item would leave the collector behind.
   *
   * @returns Whether it was written now.
   */
  writeWith({ maxBytes, fill }: Encoding): boolean {
    if (this.idle && this.#ring?.tryWriteWith(maxBytes, fill)) {
      this.#written++;
      return true;
    }
    if (this.#arena.length - this.#arenaUsed < maxBytes) {
      this.#arena = new Uint8Array(Math.max(ARENA_BYTES, maxBytes));
      this.#arenaUsed = 0;
    }
    const start = this.#arenaUsed;
    const length = fill(this.#arena, start);
    this.#arenaUsed = start + length;
    this.#keep(this.#arena.subarray(start, start + length));
    return false;
  }

  #keep(bytes: Uint8Array): void {
    this.#frames.push(bytes);
    this.#keptBytes += bytes.length;
    this.#draining ??= this.#drain();
  }

  /**
   * Waits while more than a few MiB are kept for a ring and its readers
   * make progress. When no reader reads for a while, it returns, and keeps
   * returning at once until one does: the frames stay kept, as Python's
   * feeder keeps them, so a producer never waits forever.
   */
  async backPressure(): Promise<void> {
    while (
      this.#keptBytes > HIGH_WATER ||
      this.#frames.length - this.#head > HIGH_WATER_FRAMES
    ) {
      const reads = this.#ring!.reads;
      if (reads === this.#stalledAt) return;
      // Stalled: for STALL_MS none of these frames went in, and nobody read.
      const progress = this.#progress.promise.then(() => false);
      const stalled = () => this.#ring!.reads === reads;
      if (await settleWithin(progress, STALL_MS, undefined, stalled)) {
        this.#stalledAt = reads;
        return;
      }
    }
  }

  /**
   * The frames sent but not yet known to be written (kept, or in a write
   * still under way), and how many frames were written before them.
   */
  unconfirmed(): { written: number; frames: Uint8Array[] } {
    return { written: this.#written, frames: this.#frames.slice(this.#head) };
  }

  /** Drops the frames not yet written, returning how many. */
  discard(): number {
    const count = this.#frames.length - this.#head;
    this.#frames = [];
    this.#head = 0;
    this.#keptBytes = 0;
    if (count > 0) this.#onGone(count);
    return count;
  }

  async #drain(): Promise<void> {
    // Yield first: the frames of this tick then go out together, and a
    // drain that finished synchronously would do so inside
    // `#draining ??= this.#drain()`, before the assignment it clears.
    await undefined;
    try {
      while (!this.idle && !this.#discardAll()) {
        this.#confirm(await this.#writeKept());
      }
    } catch (error) {
      // Stopped by takeUnwritten(); else the stream failed, and nothing
      // kept can follow what it lost.
      if (!this.#stop.signal.aborted) {
        this.#error = error;
        this.discard();
      }
    } finally {
      this.#draining = null;
      if (this.idle) this.discard();
    }
  }

  /** Writes kept frames, the first on; resolves with how many. */
  #writeKept(): Promise<number> {
    if (this.#stream !== null) {
      return writeFrames(this.#stream, this.#frames, this.#head);
    }
    return intoRing(this.#ring!, this.#frames, this.#head, this.#stop.signal);
  }

  /** Marks the first `count` kept frames written. */
  #confirm(count: number): void {
    for (const end = this.#head + count; this.#head < end; this.#head++) {
      this.#keptBytes -= this.#frames[this.#head]!.length;
      this.#frames[this.#head] = EMPTY;
    }
    this.#written += count;
    if (this.#head > 1024 && this.#head * 2 > this.#frames.length) {
      this.#frames = this.#frames.slice(this.#head);
      this.#head = 0;
    }
    this.#progress.resolve();
    this.#progress = Promise.withResolvers<void>();
  }

  /**
   * Resolves once every frame sent so far is written.
   *
   * @throws The error that stopped a stream's writes, so that a frame lost
   * with them is never taken for delivered.
   */
  async flushed(): Promise<void> {
    while (this.#draining !== null) await this.#draining;
    if (this.#error !== null) throw this.#error;
  }

  /**
   * Before this child exits, hands the frames it could not write yet (the
   * ring full and nobody reading) to `handOff`, for the owner to write
   * later: the child can exit, and nothing waits on data never written.
   */
  handOffAtExit(handOff: (frames: Uint8Array[]) => void): void {
    addFlusher(async () => {
      const frames = await this.takeUnwritten();
      if (frames.length > 0) handOff(frames);
    });
  }

  /**
   * Stops writing and returns the frames not yet written, for a child that
   * is about to exit to hand to the owner.
   */
  async takeUnwritten(): Promise<Uint8Array[]> {
    if (this.#draining === null) return [];
    this.#stop.abort();
    await this.#draining;
    this.#stop = new AbortController();
    const { frames } = this.unconfirmed();
    this.discard();
    return frames;
  }
}

/**
 * Writes what fits of `frames` from `from` into `ring` at once, or waits to
 * write the first; resolves with how many it wrote.
 */
async function intoRing(
  ring: Ring,
  frames: Uint8Array[],
  from: number,
  signal: AbortSignal,
): Promise<number> {
  let to = from;
  while (to < frames.length && ring.tryWrite(frames[to]!)) to++;
  if (to > from) return to - from;
  await ring.write(frames[from]!, signal);
  return 1;
}

const EMPTY = new Uint8Array(0);
const ARENA_BYTES = 256 * 1024;
