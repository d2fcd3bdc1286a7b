// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// Carries the blocking calls of a subprocess child to its parent. The child's
// main thread sleeps in `Atomics.wait` until this worker, over a connection
// of its own, has the answer and writes it into the caller's slot. Each call
// brings copies of the frames the main thread may not have written yet,
// which the parent applies before the call (see `_backend_subprocess.ts`).
import { decode, encode } from "./_codec.ts";
import { toWireError } from "./_errors_wire.ts";
import { ProcessError } from "./errors.ts";
import {
  type FetchMessage,
  KeptAnswers,
  type ReturnMessage,
  writeSlot,
} from "./_runtime.ts";
import {
  BLOCKING,
  type BlockingFrame,
  FrameWriter,
  handshake,
  readFrames,
  writeAll,
} from "./_wire.ts";

interface InitMessage {
  t: "init";
  socket: string;
  token: string;
}

/** A blocking call, and the slot its answer goes into. */
interface CallMessage extends BlockingFrame {
  t: "call";
  s: SharedArrayBuffer;
}

type Message = InitMessage | FetchMessage | CallMessage;

const scope = globalThis as unknown as {
  onmessage: ((event: MessageEvent<Message>) => void) | null;
};
const slots = new Map<number, SharedArrayBuffer>();
const kept = new KeptAnswers();
let connection: Promise<Deno.Conn> | null = null;
let parentGone = false;

async function connect(socket: string, token: string): Promise<Deno.Conn> {
  const conn = await Deno.connect({ transport: "unix", path: socket });
  await writeAll(conn, handshake(token, BLOCKING));
  readFrames(conn, (payload) => {
    const { c } = decode(payload) as ReturnMessage;
    const slot = slots.get(c);
    slots.delete(c);
    if (slot !== undefined) writeSlot(slot, payload, kept.keep);
  }).catch(() => {}).finally(() => {
    parentGone = true;
    for (const c of [...slots.keys()]) fail(c);
  });
  return conn;
}

/** Wakes the caller of `c`, whose parent is gone, with an error. */
function fail(c: number): void {
  const slot = slots.get(c);
  slots.delete(c);
  const error = new ProcessError("The parent process is gone");
  const answer: ReturnMessage = {
    t: "ret",
    c,
    ok: false,
    v: toWireError(error),
  };
  if (slot !== undefined) writeSlot(slot, encode(answer), kept.keep);
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
    const { w, r, m, s } = message;
    slots.set(m.c, s);
    if (parentGone) return fail(m.c);
    const frame: BlockingFrame = { w, r, m };
    try {
      writer.send(encode(frame));
    } catch {
      fail(m.c);
    }
  }
};
