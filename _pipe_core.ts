// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// The two ways a Connection reaches its pipe, behind one interface:
//
// - LocalEnd: the rings in shared memory, used by the process that made the
//   pipe and by its worker children (and theirs).
// - RemoteEnd: a subprocess child's proxy; each operation travels to the
//   pipe's owner, which applies it to its LocalEnd.
//
// End of file follows Python: a reader sees EOF once the ring is empty and
// every handle that could write to it is closed. Each copy of a sending end
// given to a child is one handle (a lease), released when that child closes
// it or exits, so a child that dies never leaves its peer waiting.
import { type DecodedFrame, decodeFrame, inPlaceFrame } from "./_frame.ts";
import { RingWriter } from "./_feeder.ts";
import { Ring, type RingBuffers, TooLongError } from "./_ring.ts";
import {
  addFlusher,
  type CallContext,
  callOwner,
  callOwnerSync,
  current,
  expose,
  notifyOwner,
  type StartMethod,
} from "./_runtime.ts";
import type { ReduceContext } from "./_reduce.ts";
import { settleWithin } from "./_util.ts";
import { EOFError, TimeoutError } from "./errors.ts";

/** How a Connection crosses into a child. */
export interface EndDescriptor {
  /** The pid of the process that owns the pipe. */
  o: number;
  /** The end's id among the owner's exposed objects. */
  id: number;
  /** The child's handle on the sending side, or 0 when it cannot send. */
  lease: number;
  readable: boolean;
  writable: boolean;
  /** The rings (receive, send), for a worker child of a process that has them. */
  recv?: RingBuffers;
  send?: RingBuffers;
}

/** What a Connection is, whichever process it is used from. */
export interface EndCore {
  readonly readable: boolean;
  readonly writable: boolean;
  /** Sends a value written in place, if possible now; else `false`. */
  trySendFast(value: unknown): boolean;
  /** Receives a frame decoded in place, if one is there now. */
  tryRecvFast(): DecodedFrame | undefined;
  send(frame: Uint8Array): void;
  recv(
    maxLength: number,
    timeout: number,
    signal?: AbortSignal,
  ): Promise<Uint8Array>;
  poll(timeout: number, signal?: AbortSignal): Promise<boolean>;
  close(): void;
  describe(
    target: StartMethod,
    owner: object,
    context?: ReduceContext,
  ): EndDescriptor;
}

function eofError(): EOFError {
  return new EOFError(
    "Cannot receive as the other end is closed and nothing is left to read",
  );
}

function timeoutError(timeout: number): TimeoutError {
  return new TimeoutError(
    `Cannot receive as nothing arrived within ${timeout} ms`,
  );
}

// Each direction's count of open handles that may still write, in the word
// its ring keeps for its user: EOF once it drops to 0.
const writeHandles = (ring: Ring) => Atomics.load(ring.state, 0);
const addWriteHandle = (ring: Ring) => Atomics.add(ring.state, 0, 1);

/** Drops a write handle; readers wake to notice end of stream. */
function dropWriteHandle(ring: Ring): void {
  Atomics.sub(ring.state, 0, 1);
  ring.wakeReaders();
}

/** The rings in shared memory. */
export class LocalEnd implements EndCore {
  #recv: Ring | null;
  #send: Ring | null;
  #writer: RingWriter | null;
  #owner: number;
  #id: number | null;
  /** This process's handle on the sending ring, given by the owner. */
  #lease: number;
  /** Messages a child fetched but never took, served before the ring. */
  #unread: Uint8Array[] = [];
  /** Handles given to children, and whether each is released (owner only). */
  #leases = new Map<number, boolean>();
  #nextLease = 1;

  constructor(
    recv: Ring | null,
    send: Ring | null,
    owner = current.pid,
    id: number | null = null,
    lease = 0,
  ) {
    this.#recv = recv;
    this.#send = send;
    this.#writer = send === null ? null : new RingWriter(send);
    this.#owner = owner;
    this.#id = id;
    this.#lease = lease;
    if (owner !== current.pid && send !== null) {
      addFlusher(() => this.#handOff());
    }
  }

  get readable(): boolean {
    return this.#recv !== null;
  }

  get writable(): boolean {
    return this.#send !== null;
  }

  trySendFast(value: unknown): boolean {
    const frame = inPlaceFrame(value);
    if (frame === null) return false;
    if (
      this.#writer!.idle && this.#send!.tryWriteWith(frame.maxBytes, frame.fill)
    ) {
      return true;
    }
    this.#writer!.keepWith(frame.maxBytes, frame.fill);
    return true;
  }

  tryRecvFast(): DecodedFrame | undefined {
    const unread = this.#unread.shift();
    if (unread !== undefined) return decodeFrame(unread);
    return this.#recv!.tryReadWith(decodeFrame);
  }

  send(frame: Uint8Array): void {
    this.#writer!.write(frame);
  }

  async recv(
    maxLength: number,
    timeout: number,
    signal?: AbortSignal,
  ): Promise<Uint8Array> {
    const ring = this.#recv!;
    const unread = this.#unread[0];
    if (unread !== undefined) {
      if (unread.length > maxLength) {
        throw new TooLongError(unread.length, maxLength);
      }
      return this.#unread.shift()!;
    }
    const deadline = performance.now() + timeout;
    const frame = ring.tryRead(maxLength) ??
      await ring.read(
        deadline,
        signal,
        () => writeHandles(ring) <= 0,
        maxLength,
      );
    if (frame !== null) return frame;
    throw writeHandles(ring) <= 0 ? eofError() : timeoutError(timeout);
  }

  poll(timeout: number, signal?: AbortSignal): Promise<boolean> {
    const ring = this.#recv!;
    if (this.#unread.length > 0) return Promise.resolve(true);
    return ring.waitReadable(
      performance.now() + timeout,
      signal,
      () => writeHandles(ring) <= 0,
    );
  }

  /** Releases this process's handle once what it sent is written. */
  close(): void {
    if (this.#writer === null) return;
    const release = () => this.#releaseOwn();
    this.#writer.flushed().then(release, release);
  }

  #releaseOwn(): void {
    if (this.#owner === current.pid) dropWriteHandle(this.#send!);
    else notifyOwner(this.#owner, this.#id!, "release", [this.#lease]);
  }

  /** Before a child exits, unwritten frames go to the owner, in order. */
  async #handOff(): Promise<void> {
    const frames = await this.#writer!.takeUnwritten();
    if (frames.length > 0) {
      notifyOwner(this.#owner, this.#id!, "handOff", frames);
    }
  }

  describe(
    target: StartMethod,
    owner: object,
    context?: ReduceContext,
  ): EndDescriptor {
    this.#id ??= expose(
      owner,
      (op, args, callContext) => this.#answer(op, args, callContext),
    );
    const lease = this.#newLease();
    if (lease !== 0) {
      context?.onChildExit(() => this.#release(lease));
    }
    const descriptor: EndDescriptor = {
      o: this.#owner,
      id: this.#id,
      lease,
      readable: this.readable,
      writable: this.writable,
    };
    if (target === "worker") {
      if (this.#recv !== null) descriptor.recv = this.#recv.buffers;
      if (this.#send !== null) descriptor.send = this.#send.buffers;
    }
    return descriptor;
  }

  #newLease(): number {
    if (this.#send === null) return 0;
    if (this.#owner !== current.pid) {
      return callOwnerSync(this.#owner, this.#id!, "lease", []) as number;
    }
    addWriteHandle(this.#send);
    const lease = this.#nextLease++;
    this.#leases.set(lease, false);
    return lease;
  }

  #release(lease: number): void {
    if (this.#owner !== current.pid) {
      notifyOwner(this.#owner, this.#id!, "release", [lease]);
      return;
    }
    if (this.#leases.get(lease) !== false) return;
    this.#leases.set(lease, true);
    dropWriteHandle(this.#send!);
  }

  /** Applies an operation from a child (the owner's side). */
  #answer(op: string, args: unknown[], context: CallContext): unknown {
    switch (op) {
      case "send":
        return this.send(args[0] as Uint8Array);
      case "handOff":
        for (const frame of args as Uint8Array[]) this.send(frame);
        return;
      case "recv":
        return this.recv(
          args[0] as number,
          args[1] as number,
          context.signal,
        );
      case "poll":
        return this.poll(args[0] as number, context.signal);
      case "unread":
        this.#unread.push(args[0] as Uint8Array);
        return;
      case "lease":
        return this.#newLease();
      case "release":
        return this.#release(args[0] as number);
    }
    throw new TypeError(`Cannot apply unknown connection operation "${op}"`);
  }
}

/** A receive call sent ahead of need. */
interface Ahead {
  frame: Promise<Uint8Array>;
  controller: AbortController;
}

/** A subprocess child's view of a Connection owned by an ancestor. */
export class RemoteEnd implements EndCore {
  readonly readable: boolean;
  readonly writable: boolean;
  #owner: number;
  #id: number;
  #lease: number;
  #ahead: Ahead | null = null;

  constructor(descriptor: EndDescriptor) {
    this.readable = descriptor.readable;
    this.writable = descriptor.writable;
    this.#owner = descriptor.o;
    this.#id = descriptor.id;
    this.#lease = descriptor.lease;
    if (this.readable) addFlusher(() => this.#giveBack());
  }

  trySendFast(): boolean {
    return false;
  }

  tryRecvFast(): undefined {
    return undefined;
  }

  send(frame: Uint8Array): void {
    notifyOwner(this.#owner, this.#id, "send", [frame]);
  }

  /**
   * Receives with one call always ahead: the next message is on its way
   * while this one is handled, so a ping-pong costs one trip each way rather
   * than a call and its answer on top. A message fetched but not taken when
   * the end closes goes back to the owner (see `#giveBack`).
   */
  async recv(
    maxLength: number,
    timeout: number,
    signal?: AbortSignal,
  ): Promise<Uint8Array> {
    const ahead = this.#ahead ??= this.#fetch();
    const frame = await settleWithin(ahead.frame, timeout, signal, () => {
      throw timeoutError(timeout);
    });
    if (frame.length > maxLength) {
      throw new TooLongError(frame.length, maxLength);
    }
    this.#ahead = this.#fetch();
    return frame;
  }

  #fetch(): Ahead {
    const controller = new AbortController();
    const frame = callOwner(
      this.#owner,
      this.#id,
      "recv",
      [Infinity, Infinity],
      controller.signal,
    ) as Promise<Uint8Array>;
    const ahead = { frame, controller };
    frame.catch(() => {});
    return ahead;
  }

  async poll(timeout: number, signal?: AbortSignal): Promise<boolean> {
    const ahead = this.#ahead ??= this.#fetch();
    try {
      return await settleWithin(
        ahead.frame.then(() => true),
        timeout,
        signal,
        () => false,
      );
    } catch (error) {
      if (error instanceof EOFError) return true;
      throw error;
    }
  }

  /** Stops fetching; a message already fetched goes back to the owner. */
  async #giveBack(): Promise<void> {
    const ahead = this.#ahead;
    if (ahead === null) return;
    this.#ahead = null;
    ahead.controller.abort();
    try {
      const frame = await ahead.frame;
      notifyOwner(this.#owner, this.#id, "unread", [frame]);
    } catch {
      // Cancelled before a message was taken, or end of file: nothing to give.
    }
  }

  close(): void {
    this.#giveBack();
    if (this.#lease !== 0) {
      notifyOwner(this.#owner, this.#id, "release", [this.#lease]);
    }
  }

  describe(
    _target: StartMethod,
    _owner: object,
    context?: ReduceContext,
  ): EndDescriptor {
    const lease = this.writable
      ? callOwnerSync(this.#owner, this.#id, "lease", []) as number
      : 0;
    if (lease !== 0) {
      context?.onChildExit(() =>
        notifyOwner(this.#owner, this.#id, "release", [lease])
      );
    }
    return {
      o: this.#owner,
      id: this.#id,
      lease,
      readable: this.readable,
      writable: this.writable,
    };
  }
}

/** Rebuilds the end a child uses from a descriptor. */
export function endFrom(descriptor: EndDescriptor): EndCore {
  if (descriptor.recv === undefined && descriptor.send === undefined) {
    return new RemoteEnd(descriptor);
  }
  return new LocalEnd(
    descriptor.recv === undefined ? null : new Ring(descriptor.recv),
    descriptor.send === undefined ? null : new Ring(descriptor.send),
    descriptor.o,
    descriptor.id,
    descriptor.lease,
  );
}

/** Makes the two ends of a new pipe. */
export function newPipe(duplex: boolean): [EndCore, EndCore] {
  const one = Ring.create();
  addWriteHandle(one);
  if (!duplex) return [new LocalEnd(one, null), new LocalEnd(null, one)];
  const two = Ring.create();
  addWriteHandle(two);
  return [new LocalEnd(one, two), new LocalEnd(two, one)];
}
