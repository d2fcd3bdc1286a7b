import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { deadline } from "@std/async/deadline";
import { AsyncResult, Pool, type PoolOptions } from "../pool.ts";
import { ProcessError, TimeoutError } from "../errors.ts";
import { Queue } from "../queue.ts";
import type { StartMethod } from "../process.ts";
import {
  assertEndsByItself,
  runDeno,
  START_METHODS,
  TIMEOUT,
} from "./_helpers.ts";
import {
  add,
  add100,
  badInit,
  busyFor,
  byteLength,
  CustomError,
  exitWith,
  fail,
  failOn,
  forever,
  getGreeting,
  hog,
  napThenWho,
  pid,
  putTo,
  setGreeting,
  sleepy,
  square,
  strayError,
  sumBytes,
  unsendable,
  whoAmI,
} from "./testdata/pool_targets.ts";

const module = new URL("./testdata/pool_targets.ts", import.meta.url);

/** Runs `body` with a pool, bounded by `TIMEOUT`, and always cleans up. */
async function withPool(
  startMethod: StartMethod,
  options: PoolOptions,
  body: (pool: Pool) => Promise<void>,
): Promise<void> {
  await using pool = new Pool({
    processes: 2,
    module,
    startMethod,
    ...options,
  });
  await deadline(body(pool), TIMEOUT);
}

function notExported(x: number) {
  return x;
}

async function* countTo(n: number) {
  for (let i = 0; i < n; i++) yield i;
}

for (const startMethod of START_METHODS) {
  const test = (name: string, fn: () => Promise<void>) =>
    Deno.test(`Pool (${startMethod}) ${name}`, fn);

  test("apply, applyAsync with callbacks, map, starmap and their async forms", () =>
    withPool(startMethod, {}, async (pool) => {
      assertEquals(await pool.apply(add, [1, 2]), 3);
      const seen: number[] = [];
      const result = pool.applyAsync(add100, [5], {
        callback: (r) => seen.push(r),
      });
      assertInstanceOf(result, AsyncResult);
      assertEquals(await result.get({ timeout: TIMEOUT }), 105);
      assert(result.ready());
      assert(result.successful());
      assertEquals(seen, [105]);
      const errors: Error[] = [];
      const failing = pool.applyAsync(fail, ["x"], {
        errorCallback: (e) => errors.push(e),
      });
      assertEquals(await failing.wait(), true);
      assertEquals(failing.successful(), false);
      assertEquals(errors[0]?.message, "failed x");
      const items = Array.from({ length: 1000 }, (_, i) => i);
      assertEquals(await pool.map(square, items), items.map((x) => x * x));
      assertEquals(
        await pool.map(square, items, { chunksize: 7 }),
        items.map((x) => x * x),
      );
      assertEquals(await pool.map(square, countTo(10)), [
        0,
        1,
        4,
        9,
        16,
        25,
        36,
        49,
        64,
        81,
      ]);
      assertEquals(await pool.map(square, []), []);
      assertEquals(await pool.starmap(add, [[1, 2], [3, 4]]), [3, 7]);
      assertEquals(await pool.mapAsync(square, [2, 3]).get(), [4, 9]);
      let mapped: number[] = [];
      await pool.starmapAsync(add, [[1, 1]], {
        callback: (r) => mapped = r,
      }).wait();
      assertEquals(mapped, [2]);
      assertEquals(await pool.apply(sleepy, [1, "async"]), "async");
    }));

  test("imap keeps order, imapUnordered yields everything, both lazily", () =>
    withPool(startMethod, {}, async (pool) => {
      const ordered: number[] = [];
      for await (const y of pool.imap(square, countTo(50), { chunksize: 3 })) {
        ordered.push(y);
      }
      assertEquals(ordered, Array.from({ length: 50 }, (_, i) => i * i));
      const unordered: number[] = [];
      for await (const y of pool.imapUnordered(add100, [1, 2, 3, 4, 5])) {
        unordered.push(y);
      }
      assertEquals(unordered.toSorted((a, b) => a - b), [
        101,
        102,
        103,
        104,
        105,
      ]);
      // An endless input: leaving the loop stops reading it.
      let pulled = 0;
      let finished = false;
      function* endless() {
        try {
          for (let i = 0;; i++) {
            pulled++;
            yield i;
          }
        } finally {
          finished = true;
        }
      }
      const got: number[] = [];
      for await (const y of pool.imap(add100, endless())) {
        got.push(y);
        if (got.length === 5) break;
      }
      assertEquals(got, [100, 101, 102, 103, 104]);
      assert(finished);
      assert(pulled < 1000, `pulled ${pulled} items`);
      // The pool serves on.
      assertEquals(await pool.apply(add, [2, 2]), 4);
    }));

  test("an imap begun before close() runs to its end", async () => {
    const pool = new Pool({ processes: 2, module, startMethod });
    const got: number[] = [];
    await deadline(
      (async () => {
        const iterator = pool.imap(add100, countTo(100), { chunksize: 5 });
        const first = await iterator.next();
        got.push(first.value as number);
        pool.close();
        for await (const y of iterator) got.push(y);
        await pool.join();
      })(),
      TIMEOUT,
    ).finally(() => pool.terminate());
    assertEquals(got, Array.from({ length: 100 }, (_, i) => i + 100));
    await deadline(pool.join(), TIMEOUT);
  });

  test("an error in imap comes after the results before it", () =>
    withPool(startMethod, {}, async (pool) => {
      const got: number[] = [];
      await assertRejects(
        async () => {
          for await (const y of pool.imap(failOn, [1, 2, 3, 4])) got.push(y);
        },
        TypeError,
        "bad item 3",
      );
      assertEquals(got, [1, 2]);
      await assertRejects(
        () => pool.map(failOn, [1, 2, 3, 4], { chunksize: 2 }),
        TypeError,
        "bad item 3",
      );
    }));

  test("a task's error keeps its class, name, message, stack and fields", () =>
    withPool(startMethod, {}, async (pool) => {
      const range = await assertRejects(
        () => pool.apply(fail, ["range"]),
        RangeError,
        "out of range",
      );
      assertStringIncludes(range.stack ?? "", "pool_targets.ts");
      const custom = await assertRejects(
        () => pool.apply(fail, ["custom"]),
        CustomError,
      );
      assertEquals((custom as Error).name, "CustomError");
      assertEquals((custom as Error).message, "custom failure");
      assertEquals((custom as { code?: string }).code, "E_CUSTOM");
      const result = await assertRejects(() => pool.apply(unsendable));
      assertInstanceOf(result, TypeError);
      assertStringIncludes((result as Error).message, "Cannot send the result");
    }));

  test("a child that calls Deno.exit fails its task with ProcessError and is replaced", () =>
    withPool(startMethod, {}, async (pool) => {
      const others = [1, 2, 3, 4, 5, 6].map((i) => pool.apply(sleepy, [20, i]));
      const error = await assertRejects(
        () => pool.apply(exitWith, [3]),
        ProcessError,
        "exit code 3",
      );
      assertEquals((error as ProcessError).exitCode, 3);
      assertEquals(await Promise.all(others), [1, 2, 3, 4, 5, 6]);
      assertEquals(await pool.map(add100, [1, 2, 3]), [101, 102, 103]);
      assertEquals(pool.stats().workers, 2);
    }));

  test("children after the first start once it answered, and all serve", () =>
    withPool(startMethod, { processes: 3 }, async (pool) => {
      assertEquals(pool.stats().workers, 3);
      assertEquals(await pool.apply(add, [1, 2]), 3);
      const who = await pool.map(napThenWho, Array(6).fill(300), {
        chunksize: 1,
      });
      assertEquals(new Set(who).size, 3);
    }));

  test("a task submitted beside a long first one runs in another child at once", () =>
    withPool(startMethod, {}, async (pool) => {
      const slow = pool.apply(sleepy, [2000, "slow"]);
      const quick = pool.apply(add, [1, 2]);
      const first = await Promise.race([
        slow.then(() => "slow"),
        quick.then(() => "quick"),
      ]);
      assertEquals(first, "quick");
      assertEquals(await slow, "slow");
    }));

  test("a pool closed or terminated right after construction ends", async () => {
    const closed = new Pool({ processes: 3, module, startMethod });
    closed.close();
    await deadline(closed.join(), TIMEOUT);
    assertEquals(closed.stats().workers, 0);
    const terminated = new Pool({ processes: 3, module, startMethod });
    terminated.terminate();
    await deadline(terminated.join(), TIMEOUT);
    assertEquals(terminated.stats().workers, 0);
  });

  test("transfer moves buffers to a worker child (copies them for a subprocess), alone or beside a Queue", () =>
    withPool(startMethod, {}, async (pool) => {
      const moves = startMethod === "worker";
      const bytes = new Uint8Array(1 << 20).fill(1);
      bytes[7] = 9;
      const q = new Queue<number>();
      assertEquals(
        await pool.apply(sumBytes, [bytes, q], { transfer: [bytes.buffer] }),
        (1 << 20) + 8,
      );
      assertEquals(await q.get({ timeout: TIMEOUT }), 1 << 20);
      assertEquals(bytes.buffer.detached, moves);
      const parts = [new Uint8Array(3), new Uint8Array(5)];
      const kept = new ArrayBuffer(8);
      assertEquals(
        await pool.map(byteLength, parts, {
          chunksize: 1,
          transfer: [parts[0]!.buffer, parts[1]!.buffer, kept],
        }),
        [3, 5],
      );
      assertEquals(parts.map((part) => part.buffer.detached), [moves, moves]);
      // Not among the arguments: it stays.
      assert(!kept.detached);
    }));

  test("transfer rejects what is not a list of ArrayBuffers; the pool stays usable", () =>
    withPool(startMethod, {}, async (pool) => {
      const shared = new Uint8Array(new SharedArrayBuffer(4));
      await assertRejects(
        () =>
          pool.apply(byteLength, [shared], {
            transfer: [shared.buffer as unknown as ArrayBuffer],
          }),
        TypeError,
        "transfer[0] is not an ArrayBuffer",
      );
      await assertRejects(
        () =>
          pool.apply(byteLength, [shared], {
            transfer: "x" as unknown as ArrayBuffer[],
          }),
        TypeError,
        "transfer is string",
      );
      assertEquals(await pool.apply(byteLength, [shared]), 4);
    }));

  test("a task whose buffers moved to a child that died before running it fails", () =>
    withPool(startMethod, { processes: 1 }, async (pool) => {
      const bytes = new Uint8Array(16);
      const dying = pool.apply(exitWith, [3]);
      const moved = pool.apply(byteLength, [bytes], {
        transfer: [bytes.buffer],
      });
      await assertRejects(() => dying, ProcessError, "exit code 3");
      if (startMethod === "worker") {
        await assertRejects(() => moved, ProcessError, "holding the buffers");
      } else assertEquals(await moved, 16);
      assertEquals(await pool.apply(add, [1, 2]), 3);
    }));

  test("a child killed by an error outside any task fails the task it ran", () =>
    withPool(startMethod, {}, async (pool) => {
      const error = await assertRejects(
        () => pool.apply(strayError),
        ProcessError,
        "exit code 1",
      );
      assertEquals((error as ProcessError).exitCode, 1);
      assertEquals(await pool.apply(add, [1, 1]), 2);
    }));

  test("signal drops a queued task and stops a running one", () =>
    withPool(startMethod, { processes: 1 }, async (pool) => {
      const running = new AbortController();
      const queued = new AbortController();
      const first = pool.apply(forever, [], { signal: running.signal });
      const second = pool.apply(add, [1, 2], { signal: queued.signal });
      const third = pool.apply(add, [2, 2]);
      queued.abort(new Error("not wanted"));
      await assertRejects(() => second, Error, "not wanted");
      running.abort(new Error("stop it"));
      await assertRejects(() => first, Error, "stop it");
      assertEquals(await third, 4);
      await assertRejects(
        () => pool.apply(forever, [], { timeout: 50 }),
        TimeoutError,
      );
      assertEquals(await pool.apply(add, [3, 3]), 6);
      const stats = pool.stats();
      assertEquals(stats.workers, 1);
      assert(stats.failed >= 3);
    }));

  test("timeout and signal cancel a whole map; AsyncResult.get times out alone", () =>
    withPool(startMethod, {}, async (pool) => {
      await assertRejects(
        () => pool.starmap(sleepy, [[0, 1]], { timeout: -1 }),
        RangeError,
      );
      await assertRejects(
        () => pool.starmap(sleepy, [[1, 1], [60_000, 2]], { timeout: 100 }),
        TimeoutError,
      );
      const errors: Error[] = [];
      const failing = pool.mapAsync(failOn, [1, 3], {
        errorCallback: (e) => errors.push(e),
      });
      await failing.wait();
      assertEquals(errors.length, 1);
      assertInstanceOf(errors[0], TypeError);
      const slow = pool.applyAsync(sleepy, [200, "late"]);
      assertThrows(() => slow.successful(), Error, "not ready");
      await assertRejects(() => slow.get({ timeout: 1 }), TimeoutError);
      assertEquals(await slow.get(), "late");
      assertEquals(pool.stats().workers, 2);
    }));

  test("imapUnordered reads an async iterable; transfer lists are accepted", () =>
    withPool(startMethod, {}, async (pool) => {
      const got: number[] = [];
      for await (const y of pool.imapUnordered(square, countTo(20))) {
        got.push(y);
      }
      assertEquals(
        got.toSorted((a, b) => a - b),
        Array.from({ length: 20 }, (_, i) => i * i),
      );
      const bytes = new Uint8Array(1024);
      assertEquals(
        await pool.apply(byteLength, [bytes], { transfer: [bytes.buffer] }),
        1024,
      );
    }));

  test("terminate fails what is left; the pool disposes", async () => {
    const pool = new Pool({ processes: 1, module, startMethod });
    const pending = pool.apply(forever);
    const queued = pool.apply(add, [1, 2]);
    pool.terminate();
    await assertRejects(() => pending, Error, "terminated");
    await assertRejects(() => queued, Error, "terminated");
    await deadline(pool.join(), TIMEOUT);
  });

  test("close lets submitted work finish; join waits for the children", async () => {
    const pool = new Pool({ processes: 2, module, startMethod });
    await assertRejects(() => pool.join(), Error, "still running");
    const results = [1, 2, 3].map((i) => pool.applyAsync(sleepy, [10, i]));
    pool.close();
    assertThrows(
      () => pool.applyAsync(add, [1, 2]),
      Error,
      "Cannot submit to the pool as it is closed",
    );
    await assertRejects(
      () => pool.apply(add, [1, 2]),
      Error,
      "Cannot submit to the pool as it is closed",
    );
    await deadline(pool.join(), TIMEOUT);
    assertEquals(await Promise.all(results.map((r) => r.get())), [1, 2, 3]);
    assertEquals(pool.stats().workers, 0);
  });

  test("initializer runs in each child; one that throws breaks the pool", async () => {
    await withPool(
      startMethod,
      { initializer: setGreeting, initargs: ["hello"] },
      async (pool) => {
        assertEquals(await pool.apply(getGreeting), "hello");
      },
    );
    await withPool(startMethod, { initializer: badInit }, async (pool) => {
      const error = await assertRejects(
        () => pool.apply(add, [1, 2]),
        Error,
        "broken",
      );
      assertStringIncludes(
        String(((error as Error).cause as Error).message),
        "initializer failed",
      );
    });
  });

  test("maxTasksPerChild replaces children", () =>
    withPool(
      startMethod,
      { processes: 1, maxTasksPerChild: 2 },
      async (pool) => {
        const ids = new Set<number>();
        for (let i = 0; i < 6; i++) ids.add(await pool.apply(whoAmI));
        assertEquals(ids.size, 3);
      },
    ));

  test("task arguments may hold a Queue", () =>
    withPool(startMethod, {}, async (pool) => {
      const q = new Queue<number>();
      assertEquals(await pool.apply(putTo, [q, 7]), 7);
      assertEquals(await q.get({ timeout: TIMEOUT }), 7);
    }));

  test("bad input fails at the call and leaves the pool usable", () =>
    withPool(startMethod, {}, async (pool) => {
      assertThrows(
        () => pool.applyAsync(notExported, [1]),
        TypeError,
        "is not exported from",
      );
      assertThrows(
        () => pool.applyAsync(add, [1, (() => 2) as unknown as number]),
        TypeError,
      );
      await assertRejects(
        () => pool.map(square, [1, 2], { chunksize: 0 }),
        RangeError,
        "chunksize",
      );
      assertThrows(
        () => pool.imap(square, [1], { chunksize: -1 }),
        RangeError,
        "chunksize",
      );
      assertEquals(await pool.apply(add, [1, 2]), 3);
    }));

  test("stats report workers, counts and percentiles", () =>
    withPool(startMethod, {}, async (pool) => {
      await pool.map(busyFor, [1, 1, 1, 1], { chunksize: 1 });
      const stats = pool.stats();
      assertEquals(stats.workers, 2);
      assertEquals(stats.queued, 0);
      assertEquals(stats.completed, 4);
      assert(stats.runTime.p50 > 0);
      assert(stats.runTime.p99 >= stats.runTime.p50);
      assert(stats.waitTime.p90 >= stats.waitTime.p50);
    }));

  test("a program that never closes its pool ends with its own exit code, and its children with it", () =>
    assertEndsByItself("pool", startMethod, [3, 7]));

  test("a program that never closes its pool still gets the result of the applyAsync it awaits", () =>
    assertEndsByItself("pending", startMethod, "late"));
}

Deno.test("Pool (subprocess) a child killed with SIGKILL fails its task with exit code -9", () =>
  withPool("subprocess", { processes: 1 }, async (pool) => {
    const child = await pool.apply(pid);
    const running = pool.apply(forever);
    // Whether or not it has begun, `forever` is the task the child holds.
    Deno.kill(child, "SIGKILL");
    const error = await assertRejects(() => running, ProcessError, "-9");
    assertEquals((error as ProcessError).exitCode, -9);
    assertEquals(await pool.apply(add, [1, 2]), 3);
  }));

Deno.test("Pool (subprocess) a child out of memory fails its task with ProcessError and is replaced", () =>
  withPool("subprocess", {
    processes: 1,
    // A small heap, so the child runs out at once. The permissions are the
    // ones a narrowed subprocess child needs to reach its parent.
    denoFlags: [
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-sys",
      "--allow-net",
      "--v8-flags=--max-old-space-size=32",
    ],
  }, async (pool) => {
    const error = await assertRejects(() => pool.apply(hog), ProcessError);
    assert((error as ProcessError).exitCode !== 0);
    assertEquals(await pool.apply(add, [1, 2]), 3);
  }));

Deno.test("Pool rejects processes <= 0 and unknown start methods", () => {
  assertThrows(() => new Pool({ processes: 0 }), RangeError, "processes");
  assertThrows(() => new Pool({ processes: -1 }), RangeError, "processes");
  assertThrows(
    () => new Pool({ maxTasksPerChild: 0 }),
    RangeError,
    "maxTasksPerChild",
  );
  assertThrows(
    () => new Pool({ startMethod: "fork" as StartMethod }),
    TypeError,
    "start method",
  );
});

for (const startMethod of START_METHODS) {
  Deno.test(`Pool lets go of a finished task's arguments (${startMethod})`, async () => {
    const program = new URL("./testdata/retention_program.ts", import.meta.url)
      .pathname;
    const { code, stdout, stderr } = await runDeno(
      [program, startMethod],
      ["-A", "--v8-flags=--expose-gc"],
    );
    assertEquals([code, stderr, stdout], [
      0,
      "",
      "1024\nreleased\n1024\nreleased\n",
    ]);
  });
}
