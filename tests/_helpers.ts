// Shared by the tests: both start methods, and bounded waits.
import { assert, assertEquals } from "@std/assert";
import { Process, type StartMethod } from "../process.ts";

export const START_METHODS: readonly StartMethod[] = ["worker", "subprocess"];

/** Generous, so a slow CI machine passes, yet a hang fails the test. */
export const TIMEOUT = 30_000;

export const TARGETS = new URL("./testdata/targets.ts", import.meta.url);

/** Runs a Deno program to the end with `flags`, bounded by `TIMEOUT`. */
export async function runDeno(
  args: string[],
  flags: string[] = ["-A"],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, ...args],
    env,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(TIMEOUT),
  }).output();
  const decoder = new TextDecoder();
  return {
    code,
    stdout: decoder.decode(stdout),
    stderr: decoder.decode(stderr),
  };
}

/** Whether an OS process is gone (a zombie nobody reaped counts as gone). */
export function processGone(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return true;
  }
}

/** Waits, bounded by `TIMEOUT`, until every OS process of `pids` is gone. */
export async function waitUntilGone(pids: readonly number[]): Promise<void> {
  const started = Date.now();
  while (!pids.every(processGone) && Date.now() - started < TIMEOUT) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  if (!pids.every(processGone)) {
    throw new Error(`still running: ${pids.filter((p) => !processGone(p))}`);
  }
}

/**
 * Runs `testdata/forgotten_program.ts`, which never closes its pool or
 * shuts down its manager (`kind`), and checks that it ends by itself with
 * its own exit code after printing `expected`, and that its subprocess
 * children are gone afterwards, their socket files with them.
 */
export async function assertEndsByItself(
  kind: "pool" | "pending" | "manager",
  startMethod: StartMethod,
  expected: unknown,
): Promise<void> {
  const tmpdir = await Deno.makeTempDir();
  try {
    const { code, stdout, stderr } = await runDeno(
      [new URL("./testdata/forgotten_program.ts", import.meta.url).pathname],
      ["-A"],
      {
        FORGOTTEN_KIND: kind,
        FORGOTTEN_START_METHOD: startMethod,
        FORGOTTEN_EXIT_CODE: "3",
        TMPDIR: tmpdir,
      },
    );
    assertEquals(code, 3, stdout + stderr);
    const { got, pids } = JSON.parse(stdout.trim().split("\n").at(-1)!);
    assertEquals(got, expected);
    if (startMethod === "subprocess") {
      assert(pids.length > 0);
      await waitUntilGone(pids);
    }
    assertEquals([...Deno.readDirSync(tmpdir)], []);
  } finally {
    await Deno.remove(tmpdir, { recursive: true });
  }
}

/** Starts children of targets exported by `module`. */
export function childStarter(module: URL) {
  return function start<A extends unknown[]>(
    startMethod: StartMethod,
    target: (...args: A) => unknown,
    ...args: A
  ): Process<A> {
    const child = new Process({ target, args, module, startMethod });
    child.start();
    return child;
  };
}

/** The exit code of a child stopped each way the tests stop children. */
export const EXIT_CODES = { kill: -9, terminate: -15, exit: 3 } as const;

/** Which item of `patterned` the bytes are, checking each marked byte. */
export function seedOf(bytes: unknown, size: number): number {
  if (!(bytes instanceof Uint8Array) || bytes.length !== size) {
    throw new Error(`got ${bytes}, not ${size} bytes`);
  }
  const seed = bytes[0]!;
  for (let i = 0; i < size; i += 4096) {
    if (bytes[i] !== (i / 4096 + seed) % 251) {
      throw new Error(`byte ${i} differs`);
    }
  }
  return seed;
}

/**
 * Runs `examples/<name>` with `args` and exactly the flags its first lines
 * state for them (`//   deno run -R examples/pool.ts`), so that each
 * example's stated least permissions are what its test proves.
 */
export async function runExample(
  name: string,
  args: string[] = [],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const path = new URL(`../examples/${name}`, import.meta.url).pathname;
  const source = await Deno.readTextFile(path);
  const usage = [
    ...source.matchAll(/^\/\/\s+deno run (.*?)\s*examples\/(\S+)(.*)$/gm),
  ]
    .find((match) =>
      match[2] === name &&
      // The example's own options; not notes like "(worker children)".
      match[3]!.split(/\s+/).filter((word) => word.startsWith("--"))
          .join(" ") === args.join(" ")
    );
  if (usage === undefined) {
    throw new Error(`examples/${name} states no \`deno run\` line for ${args}`);
  }
  const flags = usage[1]!.split(/\s+/).filter((flag) => flag !== "");
  return await runDeno([path, ...args], flags);
}
