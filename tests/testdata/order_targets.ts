// Targets run by children in the ordering tests: each makes operations on
// several objects and ends in a way that must not lose or reorder them.
import type { Event, Lock } from "../../lock.ts";
import type { Connection } from "../../pipe.ts";
import { Process, type StartMethod } from "../../process.ts";
import type { Queue } from "../../queue.ts";

export async function putsThenSets(q: Queue<unknown>, ev: Event) {
  await q.put("a");
  ev.set();
}

export function putsNowaitThenSets(q: Queue<unknown>, ev: Event) {
  q.putNowait("a");
  q.putNowait("b");
  ev.set();
}

export async function putsBigThenSets(q: Queue<unknown>, ev: Event) {
  // Larger than a socket buffer, so its write is still under way at set(),
  // yet it fits in the ring a worker child writes to.
  await q.put(new Uint8Array(2 * 1024 * 1024).fill(7));
  ev.set();
}

export async function putsThenCounts(q: Queue<unknown>, out: Queue<unknown>) {
  await q.put("a");
  const afterPut = q.qsize();
  q.putNowait("b");
  await out.put([afterPut, q.qsize()]);
}

export function sendsThenSets(conn: Connection<unknown>, ev: Event) {
  conn.send("m");
  ev.set();
}

export async function releasesThenSets(lock: Lock, ev: Event) {
  await lock.acquire();
  lock.release();
  ev.set();
}

export async function putsThenExits(q: Queue<unknown>, code: number) {
  await q.put("a");
  Deno.exit(code);
}

export function putsNowaitThenExits(q: Queue<unknown>, code: number) {
  q.putNowait("a");
  Deno.exit(code);
}

export function sendsThenExits(conn: Connection<unknown>, code: number) {
  conn.send("m");
  Deno.exit(code);
}

/**
 * Starts a grandchild that puts to `q` (owned by the test, two levels up)
 * and then sets an event this child owns; on seeing it set, takes from `q`.
 */
export async function relaysThroughOwnEvent(
  q: Queue<unknown>,
  out: Queue<unknown>,
  startMethod: StartMethod,
) {
  const { Event } = await import("../../lock.ts");
  const ev = new Event();
  const grandchild = new Process({
    target: putsThenSets,
    args: [q, ev],
    module: import.meta.url,
    startMethod,
  });
  grandchild.start();
  const seen = await ev.wait({ timeout: 20_000 });
  let item: unknown;
  try {
    item = q.getNowait();
  } catch (error) {
    item = String(error);
  }
  await out.put([seen, item, await grandchild.join({ timeout: 20_000 })]);
}
