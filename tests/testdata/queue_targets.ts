// Targets run by children in the queue and pipe tests.
import type { JoinableQueue, Queue } from "../../queue.ts";

export function putsPair(q: Queue<[string, number]>) {
  // Not awaited, as in Python: still delivered before the child exits.
  q.put(["xiaoming", 12]);
}

export async function produces(
  q: Queue<[number, number]>,
  producer: number,
  count: number,
) {
  for (let i = 0; i < count; i++) await q.put([producer, i]);
}

export async function consumes(q: Queue<unknown>, results: Queue<unknown>) {
  const got: unknown[] = [];
  while (true) {
    const item = await q.get();
    if (item === null) break;
    got.push(item);
  }
  await results.put(got);
}

export async function echoes(inbox: Queue<unknown>, outbox: Queue<unknown>) {
  await outbox.put(await inbox.get());
}

export async function echoesAll(
  inbox: Queue<unknown>,
  outbox: Queue<unknown>,
  count: number,
) {
  for (let i = 0; i < count; i++) await outbox.put(await inbox.get());
}

export async function getsForever(q: Queue<unknown>, started: Queue<string>) {
  await started.put("blocked");
  await q.get();
}

export async function worksTasks(
  q: JoinableQueue<number>,
  results: Queue<number>,
) {
  while (true) {
    const n = await q.get();
    await results.put(n * n);
    q.taskDone();
  }
}

export async function syncCalls(q: Queue<number>, results: Queue<unknown>) {
  const seen: unknown[] = [q.qsize(), q.empty(), q.full()];
  seen.push(q.getNowait());
  try {
    q.getNowait();
  } catch (error) {
    seen.push((error as Error).name);
  }
  q.putNowait(99);
  await results.put(seen);
}

export async function putsBig(q: Queue<unknown>, size: number) {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i += 4096) bytes[i] = (i / 4096) % 251;
  await q.put(bytes);
}

export function putsMany(
  q: Queue<Uint8Array>,
  count: number,
  size: number,
) {
  for (let i = 0; i < count; i++) {
    const bytes = new Uint8Array(size);
    bytes[0] = i % 256;
    q.put(bytes);
  }
}

export async function triesBadPut(q: Queue<unknown>, results: Queue<unknown>) {
  try {
    await q.put({ ok: 1, cb: () => {} });
  } catch (error) {
    await results.put([(error as Error).name, (error as Error).message]);
  }
  await q.put("still works");
}

export async function putsWithTimeout(
  q: Queue<number>,
  results: Queue<unknown>,
) {
  await q.put(1);
  try {
    await q.put(2, { timeout: 50 });
  } catch (error) {
    await results.put((error as Error).name);
  }
}

export async function usesReceivedQueue(carrier: Queue<Queue<string>>) {
  const inner = await carrier.get();
  await inner.put("via a queue");
}

export async function echoesNested(
  inbox: Queue<unknown>,
  outbox: Queue<unknown>,
) {
  const value = await inbox.get();
  await outbox.put(value);
}

/** Bytes whose every 4,096th byte says which item and where. */
export function patterned(size: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i += 4096) bytes[i] = (i / 4096 + seed) % 251;
  return bytes;
}

/**
 * Puts two items larger than the ring while nobody reads, then dies as told:
 * killed from outside ("wait"), or by `Deno.exit(3)`.
 */
export async function putsHugeThenDies(
  q: Queue<unknown>,
  started: Queue<string>,
  size: number,
  how: "wait" | "exit",
) {
  await started.put("putting");
  q.put(patterned(size, 1));
  q.put(patterned(size, 2));
  await new Promise((resolve) => setTimeout(resolve, 50));
  if (how === "exit") Deno.exit(3);
  // Never returns: it waits to be stopped from outside.
  await new Promise(() => setInterval(() => {}, 1000));
}

export async function putsOneAndReturns(q: Queue<Uint8Array>, size: number) {
  await q.put(patterned(size, 7));
}

/** Puts `[producer, i]` for i in 0..count, awaiting each put. */
export async function producesTagged(
  q: Queue<[number, number] | null>,
  producer: number,
  count: number,
) {
  for (let i = 0; i < count; i++) await q.put([producer, i]);
}

/**
 * Takes items until `null`, checking per producer that numbers strictly
 * increase; reports how many it took and the first few that did not. It
 * pauses every `pauseEvery` items, so that producers get ahead and the ring
 * fills.
 */
export async function checksOrder(
  q: Queue<[number, number] | null>,
  results: Queue<[number, string[]]>,
  pauseEvery: number,
) {
  const last = new Map<number, number>();
  const wrong: string[] = [];
  let count = 0;
  while (true) {
    const item = await q.get();
    if (item === null) break;
    const [producer, n] = item;
    const before = last.get(producer) ?? -1;
    if (n <= before && wrong.length < 5) {
      wrong.push(`producer ${producer}: ${n} after ${before}`);
    }
    last.set(producer, n);
    if (++count % pauseEvery === 0) {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  await results.put([count, wrong]);
}
