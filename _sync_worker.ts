// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// Carries the blocking calls of a subprocess child to its parent. The child's
// main thread sleeps in `Atomics.wait` until this worker, over a connection
// of its own, has the answer and writes it into the caller's slot.
import { decode, encode } from "./_codec.ts";
import {
  type CallMessage,
  type FetchMessage,
  KeptAnswers,
  type ReturnMessage,
  writeSlot,
} from "./_runtime.ts";
import { FrameWriter, readFrames, writeAll } from "./_wire.ts";

interface InitMessage {
  t: "init";
  socket: string;
  token: string;
}

type Message = InitMessage | FetchMessage | CallMessage;

const scope = globalThis as unknown as {
  onmessage: ((event: MessageEvent<Message>) => void) | null;
};
const slots = new Map<number, SharedArrayBuffer>();
const kept = new KeptAnswers();
let connection: Promise<Deno.Conn> | null = null;

async function connect(socket: string, token: string): Promise<Deno.Conn> {
  const conn = await Deno.connect({ transport: "unix", path: socket });
  await writeAll(conn, new TextEncoder().encode(token));
  readFrames(conn, (payload) => {
    const { c } = decode(payload) as ReturnMessage;
    const slot = slots.get(c);
    slots.delete(c);
    if (slot !== undefined) writeSlot(slot, payload, kept.keep);
  }).catch(() => {});
  return conn;
}

const writer = new FrameWriter(async (bytes) => {
  await writeAll(await connection!, bytes);
});

scope.onmessage = ({ data: message }) => {
  if (message.t === "init") {
    connection = connect(message.socket, message.token);
  } else if (message.t === "fetch") {
    kept.deliver(message.k, message.s);
  } else {
    const { s, ...call } = message;
    slots.set(call.c, s!);
    writer.send(encode(call));
  }
};
