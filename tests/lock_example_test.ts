import { assertEquals } from "@std/assert";
import { runExample } from "./_helpers.ts";

Deno.test("examples/lock.ts prints ten whole lines, one per child, under one Lock", async () => {
  const { code, stdout } = await runExample("lock.ts");
  assertEquals(code, 0);
  const lines = stdout.split("\n");
  assertEquals(lines.pop(), "");
  assertEquals(
    lines.toSorted(),
    Array.from({ length: 10 }, (_, i) => `hello world ${i}`).toSorted(),
  );
});
