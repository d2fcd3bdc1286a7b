// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// Length-prefixed frames over a byte stream (`FrameWriter` in `_feeder.ts`
// writes them).

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

/** Writes bytes to a stream, resolving once it has taken them all. */
export type StreamSink = (bytes: Uint8Array) => Promise<unknown>;

/**
 * Writes frames of `frames` from `from` on to a stream: the small ones up
 * to the next large one joined in one write with its header, then the
 * large one on its own, uncopied. Resolves with how many it wrote.
 */
export async function writeFrames(
  sink: StreamSink,
  frames: Uint8Array[],
  from: number,
): Promise<number> {
  let to = from;
  while (to < frames.length && frames[to]!.length < LARGE) to++;
  const large = frames[to];
  await sink(joined(frames.slice(from, to), large?.length ?? -1));
  if (large === undefined) return to - from;
  await sink(large);
  return to - from + 1;
}

/**
 * The frames joined, each after its length header, then the header of a
 * large frame of length `large` written next on its own (if `large` ≥ 0).
 */
export function joined(frames: Uint8Array[], large = -1): Uint8Array {
  let size = large >= 0 ? HEADER : 0;
  for (const frame of frames) size += HEADER + frame.length;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let offset = 0;
  for (const frame of frames) {
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
  try {
    for await (const conn of listener) serve(conn);
  } catch {
    // The listener failed: it accepts no more, as once it is closed.
  }
}
