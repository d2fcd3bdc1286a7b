// Per-call cost of a Pool within one process, each start method. Side by
// side with Python: `deno task compare` (bench/compare.ts).
//
//   deno bench -A --no-check bench/pool_bench.ts
import { Pool } from "../pool.ts";
import type { StartMethod } from "../process.ts";
import { add, add100, byteLength } from "./_pool_targets.ts";

const module = new URL("./_pool_targets.ts", import.meta.url);
const items = Array.from({ length: 20_000 }, (_, i) => i);

for (const startMethod of ["worker", "subprocess"] as StartMethod[]) {
  Deno.bench({
    name: `${startMethod}: 100 sequential apply`,
    group: `apply, ${startMethod}`,
    n: 10,
    warmup: 2,
    async fn(b) {
      await using pool = new Pool({ processes: 2, module, startMethod });
      await pool.apply(add, [1, 2]);
      b.start();
      for (let i = 0; i < 100; i++) await pool.apply(add, [i, 1]);
      b.end();
    },
  });

  Deno.bench({
    name: `${startMethod}: map over 20,000 items, chunksize 1`,
    group: `map, ${startMethod}`,
    n: 5,
    warmup: 1,
    async fn(b) {
      await using pool = new Pool({ processes: 2, module, startMethod });
      await pool.apply(add, [1, 2]);
      b.start();
      await pool.map(add100, items, { chunksize: 1 });
      b.end();
    },
  });

  Deno.bench({
    name: `${startMethod}: map over 20,000 items, default chunksize`,
    group: `map, ${startMethod}`,
    n: 5,
    warmup: 1,
    async fn(b) {
      await using pool = new Pool({ processes: 2, module, startMethod });
      await pool.apply(add, [1, 2]);
      b.start();
      await pool.map(add100, items);
      b.end();
    },
  });

  for (const moved of [false, true]) {
    Deno.bench({
      name: `${startMethod}: 20 apply of 8 MiB each, ${
        moved ? "transfer" : "copied"
      }`,
      group: `8 MiB arguments, ${startMethod}`,
      n: 5,
      warmup: 1,
      async fn(b) {
        await using pool = new Pool({ processes: 2, module, startMethod });
        await pool.apply(add, [1, 2]);
        const buffers = Array.from(
          { length: 20 },
          () => new Uint8Array(8 << 20),
        );
        b.start();
        for (const bytes of buffers) {
          const transfer = moved ? [bytes.buffer] : [];
          await pool.apply(byteLength, [bytes], { transfer });
        }
        b.end();
      },
    });
  }
}
