// Targets run by children in the shared-object layer tests.
import { callOwner, current } from "../../_runtime.ts";
import { Process, type StartMethod } from "../../process.ts";
import type { Queue } from "../../queue.ts";
import { Counter } from "./counter.ts";

const TIMEOUT = 30_000;
const module = import.meta.url;

function describe(error: unknown): string {
  return error instanceof Error
    ? `${error.name}: ${error.message}`
    : String(error);
}

function sleepForever(): Promise<never> {
  return new Promise(() => setInterval(() => {}, 1_000));
}

/** Uses every op once: adds `n`, then bumps (1 more). */
export async function useCounter(counter: Counter, n: number) {
  const added = counter.add(n);
  if (!(added instanceof Promise)) throw new Error("add() is not a Promise");
  const value = await added;
  const seen = counter.get();
  if (seen < value) throw new Error(`get() saw ${seen} after add() ${value}`);
  counter.bump();
}

export async function inGrandchild(
  counter: Counter,
  n: number,
  startMethod: StartMethod,
) {
  const grandchild = new Process({
    target: useCounter,
    args: [counter, n],
    module,
    startMethod,
  });
  grandchild.start();
  const code = await grandchild.join({ timeout: TIMEOUT });
  if (code !== 0) throw new Error(`The grandchild exited with code ${code}`);
}

export async function addFromQueue(queue: Queue<{ c: Counter; n: number }>) {
  const { c, n } = await queue.get({ timeout: TIMEOUT });
  await useCounter(c, n);
}

export async function sendBack(counter: Counter, queue: Queue<unknown>) {
  await queue.put({ counter });
}

/** How a claiming child ends. */
export type End = "return" | "exit" | "sleep";

/** Claims, says so by adding 1, then ends as told. */
export async function claimThen(counter: Counter, end: End) {
  if (!await counter.claim()) throw new Error("The claim was held already");
  if (!counter.claimed()) throw new Error("claimed() is false after claim()");
  await counter.add(1);
  if (end === "exit") Deno.exit(3);
  if (end === "sleep") await sleepForever();
}

/**
 * Starts a grandchild that claims and ends as told; after it is gone (or,
 * for "sleep", once it holds the claim) adds 100, then sleeps until killed.
 */
export async function grandchildClaims(
  counter: Counter,
  startMethod: StartMethod,
  end: End,
) {
  const grandchild = new Process({
    target: claimThen,
    args: [counter, end],
    module,
    startMethod,
  });
  grandchild.start();
  if (end !== "sleep") {
    const code = await grandchild.join({ timeout: TIMEOUT });
    if (code !== (end === "exit" ? 3 : 0)) {
      throw new Error(`The grandchild exited with code ${code}`);
    }
  } else {
    const deadline = Date.now() + TIMEOUT;
    while (counter.get() < 1 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
  await counter.add(100);
  await sleepForever();
}

/** Reports how the owner answers ops it does not have. */
export async function unknownOps(counter: Counter, queue: Queue<string[]>) {
  const shared = Counter.shared(counter);
  const { owner, id } = shared.describe("subprocess");
  const answers: string[] = [];
  for (const op of ["nope", "toString"]) {
    try {
      await callOwner(owner, id, op, [current.pid]);
      answers.push(`${op} resolved`);
    } catch (error) {
      answers.push(describe(error));
    }
  }
  try {
    shared.run("nope" as "get", [] as never);
    answers.push("run resolved");
  } catch (error) {
    answers.push(describe(error));
  }
  await queue.put(answers);
}

export function sameObject(a: Counter, b: Counter, nested: { c: Counter }) {
  if (a !== b) throw new Error("The counter passed twice is two objects");
  if (nested.c !== a) throw new Error("The nested counter is another object");
}

export async function bumpTwiceThenGet(counter: Counter, queue: Queue<number>) {
  const before = counter.get();
  counter.bump();
  counter.bump();
  await queue.put(counter.get() - before);
}

/** Gets a counter, waits to be told, then sends the counter back. */
export async function sendBackLater(
  queue: Queue<unknown>,
  release: Queue<{ counter: Counter } | null>,
) {
  const item = await release.get({ timeout: TIMEOUT });
  await release.get({ timeout: TIMEOUT });
  await queue.put(item);
}
