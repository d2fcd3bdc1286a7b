// Children of the manager cases of bench/compare.ts: each times its own
// loop of awaited operations and reports the seconds through a queue.
import { Manager } from "../manager.ts";
import type { DictProxy, ListProxy } from "../manager.ts";
import type { Queue } from "../queue.ts";

export async function dictSets(
  d: DictProxy<string, number>,
  n: number,
  out: Queue<number>,
) {
  await d.set("warm", 0);
  const started = performance.now();
  for (let i = 0; i < n; i++) await d.set("k" + i, i);
  await out.put((performance.now() - started) / 1000);
}

export async function listAppends(
  l: ListProxy<number>,
  n: number,
  out: Queue<number>,
) {
  await l.append(-1);
  const started = performance.now();
  for (let i = 0; i < n; i++) await l.append(i);
  await out.put((performance.now() - started) / 1000);
}

/** A separate client of a network manager, as another program would be. */
export async function tcpClient(
  port: number,
  authkey: string,
  n: number,
  out: Queue<number>,
) {
  const manager = await Manager.connect({ port, authkey });
  const d = manager.dict<string, number>();
  await d.set("warm", 0);
  const started = performance.now();
  for (let i = 0; i < n; i++) await d.set("k" + i, i);
  await out.put((performance.now() - started) / 1000);
  await manager.shutdown();
}
