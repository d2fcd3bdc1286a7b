// Targets run by children in the pipe tests.
import type { Connection } from "../../pipe.ts";
import { patterned } from "./queue_targets.ts";

export function sendsAndCloses(conn: Connection<string>) {
  conn.send("send data");
  conn.close();
}

export async function echoes(conn: Connection<unknown>) {
  for await (const value of conn) conn.send(value);
}

export async function pingPongs(conn: Connection<number>, rounds: number) {
  for (let i = 0; i < rounds; i++) conn.send(await conn.recv());
}

export function sendsBig(conn: Connection<unknown>, size: number) {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i += 4096) bytes[i] = (i / 4096) % 251;
  conn.send(bytes);
  conn.sendBytes(bytes.subarray(0, 10));
}

export function sendsWithoutClosing(conn: Connection<number>) {
  conn.send(1);
  conn.send(2);
}

export async function sendsBadThenGood(conn: Connection<unknown>) {
  try {
    conn.send({ f: () => {} });
  } catch (error) {
    conn.send((error as Error).message);
  }
  conn.send("still works");
  await Promise.resolve();
}

export async function receivesOne(conn: Connection<number>) {
  conn.send(await conn.recv() * 10);
}

export async function putsIntoReceivedQueue(conn: Connection<unknown>) {
  const q = await conn.recv() as { put(item: string): Promise<void> };
  await q.put("via a pipe");
}

/** Reports what the child sees of a too-long message and a string sent as bytes. */
export async function checksBytes(conn: Connection<unknown>) {
  try {
    await conn.recvBytes(10);
  } catch (error) {
    conn.send([(error as Error).name, (error as Error).message]);
  }
  conn.send((await conn.recvBytes()).length);
  try {
    conn.sendBytes("hello" as unknown as Uint8Array);
  } catch (error) {
    conn.send([(error as Error).name, (error as Error).message]);
  }
  conn.sendBytes(new Uint8Array([7]));
}

/** Sends two messages larger than the ring while nobody reads, then dies. */
export async function sendsHugeThenDies(
  conn: Connection<unknown>,
  started: { put(item: string): Promise<void> },
  size: number,
  how: "wait" | "exit",
) {
  await started.put("sending");
  conn.send(patterned(size, 1));
  conn.send(patterned(size, 2));
  await new Promise((resolve) => setTimeout(resolve, 50));
  if (how === "exit") Deno.exit(3);
  // Never returns: it waits to be stopped from outside.
  await new Promise(() => setInterval(() => {}, 1000));
}
