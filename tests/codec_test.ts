import {
  assert,
  assertEquals,
  assertStrictEquals,
  assertThrows,
} from "@std/assert";
import { decode, encode } from "../_codec.ts";

const roundTrip = <T>(value: T): T => decode(encode(value)) as T;

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

Deno.test("encode() throws DataCloneError for functions and symbols", () => {
  for (const value of [() => {}, { deep: [Symbol("s")] }]) {
    const error = assertThrows(() => encode(value), DOMException);
    assertEquals(error.name, "DataCloneError");
  }
});
