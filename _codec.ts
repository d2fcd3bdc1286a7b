// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// The structured-clone codec for values crossing an OS-process boundary.
// Plain JSON-safe data takes a JSON fast path (checked exactly, so nothing
// structured clone would keep is silently changed); everything else goes
// through `node:v8`, which speaks the structured clone format.
import { deserialize, serialize } from "node:v8";

const TAG_JSON = 0;
const TAG_V8 = 1;
const MAX_JSON_DEPTH = 64;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Whether `JSON.parse(JSON.stringify(value))` gives back a structured clone of it. */
export function isExactJson(value: unknown, depth = 0): boolean {
  switch (typeof value) {
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(value) && !Object.is(value, -0);
    case "object": {
      if (value === null) return true;
      if (depth >= MAX_JSON_DEPTH) return false;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          if (!(i in value) || !isExactJson(value[i], depth + 1)) return false;
        }
        return Object.keys(value).length === value.length;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) return false;
      for (const key in value) {
        const item = (value as Record<string, unknown>)[key];
        if (item === undefined || !isExactJson(item, depth + 1)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

/**
 * Encodes a structured-cloneable value to bytes.
 *
 * @throws {DOMException} `DataCloneError` when the value cannot be cloned.
 */
export function encode(value: unknown): Uint8Array {
  if (isExactJson(value)) {
    const text = JSON.stringify(value);
    const bytes = new Uint8Array(text.length * 3 + 1);
    bytes[0] = TAG_JSON;
    const { written } = encoder.encodeInto(text, bytes.subarray(1));
    return bytes.subarray(0, written + 1);
  }
  const body = serialize(value);
  const bytes = new Uint8Array(body.length + 1);
  bytes[0] = TAG_V8;
  bytes.set(body, 1);
  return bytes;
}

/** Decodes bytes made by {@linkcode encode}. */
export function decode(bytes: Uint8Array): unknown {
  const body = bytes.subarray(1);
  if (bytes[0] === TAG_JSON) return JSON.parse(decoder.decode(body));
  return deserialize(body);
}
