// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// Carries the blocking calls of a `DirectLink` (a subprocess child's to its
// parent, or a process's to a server). The caller's thread sleeps in
// `Atomics.wait` until this worker, over a connection of its own, has the
// answer and writes it into the caller's slot. Each call brings copies of
// the frames the main connection may not have written yet, which the owner
// applies before the call (see `_backend_subprocess.ts`).
import { decode, encode } from "./_codec.ts";
import { type DirectAddress, openDirect } from "./_direct.ts";
import { toWireError } from "./_errors_wire.ts";
import type { RingPairRef } from "./_ring_link.ts";
import { ProcessError } from "./errors.ts";
import { type ReturnMessage, writeSlot } from "./_runtime.ts";
import { BLOCKING, type BlockingFrame, readFrames, writeAll } from "./_wire.ts";
import { FrameWriter } from "./_feeder.ts";

interface InitMessage {
  t: "init";
  /** The owner's address: the parent's socket, or a server's. */
  direct: DirectAddress;
  /** The rings a direct link sends its other calls over, if it does. */
  rings?: RingPairRef;
  token: string;
  /** What calls fail with once the owner is gone. */
  gone: string;
}

/** A blocking call, and the slot its answer goes into. */
interface CallMessage extends BlockingFrame {
  t: "call";
  s: SharedArrayBuffer;
}

type Message = InitMessage | CallMessage;

const scope = globalThis as unknown as {
  onmessage: ((event: MessageEvent<Message>) => void) | null;
};
const slots = new Map<number, SharedArrayBuffer>();
let connection: Promise<Deno.Conn> | null = null;
let ownerGone = false;
let goneMessage = "";

async function connect(init: InitMessage): Promise<Deno.Conn> {
  const conn = await openDirect(init.direct, BLOCKING, init.token, init.rings);
  // The caller sleeps while a call is out, and its program must be able to
  // end while this worker idles.
  conn.unref();
  readFrames(conn, (payload) => {
    answer((decode(payload) as ReturnMessage).c, payload);
  }).catch(() => {}).finally(failAll);
  return conn;
}

/** Writes the answer to call `c` into its caller's slot. */
function answer(c: number, bytes: Uint8Array): void {
  const slot = slots.get(c);
  slots.delete(c);
  if (slot !== undefined) writeSlot(slot, bytes);
}

/** The owner is gone: every call waiting, and every later one, fails. */
function failAll(): void {
  ownerGone = true;
  const error = toWireError(new ProcessError(goneMessage));
  for (const c of [...slots.keys()]) {
    answer(c, encode({ t: "ret", c, ok: false, v: error } as ReturnMessage));
  }
}

const writer = new FrameWriter(async (bytes) => {
  await writeAll(await connection!, bytes);
});

scope.onmessage = ({ data: message }) => {
  if (message.t === "init") {
    goneMessage = message.gone;
    connection = connect(message);
    connection.catch((error: Error) => {
      goneMessage = error.message;
      failAll();
    });
  } else {
    const { w, r, m, s } = message;
    slots.set(m.c, s);
    if (ownerGone) return failAll();
    try {
      writer.send(encode({ w, r, m } satisfies BlockingFrame));
    } catch {
      // The connection broke: no answer will come.
      failAll();
    }
  }
};
