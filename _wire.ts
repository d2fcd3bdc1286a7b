// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// Length-prefixed frames over a byte stream. Writes made in one tick are
// batched into a single write, as one syscall per small message would cap
// throughput far below what the pipe can carry.

import type { CallMessage } from "./_runtime.ts";

const HEADER = 4;

// Which of a link's two connections a handshake opens (its `role`).
/** The connection of the link's own thread. */
export const MAIN = "m";
/** The connection of the link's blocking-call helper. */
export const BLOCKING = "b";

/**
 * A blocking call as the helper sends it: it follows the first `w` frames
 * of the main connection (surely written) and then those in `r` (copies of
 * frames that may still be on their way).
 */
export interface BlockingFrame {
  w: number;
  r: Uint8Array[];
  m: CallMessage;
}

/**
 * Writes frames through `sink`, one batch per tick, in order, and knows
 * which frames are surely written: those a caller that cannot wait for this
 * thread's event loop must carry some other way (see `unconfirmed`).
 */
export class FrameWriter {
  #sink: (bytes: Uint8Array) => Promise<unknown>;
  /** Frames from `#head` on are not yet known to be written. */
  #frames: Uint8Array[] = [];
  #head = 0;
  /** Frames from `#next` on are not yet handed to the sink. */
  #next = 0;
  #written = 0;
  #writing: Promise<void> | null = null;
  #error: unknown = null;

  constructor(sink: (bytes: Uint8Array) => Promise<unknown>) {
    this.#sink = sink;
  }

  /** Queues one frame; it is written with everything else queued this tick. */
  send(payload: Uint8Array): void {
    if (this.#error !== null) throw this.#error;
    this.#frames.push(payload);
    this.#writing ??= this.#drain();
  }

  /**
   * The frames sent but not yet known to be written (queued, or in a write
   * still under way), and how many frames were written before them.
   */
  unconfirmed(): { written: number; frames: Uint8Array[] } {
    return { written: this.#written, frames: this.#frames.slice(this.#head) };
  }

  /** Whether every frame sent is known to be written. */
  get idle(): boolean {
    return this.#head === this.#frames.length;
  }

  /**
   * Resolves once every frame queued so far has been written.
   *
   * @throws The error that stopped the writes, so that a frame lost with
   * them is never taken for delivered.
   */
  async flushed(): Promise<void> {
    while (this.#writing !== null) await this.#writing;
    if (this.#error !== null) throw this.#error;
  }

  async #drain(): Promise<void> {
    await Promise.resolve();
    try {
      while (this.#next < this.#frames.length) {
        const batch = this.#frames.slice(this.#next);
        this.#next = this.#frames.length;
        await this.#writeBatch(batch);
      }
    } catch (error) {
      this.#error = error;
      this.#frames = [];
      this.#head = this.#next = 0;
    } finally {
      this.#writing = null;
    }
  }

  /** Small frames go out joined in one write; a large one on its own, uncopied. */
  async #writeBatch(batch: Uint8Array[]): Promise<void> {
    let from = 0;
    for (let i = 0; i < batch.length; i++) {
      const frame = batch[i]!;
      if (frame.length < LARGE) continue;
      await this.#sink(joined(batch, from, i, frame.length));
      this.#confirm(i - from);
      await this.#sink(frame);
      this.#confirm(1);
      from = i + 1;
    }
    if (from < batch.length) {
      await this.#sink(joined(batch, from));
      this.#confirm(batch.length - from);
    }
  }

  #confirm(count: number): void {
    this.#head += count;
    this.#written += count;
    if (this.#head === this.#frames.length) {
      this.#frames = [];
      this.#head = this.#next = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#frames.length) {
      this.#frames.splice(0, this.#head);
      this.#next -= this.#head;
      this.#head = 0;
    }
  }
}

/**
 * Frames `from` to `to` of `batch` joined, each after its length header,
 * then the header of a large frame of length `large` written next on its
 * own (if `large` ≥ 0).
 */
export function joined(
  batch: Uint8Array[],
  from = 0,
  to = batch.length,
  large = -1,
): Uint8Array {
  let size = large >= 0 ? HEADER : 0;
  for (let i = from; i < to; i++) size += HEADER + batch[i]!.length;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let offset = 0;
  for (let i = from; i < to; i++) {
    const frame = batch[i]!;
    view.setUint32(offset, frame.length, true);
    out.set(frame, offset + HEADER);
    offset += HEADER + frame.length;
  }
  if (large >= 0) view.setUint32(offset, large, true);
  return out;
}

/** Writes all of `bytes` to a Deno writer that may take them in pieces. */
export async function writeAll(
  writer: { write(p: Uint8Array): Promise<number> },
  bytes: Uint8Array,
): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) {
    offset += await writer.write(bytes.subarray(offset));
  }
}

/** Frames at least this long are read into a buffer of their own. */
const LARGE = 64 * 1024;

/**
 * Reads frames from `reader` until end of stream, calling `onFrame` for each
 * with a payload it may keep (never reused). Resolves at a clean end;
 * rejects if the stream ends inside a frame, or a frame announces more than
 * `limit` bytes (a peer that is not trusted must not make this process
 * allocate without bound).
 */
export async function readFrames(
  reader: { read(p: Uint8Array): Promise<number | null> },
  onFrame: (payload: Uint8Array) => void,
  limit = Infinity,
): Promise<void> {
  const buffer = new Uint8Array(LARGE * 2);
  let start = 0;
  let end = 0;
  while (true) {
    while (end - start >= HEADER) {
      const size = new DataView(buffer.buffer, start).getUint32(0, true);
      if (size > limit) {
        // The stream cannot go on: what follows would not line up.
        throw new RangeError(
          `Cannot read a frame of ${size} bytes as the limit is ${limit} bytes`,
        );
      }
      if (size >= LARGE) {
        // Read a large payload straight into its own buffer: one copy less.
        const payload = new Uint8Array(size);
        const buffered = Math.min(size, end - start - HEADER);
        payload.set(buffer.subarray(start + HEADER, start + HEADER + buffered));
        start += HEADER + buffered;
        for (let got = buffered; got < size;) {
          const n = await reader.read(payload.subarray(got));
          if (n === null) throw new Error("The stream ended inside a frame");
          got += n;
        }
        onFrame(payload);
        continue;
      }
      if (end - start < HEADER + size) break;
      const payload = buffer.slice(start + HEADER, start + HEADER + size);
      start += HEADER + size;
      onFrame(payload);
    }
    if (start === end) start = end = 0;
    if (end + LARGE > buffer.length) {
      buffer.copyWithin(0, start, end);
      end -= start;
      start = 0;
    }
    const n = await reader.read(buffer.subarray(end));
    if (n === null) {
      if (end > start) throw new Error("The stream ended inside a frame");
      return;
    }
    end += n;
  }
}

/** Hands each connection `listener` accepts to `serve`, until it is closed. */
export async function acceptEach(
  listener: Deno.Listener,
  serve: (conn: Deno.Conn) => void,
): Promise<void> {
  while (true) {
    let conn: Deno.Conn;
    try {
      conn = await listener.accept();
    } catch {
      return; // The listener was closed.
    }
    serve(conn);
  }
}
