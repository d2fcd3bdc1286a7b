import { assertEquals } from "@std/assert";
import { runDeno } from "./_helpers.ts";

const example = new URL("../examples/lock.ts", import.meta.url).pathname;

Deno.test("examples/lock.ts prints ten whole lines, one per child, under one Lock", async () => {
  const { code, stdout } = await runDeno([example]);
  assertEquals(code, 0);
  const lines = stdout.split("\n");
  assertEquals(lines.pop(), "");
  assertEquals(
    lines.toSorted(),
    Array.from({ length: 10 }, (_, i) => `hello world ${i}`).toSorted(),
  );
});
