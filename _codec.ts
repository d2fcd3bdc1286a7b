// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// The structured-clone codec for values crossing an OS-process boundary.
//
// Plain JSON-safe data takes a JSON fast path, checked exactly, so nothing
// structured clone would keep is silently changed (`undefined`, `-0`, `NaN`,
// holes, Dates). Everything else is written as a JSON tree with tagged nodes,
// and the bytes of ArrayBuffers and typed arrays go beside it, raw, so large
// binary data moves at memcpy speed. `node:v8` is not used: loading it costs
// a child ~6 ms at start, and it is several times slower per value.
//
// A tagged node is an object whose first key is "$". A user object that has
// a "$" key is itself wrapped, so it never reads as a tag.

const TAG_JSON = 0;
const TAG_TREE = 1;
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
        return true;
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

type ViewConstructor = new (
  buffer: ArrayBuffer,
  byteOffset: number,
  length: number,
) => ArrayBufferView;

function viewConstructor(name: string): ViewConstructor {
  const constructor = (globalThis as Record<string, unknown>)[name];
  if (typeof constructor !== "function") {
    throw new TypeError(`Cannot decode a ${name}: it is not supported here`);
  }
  return constructor as ViewConstructor;
}

function cloneError(what: string): DOMException {
  return new DOMException(
    `Cannot clone ${what}: only data (no functions or symbols) can cross to another process`,
    "DataCloneError",
  );
}

/** Writes a value as a JSON tree, collecting raw bytes on the side. */
class TreeWriter {
  blobs: Uint8Array[] = [];
  blobBytes = 0;
  #seen = new Map<object, number>();

  #blob(bytes: Uint8Array): number {
    const offset = this.blobBytes;
    this.blobs.push(bytes);
    this.blobBytes += bytes.length;
    return offset;
  }

  write(value: unknown): unknown {
    switch (typeof value) {
      case "string":
      case "boolean":
        return value;
      case "number":
        if (Number.isFinite(value) && !Object.is(value, -0)) return value;
        return { $: "n", v: String(Object.is(value, -0) ? "-0" : value) };
      case "undefined":
        return { $: "u" };
      case "bigint":
        return { $: "b", v: value.toString() };
      case "function":
        throw cloneError(`function ${value.name || "(anonymous)"}`);
      case "symbol":
        throw cloneError(String(value));
    }
    if (value === null) return null;
    const object = value as object;
    const ref = this.#seen.get(object);
    if (ref !== undefined) return { $: "R", i: ref };
    this.#seen.set(object, this.#seen.size);
    return this.#writeObject(object);
  }

  #writeObject(value: object): unknown {
    if (Array.isArray(value)) return this.#writeArray(value);
    if (ArrayBuffer.isView(value)) {
      const bytes = new Uint8Array(
        value.buffer,
        value.byteOffset,
        value.byteLength,
      );
      const type = Object.prototype.toString.call(value).slice(8, -1);
      return { $: "T", t: type, o: this.#blob(bytes), n: bytes.length };
    }
    if (value instanceof ArrayBuffer) {
      const bytes = new Uint8Array(value);
      return { $: "B", o: this.#blob(bytes), n: bytes.length };
    }
    if (value instanceof Map) {
      const entries: unknown[] = [];
      for (const [k, v] of value) entries.push(this.write(k), this.write(v));
      return { $: "M", v: entries };
    }
    if (value instanceof Set) {
      const items: unknown[] = [];
      for (const item of value) items.push(this.write(item));
      return { $: "S", v: items };
    }
    if (value instanceof Date) {
      return { $: "D", v: this.write(value.getTime()) };
    }
    if (value instanceof RegExp) {
      return { $: "X", s: value.source, f: value.flags };
    }
    if (value instanceof Error) {
      const node: Record<string, unknown> = {
        $: "E",
        n: value.name,
        m: value.message,
        s: value.stack,
      };
      if ("cause" in value) node.c = this.write(value.cause);
      return node;
    }
    if (
      value instanceof Boolean || value instanceof Number ||
      value instanceof String || value instanceof BigInt
    ) {
      return { $: "P", v: this.write(value.valueOf()) };
    }
    const node: Record<string, unknown> = {};
    for (const key of Object.keys(value)) {
      node[key] = this.write((value as Record<string, unknown>)[key]);
    }
    return "$" in node ? { $: "O", v: node } : node;
  }

  #writeArray(value: unknown[]): unknown {
    let dense = true;
    for (let i = 0; i < value.length; i++) {
      if (!(i in value)) {
        dense = false;
        break;
      }
    }
    if (dense) return value.map((item) => this.write(item));
    const entries: unknown[] = [];
    for (const key of Object.keys(value)) {
      entries.push(
        key,
        this.write((value as unknown as Record<string, unknown>)[key]),
      );
    }
    return { $: "H", n: value.length, v: entries };
  }
}

/** Rebuilds values from a JSON tree and its raw bytes. */
class TreeReader {
  #blobs: Uint8Array;
  #share: boolean;
  #seen: unknown[] = [];

  constructor(blobs: Uint8Array, share: boolean) {
    this.#blobs = blobs;
    this.#share = share;
  }

  #bytes(offset: number, length: number): ArrayBuffer {
    return this.#blobs.slice(offset, offset + length).buffer;
  }

  read(node: unknown): unknown {
    if (typeof node !== "object" || node === null) return node;
    if (Array.isArray(node)) {
      this.#seen.push(node);
      for (let i = 0; i < node.length; i++) node[i] = this.read(node[i]);
      return node;
    }
    const record = node as Record<string, unknown>;
    if (!("$" in record)) return this.#readObject(record);
    const v = record.v;
    switch (record.$) {
      case "n":
        return v === "-0" ? -0 : Number(v);
      case "u":
        return undefined;
      case "b":
        return BigInt(v as string);
      case "R":
        return this.#seen[record.i as number];
      case "O":
        return this.#readObject(v as Record<string, unknown>);
    }
    return this.#readObjectNode(record);
  }

  #readObject(record: Record<string, unknown>): unknown {
    this.#seen.push(record);
    for (const key of Object.keys(record)) {
      record[key] = this.read(record[key]);
    }
    return record;
  }

  #readObjectNode(node: Record<string, unknown>): unknown {
    const index = this.#seen.length;
    this.#seen.push(undefined);
    const keep = <T>(value: T): T => (this.#seen[index] = value, value);
    const v = node.v as unknown[];
    switch (node.$) {
      case "T": {
        const View = viewConstructor(node.t as string);
        const perItem = (View as unknown as { BYTES_PER_ELEMENT?: number })
          .BYTES_PER_ELEMENT ?? 1;
        const offset = this.#blobs.byteOffset + (node.o as number);
        const count = (node.n as number) / perItem;
        if (this.#share && offset % perItem === 0) {
          return keep(
            new View(this.#blobs.buffer as ArrayBuffer, offset, count),
          );
        }
        const buffer = this.#bytes(node.o as number, node.n as number);
        return keep(new View(buffer, 0, count));
      }
      case "B":
        return keep(this.#bytes(node.o as number, node.n as number));
      case "M": {
        const map = keep(new Map());
        for (let i = 0; i < v.length; i += 2) {
          map.set(this.read(v[i]), this.read(v[i + 1]));
        }
        return map;
      }
      case "S": {
        const set = keep(new Set());
        for (const item of v) set.add(this.read(item));
        return set;
      }
      case "D":
        return keep(new Date(this.read(node.v) as number));
      case "X":
        return keep(new RegExp(node.s as string, node.f as string));
      case "E": {
        const error = keep(new Error(node.m as string));
        error.name = node.n as string;
        if (node.s !== undefined) error.stack = node.s as string;
        if ("c" in node) error.cause = this.read(node.c);
        return error;
      }
      case "P":
        return keep(Object(this.read(node.v)));
      case "H": {
        const array = keep(new Array(node.n as number));
        for (let i = 0; i < v.length; i += 2) {
          (array as unknown as Record<string, unknown>)[v[i] as string] = this
            .read(v[i + 1]);
        }
        return array;
      }
    }
    throw new TypeError(`Cannot decode a value tagged "${String(node.$)}"`);
  }
}

/**
 * Encodes a structured-cloneable value to bytes, after `prefix` zero bytes
 * that the caller may fill (saves a copy when framing).
 *
 * @param exact Whether the caller already knows `isExactJson(value)`.
 * @throws {DOMException} `DataCloneError` for a function or symbol inside.
 */
export function encode(
  value: unknown,
  prefix = 0,
  exact: boolean = isExactJson(value),
): Uint8Array {
  const writer = new TreeWriter();
  const text = JSON.stringify(exact ? value : writer.write(value));
  const start = prefix + 5;
  const bytes = new Uint8Array(start + text.length * 3 + writer.blobBytes);
  bytes[prefix] = exact ? TAG_JSON : TAG_TREE;
  const { written } = encoder.encodeInto(text, bytes.subarray(start));
  new DataView(bytes.buffer).setUint32(prefix + 1, written, true);
  let offset = start + written;
  for (const blob of writer.blobs) {
    bytes.set(blob, offset);
    offset += blob.length;
  }
  return bytes.subarray(0, offset);
}

/**
 * The most bytes {@linkcode encodeJsonInto} may write for a JSON text.
 */
export function maxJsonBytes(text: string): number {
  return 5 + text.length * 3;
}

/**
 * Writes what {@linkcode encode} makes of an exact-JSON value, given its
 * `JSON.stringify` text, straight into `dest` at `offset` (which must have
 * {@linkcode maxJsonBytes} of room), saving an allocation per item.
 *
 * @returns The number of bytes written.
 */
export function encodeJsonInto(
  text: string,
  dest: Uint8Array,
  offset: number,
): number {
  dest[offset] = TAG_JSON;
  const { written } = encoder.encodeInto(
    text,
    dest.subarray(offset + 5, offset + 5 + text.length * 3),
  );
  dest[offset + 1] = written & 0xff;
  dest[offset + 2] = (written >>> 8) & 0xff;
  dest[offset + 3] = (written >>> 16) & 0xff;
  dest[offset + 4] = written >>> 24;
  return 5 + written;
}

/**
 * Decodes bytes made by {@linkcode encode}; `bytes` may be a shared view.
 *
 * @param share Let typed arrays in the value view `bytes` instead of copying
 * out of it: only for bytes that are never reused, and values that stay
 * inside this package.
 */
export function decode(bytes: Uint8Array, share = false): unknown {
  const length = bytes[1]! | bytes[2]! << 8 | bytes[3]! << 16 |
    bytes[4]! << 24;
  const tree = JSON.parse(decoder.decode(bytes.subarray(5, 5 + length)));
  if (bytes[0] === TAG_JSON) return tree;
  return new TreeReader(bytes.subarray(5 + length), share).read(tree);
}
