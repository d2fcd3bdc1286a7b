import { assertEquals } from "@std/assert";
import { runDeno } from "./_helpers.ts";

const example = (name: string) =>
  new URL(`../examples/${name}`, import.meta.url).pathname;

Deno.test("examples/process.ts counts the primes below 2,000,000 in four children", async () => {
  const { code, stdout } = await runDeno([example("process.ts")]);
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
  const { code, stdout } = await runDeno([example("queue.ts")]);
  assertEquals(code, 0);
  assertEquals(stdout, '[ "xiaoming", 12 ]\n');
});

Deno.test("examples/pipe.ts prints what a child sent", async () => {
  const { code, stdout } = await runDeno([example("pipe.ts")]);
  assertEquals(code, 0);
  assertEquals(stdout, "send data\n");
});
