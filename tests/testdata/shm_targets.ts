// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// Children for tests/shm_test.ts.
import type { Event, Lock } from "../../lock.ts";
import type { Connection } from "../../pipe.ts";
import { Process } from "../../process.ts";
import type { Queue } from "../../queue.ts";

const TIMEOUT = 30_000;

export interface Objects {
  go: Event;
  done: Event;
  lock: Lock;
  /** Bounded, so that a put on calls waits for its owner's answer. */
  items: Queue<number>;
  /** The parent has sent "ping" on the other end before `go`. */
  end: Connection<string>;
}

/**
 * Waits for `go`, then takes the lock, puts an item, receives from the
 * pipe, answers, and sets `done`: all without its parent's event loop when
 * it shares memory.
 */
export async function actOnGo({ go, done, lock, items, end }: Objects) {
  if (!await go.wait({ timeout: TIMEOUT })) throw new Error("No go");
  if (!await lock.acquire({ timeout: TIMEOUT })) throw new Error("No lock");
  await items.put(1, { timeout: TIMEOUT });
  lock.release();
  const ping = await end.recv({ timeout: TIMEOUT });
  end.send(`${ping}-pong`);
  done.set();
}

/** Gets the objects through a queue, then acts as {@linkcode actOnGo}. */
export async function actOnGoFromQueue(queue: Queue<Objects>) {
  await actOnGo(await queue.get({ timeout: TIMEOUT }));
}

/** Starts a subprocess grandchild that acts as {@linkcode actOnGo}. */
export async function actOnGoInGrandchild(objects: Objects) {
  const child = new Process({
    target: actOnGo,
    args: [objects],
    startMethod: "subprocess",
  });
  child.start();
  const code = await child.join({ timeout: TIMEOUT });
  if (code !== 0) throw new Error(`The grandchild exited with ${code}`);
}

/** Takes the lock, says so, then waits to be killed or exits. */
export async function holdLockThenDie(
  lock: Lock,
  held: Queue<string>,
  how: "wait" | "exit",
) {
  if (!await lock.acquire({ timeout: TIMEOUT })) throw new Error("No lock");
  await held.put("held");
  if (how === "exit") Deno.exit(3);
  await new Promise((resolve) => setTimeout(resolve, TIMEOUT));
}

/** Gets items for ever, reporting each one it got. */
export async function getAndReport(items: Queue<unknown>, got: Queue<number>) {
  await got.put(-1);
  for (;;) {
    const item = await items.get({ timeout: TIMEOUT });
    await got.put(item instanceof Uint8Array ? item[0]! : -2);
  }
}
