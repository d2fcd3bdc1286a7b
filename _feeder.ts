// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// The feeder: what a process has put or sent and the ring had no room for
// yet, written in order as room appears.
import type { Encoding } from "./_codec.ts";
import { MAX_FRAME, type Ring } from "./_ring.ts";
import { addFlusher } from "./_runtime.ts";
import { settleWithin } from "./_util.ts";

/** Kept bytes, or frames, above which `put` waits for the ring to drain. */
const HIGH_WATER = 8 * 1024 * 1024;
const HIGH_WATER_FRAMES = 4096;
/** How long a waiting `put` gives readers to make progress. */
const STALL_MS = 100;

/**
 * A process's writes to a ring, in order: written at once when the ring has
 * room, else kept and written as room appears. Like Python's feeder thread,
 * it lets `put`/`send` return without waiting for a reader; unlike it, it
 * keeps memory bounded while readers drain (see `backPressure`). Frames
 * leave it in order and only into the ring, so that none overtakes another;
 * a child hands what is left to the owner only as it exits.
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
  /** The ring's read count when readers were last seen stalled. */
  #stalledAt = NaN;

  #onGone: (count: number) => void;

  /**
   * @param discardAll Asked before each write: `true` means it dropped
   * everything kept (a queue shut down with `immediate`).
   * @param onGone Told of frames dropped, or taken to hand over, unwritten.
   */
  constructor(
    ring: Ring,
    discardAll: () => boolean = () => false,
    onGone: (count: number) => void = () => {},
  ) {
    this.#ring = ring;
    this.#discardAll = discardAll;
    this.#onGone = onGone;
  }

  /** Whether no frame is kept: a new one may be written directly. */
  get idle(): boolean {
    return this.#head === this.#pending.length;
  }

  /**
   * Writes a frame now if it can, else after the frames kept before it.
   *
   * @throws {RangeError} When the frame is larger than a ring carries.
   */
  write(bytes: Uint8Array): void {
    if (bytes.length > MAX_FRAME) {
      throw new RangeError(
        `Cannot send ${bytes.length} bytes as one item: at most ${MAX_FRAME} fit`,
      );
    }
    if (this.idle && this.#ring.tryWrite(bytes)) return;
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
    if (this.idle && this.#ring.tryWriteWith(maxBytes, fill)) return true;
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
    this.#pending.push(bytes);
    this.#pendingBytes += bytes.length;
    this.#draining ??= this.#drain();
  }

  /**
   * Waits while more than a few MiB are kept and readers make progress.
   * When no reader reads for a while, it returns, and keeps returning at
   * once until one does: the frames stay kept, as Python's feeder keeps
   * them, so a producer never waits forever.
   */
  async backPressure(): Promise<void> {
    while (
      this.#pendingBytes > HIGH_WATER ||
      this.#pending.length - this.#head > HIGH_WATER_FRAMES
    ) {
      const reads = this.#ring.reads;
      if (reads === this.#stalledAt) return;
      // Stalled: for STALL_MS none of these frames went in, and nobody read.
      const progress = this.#progress.promise.then(() => false);
      const stalled = () => this.#ring.reads === reads;
      if (await settleWithin(progress, STALL_MS, undefined, stalled)) {
        this.#stalledAt = reads;
        return;
      }
    }
  }

  /** Copies of the list of frames kept, in order (the bytes are shared). */
  kept(): Uint8Array[] {
    return this.#pending.slice(this.#head);
  }

  /** Drops the frames not yet written, returning how many. */
  discard(): number {
    const count = this.#pending.length - this.#head;
    this.#pending = [];
    this.#head = 0;
    this.#pendingBytes = 0;
    if (count > 0) this.#onGone(count);
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
    const frames = this.#pending.slice(this.#head);
    this.discard();
    return frames;
  }
}

const EMPTY = new Uint8Array(0);
const ARENA_BYTES = 256 * 1024;
