// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// A link's frames over a pair of rings in shared memory instead of a socket.
//
// A process that reaches an owner at an address (`_direct.ts`) and can share
// memory with it (the same process tree, with shared memory across OS
// processes on: `_shm.ts`) makes two rings, one for its calls and one for
// the answers, and names them in its handshake; the owner maps them. From
// then on a call is one ring write and its answer one ring read (a few µs)
// instead of a round trip through the kernel's socket buffers and both
// event loops' I/O polling. The socket stays open, carrying nothing: its
// closing is how the owner learns that the caller died, as before, and the
// owner reads whatever the ring still holds before it lets the caller go,
// so operations made just before an exit are applied.
import { markCrossProcess } from "./_isolates.ts";
import { FrameWriter } from "./_feeder.ts";
import { Ring } from "./_ring.ts";
import { type BufferRef, bufferRef, mapBuffer } from "./_shm.ts";

/** Each direction's ring: room for many calls, or one large argument. */
const CAPACITY = 512 * 1024;

/** How the owner maps a link's rings: calls, then answers. */
export type RingPairRef = readonly BufferRef[];

/** A link's two rings: `up` carries calls, `down` their answers. */
export interface RingPair {
  readonly up: Ring;
  readonly down: Ring;
}

/**
 * Makes the rings of a new link and how the owner maps them, or `null`
 * when this process cannot share them.
 */
export function createRingPair(): { pair: RingPair; ref: RingPairRef } | null {
  const pair = { up: Ring.create(CAPACITY), down: Ring.create(CAPACITY) };
  const ref: BufferRef[] = [];
  for (const buffer of [...pair.up.buffers, ...pair.down.buffers]) {
    const one = bufferRef(buffer);
    if (one === null) return null;
    ref.push(one);
  }
  // The owner may map them a second time in this very OS process (a
  // manager's server is a worker of it), where `Atomics.notify` on one
  // mapping wakes nobody waiting on the other: from now on waits in this
  // tree sleep in the kernel's futex, which knows both are one memory.
  markCrossProcess();
  return { pair, ref };
}

/** The owner's side of the rings `ref` names; `null` if it cannot map them. */
export function mapRingPair(ref: RingPairRef): RingPair | null {
  if (!Array.isArray(ref) || ref.length !== 4) return null;
  const buffers: SharedArrayBuffer[] = [];
  for (const one of ref) {
    const buffer = mapBuffer(one);
    if (buffer === null) return null;
    buffers.push(buffer);
  }
  const [up, upArea, down, downArea] = buffers as [
    SharedArrayBuffer,
    SharedArrayBuffer,
    SharedArrayBuffer,
    SharedArrayBuffer,
  ];
  return { up: new Ring([up, upArea]), down: new Ring([down, downArea]) };
}

/**
 * Hands each frame of `ring` to `onFrame`, in order, until `stopped()` is
 * true and the ring is empty.
 */
export async function readEach(
  ring: Ring,
  onFrame: (payload: Uint8Array) => void,
  stopped: () => boolean,
): Promise<void> {
  for (;;) {
    const frame = ring.tryRead() ??
      await ring.read(Infinity, undefined, stopped);
    if (frame === null) return;
    onFrame(frame);
  }
}

/**
 * A link's outgoing frames into a ring, in order, with what a blocking
 * call must know of them (the shape of `FrameWriter`): which are surely
 * in the ring, and copies of those still kept.
 */
export class RingOutbox {
  #writer: FrameWriter;

  constructor(ring: Ring) {
    this.#writer = new FrameWriter(ring);
  }

  /** Writes a frame into the ring now, or after those kept before it. */
  send(payload: Uint8Array): void {
    this.#writer.send(payload);
  }

  /** The frames not yet in the ring, and how many were written before them. */
  unconfirmed(): { written: number; frames: Uint8Array[] } {
    return this.#writer.unconfirmed();
  }

  /** Whether every frame sent is in the ring. */
  get idle(): boolean {
    return this.#writer.idle;
  }

  /** Resolves once every frame sent so far is in the ring. */
  flushed(): Promise<void> {
    return this.#writer.flushed();
  }

  /** Drops the frames not yet written: their reader is gone. */
  close(): void {
    this.#writer.takeUnwritten().catch(() => {});
  }
}
