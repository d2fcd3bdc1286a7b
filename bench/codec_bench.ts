// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// Per-value cost of the codec (`_codec.ts`) and of a queue item's frame
// (`_frame.ts`): what every cross-process transfer pays on each side.
//
//   deno bench -A --no-check bench/codec_bench.ts
import { decode, encode } from "../_codec.ts";
import { decodeFrameSync, encodeFrame, inPlaceFrame } from "../_frame.ts";

const shared = { name: "xiaoming", age: 12 };
const VALUES: Record<string, unknown> = {
  "small tuple": ["xiaoming", 12],
  "record of 100 fields": Object.fromEntries(
    Array.from({ length: 100 }, (_, i) => [`field${i}`, i % 3 ? i : `v${i}`]),
  ),
  "10k numbers": Array.from({ length: 10_000 }, (_, i) => i * 1.5),
  "Map, Date, undefined, shared refs": {
    map: new Map([[1, "one"], [2, "two"]]),
    when: new Date(1_700_000_000_000),
    missing: undefined,
    a: shared,
    b: shared,
  },
  "1 MiB Uint8Array in an object": { bytes: new Uint8Array(1024 * 1024) },
  "lone 1 MiB Uint8Array": new Uint8Array(1024 * 1024),
  "lone Float64Array of 16": new Float64Array(16),
  "error with a cause": new TypeError("bad", { cause: new Error("why") }),
};

for (const [name, value] of Object.entries(VALUES)) {
  Deno.bench({
    name: `encode + decode: ${name}`,
    group: "codec",
    fn() {
      decode(encode(value));
    },
  });
  Deno.bench({
    name: `encodeFrame + decodeFrameSync: ${name}`,
    group: "frame",
    fn() {
      decodeFrameSync(encodeFrame(value, "item"));
    },
  });
}

const ring = new Uint8Array(256 * 1024);
Deno.bench({
  name: "inPlaceFrame fill + decodeFrameSync: small tuple",
  group: "frame",
  fn() {
    const frame = inPlaceFrame(["xiaoming", 12])!;
    const length = frame.fill(ring, 0);
    decodeFrameSync(ring.subarray(0, length));
  },
});

const sab = new Uint8Array(new SharedArrayBuffer(2 * 1024 * 1024));
for (const name of ["lone 1 MiB Uint8Array", "lone Float64Array of 16"]) {
  Deno.bench({
    name: `inPlaceFrame fill + decodeFrameSync (shared): ${name}`,
    group: "frame",
    fn() {
      const frame = inPlaceFrame(VALUES[name])!;
      const length = frame.fill(sab, 0);
      decodeFrameSync(sab.subarray(0, length));
    },
  });
}
