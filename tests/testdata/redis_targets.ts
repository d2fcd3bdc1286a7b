import { currentProcess } from "../../process.ts";

// Task functions for the Redis pool tests; the workers import this module.
export function add(a: number, b: number): number {
  return a + b;
}

export function square(x: number): number {
  return x * x;
}

export async function sleepy(ms: number, value: unknown): Promise<unknown> {
  await new Promise((resolve) => setTimeout(resolve, ms));
  return value;
}

export function fail(message: string): never {
  throw new RangeError(message);
}

/** The pid of the worker process that ran the task (its host). */
export function hostPid(): number {
  return currentProcess().startMethod === "subprocess" ? Deno.ppid : Deno.pid;
}

/** `x * x`, and which worker process ran it. */
export function squareWhere(x: number): [number, number] {
  return [x * x, hostPid()];
}

/** Records that it started and ended (files in `dir`) around a wait of `ms`. */
export async function markThenSleep(
  dir: string,
  tag: string,
  ms: number,
): Promise<[string, number]> {
  await Deno.writeTextFile(`${dir}/${tag}-${hostPid()}`, "");
  await new Promise((resolve) => setTimeout(resolve, ms));
  await Deno.writeTextFile(`${dir}/done-${tag}-${hostPid()}`, "");
  return [tag, hostPid()];
}

/** Kills the worker process that runs it, every time. */
export function killHost(): never {
  Deno.kill(hostPid(), "SIGKILL");
  throw new Error("unreachable");
}

/** Appends its argument to `file`: a side effect the tests can count. */
export async function record(file: string, value: string): Promise<string> {
  await Deno.writeTextFile(file, `${value}\n`, { append: true });
  return value;
}
