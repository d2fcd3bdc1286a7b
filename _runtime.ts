// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// Per-isolate state: who this process is, the link to its parent, and the
// objects it owns on behalf of its children.
//
// A primitive that a subprocess child cannot reach through shared memory is
// "exposed" here: the owner registers a handler under a numeric id, the child
// gets the id, and every operation the child makes travels to the owner as a
// call. A child that passes such a proxy on to a grandchild exposes it again,
// with a handler that forwards, so chains of any depth work.
import { fromWireError, toWireError, type WireError } from "./_errors_wire.ts";

/** A start method: how a child process is created. */
export type StartMethod = "worker" | "subprocess";

/** What a process knows about itself. */
export interface ProcessInfo {
  name: string;
  pid: number;
  parentPid: number;
  isMain: boolean;
  startMethod: StartMethod | null;
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
}

/** The child no longer wants the result of call `c` (its signal aborted). */
export interface CancelMessage {
  t: "cancel";
  c: number;
}

/** The parent's answer to a {@linkcode CallMessage}. */
export interface ReturnMessage {
  t: "ret";
  c: number;
  ok: boolean;
  v: unknown;
}

/** What a child sends its parent. */
export type UpMessage = CallMessage | CancelMessage;

/** How a child reaches its parent. */
export interface ParentLink {
  send(message: UpMessage): void;
  /** Resolves once every message sent so far has left this process. */
  flushed(): Promise<void>;
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
  { resolve(value: unknown): void; reject(error: Error): void }
>();
const flushers = new Set<() => Promise<void>>();

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
): Promise<unknown> {
  const link = parentLink;
  if (link === null) {
    return Promise.reject(
      new Error(
        `Cannot reach process ${owner}, which owns this object, from process ${current.pid}: pass the object from the process that created it, or one of its descendants`,
      ),
    );
  }
  if (signal?.aborted) return Promise.reject(signal.reason);
  const c = nextCallId++;
  const { promise, resolve, reject } = Promise.withResolvers<unknown>();
  const onAbort = () => link.send({ t: "cancel", c });
  signal?.addEventListener("abort", onAbort, { once: true });
  inflight.set(c, {
    resolve(value) {
      signal?.removeEventListener("abort", onAbort);
      resolve(value);
    },
    reject(error) {
      signal?.removeEventListener("abort", onAbort);
      reject(signal?.aborted ? signal.reason : error);
    },
  });
  try {
    link.send({ t: "call", c, o: owner, id, op, a: args });
  } catch (error) {
    settle(c)?.reject(error as Error);
  }
  return promise;
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

function settle(c: number) {
  const entry = inflight.get(c);
  inflight.delete(c);
  return entry;
}

/** Delivers the parent's answer to the call it belongs to. */
export function receiveReturn(message: ReturnMessage): void {
  const entry = settle(message.c);
  if (entry === undefined) return;
  if (message.ok) entry.resolve(message.v);
  else entry.reject(fromWireError(message.v as WireError));
}

/** Fails every call still waiting for an answer, as the parent is gone. */
export function failInflight(error: Error): void {
  for (const c of [...inflight.keys()]) settle(c)?.reject(error);
}

/** Registers work that must finish before this child exits (Python's feeder-thread rule). */
export function addFlusher(flush: () => Promise<void>): () => void {
  flushers.add(flush);
  return () => flushers.delete(flush);
}

/** Waits until every pending write of this process has been delivered. */
export async function flushAll(): Promise<void> {
  await Promise.allSettled([...flushers].map((flush) => flush()));
  await parentLink?.flushed();
}

const exposed = new Map<number, CallHandler>();
const exposedIds = new WeakMap<object, number>();
let nextExposedId = 1;

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

/**
 * Serves the calls of one direct child: runs them against exposed objects,
 * honours cancellations, and aborts whatever is still running once the child
 * is gone.
 */
export class CallRouter {
  #route: number;
  #reply: (message: ReturnMessage) => void;
  #running = new Map<number, AbortController>();
  #closed = false;

  /**
   * @param route The pid of the child served.
   * @param reply Sends an answer back to the child.
   */
  constructor(route: number, reply: (message: ReturnMessage) => void) {
    this.#route = route;
    this.#reply = reply;
  }

  /** Handles one message from the child. */
  receive(message: UpMessage): void {
    if (message.t === "cancel") {
      this.#running.get(message.c)?.abort(
        new DOMException("The caller cancelled the call", "AbortError"),
      );
      return;
    }
    this.#run(message);
  }

  async #run(message: CallMessage): Promise<void> {
    const controller = new AbortController();
    this.#running.set(message.c, controller);
    let answer: ReturnMessage;
    try {
      const value = message.o === current.pid
        ? await this.#apply(message, controller.signal)
        : await callOwner(
          message.o,
          message.id,
          message.op,
          message.a,
          controller.signal,
        );
      answer = { t: "ret", c: message.c, ok: true, v: value };
    } catch (error) {
      answer = { t: "ret", c: message.c, ok: false, v: toWireError(error) };
    } finally {
      this.#running.delete(message.c);
    }
    if (this.#closed) return;
    try {
      this.#reply(answer);
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
  for (const listener of exitListeners) {
    try {
      listener(pid);
    } catch (error) {
      console.error(error);
    }
  }
}

let pidCounter = new Int32Array(new SharedArrayBuffer(4));
let childCount = 0;
let defaultModule = Deno.mainModule;

/** The counter shared by every isolate of this OS process, for worker pids. */
export function pidCounterBuffer(): SharedArrayBuffer {
  return pidCounter.buffer as SharedArrayBuffer;
}

/** Called once in a worker child, so its children's pids stay unique. */
export function adoptPidCounter(buffer: SharedArrayBuffer): void {
  pidCounter = new Int32Array(buffer);
}

/** A worker pid: above Linux's pid_max, unique within this OS process tree. */
export function nextWorkerPid(): number {
  return 0x400000 + Deno.pid * 0x10000 + Atomics.add(pidCounter, 0, 1) + 1;
}

/** A default child name, as Python numbers them: `Process-1`, `Process-1:2`. */
export function nextChildName(): string {
  childCount++;
  return current.isMain
    ? `Process-${childCount}`
    : `${current.name}:${childCount}`;
}

/** The module a target is looked up in when none is given. */
export function getDefaultModule(): string {
  return defaultModule;
}

/** In a child, the target's module stands in for the main module. */
export function setDefaultModule(module: string): void {
  defaultModule = module;
}
