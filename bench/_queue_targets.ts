// Children's side of the queue and pipe benchmarks.
import type { Connection } from "../pipe.ts";
import type { Queue } from "../queue.ts";

/** Puts `count` small items, as Python's benchmark does. */
export async function producePairs(q: Queue<[string, number]>, count: number) {
  for (let i = 0; i < count; i++) await q.put(["xiaoming", 12]);
}

/** Puts `count` buffers of `size` bytes. */
export async function produceBuffers(
  q: Queue<Uint8Array>,
  count: number,
  size: number,
) {
  const buffer = new Uint8Array(size);
  for (let i = 0; i < count; i++) await q.put(buffer);
}

/** Answers each value received with itself, `rounds` times. */
export async function echo(conn: Connection<number>, rounds: number) {
  for (let i = 0; i < rounds; i++) conn.send(await conn.recv());
}
