import { assert, assertEquals } from "@std/assert";
import { runExample } from "./_helpers.ts";

for (const flags of [[], ["--subprocess"]]) {
  Deno.test(`examples/manager.ts ${flags.join(" ")}: ten children write, the parent prints one key and 15 items`, async () => {
    const { code, stdout, stderr } = await runExample("manager.ts", flags);
    assertEquals(code, 0, stderr);
    const lines = stdout.trim().split("\n");
    assertEquals(lines.length, 12);
    const [dict, list] = lines.slice(-2) as [string, string];
    const [, pid, value] = /^\{(\d+): (\d+)\}$/.exec(dict) ?? [];
    assert(pid !== undefined, dict);
    assertEquals(value, pid);
    assertEquals(
      list,
      `[0, 1, 2, 3, 4, ${Array.from({ length: 10 }, () => pid).join(", ")}]`,
    );
    // Each child printed the list as it found it: the five first items, then
    // between one and ten of the pids.
    const printed = lines.slice(0, 10).map((line) => line.split(", ").length);
    assertEquals(printed.toSorted((a, b) => a - b).at(-1), 15);
    for (const line of lines.slice(0, 10)) {
      assert(line.startsWith(`[0, 1, 2, 3, 4, ${pid}`), line);
    }
  });
}

Deno.test("examples/manager_network.ts: two clients count under a managed lock over TCP, a wrong key is refused", async () => {
  const { code, stdout, stderr } = await runExample("manager_network.ts");
  assertEquals(code, 0, stderr);
  assertEquals(stdout.trim().split("\n"), [
    "a: a wrong key is refused (AuthenticationError)",
    "a: counted 100 under the lock",
    "b: a wrong key is refused (AuthenticationError)",
    "b: counted 100 under the lock",
    "server: total 200, a 100, b 100",
  ]);
});
