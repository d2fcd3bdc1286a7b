// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// A pipe end as a kind of the shared-object layer: the rings in shared
// memory, used directly by the owner and its workers (LocalEnd), which
// every other holder reaches through the same operations, run by the owner.
//
// End of file follows Python: a reader sees EOF once the ring is empty and
// every handle that could write to it is closed. Each copy of a sending end
// given to a child is one handle (a lease), released when that child closes
// it or exits, so a child that dies never leaves its peer waiting.
import { decodeFrameFully, inPlaceFrame } from "./_frame.ts";
import { FrameWriter } from "./_feeder.ts";
import { Ring, TooLongError } from "./_ring.ts";
import { asyncOp, blockingOp, notifyOp, type Shared } from "./_shared.ts";
import { deadlineOf } from "./_futex.ts";
import { EOFError, TimeoutError } from "./errors.ts";

// Each direction's count of open handles that may still write, in the word
// its ring keeps for its user: EOF once it drops to 0.
const addWriteHandle = (ring: Ring) => Atomics.add(ring.state, 0, 1);

/** An end over its rings in shared memory, with this process's pending writes. */
export class LocalEnd {
  #recv: Ring | null;
  #send: Ring | null;
  #writer: FrameWriter | null;
  #shared: EndShared;
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
    return this.#recv!.tryReadWith(decodeFrameFully);
  }

  /**
   * {@linkcode tryRecvFast}, after a spin for a value if none is there and
   * the other end may still send: one that comes within it is received
   * without a wait's async returns.
   */
  tryRecvSoon(): Promise<unknown> | undefined {
    return this.tryRecvFast() ??
      (!this.#writersGone() && this.#recv!.frameSoon()
        ? this.tryRecvFast()
        : undefined);
  }

  send(frame: Uint8Array): void {
    this.#writer!.send(frame);
  }

  /**
   * Receives a frame: a message of at most `maxLength` bytes after its flag
   * byte.
   *
   * @throws {TooLongError} With the message's lengths; it stays unread.
   */
  async recv(
    maxLength: number,
    timeout: number,
    signal?: AbortSignal,
  ): Promise<Uint8Array> {
    const ring = this.#recv!;
    const deadline = deadlineOf(timeout);
    let frame;
    try {
      frame = ring.tryRead(maxLength + 1) ??
        await ring.read(deadline, signal, this.#writersGone, maxLength + 1);
    } catch (error) {
      if (!(error instanceof TooLongError)) throw error;
      throw new TooLongError(error.length - 1, maxLength);
    }
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

  /** Frees what dead parties held of its rings. */
  releaseDead(): void {
    this.#recv?.releaseDead();
    this.#send?.releaseDead();
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
    recv: asyncOp((
      end: LocalEnd,
      { signal },
      maxLength: number,
      timeout: number,
    ) => end.recv(maxLength, timeout, signal)),
    poll: asyncOp((end: LocalEnd, { signal }, timeout: number) =>
      end.poll(timeout, signal)
    ),
    close: notifyOp((end: LocalEnd, _, lease: number) => end.close(lease)),
    lease: blockingOp((end: LocalEnd) => end.newLease()),
    release: notifyOp((end: LocalEnd, _, lease: number) =>
      end.releaseLease(lease)
    ),
  },
  reap: (end: LocalEnd) => end.releaseDead(),
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
