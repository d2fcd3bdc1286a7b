import { currentProcess } from "../../process.ts";
import type { Queue } from "../../queue.ts";

// Task functions for the pool tests.
export function add(a: number, b: number): number {
  return a + b;
}

export function add100(x: number): number {
  return x + 100;
}

export function square(x: number): number {
  return x * x;
}

export async function sleepy(ms: number, value: unknown): Promise<unknown> {
  await new Promise((resolve) => setTimeout(resolve, ms));
  return value;
}

export function pid(): number {
  return Deno.pid;
}

/** Which child ran it: the same number for every task of one child. */
export function whoAmI(): number {
  return currentProcess().pid;
}

/** Which child ran it, after a nap of `ms`. */
export async function napThenWho(ms: number): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, ms));
  return currentProcess().pid;
}

/** Exits the child with `code` in the middle of the task. */
export function exitWith(code: number): never {
  Deno.exit(code);
}

/** Dies of an error thrown outside any task, while this one waits. */
export async function strayError(): Promise<void> {
  setTimeout(() => {
    throw new Error("stray");
  }, 0);
  await new Promise((resolve) => setTimeout(resolve, 60_000));
}

/** Waits far longer than any test, until its child is stopped. */
export async function forever(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 60_000));
}

export class CustomError extends Error {
  code: string;
  constructor(message: string, code: string) {
    super(message);
    this.name = "CustomError";
    this.code = code;
  }
}

export function fail(kind: string): never {
  if (kind === "range") throw new RangeError("out of range");
  if (kind === "custom") throw new CustomError("custom failure", "E_CUSTOM");
  throw new Error(`failed ${kind}`);
}

export function failOn(x: number): number {
  if (x === 3) throw new TypeError(`bad item ${x}`);
  return x;
}

let greeting = "unset";

export function setGreeting(value: string): void {
  greeting = value;
}

export function getGreeting(): string {
  return greeting;
}

export function badInit(): never {
  throw new Error("initializer failed");
}

export async function putTo(q: Queue<number>, value: number): Promise<number> {
  await q.put(value);
  return value;
}

export function unsendable(): unknown {
  return () => {};
}

export function busyFor(ms: number): number {
  const end = performance.now() + ms;
  let n = 0;
  while (performance.now() < end) n++;
  return n;
}

/** Holds ever more memory, until the child runs out. */
export function hog(): never {
  const held: number[][] = [];
  for (;;) held.push(new Array(1_000_000).fill(held.length));
}

/** The sum of the bytes, and `q` told their count. */
export async function sumBytes(
  bytes: Uint8Array,
  q?: Queue<number>,
): Promise<number> {
  await q?.put(bytes.length);
  let sum = 0;
  for (const byte of bytes) sum += byte;
  return sum;
}

export function byteLength(bytes: Uint8Array): number {
  return bytes.length;
}
