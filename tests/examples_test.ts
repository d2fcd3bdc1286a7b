import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { runDeno, runExample } from "./_helpers.ts";
import { redisServerPath } from "./_redis.ts";

const example = (name: string) =>
  new URL(`../examples/${name}`, import.meta.url).pathname;

Deno.test("examples/process.ts counts the primes below 2,000,000 in four children", async () => {
  const { code, stdout } = await runExample("process.ts");
  assertEquals(code, 0);
  const lines = stdout.trim().split("\n");
  const counts = lines.filter((line) => line.startsWith("primes in"));
  assertEquals(counts.toSorted(), [
    "primes in [0, 500000): 41538",
    "primes in [1000000, 1500000): 35657",
    "primes in [1500000, 2000000): 34778",
    "primes in [500000, 1000000): 36960",
  ]);
  assertEquals(lines.filter((line) => line.includes("exited")), [
    "Process-1 (worker) exited with code 0",
    "Process-2 (subprocess) exited with code 0",
    "Process-3 (worker) exited with code 0",
    "Process-4 (subprocess) exited with code 0",
  ]);
});

Deno.test("examples/queue.ts prints the pair a child put", async () => {
  const { code, stdout } = await runExample("queue.ts");
  assertEquals(code, 0);
  assertEquals(stdout, '[ "xiaoming", 12 ]\n');
});

Deno.test("examples/pipe.ts prints what a child sent", async () => {
  const { code, stdout } = await runExample("pipe.ts");
  assertEquals(code, 0);
  assertEquals(stdout, "send data\n");
});

/** Runs an example with these flags, not those it states. */
function runWith(flags: string[], name: string) {
  return runDeno([example(name)], flags);
}

Deno.test("examples/pool.ts runs Foo serially, then five at a time with the callback, then a map, with -R only", async () => {
  const { code, stdout } = await runExample("pool.ts");
  assertEquals(code, 0);
  const lines = stdout.trim().split("\n");
  assertEquals(lines.slice(0, 5), [
    "apply 100",
    "apply 101",
    "apply 102",
    "apply 103",
    "apply 104",
  ]);
  const callbacks = lines.filter((line) => line.startsWith("callback"));
  assertEquals(
    callbacks.toSorted(),
    Array.from({ length: 10 }, (_, i) => `callback function ${100 + i}`),
  );
  assert(lines.includes("map [ 101, 102, 103 ]"));
  assertEquals(lines.at(-1), "end");
});

Deno.test("examples/pool.ts without -R fails once, naming the flag", async () => {
  const { code, stderr } = await runWith([], "pool.ts");
  assertEquals(code, 1);
  assertStringIncludes(stderr, "--allow-read");
  assertEquals(stderr.match(/Cannot start the pool/g)?.length, 1);
});

Deno.test("examples/queue.ts without -R fails once at Process.start(), naming the flag", async () => {
  const { code, stderr } = await runWith([], "queue.ts");
  assertEquals(code, 1);
  assertEquals(
    stderr.match(
      /Cannot start process Process-1 as reading the modules of a worker child is not allowed: run with --allow-read \(-R\)/g,
    )?.length,
    1,
  );
});

Deno.test("examples/manager.ts with -R only fails once at Manager.start(), naming the flags", async () => {
  const { code, stderr } = await runWith(["-R"], "manager.ts");
  assertEquals(code, 1);
  assertEquals(
    stderr.match(
      /Cannot start the manager's server as it serves at a unix socket, which needs --allow-write --allow-net: run with them/g,
    )?.length,
    1,
  );
});

Deno.test("examples/process.ts with -R only fails once at its first subprocess child, naming the flags", async () => {
  const { code, stdout, stderr } = await runWith(["-R"], "process.ts");
  assertEquals(code, 1);
  assertEquals(
    stderr.match(
      /Cannot start process Process-2 as a subprocess child needs --allow-run --allow-write --allow-net/g,
    )?.length,
    1,
  );
  assertEquals(stdout, "");
});

Deno.test("examples/progress.ts counts primes through imapUnordered and reports progress on stderr", async () => {
  const { code, stdout, stderr } = await runExample("progress.ts");
  assertEquals(code, 0);
  assertEquals(stdout, "1472 primes among 20000 numbers from 1000000\n");
  const lines = stderr.trim().split("\n");
  assertEquals(lines.length, 4);
  assertStringIncludes(lines.at(-1)!, "100% 20000/20000");
  assertStringIncludes(lines[0]!, "items/s ETA");
});

Deno.test("examples/distributed.ts runs a map on two Redis-backed worker processes and says how much each did", async () => {
  // Installs redis-server first when it is missing (and this runs as root).
  await redisServerPath();
  const { code, stdout, stderr } = await runExample("distributed.ts");
  assertEquals(code, 0, stderr);
  const lines = stdout.trim().split("\n");
  assertEquals(lines[0], "sum of the squares of 0..399: 21253400");
  const counts = lines.slice(1).map((line) => {
    const match = /^worker (\d) \(pid \d+\): (\d+) tasks$/.exec(line);
    if (match === null) throw new Error(`unexpected line: ${line}`);
    return Number(match[2]);
  });
  assertEquals(counts.length, 2);
  assertEquals(counts[0]! + counts[1]!, 400);
  assert(counts.every((count) => count > 0), `${counts}`);
});
