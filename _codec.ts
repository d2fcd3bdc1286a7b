// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// The structured-clone codec for values crossing an OS-process boundary.
//
// Plain JSON-safe data takes a JSON fast path, checked exactly, so nothing
// structured clone would keep is silently changed (`undefined`, `-0`, `NaN`,
// holes, Dates, an object met twice). Everything else is written as a JSON
// tree with tagged nodes, and the bytes of ArrayBuffers go beside it, raw,
// so large binary data moves at memcpy speed. `node:v8` is not used: loading it costs
// a child ~6 ms at start, and it is several times slower per value.
//
// A tagged node is an object whose first key is "$". A user object that has
// a "$" key is itself wrapped, so it never reads as a tag.

const TAG_JSON = 0;
const TAG_TREE = 1;
/** The tag and the JSON text's length, before the text. */
const HEADER = 5;
const MAX_JSON_DEPTH = 64;
/**
 * Arrays of numbers this long go as raw float64s: JSON text costs ~8× more
 * to write and read than copying the numbers (a `map` chunk is one).
 */
const NUMBER_RUN = 1024;

/** What {@linkcode jsonKind} finds. */
export type JsonKind = typeof NOT_JSON | typeof EXACT_JSON | typeof NUMBER_RUNS;
/** Not exact JSON: the general path. */
export const NOT_JSON = 0;
/** Exact JSON. */
export const EXACT_JSON = 1;
/** Exact JSON holding an array of at least `NUMBER_RUN` numbers. */
export const NUMBER_RUNS = 2;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

// The objects met so far by one `isExactJson` call, since JSON would copy an
// object met twice. Small items, the common case, hold a few objects, and
// scanning a short array beats making a Set per call.
const FEW = 16;
const metFew: (object | undefined)[] = [];
let metCount = 0;
let metMany: Set<object> | null = null;
let sawRun = false;

function firstMeeting(object: object): boolean {
  if (metMany !== null) {
    if (metMany.has(object)) return false;
    metMany.add(object);
    return true;
  }
  for (let i = 0; i < metCount; i++) if (metFew[i] === object) return false;
  if (metCount < FEW) {
    metFew[metCount++] = object;
    return true;
  }
  metMany = new Set(metFew as object[]);
  metMany.add(object);
  return true;
}

function exactJson(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(value) && !Object.is(value, -0);
    case "object": {
      if (value === null) return true;
      if (depth >= MAX_JSON_DEPTH || !firstMeeting(value)) return false;
      if (Array.isArray(value)) {
        if (value.length >= NUMBER_RUN && isNumbers(value, true)) {
          sawRun = true;
          return true;
        }
        for (let i = 0; i < value.length; i++) {
          if (!(i in value) || !exactJson(value[i], depth + 1)) return false;
        }
        return true;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) return false;
      for (const key in value) {
        const item = (value as Record<string, unknown>)[key];
        if (item === undefined || !exactJson(item, depth + 1)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

/**
 * Whether every item is a number (with `exact`, a finite one other than -0),
 * in one flat loop: a long array of numbers is checked without a call per
 * item (which a child's code has not optimized yet in its first maps).
 */
function hasHoles(array: unknown[]): boolean {
  for (let i = 0; i < array.length; i++) if (!(i in array)) return true;
  return false;
}

function isNumbers(array: unknown[], exact: boolean): boolean {
  for (let i = 0; i < array.length; i++) {
    const item = array[i];
    if (typeof item !== "number") return false;
    if (exact && (!Number.isFinite(item) || item === 0 && 1 / item < 0)) {
      return false;
    }
  }
  return true;
}

/**
 * Whether `JSON.parse(JSON.stringify(value))` gives back a structured clone
 * of it: JSON-safe data in which no object is met twice (structured clone
 * keeps shared references, JSON copies them).
 */
export function isExactJson(value: unknown): boolean {
  return jsonKind(value) !== NOT_JSON;
}

/**
 * Whether `value` is exact JSON (see {@linkcode isExactJson}), and if so
 * whether it holds a long array of numbers, which {@linkcode encode} writes
 * faster as raw bytes.
 */
export function jsonKind(value: unknown): JsonKind {
  // Called again from a getter inside the walk: answer safely, as the
  // general path keeps everything.
  if (metCount !== 0) return NOT_JSON;
  sawRun = false;
  try {
    if (!exactJson(value, 0)) return NOT_JSON;
    return sawRun ? NUMBER_RUNS : EXACT_JSON;
  } finally {
    // Forget the objects, so this module keeps none of them alive.
    for (let i = 0; i < metCount; i++) metFew[i] = undefined;
    metCount = 0;
    metMany = null;
  }
}

/**
 * The error classes structured clone keeps; any other error becomes an
 * Error (AggregateError too, and without its `errors`).
 */
export const ERROR_CLASSES: Record<string, ErrorConstructor> = {
  Error,
  EvalError,
  RangeError,
  ReferenceError,
  SyntaxError,
  TypeError,
  URIError,
};

const errorCheck = (Error as { isError?: (value: unknown) => boolean })
  .isError;

/** Whether structured clone sees an error (not just Error.prototype below). */
function isError(value: object): value is Error {
  return errorCheck === undefined ? value instanceof Error : errorCheck(value);
}

/** Gives `error` a `cause` as its constructor would have. */
export function setCause(error: Error, cause: unknown): void {
  Object.defineProperty(error, "cause", {
    value: cause,
    writable: true,
    enumerable: false,
    configurable: true,
  });
}

/** A buffer a decoded view shares with the message, not yet copied out. */
class Span {
  constructor(readonly offset: number, readonly length: number) {}
}

/** Writes a value as a JSON tree, collecting raw bytes on the side. */
class TreeWriter {
  blobs: Uint8Array[] = [];
  blobBytes = 0;
  #seen = new Map<object, number>();

  /** Puts `bytes` beside the tree; returns where (`o`) and how many (`n`). */
  #blob(bytes: Uint8Array): { o: number; n: number } {
    const offset = this.blobBytes;
    this.blobs.push(bytes);
    this.blobBytes += bytes.length;
    return { o: offset, n: bytes.length };
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
      case "symbol": {
        const what = typeof value === "symbol"
          ? String(value)
          : `function ${value.name || "(anonymous)"}`;
        throw new DOMException(
          `Cannot clone ${what}: only data (no functions or symbols) can cross to another process`,
          "DataCloneError",
        );
      }
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
      // Structured clone keeps a view's whole buffer, shared with any other
      // view of it or the buffer itself, so the buffer is a node of its own.
      const type = Object.prototype.toString.call(value).slice(8, -1);
      const b = this.write(value.buffer);
      return { $: "T", t: type, b, o: value.byteOffset, l: value.byteLength };
    }
    const shared = value instanceof SharedArrayBuffer;
    if (shared || value instanceof ArrayBuffer) {
      const buffer = value as ArrayBuffer | SharedArrayBuffer;
      const node: Record<string, unknown> = {
        $: "B",
        ...this.#blob(new Uint8Array(buffer)),
      };
      // Memory cannot be shared with another process: the copy is a new
      // SharedArrayBuffer.
      if (shared) node.s = 1;
      if (shared ? value.growable : (value as ArrayBuffer).resizable) {
        node.x = buffer.maxByteLength;
      }
      return node;
    }
    if (value instanceof Map) {
      const entries: unknown[] = [];
      for (const [k, v] of value) entries.push(this.write(k), this.write(v));
      return { $: "M", v: entries };
    }
    if (value instanceof Set) {
      return { $: "S", v: Array.from(value, (item) => this.write(item)) };
    }
    if (value instanceof Date) {
      return { $: "D", v: this.write(value.getTime()) };
    }
    if (value instanceof RegExp) {
      return { $: "X", s: value.source, f: value.flags };
    }
    if (value instanceof DOMException || isError(value)) {
      return this.#writeError(value);
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

  // As V8's serializer does: the class comes from `name` (one of the
  // built-in ones, else Error); only an own data `message` and `cause`, and
  // a string `stack`, are kept. A DOMException keeps its name and message.
  #writeError(value: Error): unknown {
    const node: Record<string, unknown> = { $: "E" };
    if (value instanceof DOMException) {
      node.n = value.name;
      node.m = value.message;
      node.d = 1;
    } else {
      const name = String(value.name);
      node.n = Object.hasOwn(ERROR_CLASSES, name) ? name : "Error";
      const message = Object.getOwnPropertyDescriptor(value, "message");
      if (message !== undefined && "value" in message) {
        node.m = String(message.value);
      }
      const cause = Object.getOwnPropertyDescriptor(value, "cause");
      if (cause !== undefined && "value" in cause) {
        node.c = this.write(cause.value);
      }
    }
    const stack = value.stack;
    if (typeof stack === "string") node.s = stack;
    return node;
  }

  #writeArray(value: unknown[]): unknown {
    if (value.length >= NUMBER_RUN && isNumbers(value, false)) {
      // A loop: the typed array's own copy from an array runs 4× slower
      // here once the exact-JSON walk has been over it.
      const numbers = new Float64Array(value.length);
      for (let i = 0; i < value.length; i++) numbers[i] = value[i] as number;
      return { $: "F", ...this.#blob(new Uint8Array(numbers.buffer)) };
    }
    if (!hasHoles(value)) return value.map((item) => this.write(item));
    const entries = Object.entries(value)
      .flatMap(([key, item]) => [key, this.write(item)]);
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

  /** The buffer at `index` of the values read, copied out if still a span. */
  #seenBuffer(index: number): unknown {
    const value = this.#seen[index];
    if (!(value instanceof Span)) return value;
    return this.#seen[index] = this.#bytes(value.offset, value.length);
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
        return this.#seenBuffer(record.i as number);
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
      case "T":
        return keep(this.#readView(node));
      case "B": {
        const { o, n, x } = node as { o: number; n: number; x?: number };
        const Class = node.s === undefined ? ArrayBuffer : SharedArrayBuffer;
        const options = x === undefined ? undefined : { maxByteLength: x };
        const buffer = new Class(n, options);
        new Uint8Array(buffer).set(this.#blobs.subarray(o, o + n));
        return keep(buffer);
      }
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
        const message = node.m as string | undefined;
        const error = node.d === undefined
          ? new ERROR_CLASSES[node.n as string]!(message)
          : new DOMException(message, node.n as string);
        keep(error);
        // Not a stack of this process: the sender's, or none.
        error.stack = node.s as string;
        if ("c" in node) setCause(error, this.read(node.c));
        return error;
      }
      case "P":
        return keep(Object(this.read(node.v)));
      case "F": {
        // Copied out, so the float64s are aligned.
        const numbers = new Float64Array(
          this.#bytes(node.o as number, node.n as number),
        );
        const length = numbers.length;
        // Filled first, so the array stays packed.
        const array = keep(new Array<number>(length).fill(0));
        for (let i = 0; i < length; i++) array[i] = numbers[i]!;
        return array;
      }
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

  #readView(node: Record<string, unknown>): ArrayBufferView {
    const name = node.t as string;
    // Every view's constructor takes what DataView's does; only a typed
    // array's has a size per item.
    const View = (globalThis as Record<string, unknown>)[name] as
      | typeof DataView & { BYTES_PER_ELEMENT?: number }
      | undefined;
    if (typeof View !== "function") {
      throw new TypeError(`Cannot decode a ${name}: it is not supported here`);
    }
    const perItem = View.BYTES_PER_ELEMENT ?? 1;
    const b = node.b as Record<string, unknown>;
    const byteOffset = node.o as number;
    const length = (node.l as number) / perItem;
    if (this.#share) {
      // View the message's bytes in place while the buffer is plain and
      // the view stays aligned; a span stands for the buffer meanwhile.
      const plain = b.$ === "B" && b.s === undefined && b.x === undefined;
      const span = plain
        ? new Span(b.o as number, b.n as number)
        : b.$ === "R"
        ? this.#seen[b.i as number]
        : undefined;
      if (span instanceof Span) {
        const start = this.#blobs.byteOffset + span.offset + byteOffset;
        if (start % perItem === 0) {
          if (plain) this.#seen.push(span);
          return new View(this.#blobs.buffer as ArrayBuffer, start, length);
        }
      }
    }
    return new View(this.read(b) as ArrayBuffer, byteOffset, length);
  }
}

/** A value's encoding, to be written in place. */
export interface Encoding {
  /** The most bytes {@linkcode Encoding.fill} may write. */
  readonly maxBytes: number;
  /** Writes the encoding into `dest` at `offset`; returns its length. */
  fill(dest: Uint8Array, offset: number): number;
}

/**
 * How to write the encoding of a structured-cloneable value straight into
 * `dest` (a ring, or a frame after its flag), saving an allocation and a
 * copy per item: a header (the tag, then the length of the JSON text), the
 * text, and the raw bytes of the tree.
 *
 * @param kind What {@linkcode jsonKind} says of `value`, if the caller knows.
 * @throws {DOMException} `DataCloneError` for a function or symbol inside.
 */
export function encoding(
  value: unknown,
  kind: JsonKind = jsonKind(value),
): Encoding {
  const writer = kind === EXACT_JSON ? null : new TreeWriter();
  const text = JSON.stringify(writer === null ? value : writer.write(value));
  // UTF-8 takes at most 3 bytes per UTF-16 code unit.
  const maxText = text.length * 3;
  return {
    maxBytes: HEADER + maxText + (writer?.blobBytes ?? 0),
    fill(dest, offset) {
      dest[offset] = writer === null ? TAG_JSON : TAG_TREE;
      const start = offset + HEADER;
      const { written } = encoder.encodeInto(
        text,
        dest.subarray(start, start + maxText),
      );
      dest[offset + 1] = written & 0xff;
      dest[offset + 2] = (written >>> 8) & 0xff;
      dest[offset + 3] = (written >>> 16) & 0xff;
      dest[offset + 4] = written >>> 24;
      let end = start + written;
      for (const blob of writer?.blobs ?? []) {
        dest.set(blob, end);
        end += blob.length;
      }
      return end - offset;
    },
  };
}

/**
 * Encodes a structured-cloneable value to bytes.
 *
 * @throws {DOMException} `DataCloneError` for a function or symbol inside.
 */
export function encode(value: unknown): Uint8Array {
  const { maxBytes, fill } = encoding(value);
  const bytes = new Uint8Array(maxBytes);
  return bytes.subarray(0, fill(bytes, 0));
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
  const tree = JSON.parse(
    decoder.decode(bytes.subarray(HEADER, HEADER + length)),
  );
  if (bytes[0] === TAG_JSON) return tree;
  return new TreeReader(bytes.subarray(HEADER + length), share).read(tree);
}
