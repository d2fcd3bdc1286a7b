// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// Per-isolate state: who this process is, the link to its parent, and the
// objects it owns on behalf of its children.
//
// A primitive that a subprocess child cannot reach through shared memory is
// "exposed" here: the owner registers a handler under a numeric id, the child
// gets the id, and every operation the child makes travels to the owner as a
// call. A child that passes such a proxy on to a grandchild exposes it again,
// with a handler that forwards, so chains of any depth work.
import { decode, encode } from "./_codec.ts";
import { fromWireError, toWireError, type WireError } from "./_errors_wire.ts";
import { holdsElsewhere } from "./_futex.ts";
import { callEach } from "./_util.ts";

/** A start method: how a child process is created. */
export type StartMethod = "worker" | "subprocess";

/** What a process knows about itself, from `currentProcess()`. */
export interface ProcessInfo {
  /** `"MainProcess"` in the main process, else the child's name. */
  readonly name: string;
  /** The OS pid, or for a worker child a unique id above any OS pid. */
  readonly pid: number;
  /** The pid of the process that started this one. */
  readonly parentPid: number;
  /** Whether this is the main process rather than a child. */
  readonly isMain: boolean;
  /** How this process was started; `null` in the main process. */
  readonly startMethod: StartMethod | null;
}

/** An operation a child asks its parent to apply to an exposed object. */
export interface CallMessage {
  t: "call";
  c: number;
  /** The pid of the process that owns object `id`. */
  o: number;
  id: number;
  op: string;
  a: unknown[];
  /**
   * For a call whose caller blocks: the answer is written here instead of
   * sent back (see {@linkcode writeSlot}).
   */
  s?: SharedArrayBuffer;
}

/** The parent's answer to a {@linkcode CallMessage}. */
export interface ReturnMessage {
  t: "ret";
  c: number;
  ok: boolean;
  v: unknown;
}

/**
 * What a child sends its parent: a call, or word that it no longer wants
 * the result of call `c` (its signal aborted).
 */
export type UpMessage = CallMessage | { t: "cancel"; c: number };

/**
 * How a child reaches its parent: one ordered channel. Whatever mix of
 * `send` and `callSync` a child makes, the parent applies the messages in
 * the order they were made.
 */
export interface ParentLink {
  send(message: UpMessage): void;
  /**
   * Sends a call and blocks this thread until its answer arrives, after
   * every message sent before it has been applied.
   */
  callSync(message: CallMessage): ReturnMessage;
  /** Resolves once every message sent so far has left this process. */
  flushed(): Promise<void>;
  /** Whether some message sent may not have left this process yet. */
  unsent(): boolean;
}

/** What an exposed object learns about a call besides its arguments. */
export interface CallContext {
  /** The pid of the direct child the call came through. */
  route: number;
  /**
   * Aborts when the caller cancels or its process dies. An operation that
   * waits must stop waiting and undo nothing it has not yet done; one that
   * has already completed answers normally.
   */
  signal: AbortSignal;
}

/** Applies an operation to an exposed object. */
export type CallHandler = (
  op: string,
  args: unknown[],
  context: CallContext,
) => unknown;

export const current: ProcessInfo = {
  name: "MainProcess",
  pid: Deno.pid,
  parentPid: Deno.ppid,
  isMain: true,
  startMethod: null,
};

let parentLink: ParentLink | null = null;
let nextCallId = 1;
const inflight = new Map<
  number,
  PromiseWithResolvers<unknown> & { link: ParentLink }
>();
const flushers = new Set<() => Promise<void>>();
/** The object whose messages are being held back to go as one. */
let heldBatch: (() => void) | null = null;

/**
 * The object every process exposes under this id answers the
 * {@linkcode BARRIER} operation at once.
 */
const BARRIER_ID = 0;
/** An operation every owner answers at once, after all sent before it. */
const BARRIER = "barrier";

/** Installs the link to the parent; done once, by the child entry. */
export function setParentLink(link: ParentLink): void {
  parentLink = link;
}

/** Whether this process has a parent to call (it is a child). */
export function hasParent(): boolean {
  return parentLink !== null;
}

/**
 * Sends an operation to object `id` of the process `owner`, an ancestor of
 * this one (each process on the way forwards it), and resolves with its
 * result. When `signal` aborts, the owner is asked to cancel; the call then
 * rejects with `signal.reason`, unless the owner had already completed the
 * operation, in which case its result stands (so nothing taken is lost).
 */
export function callOwner(
  owner: number,
  id: number,
  op: string,
  args: unknown[],
  signal?: AbortSignal,
  link: ParentLink | null = parentLink,
): Promise<unknown> {
  if (link === null) return Promise.reject(unreachable(owner));
  if (signal?.aborted) return Promise.reject(signal.reason);
  if (heldBatch !== null) releaseBatch();
  const c = nextCallId++;
  const call = { link, ...Promise.withResolvers<unknown>() };
  inflight.set(c, call);
  const onAbort = () => link.send({ t: "cancel", c });
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    link.send({ t: "call", c, o: owner, id, op, a: args });
  } catch (error) {
    settle(c)?.reject(error);
  }
  if (signal === undefined) return call.promise;
  return call.promise
    .catch((error) => {
      throw signal.aborted ? signal.reason : error;
    })
    .finally(() => signal.removeEventListener("abort", onAbort));
}

/**
 * Resolves once `owner` has applied every operation sent before through
 * `link` (rejects if the owner is gone): what an answer to an unawaited
 * call would have told.
 */
export function barrierThrough(
  owner: number,
  link: ParentLink,
): Promise<unknown> {
  return callOwner(owner, BARRIER_ID, BARRIER, [], undefined, link);
}

/** Sends an operation to object `id` exposed by the parent; see {@linkcode callOwner}. */
export function callParent(
  id: number,
  op: string,
  args: unknown[],
  signal?: AbortSignal,
): Promise<unknown> {
  return callOwner(current.parentPid, id, op, args, signal);
}

/**
 * Like {@linkcode callOwner}, but blocks this thread until the owner answers:
 * for the synchronous methods (`getNowait()`, `qsize()`, …) of a proxy.
 * Use only for operations that answer at once.
 */
export function callOwnerSync(
  owner: number,
  id: number,
  op: string,
  args: unknown[],
  link: ParentLink | null = parentLink,
): unknown {
  const to = linkTo(owner, link);
  const c = nextCallId++;
  const answer = to.callSync({ t: "call", c, o: owner, id, op, a: args });
  if (answer.ok) return answer.v;
  throw fromWireError(answer.v as WireError);
}

/**
 * Sends an operation that needs no answer to the owner: it is applied in
 * the order sent, after the calls sent before it.
 */
export function notifyOwner(
  owner: number,
  id: number,
  op: string,
  args: unknown[],
  link: ParentLink | null = parentLink,
): void {
  linkTo(owner, link).send({ t: "call", c: 0, o: owner, id, op, a: args });
}

/**
 * The link a message to `owner` goes through, once the messages held back
 * (see {@linkcode holdBatch}) have gone before it.
 */
function linkTo(owner: number, link: ParentLink | null): ParentLink {
  if (link === null) throw unreachable(owner);
  if (heldBatch !== null) releaseBatch();
  return link;
}

/**
 * Holds an object's messages back to send them as one: `flush` runs at the
 * end of this tick, or before this process sends anything else to any owner,
 * whichever comes first. Holding another object's first flushes this one,
 * so messages still go in the order they were made.
 */
export function holdBatch(flush: () => void): void {
  if (heldBatch === flush) return;
  if (heldBatch === null) queueMicrotask(releaseBatch);
  else releaseBatch();
  heldBatch ??= flush;
}

function releaseBatch(): void {
  const flush = heldBatch;
  heldBatch = null;
  flush?.();
}

/**
 * Blocks until everything this process sent has reached its parent, for a
 * child about to exit at once (`Deno.exit(n)`): what is still being written
 * when the process ends would be lost.
 */
export function deliverNow(): void {
  releaseBatch();
  if (parentLink?.unsent()) {
    callOwnerSync(current.parentPid, BARRIER_ID, BARRIER, []);
  }
}

function unreachable(owner: number): Error {
  return new Error(
    `Cannot reach process ${owner}, which owns this object, from process ${current.pid}: pass the object from the process that created it, or one of its descendants`,
  );
}

function settle(c: number) {
  const entry = inflight.get(c);
  inflight.delete(c);
  return entry;
}

const posted = new Map<number, PromiseWithResolvers<unknown>>();

/**
 * Where a posted value and its taker meet: the first of the two to come
 * makes the entry, the second removes it.
 */
function postedEntry(id: number): PromiseWithResolvers<unknown> {
  const entry = posted.get(id) ?? Promise.withResolvers<unknown>();
  if (!posted.delete(id)) posted.set(id, entry);
  return entry;
}

/** Keeps a value the parent posted under `id` for {@linkcode takePosted}. */
export function receivePosted(id: number, value: unknown): void {
  postedEntry(id).resolve(value);
}

/**
 * The value the parent posted under `id`, once it has come: it travels
 * beside the channel that said to take it, so it may come later.
 */
export function takePosted(id: number): Promise<unknown> {
  return postedEntry(id).promise;
}

/** Delivers the parent's answer to the call it belongs to. */
export function receiveReturn(message: ReturnMessage): void {
  const entry = settle(message.c);
  if (entry === undefined) return;
  if (message.ok) entry.resolve(message.v);
  else entry.reject(fromWireError(message.v as WireError));
}

/**
 * Fails every call still waiting for an answer through `link`, as the
 * process at its other end is gone.
 */
export function failInflight(error: Error, link: ParentLink): void {
  for (const [c, entry] of [...inflight]) {
    if (entry.link === link) settle(c)?.reject(error);
  }
}

/** Registers work that must finish before this child exits (Python's feeder-thread rule). */
export function addFlusher(flush: () => Promise<void>): () => void {
  flushers.add(flush);
  return () => flushers.delete(flush);
}

/** Waits until every pending write of this process has been delivered. */
export async function flushAll(): Promise<void> {
  releaseBatch();
  await Promise.allSettled([...flushers].map((flush) => flush()));
  await parentLink?.flushed();
}

// Calls are applied in order: the barrier's answer follows all sent before.
const exposed = new Map<number, CallHandler>([[BARRIER_ID, () => undefined]]);
const exposedIds = new WeakMap<object, number>();
let nextExposedId = 1;

/**
 * Serves calls to `id`, a fixed number below those {@linkcode expose} hands
 * out, which every process of the tree knows without being told.
 */
export function serveFixed(id: number, handler: CallHandler): void {
  exposed.set(id, handler);
}

/** Makes `owner` callable from children; the same object always gets the same id. */
export function expose(owner: object, handler: CallHandler): number {
  let id = exposedIds.get(owner);
  if (id === undefined) {
    id = nextExposedId++;
    exposedIds.set(owner, id);
    exposed.set(id, handler);
  }
  return id;
}

/** Sends an answer back to the child a call came from. */
export type Reply = (message: ReturnMessage) => void;

/**
 * Serves the calls of one direct child, in the order the child made them:
 * runs them against exposed objects or forwards them towards their owner,
 * honours cancellations, and aborts whatever is still running once the
 * child is gone.
 *
 * Calls forwarded to one owner stay in order on this process's own link;
 * before a call to any other owner is applied, the owner of the last
 * forwarded ones acknowledges them, or the later call could overtake them.
 */
export class CallRouter {
  #route: number;
  #reply: Reply;
  #running = new Map<number, AbortController>();
  #closed = false;
  /** The owner of the calls forwarded since the last acknowledgement. */
  #forwardedTo: number | null = null;
  /** Messages waiting for that acknowledgement, in order. */
  #waiting: [UpMessage, Reply][] | null = null;

  /**
   * @param route The pid of the child served.
   * @param reply Sends an answer back to the child.
   */
  constructor(route: number, reply: (message: ReturnMessage) => void) {
    this.#route = route;
    this.#reply = reply;
  }

  /**
   * Handles one message from the child.
   *
   * @param reply Where its answer goes, if not the router's default.
   */
  receive(message: UpMessage, reply: Reply = this.#reply): void {
    if (this.#waiting !== null) {
      this.#waiting.push([message, reply]);
      return;
    }
    if (message.t === "call" && this.#mustWaitFor(message.o)) {
      this.#waiting = [[message, reply]];
      this.#awaitAcknowledgement(this.#forwardedTo!);
      return;
    }
    if (message.t === "cancel") {
      this.#running.get(message.c)?.abort(
        new DOMException("The caller cancelled the call", "AbortError"),
      );
      return;
    }
    if (message.o !== current.pid) this.#forwardedTo = message.o;
    this.#run(message, reply);
  }

  #mustWaitFor(owner: number): boolean {
    return this.#forwardedTo !== null && this.#forwardedTo !== owner;
  }

  async #awaitAcknowledgement(owner: number): Promise<void> {
    try {
      await callOwner(owner, BARRIER_ID, BARRIER, []);
    } catch {
      // The owner is gone: nothing it had can be overtaken any more.
    }
    this.#forwardedTo = null;
    const waiting = this.#waiting!;
    this.#waiting = null;
    for (const [message, reply] of waiting) this.receive(message, reply);
  }

  async #run(message: CallMessage, reply: Reply): Promise<void> {
    const { c, o, id, op, a } = message;
    // A call held back until its child died: nobody waits for its answer.
    if (this.#closed && c !== 0) return;
    if (c === 0 && o !== current.pid) return notifyOwner(o, id, op, a);
    const controller = new AbortController();
    holdsElsewhere(controller.signal);
    if (c !== 0) this.#running.set(c, controller);
    let answer: ReturnMessage;
    try {
      const value = o === current.pid
        ? await this.#apply(message, controller.signal)
        : await callOwner(o, id, op, a, controller.signal);
      // An answer without a value goes without its `v` (read back as
      // undefined): exact JSON, so it takes the codec's fast path.
      answer = value === undefined
        ? { t: "ret", c, ok: true } as ReturnMessage
        : { t: "ret", c, ok: true, v: value };
    } catch (error) {
      answer = { t: "ret", c, ok: false, v: toWireError(error) };
    } finally {
      this.#running.delete(c);
    }
    if (c === 0) {
      if (!answer.ok) console.error(fromWireError(answer.v as WireError));
      return;
    }
    if (message.s !== undefined) {
      writeSlot(message.s, encode(answer));
      return;
    }
    if (this.#closed) return;
    try {
      reply(answer);
    } catch {
      // The child is gone: it no longer waits for this answer.
    }
  }

  #apply(message: CallMessage, signal: AbortSignal): unknown {
    const handler = exposed.get(message.id);
    if (handler === undefined) {
      throw new Error(
        `Cannot apply "${message.op}" as object ${message.id} is not owned by this process`,
      );
    }
    return handler(message.op, message.a, { route: this.#route, signal });
  }

  /** The child is gone: stops every call it was waiting on. */
  close(): void {
    this.#closed = true;
    for (const controller of this.#running.values()) {
      controller.abort(
        new DOMException("The calling process is gone", "AbortError"),
      );
    }
    this.#running.clear();
  }
}

const SLOT_HEADER = 8;
const SLOT_PENDING = 0;
const SLOT_READY = 1;
/** The largest answer: a frame's length, which carries it, holds no more. */
const SLOT_MAX = 2 ** 32;

/** Writes an encoded answer into a slot and wakes the blocked caller. */
export function writeSlot(slot: SharedArrayBuffer, bytes: Uint8Array): void {
  if (bytes.length > slot.byteLength - SLOT_HEADER) {
    slot.grow(SLOT_HEADER + bytes.length);
  }
  new Uint8Array(slot, SLOT_HEADER).set(bytes);
  const words = new Int32Array(slot, 0, 2);
  words[1] = bytes.length;
  Atomics.store(words, 0, SLOT_READY);
  Atomics.notify(words, 0);
}

/**
 * Makes a blocking call: `send` hands a fresh slot to whoever answers, and
 * this thread sleeps until the answer is in it. The slot grows to fit the
 * answer: the caller cannot be handed a larger one while it sleeps, but it
 * sees the slot's new length once it wakes.
 */
export function awaitAnswer(
  send: (slot: SharedArrayBuffer) => void,
): ReturnMessage {
  const slot = new SharedArrayBuffer(SLOT_HEADER + 64 * 1024, {
    maxByteLength: SLOT_HEADER + SLOT_MAX,
  });
  send(slot);
  const words = new Int32Array(slot, 0, 2);
  Atomics.wait(words, 0, SLOT_PENDING);
  // The codec reads from memory of its own, never from a shared buffer; the
  // length is unsigned, as answers up to `SLOT_MAX` are.
  const bytes = new Uint8Array(slot, SLOT_HEADER, words[1]! >>> 0).slice();
  return decode(bytes) as ReturnMessage;
}

const exitListeners = new Set<(pid: number) => void>();

/**
 * Calls `listener` with the pid of each direct child of this process as it
 * exits, before `join()` resolves, so owners can release what it held.
 */
export function onChildExit(listener: (pid: number) => void): () => void {
  exitListeners.add(listener);
  return () => exitListeners.delete(listener);
}

/** Reports that a direct child has exited. */
export function notifyChildExit(pid: number): void {
  callEach(exitListeners, pid);
}

let defaultModule = Deno.mainModule;

/** The module a target is looked up in when none is given. */
export function getDefaultModule(): string {
  return defaultModule;
}

/** In a child, the target's module stands in for the main module. */
export function setDefaultModule(module: string): void {
  defaultModule = module;
}
