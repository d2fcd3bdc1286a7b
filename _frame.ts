// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// What a queue item or a pipe message looks like as bytes: one flag byte,
// then either the codec's encoding or, for a lone typed array or
// ArrayBuffer, its raw bytes after a type byte, so binary data is copied
// once on each side and never parsed.
import {
  decode,
  type Encoding,
  encoding,
  jsonKind,
  NOT_JSON,
} from "./_codec.ts";
import { rebuild, rebuildSync, reduce, type Reduced } from "./_reduce.ts";
import { copyOf, scratchOf } from "./_ring.ts";

/** The value's encoding follows. */
export const VALUE = 0;
/** The value's encoding follows, with primitives to rebuild. */
export const REDUCED = 1;
/** A type byte and raw bytes follow. */
export const RAW = 2;
/** Raw bytes sent with `sendBytes` follow. */
export const BYTES = 3;

const RAW_TYPES = [
  ArrayBuffer,
  Uint8Array,
  Int8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
  DataView,
] as const;

const RAW_CODES = new Map<unknown, number>(
  RAW_TYPES.map((type, code) => [type.prototype, code]),
);

/** The bytes of an ArrayBuffer or of the part of a buffer a view sees. */
export function rawBytes(value: ArrayBufferView | ArrayBuffer): Uint8Array {
  return ArrayBuffer.isView(value)
    ? new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
    : new Uint8Array(value);
}

/**
 * Encodes a value as a frame, replacing primitives inside with descriptors.
 *
 * @param path How to name the value in errors, such as `item`.
 * @throws {TypeError} When some part cannot be cloned, naming where.
 */
export function encodeFrame(value: unknown, path: string): Uint8Array {
  let frame = inPlaceFrame(value);
  if (frame === null) {
    const reduced = reduce(value, "subprocess", path);
    const flag = reduced.reduced ? REDUCED : VALUE;
    frame = flagged(flag, encoding(reduced.value, NOT_JSON));
  }
  const bytes = new Uint8Array(frame.maxBytes);
  return ownBuffer(bytes.subarray(0, frame.fill(bytes, 0)));
}

/** The codec's encoding after a flag byte. */
function flagged(flag: number, { maxBytes, fill }: Encoding): Encoding {
  return {
    maxBytes: 1 + maxBytes,
    fill(dest, offset) {
      dest[offset] = flag;
      return 1 + fill(dest, offset + 1);
    },
  };
}

/**
 * A frame that all but fills its buffer. A frame may travel inside a
 * message to another process, and a message carries a view's whole buffer,
 * which `encoding` sizes for the worst case of UTF-8.
 */
function ownBuffer(frame: Uint8Array): Uint8Array {
  const slack = frame.buffer.byteLength - frame.length;
  if (slack <= 256) return frame;
  return new Uint8Array((frame.buffer as ArrayBuffer).transfer(frame.length));
}

function rawValue(frame: Uint8Array): unknown {
  const Type = RAW_TYPES[frame[1]!]!;
  const buffer = copyOf(frame, 2).buffer as ArrayBuffer;
  return Type === ArrayBuffer ? buffer : new (Type as typeof DataView)(buffer);
}

/**
 * Decodes a frame without rebuilding primitives: its value, and whether
 * primitives in it need rebuilding. `frame` may be a view of shared memory
 * (or of the ring's scratch buffer, which this copies into): each byte is
 * copied once.
 */
export function decodeFrame(frame: Uint8Array): Reduced {
  const flag = frame[0];
  if (flag === RAW) return { value: rawValue(frame), reduced: false };
  if (flag === BYTES) return { value: copyOf(frame, 1), reduced: false };
  // Text decodes 5× faster from private memory than from shared memory.
  const copy = scratchOf(frame.length).subarray(0, frame.length);
  copy.set(frame);
  return { value: decode(copy.subarray(1)), reduced: flag === REDUCED };
}

/** Decodes a frame and rebuilds the primitives in it. */
export async function decodeFrameFully(frame: Uint8Array): Promise<unknown> {
  const { value, reduced } = decodeFrame(frame);
  return reduced ? await rebuild(value) : value;
}

/** A decoded frame's value, its primitives rebuilt without waiting (see `rebuildSync`). */
export function rebuiltSync({ value, reduced }: Reduced): unknown {
  return reduced ? rebuildSync(value) : value;
}

/** Like {@linkcode decodeFrameFully}, without waiting (see `rebuildSync`). */
export function decodeFrameSync(frame: Uint8Array): unknown {
  return rebuiltSync(decodeFrame(frame));
}

/**
 * For a lone typed array or exact JSON data, how to write its frame straight
 * into a ring (one copy, no allocation); `null` for anything else.
 */
export function inPlaceFrame(value: unknown): Encoding | null {
  const raw = rawFrame(value);
  if (raw !== null) return raw;
  const kind = jsonKind(value);
  return kind === NOT_JSON ? null : flagged(VALUE, encoding(value, kind));
}

/**
 * The frame of a lone typed array or ArrayBuffer that raw bytes carry whole;
 * `null` for anything else. A view of part of its buffer, or of a resizable
 * or shared one, is left to the codec, which keeps the buffer as structured
 * clone does.
 */
function rawFrame(value: unknown): Encoding | null {
  if (typeof value !== "object" || value === null) return null;
  const code = RAW_CODES.get(Object.getPrototypeOf(value));
  if (code === undefined) return null;
  const bytes = rawBytes(value as ArrayBuffer | ArrayBufferView);
  const { buffer } = bytes;
  const whole = buffer instanceof ArrayBuffer && !buffer.resizable &&
    bytes.length === buffer.byteLength;
  if (!whole) return null;
  return {
    maxBytes: 2 + bytes.length,
    fill(dest, offset) {
      dest[offset] = RAW;
      dest[offset + 1] = code;
      dest.set(bytes, offset + 2);
      return 2 + bytes.length;
    },
  };
}
