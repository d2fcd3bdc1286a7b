// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// Length-prefixed frames over a byte stream. Writes made in one tick are
// batched into a single write, as one syscall per small message would cap
// throughput far below what the pipe can carry.

const HEADER = 4;

/** Writes frames through `sink`, one batch per tick, in order. */
export class FrameWriter {
  #sink: (bytes: Uint8Array) => Promise<unknown>;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #writing: Promise<void> | null = null;
  #error: unknown = null;

  constructor(sink: (bytes: Uint8Array) => Promise<unknown>) {
    this.#sink = sink;
  }

  /** Queues one frame; it is written with everything else queued this tick. */
  send(payload: Uint8Array): void {
    if (this.#error !== null) throw this.#error;
    const header = new Uint8Array(HEADER);
    new DataView(header.buffer).setUint32(0, payload.length, true);
    this.#pending.push(header, payload);
    this.#pendingBytes += HEADER + payload.length;
    this.#writing ??= this.#drain();
  }

  /** Resolves once every frame queued so far has been written. */
  async flushed(): Promise<void> {
    while (this.#writing !== null) await this.#writing;
  }

  async #drain(): Promise<void> {
    await Promise.resolve();
    try {
      while (this.#pending.length > 0) {
        const parts = this.#pending;
        this.#pending = [];
        this.#pendingBytes = 0;
        // Small parts go out joined in one write; a large one on its own,
        // uncopied.
        let small: Uint8Array[] = [];
        let smallBytes = 0;
        for (const part of parts) {
          if (part.length < LARGE) {
            small.push(part);
            smallBytes += part.length;
            continue;
          }
          if (small.length > 0) await this.#sink(concat(small, smallBytes));
          small = [];
          smallBytes = 0;
          await this.#sink(part);
        }
        if (small.length > 0) await this.#sink(concat(small, smallBytes));
      }
    } catch (error) {
      this.#error = error;
      this.#pending = [];
    } finally {
      this.#writing = null;
    }
  }
}

function concat(parts: Uint8Array[], size: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
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
 * rejects if the stream ends inside a frame.
 */
export async function readFrames(
  reader: { read(p: Uint8Array): Promise<number | null> },
  onFrame: (payload: Uint8Array) => void,
): Promise<void> {
  const buffer = new Uint8Array(LARGE * 2);
  let start = 0;
  let end = 0;
  while (true) {
    while (end - start >= HEADER) {
      const size = new DataView(buffer.buffer, start).getUint32(0, true);
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
