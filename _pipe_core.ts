// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// A pipe end as a kind of the shared-object layer: the rings in shared
// memory, used directly by the owner and its workers (LocalEnd), and the
// operations every other holder sends the owner, which keeps each message
// it hands out until the reader acknowledges it, as a queue's items.
//
// End of file follows Python: a reader sees EOF once the ring is empty and
// every handle that could write to it is closed. Each copy of a sending end
// given to a child is one handle (a lease), released when that child closes
// it or exits, so a child that dies never leaves its peer waiting.
import { decodeFrameFully, inPlaceFrame } from "./_frame.ts";
import { FrameWriter } from "./_feeder.ts";
import { checkLength, Ring } from "./_ring.ts";
import { Deliveries, type Delivery } from "./_queue_core.ts";
import { asyncOp, blockingOp, notifyOp, type Shared } from "./_shared.ts";
import { deadlineOf } from "./_futex.ts";
import { EOFError, TimeoutError } from "./errors.ts";

/**
 * What a Connection receives and closes through: its memory where mapped,
 * else calls to its owner. It sends through the shared object either way.
 */
export type EndCore = LocalEnd | ViaOwner;

// Each direction's count of open handles that may still write, in the word
// its ring keeps for its user: EOF once it drops to 0.
const addWriteHandle = (ring: Ring) => Atomics.add(ring.state, 0, 1);

/** An end over its rings in shared memory, with this process's pending writes. */
export class LocalEnd {
  #recv: Ring | null;
  #send: Ring | null;
  #writer: FrameWriter | null;
  #shared: EndShared;
  /** The owner's: messages handed out and given back, served first. */
  #unread: Uint8Array[] = [];
  /** The owner's: messages handed to callers without the memory, unacknowledged. */
  readonly handedOut: Deliveries = new Deliveries();
  /** The owner's ledger of handles given out with copies, not yet released. */
  #leases = new Set<number>();
  #nextLease = 1;
  /** Whether every handle that could write to this end is closed. */
  #writersGone = () => Atomics.load(this.#recv!.state, 0) <= 0;

  constructor(recv: Ring | null, send: Ring | null, shared: EndShared) {
    this.#recv = recv;
    this.#send = send;
    this.#writer = send === null ? null : new FrameWriter(send);
    this.#shared = shared;
    if (!shared.owned) {
      this.#writer?.handOffAtExit((frames) => {
        for (const frame of frames) shared.atOwner("send", [frame]);
      });
    }
  }

  /** Sends a value written in place, if possible now; else `false`. */
  trySendFast(value: unknown): boolean {
    const frame = inPlaceFrame(value);
    if (frame === null) return false;
    this.#writer!.writeWith(frame);
    return true;
  }

  /** Receives a value decoded in place, if one is there now. */
  tryRecvFast(): Promise<unknown> | undefined {
    const unread = this.#unread.shift();
    if (unread !== undefined) return decodeFrameFully(unread);
    return this.#recv!.tryReadWith(decodeFrameFully);
  }

  send(frame: Uint8Array): void {
    this.#writer!.send(frame);
  }

  async recv(
    maxLength: number,
    timeout: number,
    signal?: AbortSignal,
  ): Promise<Uint8Array> {
    const ring = this.#recv!;
    const unread = this.#unread[0];
    if (unread !== undefined) {
      checkLength(unread.length, maxLength);
      return this.#unread.shift()!;
    }
    const deadline = deadlineOf(timeout);
    const frame = ring.tryRead(maxLength) ??
      await ring.read(deadline, signal, this.#writersGone, maxLength);
    if (frame !== null) return frame;
    throw this.#writersGone()
      ? new EOFError(
        "Cannot receive as the other end is closed and nothing is left to read",
      )
      : new TimeoutError(
        `Cannot receive as nothing arrived within ${timeout} ms`,
      );
  }

  poll(timeout: number, signal?: AbortSignal): Promise<boolean> {
    if (this.#unread.length > 0) return Promise.resolve(true);
    const deadline = deadlineOf(timeout);
    return this.#recv!.waitReadable(deadline, signal, this.#writersGone);
  }

  /**
   * This copy will send no more: its handle (`lease`, or the owner's own) is
   * released once what it sent is written.
   */
  close(lease: number): void {
    if (this.#writer === null) return;
    const release = () => this.#shared.atOwner("release", [lease]);
    this.#writer.flushed().then(release, release);
  }

  /** The owner's: a handle for a copy of this writable end sent elsewhere. */
  newLease(): number {
    addWriteHandle(this.#send!);
    const lease = this.#nextLease++;
    this.#leases.add(lease);
    return lease;
  }

  /** The owner's: releases a copy's handle once (`0`: its own). */
  releaseLease(lease: number): void {
    if (lease !== 0 && !this.#leases.delete(lease)) return;
    Atomics.sub(this.#send!.state, 0, 1);
    // Readers wake to notice end of stream.
    this.#send!.wakeReaders();
  }

  /**
   * The owner's: the caller got the message of `key`, or gives it back
   * (`unread`), to be served first.
   */
  ack(key: number, unread: boolean): void {
    const frame = this.handedOut.ack(key);
    if (unread && frame !== undefined) this.#unread.unshift(frame);
  }

  /**
   * Frees what dead parties held of its rings; the messages dead readers
   * never got are served first.
   */
  releaseDead(dead: (code: number) => boolean): void {
    this.#recv?.releaseDead();
    this.#send?.releaseDead();
    this.#unread.unshift(...this.handedOut.takeDead(dead));
  }
}

/** An end reached through calls to its owner. */
export class ViaOwner {
  #shared: EndShared;

  constructor(shared: EndShared) {
    this.#shared = shared;
  }

  async recv(
    maxLength: number,
    timeout: number,
    signal?: AbortSignal,
  ): Promise<Uint8Array> {
    const [key, frame] = await this.#shared.run("recv", [timeout], signal);
    // One too long stays unread, as it does in the ring.
    this.#shared.run("ack", [key, frame.length > maxLength]);
    checkLength(frame.length, maxLength);
    return frame;
  }

  poll(timeout: number, signal?: AbortSignal): Promise<boolean> {
    return this.#shared.run("poll", [timeout], signal);
  }

  close(lease: number): void {
    if (lease !== 0) this.#shared.run("release", [lease]);
  }
}

interface EndConfig {
  readable: boolean;
  writable: boolean;
}

/** The pipe-end kind: its state, and what a holder without the memory sends. */
export const PIPE_END = {
  name: "connection",
  module: new URL("./pipe.ts", import.meta.url).href,
  open: (
    memory: readonly SharedArrayBuffer[],
    { readable, writable }: EndConfig,
    shared: EndShared,
  ): LocalEnd => {
    const ring = (i: number) => new Ring([memory[2 * i]!, memory[2 * i + 1]!]);
    return new LocalEnd(
      readable ? ring(0) : null,
      writable ? ring(readable ? 1 : 0) : null,
      shared,
    );
  },
  ops: {
    send: notifyOp((end: LocalEnd, _, frame: Uint8Array) => end.send(frame)),
    recv: asyncOp(async (
      end: LocalEnd,
      { caller, signal },
      timeout: number,
    ): Promise<Delivery> =>
      end.handedOut.deliver(caller, await end.recv(Infinity, timeout, signal))
    ),
    ack: notifyOp((end: LocalEnd, _, key: number, unread: boolean) =>
      end.ack(key, unread)
    ),
    poll: asyncOp((end: LocalEnd, { signal }, timeout: number) =>
      end.poll(timeout, signal)
    ),
    lease: blockingOp((end: LocalEnd) => end.newLease()),
    release: notifyOp((end: LocalEnd, _, lease: number) =>
      end.releaseLease(lease)
    ),
  },
  reap: (end: LocalEnd, dead: (code: number) => boolean) =>
    end.releaseDead(dead),
};

/** A pipe end as this isolate reaches it. */
export type EndShared = Shared<LocalEnd, EndConfig, typeof PIPE_END.ops>;

/** The memory and config of a new pipe's two ends. */
export function newPipe(
  duplex: boolean,
): [SharedArrayBuffer[], EndConfig][] {
  const one = Ring.create();
  addWriteHandle(one);
  if (!duplex) {
    return [
      [[...one.buffers], { readable: true, writable: false }],
      [[...one.buffers], { readable: false, writable: true }],
    ];
  }
  const two = Ring.create();
  addWriteHandle(two);
  const both = { readable: true, writable: true };
  return [
    [[...one.buffers, ...two.buffers], both],
    [[...two.buffers, ...one.buffers], both],
  ];
}
