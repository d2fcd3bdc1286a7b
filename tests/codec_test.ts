import {
  assert,
  assertEquals,
  assertStrictEquals,
  assertThrows,
} from "@std/assert";
import { decode, encode, isExactJson } from "../_codec.ts";
import { fromWireError, toWireError } from "../_errors_wire.ts";
import { FullError } from "../errors.ts";
import { decodeFrameSync, encodeFrame, inPlaceFrame } from "../_frame.ts";
import { Queue } from "../queue.ts";
import * as targets from "./testdata/queue_targets.ts";
import { childStarter, START_METHODS, TIMEOUT } from "./_helpers.ts";

const roundTrip = <T>(value: T): T => decode(encode(value)) as T;

/**
 * What structured clone keeps of a value and `assertEquals` does not check:
 * classes, own property names, a view's whole buffer and offset.
 */
function shape(value: unknown): unknown {
  if (typeof value !== "object" || value === null) return value;
  const kind = Object.prototype.toString.call(value);
  const className = Object.getPrototypeOf(value)?.constructor?.name;
  if (value instanceof Error) {
    const error = value as Error & { errors?: unknown; code?: unknown };
    return {
      kind,
      className,
      own: Object.getOwnPropertyNames(error).sort(),
      name: error.name,
      message: error.message,
      stack: error.stack,
      cause: "cause" in error ? shape(error.cause) : "(none)",
      errors: shape(error.errors),
      code: error.code,
    };
  }
  if (ArrayBuffer.isView(value)) {
    return {
      kind,
      byteOffset: value.byteOffset,
      byteLength: value.byteLength,
      buffer: shape(value.buffer),
    };
  }
  if (value instanceof ArrayBuffer || value instanceof SharedArrayBuffer) {
    return { kind, bytes: [...new Uint8Array(value)] };
  }
  if (Array.isArray(value)) return value.map(shape);
  return value;
}

function assertClonedAsStructuredClone(value: unknown, copy: unknown): void {
  assertEquals(shape(copy), shape(structuredClone(value)));
  assertEquals(copy, structuredClone(value));
}

function builtinErrors(): Error[] {
  const renamed = new TypeError("renamed");
  renamed.name = "Custom";
  const withoutStack = new Error("no stack");
  delete withoutStack.stack;
  class SubError extends RangeError {}
  return [
    new Error("plain"),
    new Error(),
    new EvalError("eval"),
    new RangeError("range"),
    new ReferenceError("reference"),
    new SyntaxError("syntax"),
    new TypeError("type"),
    new URIError("uri"),
    new AggregateError([new TypeError("inner"), 1], "aggregate"),
    new RangeError("caused", { cause: new TypeError("why") }),
    new Error("cause undefined", { cause: undefined }),
    new Error("cause data", { cause: { n: [1, 2] } }),
    renamed,
    withoutStack,
    new SubError("subclass"),
  ];
}

function partialViews(): unknown[] {
  const buffer = new Uint8Array(16).map((_, i) => i).buffer;
  return [
    new Uint8Array(buffer, 4, 8),
    new Int16Array(buffer, 2, 3),
    new Float64Array(buffer, 8, 1),
    new DataView(buffer, 3, 5),
    new Uint8Array(new Uint8Array([1, 2, 3, 4]).buffer, 1),
    new Uint8Array(buffer, 16, 0),
  ];
}

Deno.test("encode() keeps what structured clone keeps", () => {
  const values: unknown[] = [
    "text",
    "",
    "\u{1F600} \ud800 lone surrogate",
    0,
    -0,
    NaN,
    Infinity,
    -Infinity,
    1.5,
    true,
    null,
    undefined,
    123n,
    -(2n ** 70n),
    [1, undefined, "x"],
    // deno-lint-ignore no-sparse-arrays
    [1, , 3],
    { a: 1, b: undefined, $: "dollar", nested: { $: 1 } },
    { "": [null, { x: [] }] },
    new Date(1_700_000_000_000),
    new Date(NaN),
    /a+b/gi,
    new Map<unknown, unknown>([[1, "one"], [{ k: 1 }, new Set([1, 2])]]),
    new Uint8Array([1, 2, 3]),
    new Float64Array([1.5, -0, NaN]),
    new BigInt64Array([1n, -2n]),
    new Int16Array(new Int16Array([1, 2, 3, 4]).buffer, 2, 2),
    new DataView(new Uint8Array([9, 8, 7]).buffer),
    new Uint8Array(10).buffer,
    Object(5),
    Object("boxed"),
  ];
  for (const value of values) {
    assertEquals(roundTrip(value), structuredClone(value));
  }
  assert(Object.is(roundTrip(-0), -0));
  assert(Object.is(roundTrip([-0])[0], -0));
});

Deno.test("encode() keeps errors with their name, message, stack and cause", () => {
  const error = new RangeError("out", { cause: { why: 1 } });
  const copy = roundTrip(error);
  assertEquals(copy.name, "RangeError");
  assertEquals(copy.message, "out");
  assertEquals(copy.stack, error.stack);
  assertEquals(copy.cause, { why: 1 });
});

Deno.test("encode() keeps cycles and shared references", () => {
  const shared = { n: 1 };
  const value: Record<string, unknown> = { a: shared, b: [shared] };
  value.self = value;
  const map = new Map<string, unknown>();
  map.set("map", map);
  value.map = map;
  const copy = roundTrip(value);
  assertStrictEquals(copy.self, copy);
  assertStrictEquals(copy.a, (copy.b as unknown[])[0]);
  const copiedMap = copy.map as Map<string, unknown>;
  assertStrictEquals(copiedMap.get("map"), copiedMap);
});

Deno.test("encode() moves large binary data whole", () => {
  const big = new Uint8Array(8 * 1024 * 1024).map((_, i) => i % 251);
  const copy = roundTrip({ big, label: "x" });
  assertEquals(copy.big.length, big.length);
  assertEquals(copy.big[1_000_003], big[1_000_003]);
  assertEquals(copy.label, "x");
});

Deno.test("encode() keeps long arrays of numbers exactly, and an array met twice as one", () => {
  const numbers = Array.from({ length: 5000 }, (_, i) => i * 1.5 - 7);
  numbers[10] = -0;
  numbers[11] = NaN;
  numbers[12] = -Infinity;
  numbers[13] = Number.MAX_VALUE;
  const holey = Array.from({ length: 2000 }, (_, i) => i);
  delete holey[5];
  const mixed = Array.from({ length: 2000 }, (_, i) => i);
  mixed[1999] = "x" as unknown as number;
  const copy = roundTrip({ numbers, again: numbers, holey, mixed });
  assertEquals(copy.numbers, numbers);
  assert(Object.is(copy.numbers[10], -0));
  assert(Number.isNaN(copy.numbers[11]));
  assertStrictEquals(copy.again, copy.numbers);
  assertEquals(copy.holey.length, 2000);
  assert(!(5 in copy.holey));
  assertEquals(copy.mixed, mixed);
  const exact = Array.from({ length: 3000 }, (_, i) => i);
  const fromFrame = decodeFrameSync(encodeFrame([exact, "tail"], "item"));
  assertEquals(fromFrame, [exact, "tail"]);
  const frame = inPlaceFrame([exact, "tail"])!;
  const dest = new Uint8Array(frame.maxBytes + 3);
  const length = frame.fill(dest, 3);
  assertEquals(decodeFrameSync(dest.subarray(3, 3 + length)), [exact, "tail"]);
});

Deno.test("encode() throws DataCloneError for functions and symbols", () => {
  for (const value of [() => {}, { deep: [Symbol("s")] }]) {
    const error = assertThrows(() => encode(value), DOMException);
    assertEquals(error.name, "DataCloneError");
  }
});

Deno.test("encode() keeps every built-in error class, its cause, and nothing structured clone drops", () => {
  for (const error of builtinErrors()) {
    assertClonedAsStructuredClone(error, roundTrip(error));
    assertClonedAsStructuredClone([error], roundTrip([error]));
  }
  // assertEquals tells no two DOMExceptions apart: compare shapes alone.
  const aborted = new DOMException("aborted", "AbortError");
  assertEquals(shape(roundTrip(aborted)), shape(structuredClone(aborted)));
  const looped = new Error("looped");
  looped.cause = looped;
  const copy = roundTrip(looped);
  assertStrictEquals(copy.cause, copy);
});

Deno.test("encode() keeps an object referenced twice as one object", () => {
  const shared = { name: "xiaoming", age: 12 };
  const list = [1, 2];
  const values: unknown[] = [
    [shared, shared],
    { a: shared, b: { c: shared } },
    [list, { list }],
    [[shared], [shared]],
  ];
  for (const value of values) {
    assert(!isExactJson(value), "no JSON fast path for shared references");
    assertEquals(roundTrip(value), structuredClone(value));
  }
  const pair = roundTrip([shared, shared]);
  assertStrictEquals(pair[0], pair[1]);
  const nested = roundTrip({ a: shared, b: { c: shared } });
  assertStrictEquals(nested.a, nested.b.c);
  const lists = roundTrip([list, { list }]);
  assertStrictEquals(lists[0], (lists[1] as { list: number[] }).list);
  // Many objects, so the check goes past its short list.
  const many = Array.from({ length: 40 }, (_, i) => ({ i }));
  assert(isExactJson(many));
  const repeated = [...many, many[39]];
  assert(!isExactJson(repeated));
  const copied = roundTrip(repeated);
  assertStrictEquals(copied[39], copied[40]);
  assert(isExactJson([["xiaoming", 12], ["xiaoming", 12]]));
});

Deno.test("encode() keeps a typed-array view's whole buffer and offset", () => {
  for (const view of partialViews()) {
    assertClonedAsStructuredClone(view, roundTrip(view));
    assertClonedAsStructuredClone(view, roundTrip([view])[0]);
  }
  const buffer = new ArrayBuffer(16);
  const value = {
    a: new Uint8Array(buffer, 4, 8),
    b: new Uint16Array(buffer, 2, 3),
    buffer,
  };
  const copy = roundTrip(value);
  assertStrictEquals(copy.a.buffer, copy.buffer);
  assertStrictEquals(copy.b.buffer, copy.buffer);
  assertEquals(copy.buffer.byteLength, 16);
  const resizable = new ArrayBuffer(8, { maxByteLength: 32 });
  const tail = roundTrip(new Uint8Array(resizable, 2, 4));
  assertEquals(
    [tail.buffer.resizable, tail.buffer.maxByteLength, tail.byteOffset],
    [true, 32, 2],
  );
});

Deno.test("encodeFrame() and inPlaceFrame() keep a lone partial view's buffer and offset", () => {
  for (const view of partialViews()) {
    assertClonedAsStructuredClone(
      view,
      decodeFrameSync(encodeFrame(view, "item")),
    );
    const frame = inPlaceFrame(view);
    if (frame !== null) {
      const dest = new Uint8Array(frame.maxBytes);
      const length = frame.fill(dest, 0);
      assertClonedAsStructuredClone(
        view,
        decodeFrameSync(dest.subarray(0, length)),
      );
    }
  }
  const whole = new Uint8Array([1, 2, 3]);
  assertClonedAsStructuredClone(
    whole,
    decodeFrameSync(encodeFrame(whole, "item")),
  );
});

Deno.test("fromWireError() rebuilds a thrown error's class, cause and inner errors", () => {
  const wired = (error: unknown) =>
    fromWireError(structuredClone(toWireError(error)));
  const inner = new FullError("full");
  const aggregate = wired(
    new AggregateError([inner, "text"], "all failed", {
      cause: new RangeError("why"),
    }),
  ) as AggregateError;
  assert(aggregate instanceof AggregateError);
  assertEquals(aggregate.message, "all failed");
  assert(aggregate.errors[0] instanceof FullError);
  assertEquals(aggregate.errors[1], "text");
  assert(aggregate.cause instanceof RangeError);
  assertEquals((aggregate.cause as Error).message, "why");
  for (const Class of [EvalError, ReferenceError, SyntaxError, URIError]) {
    assert(wired(new Class("x")) instanceof Class);
  }
  const odd = wired(new TypeError("odd", { cause: () => {} }));
  assert(odd instanceof TypeError);
  assertEquals(typeof odd.cause, "string");
  const looped = new Error("looped");
  looped.cause = looped;
  assert(wired(looped).cause instanceof Error);
});

for (const startMethod of START_METHODS) {
  Deno.test(`Queue round trip through a child keeps error classes, shared references and partial views (${startMethod})`, async () => {
    const inbox = new Queue<unknown>();
    const outbox = new Queue<unknown>();
    const start = childStarter(
      new URL("./testdata/queue_targets.ts", import.meta.url),
    );
    const child = start(startMethod, targets.echoesAll, inbox, outbox, 3);
    const shared = { n: 1 };
    const sent: unknown[] = [
      new Uint8Array(new Uint8Array(16).map((_, i) => i).buffer, 4, 8),
      new RangeError("range", { cause: new TypeError("why") }),
      [shared, shared, ...builtinErrors(), ...partialViews()],
    ];
    for (const value of sent) await inbox.put(value);
    for (const value of sent) {
      const copy = await outbox.get({ timeout: TIMEOUT });
      assertClonedAsStructuredClone(value, copy);
    }
    assertEquals(await child.join({ timeout: TIMEOUT }), 0);
  });
}
