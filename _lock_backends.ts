// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// The two ways a lock.ts primitive works in a process:
//
// - local: on shared memory (`_lock_core.ts`), in the process that created
//   it and in its worker children;
// - remote: in a subprocess child (and its own children), where each
//   operation is a call to the parent, which runs it on the local side on
//   the caller's behalf.
//
// The parent learns who calls (the caller's pid, sent with each call, and
// the route, the direct child it came through), so an RLock knows its owner
// and a lock held by a child that dies is freed. A remote primitive passed on
// to a grandchild forwards the grandchild's calls the same way, keeping
// track of what its callers hold, so it can tell the parent when they die.
//
// Operations that are synchronous in the API need an answer at once, so a
// remote primitive makes them blocking calls to the owner
// (`callOwnerSync`): `locked()`, `isSet()`, `set()`, `clear()`, `notify()`,
// `reset()`, `abort()`, `nWaiting`, `broken`, and the `release()` of a
// BoundedSemaphore, so that errors are thrown where Python throws them. Two
// cases need not wait and are sent at once (applied in order): releasing a
// Lock or RLock this process holds, and releasing a plain Semaphore. A Lock
// this process does not hold may still be released by it (any process may
// release a Lock): that `release()` blocks for the owner's verdict.
import {
  type BarrierCore,
  type ChildWatcher,
  type ConditionCore,
  type EventCore,
  type LockCore,
  NOT_ACQUIRED,
  parentCode,
  selfCode,
  type SemaphoreCore,
  TAKEN_OVER,
} from "./_lock_core.ts";
import type { ReduceContext } from "./_reduce.ts";
import {
  type CallContext,
  type CallHandler,
  callOwner,
  callOwnerSync,
  current,
  expose,
  notifyOwner,
  onChildExit,
  type StartMethod,
} from "./_runtime.ts";
import { findExport, notExportedMessage } from "./_target.ts";

/** A caller in another OS process, served by this isolate. `null`: this isolate itself. */
export interface Caller {
  readonly pid: number;
  readonly route: number;
}

/** Who performs an operation. */
export type Who = Caller | null;

let own: { self: number; parent: number } | null = null;

/** This isolate's code and its worker parent's code (0 if none). */
export function ownCodes(): { self: number; parent: number } {
  return own ??= { self: selfCode(), parent: parentCode() };
}

/** The ancestors recorded with a hold or a wait made by `who`. */
function ancestors(who: Who): [number, number] {
  const { self, parent } = ownCodes();
  return who === null ? [parent, 0] : [self, parent];
}

// ---------------------------------------------------------------------------
// Children exiting, and calls in flight for callers that died

/** What must learn of children exiting, with how many children it was lent to. */
const watched = new Map<ChildWatcher, number>();
let listening = false;
const inflight = new Map<string, number>();
const routeInflight = new Map<number, number>();
const deadRoutes = new Set<number>();
const deadCallers = new Set<string>();

/**
 * Makes `watcher` (if any) learn of each child of this isolate that exits,
 * while a child it was lent to lives (for good when lent without a
 * `context`, such as through a queue).
 */
export function watch(
  watcher: ChildWatcher | null,
  context: ReduceContext | undefined,
): void {
  if (!listening) {
    listening = true;
    onChildExit((pid) => {
      if (routeInflight.has(pid)) deadRoutes.add(pid);
      for (const each of watched.keys()) each.childExited(pid);
    });
  }
  if (watcher === null) return;
  if (context === undefined) {
    watched.set(watcher, Infinity);
    return;
  }
  watched.set(watcher, (watched.get(watcher) ?? 0) + 1);
  context.onChildExit(() => {
    const count = (watched.get(watcher) ?? 1) - 1;
    if (count <= 0) watched.delete(watcher);
    else watched.set(watcher, count);
  });
}

function keyOf(caller: Caller): string {
  return `${caller.route}:${caller.pid}`;
}

function increment<K>(map: Map<K, number>, key: K): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

function decrement<K>(map: Map<K, number>, key: K): number {
  const count = (map.get(key) ?? 1) - 1;
  if (count === 0) map.delete(key);
  else map.set(key, count);
  return count;
}

/**
 * Runs an operation for a remote caller. If the caller died before the
 * answer could reach it, `undo` gives back what the operation took.
 */
async function tracked<T>(
  caller: Caller,
  run: () => Promise<T>,
  undo: (value: T | undefined) => void,
): Promise<T> {
  const key = keyOf(caller);
  increment(inflight, key);
  increment(routeInflight, caller.route);
  let value: T | undefined;
  try {
    value = await run();
    return value;
  } finally {
    if (deadRoutes.has(caller.route) || deadCallers.has(key)) undo(value);
    if (decrement(inflight, key) === 0) deadCallers.delete(key);
    if (decrement(routeInflight, caller.route) === 0) {
      deadRoutes.delete(caller.route);
    }
  }
}

/** A forwarded caller died: what it has in flight is undone when it ends. */
function markGone(caller: Caller): void {
  const key = keyOf(caller);
  if (inflight.has(key)) deadCallers.add(key);
}

// ---------------------------------------------------------------------------
// Talking to the owner

/** Timeouts travel as -1 for Infinity, keeping calls on the JSON fast path. */
export function toWire(timeout: number): number {
  return timeout === Infinity ? -1 : timeout;
}

/** The timeout a caller sent. */
export function fromWire(timeout: unknown): number {
  return typeof timeout === "number" && timeout >= 0 ? timeout : Infinity;
}

/**
 * The owner's side of a primitive: object `id` of the parent. A call made
 * for this process itself blocks when the API is synchronous; one made for
 * a caller this process forwards for is awaited, the caller blocking instead.
 */
class Remote {
  readonly id: number;
  constructor(id: number) {
    this.id = id;
  }

  call(op: string, args: unknown[], signal?: AbortSignal): Promise<unknown> {
    return callOwner(current.parentPid, this.id, op, args, signal);
  }

  /** Applied by the owner in order, with no answer. */
  notify(op: string, args: unknown[]): void {
    notifyOwner(current.parentPid, this.id, op, args);
  }

  /** Blocking for this process; awaited for a forwarded caller. */
  now(who: Who, op: string, args: unknown[]): unknown {
    return who === null
      ? callOwnerSync(current.parentPid, this.id, op, args)
      : this.call(op, args);
  }
}

/** The pid a remote operation is made for. */
function pidOf(who: Who): number {
  return who === null ? current.pid : who.pid;
}

/** A caller whose identity does not matter, only that it is not this process. */
function forwarded(context: CallContext): Caller {
  return { pid: 0, route: context.route };
}

/** Tracks, in a remote primitive passed on, which callers each child route served. */
class Routes {
  #byRoute = new Map<number, Set<number>>();

  note(caller: Caller): void {
    let pids = this.#byRoute.get(caller.route);
    if (pids === undefined) this.#byRoute.set(caller.route, pids = new Set());
    pids.add(caller.pid);
  }

  /** Forgets a route, returning the callers it served. */
  take(route: number): Caller[] {
    const pids = this.#byRoute.get(route);
    this.#byRoute.delete(route);
    return [...pids ?? []].map((pid) => ({ pid, route }));
  }
}

/** Reduced data: shared memory for a worker child, or an id to call. */
export type Reduced =
  | { sab: SharedArrayBuffer; uid: string }
  | { id: number };

/** One local primitive per shared buffer and one proxy per id, in each isolate. */
const instances = new Map<string, WeakRef<object>>();

/** Returns the object already standing for `key` here, or makes it. */
export function adopt<T extends object>(key: string, make: () => T): T {
  const existing = instances.get(key)?.deref();
  if (existing !== undefined) return existing as T;
  const made = make();
  instances.set(key, new WeakRef(made));
  return made;
}

/** The key under which a rebuilt primitive is looked up. */
export function keyOfReduced(kind: string, data: Reduced): string {
  return "uid" in data ? `${kind}:${data.uid}` : `${kind}#${data.id}`;
}

/** A primitive on shared memory, which can be lent to children. */
interface Lendable {
  uid: string | null;
  readonly buffer: SharedArrayBuffer;
  readonly watcher: ChildWatcher | null;
}

/** Reduces a local primitive, keeping its children's deaths in view. */
function reduceLocal(
  local: Lendable,
  kind: string,
  target: StartMethod,
  context: ReduceContext | undefined,
  owner: object,
  handler: CallHandler,
): Reduced {
  watch(local.watcher, context);
  if (target === "subprocess") return { id: expose(owner, handler) };
  if (local.uid === null) {
    local.uid = crypto.randomUUID();
    instances.set(`${kind}:${local.uid}`, new WeakRef(owner));
  }
  return { sab: local.buffer, uid: local.uid };
}

/** Reduces a remote primitive passed on: its children's calls are forwarded. */
function reduceRemote(
  watcher: ChildWatcher | null,
  context: ReduceContext | undefined,
  owner: object,
  handler: CallHandler,
): Reduced {
  watch(watcher, context);
  return { id: expose(owner, handler) };
}

// ---------------------------------------------------------------------------
// Lock and RLock

/** What a Lock or RLock does, locally or through its owner. */
export interface LockBackend {
  readonly reentrant: boolean;
  acquire(who: Who, timeout: number, signal?: AbortSignal): Promise<number>;
  /** Releases; a remote backend answers with the owner's verdict. */
  release(who: Who): Promise<unknown> | void;
  locked(): boolean;
  recovered(): boolean;
  state(): Promise<[boolean, boolean]> | [boolean, boolean];
  heldBy(who: Who): boolean;
  releaseForWait(who: Who): number;
  restore(who: Who, saved: number): Promise<number>;
  /** A code to hand to {@linkcode LockBackend.drop} later. */
  codeFor(caller: Caller): number;
  /** Frees what a dead caller holds. */
  drop(caller: Caller, code: number): void;
  reduce(
    target: StartMethod,
    context: ReduceContext | undefined,
    owner: object,
    kind: string,
  ): Reduced;
}

function serveLock(
  backend: LockBackend,
  op: string,
  args: unknown[],
  context: CallContext,
): unknown {
  const caller: Caller = { pid: args[0] as number, route: context.route };
  switch (op) {
    case "acquire": {
      const code = backend.codeFor(caller);
      return tracked(
        caller,
        () => backend.acquire(caller, fromWire(args[1]), context.signal),
        (result) => {
          if (result !== undefined && result !== NOT_ACQUIRED) {
            backend.drop(caller, code);
          }
        },
      );
    }
    case "release":
      return backend.release(caller) ?? null;
    case "state":
      return backend.state();
    case "releaseForWait":
      if (!backend.heldBy(caller)) throw notHeldForWait();
      return backend.releaseForWait(caller);
    case "restore": {
      const code = backend.codeFor(caller);
      return tracked(
        caller,
        () => backend.restore(caller, args[1] as number),
        () => backend.drop(caller, code),
      );
    }
    case "gone":
      markGone(caller);
      backend.drop(caller, backend.codeFor(caller));
      return null;
    default:
      throw new TypeError(`Cannot apply unknown lock operation "${op}"`);
  }
}

/** A Lock or RLock in shared memory. */
export class LocalLock implements LockBackend, Lendable {
  readonly core: LockCore;
  uid: string | null;

  constructor(core: LockCore, uid: string | null = null) {
    this.core = core;
    this.uid = uid;
  }

  get reentrant(): boolean {
    return this.core.reentrant;
  }

  #code(who: Who): number {
    return who === null
      ? ownCodes().self
      : this.core.codeFor(who.pid, who.route);
  }

  acquire(who: Who, timeout: number, signal?: AbortSignal): Promise<number> {
    const [anc1, anc2] = ancestors(who);
    return this.core.acquire(this.#code(who), anc1, anc2, timeout, signal);
  }

  release(who: Who): void {
    if (this.core.reentrant) this.core.releaseOwned(this.#code(who));
    else this.core.releaseAny();
  }

  locked(): boolean {
    return this.core.locked();
  }

  recovered(): boolean {
    return this.core.recovered();
  }

  state(): [boolean, boolean] {
    return [this.core.locked(), this.core.recovered()];
  }

  heldBy(who: Who): boolean {
    return this.core.holder() === this.#code(who);
  }

  releaseForWait(_who: Who): number {
    return this.core.releaseForWait();
  }

  restore(who: Who, saved: number): Promise<number> {
    const [anc1, anc2] = ancestors(who);
    return this.core.restore(this.#code(who), anc1, anc2, saved);
  }

  codeFor(caller: Caller): number {
    return this.#code(caller);
  }

  drop(caller: Caller, code: number): void {
    this.core.forceRelease(code);
    this.core.callerGone(caller.pid, caller.route);
  }

  get buffer(): SharedArrayBuffer {
    return this.core.view.buffer as SharedArrayBuffer;
  }

  get watcher(): ChildWatcher {
    return this.core;
  }

  reduce(
    target: StartMethod,
    context: ReduceContext | undefined,
    owner: object,
    kind: string,
  ): Reduced {
    return reduceLocal(
      this,
      kind,
      target,
      context,
      owner,
      (op, args, context) => serveLock(this, op, args, context),
    );
  }
}

function notHeldForWait(): TypeError {
  return new TypeError(
    "Cannot wait on the condition as its lock is not held: acquire it first",
  );
}

/** A Lock or RLock in a subprocess child: each operation goes to the owner. */
export class RemoteLock implements LockBackend, ChildWatcher {
  readonly reentrant: boolean;
  #remote: Remote;
  /** Holds by this process and by the callers it forwards for, by pid. */
  #held = new Map<number, number>();
  #routes = new Routes();
  /** Releases this process sent, and how many the owner is known to have applied. */
  #sent = 0;
  #applied = 0;
  #confirming = false;
  #recovered = false;

  constructor(id: number, reentrant: boolean) {
    this.#remote = new Remote(id);
    this.reentrant = reentrant;
  }

  #pid(who: Who): number {
    if (who !== null) this.#routes.note(who);
    return pidOf(who);
  }

  async acquire(
    who: Who,
    timeout: number,
    signal?: AbortSignal,
  ): Promise<number> {
    const pid = this.#pid(who);
    const sent = this.#sent;
    const result = await this.#remote.call(
      "acquire",
      [pid, toWire(timeout)],
      signal,
    ) as number;
    // Answered after the releases sent before it: they are applied.
    this.#confirm(sent);
    if (result !== NOT_ACQUIRED) {
      increment(this.#held, pid);
      if (who === null) this.#recovered = result === TAKEN_OVER;
    }
    return result;
  }

  release(who: Who): Promise<unknown> | void {
    const pid = this.#pid(who);
    const held = this.#held.get(pid) ?? 0;
    if (held > 0) {
      // Held by this caller: the owner accepts it, no need to wait.
      decrement(this.#held, pid);
      if (who !== null) {
        this.#remote.notify("release", [pid]);
        return;
      }
      if (!this.reentrant || held === 1) this.#recovered = false;
      this.#sent++;
      this.#remote.notify("release", [pid]);
      return;
    }
    if (this.reentrant) {
      throw new RangeError(
        "Cannot release the re-entrant lock as this process does not hold it: acquire it first (only its owner may release it)",
      );
    }
    // Perhaps another process's hold (any process may release a Lock).
    return this.#remote.now(who, "release", [pid]) as Promise<unknown> | void;
  }

  locked(): boolean {
    if (this.heldBy(null)) return true;
    if (this.#applied < this.#sent) {
      // A blocking query takes another path and could overtake this
      // process's own release: until the owner confirms it, it stands.
      if (!this.#confirming) {
        this.#confirming = true;
        const sent = this.#sent;
        this.state().then(() => this.#confirm(sent), () => {})
          .finally(() => this.#confirming = false);
      }
      return false;
    }
    return (this.#remote.now(null, "state", []) as [boolean, boolean])[0];
  }

  #confirm(sent: number): void {
    if (sent > this.#applied) this.#applied = sent;
  }

  recovered(): boolean {
    return this.#recovered && this.heldBy(null);
  }

  state(): Promise<[boolean, boolean]> {
    return this.#remote.call("state", []) as Promise<[boolean, boolean]>;
  }

  heldBy(who: Who): boolean {
    return (this.#held.get(pidOf(who)) ?? 0) > 0;
  }

  releaseForWait(who: Who): number {
    const pid = this.#pid(who);
    const saved = this.#held.get(pid) ?? 0;
    this.#held.delete(pid);
    this.#remote.notify("releaseForWait", [pid]);
    return saved;
  }

  async restore(who: Who, saved: number): Promise<number> {
    const pid = this.#pid(who);
    const sent = this.#sent;
    const result = await this.#remote.call("restore", [pid, saved]) as number;
    this.#confirm(sent);
    this.#held.set(pid, saved);
    return result;
  }

  codeFor(_caller: Caller): number {
    return 0;
  }

  drop(caller: Caller, _code: number): void {
    this.#held.delete(caller.pid);
    this.#remote.notify("gone", [caller.pid]);
  }

  childExited(pid: number): void {
    for (const caller of this.#routes.take(pid)) this.drop(caller, 0);
  }

  reduce(
    _target: StartMethod,
    context: ReduceContext | undefined,
    owner: object,
    _kind: string,
  ): Reduced {
    return reduceRemote(
      this,
      context,
      owner,
      (op, args, context) => serveLock(this, op, args, context),
    );
  }
}

// ---------------------------------------------------------------------------
// Semaphore and BoundedSemaphore

/** What a Semaphore does, locally or through its owner. */
export interface SemaphoreBackend {
  acquire(who: Who, timeout: number, signal?: AbortSignal): Promise<boolean>;
  release(who: Who, n: number): Promise<unknown> | void;
  reduce(
    target: StartMethod,
    context: ReduceContext | undefined,
    owner: object,
    kind: string,
  ): Reduced;
}

function serveSemaphore(
  backend: SemaphoreBackend,
  op: string,
  args: unknown[],
  context: CallContext,
): unknown {
  const caller: Caller = { pid: args[0] as number, route: context.route };
  switch (op) {
    case "acquire":
      return tracked(
        caller,
        () => backend.acquire(caller, fromWire(args[1]), context.signal),
        (acquired) => {
          if (acquired) backend.release(caller, 1)?.catch(() => {});
        },
      );
    case "release":
      return backend.release(caller, args[1] as number) ?? null;
    default:
      throw new TypeError(`Cannot apply unknown semaphore operation "${op}"`);
  }
}

/** A Semaphore in shared memory. */
export class LocalSemaphore implements SemaphoreBackend, Lendable {
  readonly core: SemaphoreCore;
  uid: string | null;

  constructor(core: SemaphoreCore, uid: string | null = null) {
    this.core = core;
    this.uid = uid;
  }

  acquire(_who: Who, timeout: number, signal?: AbortSignal): Promise<boolean> {
    return this.core.acquire(timeout, signal);
  }

  release(_who: Who, n: number): void {
    this.core.release(n);
  }

  get buffer(): SharedArrayBuffer {
    return this.core.view.buffer as SharedArrayBuffer;
  }

  get watcher(): null {
    return null;
  }

  reduce(
    target: StartMethod,
    context: ReduceContext | undefined,
    owner: object,
    kind: string,
  ): Reduced {
    return reduceLocal(
      this,
      kind,
      target,
      context,
      owner,
      (op, args, context) => serveSemaphore(this, op, args, context),
    );
  }
}

/** A Semaphore in a subprocess child. */
export class RemoteSemaphore implements SemaphoreBackend {
  #remote: Remote;
  #bounded: boolean;

  constructor(id: number, bounded: boolean) {
    this.#remote = new Remote(id);
    this.#bounded = bounded;
  }

  async acquire(
    who: Who,
    timeout: number,
    signal?: AbortSignal,
  ): Promise<boolean> {
    return await this.#remote.call(
      "acquire",
      [pidOf(who), toWire(timeout)],
      signal,
    ) as boolean;
  }

  release(who: Who, n: number): Promise<unknown> | void {
    // Only a bounded semaphore can refuse: wait for its verdict.
    if (this.#bounded) {
      return this.#remote.now(who, "release", [pidOf(who), n]) as
        | Promise<unknown>
        | void;
    }
    this.#remote.notify("release", [pidOf(who), n]);
  }

  reduce(
    _target: StartMethod,
    context: ReduceContext | undefined,
    owner: object,
    _kind: string,
  ): Reduced {
    return reduceRemote(
      null,
      context,
      owner,
      (op, args, context) => serveSemaphore(this, op, args, context),
    );
  }
}

// ---------------------------------------------------------------------------
// Event

/** What an Event does, locally or through its owner. */
export interface EventBackend {
  set(who: Who): Promise<unknown> | void;
  clear(who: Who): Promise<unknown> | void;
  isSet(): boolean;
  state(): Promise<boolean> | boolean;
  wait(who: Who, timeout: number, signal?: AbortSignal): Promise<boolean>;
  reduce(
    target: StartMethod,
    context: ReduceContext | undefined,
    owner: object,
    kind: string,
  ): Reduced;
}

function serveEvent(
  backend: EventBackend,
  op: string,
  args: unknown[],
  context: CallContext,
): unknown {
  switch (op) {
    case "set":
      return backend.set(forwarded(context)) ?? null;
    case "clear":
      return backend.clear(forwarded(context)) ?? null;
    case "state":
      return backend.state();
    case "wait":
      return backend.wait(
        { pid: args[0] as number, route: context.route },
        fromWire(args[1]),
        context.signal,
      );
    default:
      throw new TypeError(`Cannot apply unknown event operation "${op}"`);
  }
}

/** An Event in shared memory. */
export class LocalEvent implements EventBackend, Lendable {
  readonly core: EventCore;
  uid: string | null;

  constructor(core: EventCore, uid: string | null = null) {
    this.core = core;
    this.uid = uid;
  }

  set(_who: Who): void {
    this.core.set();
  }

  clear(_who: Who): void {
    this.core.clear();
  }

  isSet(): boolean {
    return this.core.isSet();
  }

  state(): boolean {
    return this.core.isSet();
  }

  wait(_who: Who, timeout: number, signal?: AbortSignal): Promise<boolean> {
    return this.core.wait(timeout, signal);
  }

  get buffer(): SharedArrayBuffer {
    return this.core.view.buffer as SharedArrayBuffer;
  }

  get watcher(): null {
    return null;
  }

  reduce(
    target: StartMethod,
    context: ReduceContext | undefined,
    owner: object,
    kind: string,
  ): Reduced {
    return reduceLocal(
      this,
      kind,
      target,
      context,
      owner,
      (op, args, context) => serveEvent(this, op, args, context),
    );
  }
}

/** An Event in a subprocess child. */
export class RemoteEvent implements EventBackend {
  #remote: Remote;

  constructor(id: number) {
    this.#remote = new Remote(id);
  }

  set(who: Who): Promise<unknown> | void {
    return this.#remote.now(who, "set", []) as Promise<unknown> | void;
  }

  clear(who: Who): Promise<unknown> | void {
    return this.#remote.now(who, "clear", []) as Promise<unknown> | void;
  }

  isSet(): boolean {
    return this.#remote.now(null, "state", []) as boolean;
  }

  state(): Promise<boolean> {
    return this.#remote.call("state", []) as Promise<boolean>;
  }

  async wait(
    who: Who,
    timeout: number,
    signal?: AbortSignal,
  ): Promise<boolean> {
    return await this.#remote.call(
      "wait",
      [pidOf(who), toWire(timeout)],
      signal,
    ) as boolean;
  }

  reduce(
    _target: StartMethod,
    context: ReduceContext | undefined,
    owner: object,
    _kind: string,
  ): Reduced {
    return reduceRemote(
      null,
      context,
      owner,
      (op, args, context) => serveEvent(this, op, args, context),
    );
  }
}

// ---------------------------------------------------------------------------
// Condition

/** What a Condition does, locally or through its owner. */
export interface ConditionBackend {
  readonly lock: LockBackend;
  wait(who: Who, timeout: number, signal?: AbortSignal): Promise<boolean>;
  notify(who: Who, n: number): Promise<unknown> | void;
  reduce(
    target: StartMethod,
    context: ReduceContext | undefined,
    owner: object,
    kind: string,
  ): Reduced;
}

function notHeldForNotify(): TypeError {
  return new TypeError(
    "Cannot notify on the condition as its lock is not held: acquire it first",
  );
}

function serveCondition(
  backend: ConditionBackend,
  op: string,
  args: unknown[],
  context: CallContext,
): unknown {
  const caller: Caller = { pid: args[0] as number, route: context.route };
  switch (op) {
    case "wait": {
      const code = backend.lock.codeFor(caller);
      return tracked(
        caller,
        () => backend.wait(caller, fromWire(args[1]), context.signal),
        () => backend.lock.drop(caller, code),
      );
    }
    case "notify":
      return backend.notify(caller, args[1] as number) ?? null;
    default:
      throw new TypeError(`Cannot apply unknown condition operation "${op}"`);
  }
}

/** A Condition in shared memory, around a lock of this process. */
export class LocalCondition implements ConditionBackend, Lendable {
  readonly core: ConditionCore;
  readonly lock: LockBackend;
  uid: string | null;

  constructor(
    core: ConditionCore,
    lock: LockBackend,
    uid: string | null = null,
  ) {
    this.core = core;
    this.lock = lock;
    this.uid = uid;
  }

  async wait(
    who: Who,
    timeout: number,
    signal?: AbortSignal,
  ): Promise<boolean> {
    signal?.throwIfAborted();
    if (!this.lock.heldBy(who)) throw notHeldForWait();
    const [anc1, anc2] = ancestors(who);
    const slot = this.core.enqueue(
      who === null ? ownCodes().self : 0,
      anc1,
      anc2,
    );
    const saved = this.lock.releaseForWait(who);
    const outcome = await this.core.sleep(slot, timeout, signal);
    // As in Python, the lock is taken back however the wait ended.
    await this.lock.restore(who, saved);
    this.core.dequeue(slot);
    if (outcome === "aborted") throw signal!.reason;
    return outcome === "notified";
  }

  notify(who: Who, n: number): void {
    if (!this.lock.heldBy(who)) throw notHeldForNotify();
    this.core.notify(n);
  }

  get buffer(): SharedArrayBuffer {
    return this.core.buffer;
  }

  get watcher(): ChildWatcher {
    return this.core;
  }

  reduce(
    target: StartMethod,
    context: ReduceContext | undefined,
    owner: object,
    kind: string,
  ): Reduced {
    return reduceLocal(
      this,
      kind,
      target,
      context,
      owner,
      (op, args, context) => serveCondition(this, op, args, context),
    );
  }
}

/** A Condition in a subprocess child. */
export class RemoteCondition implements ConditionBackend {
  readonly lock: LockBackend;
  #remote: Remote;

  constructor(id: number, lock: LockBackend) {
    this.#remote = new Remote(id);
    this.lock = lock;
  }

  async wait(
    who: Who,
    timeout: number,
    signal?: AbortSignal,
  ): Promise<boolean> {
    signal?.throwIfAborted();
    if (!this.lock.heldBy(who)) throw notHeldForWait();
    return await this.#remote.call(
      "wait",
      [pidOf(who), toWire(timeout)],
      signal,
    ) as boolean;
  }

  notify(who: Who, n: number): Promise<unknown> | void {
    if (!this.lock.heldBy(who)) throw notHeldForNotify();
    return this.#remote.now(who, "notify", [pidOf(who), n]) as
      | Promise<unknown>
      | void;
  }

  reduce(
    _target: StartMethod,
    context: ReduceContext | undefined,
    owner: object,
    _kind: string,
  ): Reduced {
    return reduceRemote(
      null,
      context,
      owner,
      (op, args, context) => serveCondition(this, op, args, context),
    );
  }
}

// ---------------------------------------------------------------------------
// Barrier

/** A barrier's action, by value where it was created and by reference elsewhere. */
export interface BarrierAction {
  fn: (() => unknown) | null;
  module: string;
  name: string;
}

/** Finds an action exported by its module, in a child. */
async function resolveAction(action: BarrierAction): Promise<() => unknown> {
  if (action.fn !== null) return action.fn;
  const namespace = await import(action.module);
  const fn = findExport(namespace, action.name);
  if (fn === undefined) {
    throw new TypeError(
      notExportedMessage(action.name, action.module).replace(
        "Cannot start the process",
        "Cannot run the barrier's action",
      ),
    );
  }
  action.fn = fn;
  return fn;
}

/** What a Barrier does, locally or through its owner. */
export interface BarrierBackend {
  readonly parties: number;
  wait(who: Who, timeout: number, signal?: AbortSignal): Promise<number>;
  abort(who: Who): Promise<unknown> | void;
  reset(who: Who): Promise<unknown> | void;
  broken(): boolean;
  nWaiting(): number;
  state(): Promise<[boolean, number]> | [boolean, number];
  reduce(
    target: StartMethod,
    context: ReduceContext | undefined,
    owner: object,
    kind: string,
  ): Reduced;
}

function serveBarrier(
  backend: BarrierBackend,
  op: string,
  args: unknown[],
  context: CallContext,
): unknown {
  switch (op) {
    case "wait":
      return backend.wait(
        { pid: args[0] as number, route: context.route },
        fromWire(args[1]),
        context.signal,
      );
    case "abort":
      return backend.abort(forwarded(context)) ?? null;
    case "reset":
      return backend.reset(forwarded(context)) ?? null;
    case "state":
      return backend.state();
    default:
      throw new TypeError(`Cannot apply unknown barrier operation "${op}"`);
  }
}

/** A Barrier in shared memory. */
export class LocalBarrier implements BarrierBackend, Lendable {
  readonly core: BarrierCore;
  readonly action: BarrierAction | null;
  uid: string | null;

  constructor(
    core: BarrierCore,
    action: BarrierAction | null,
    uid: string | null = null,
  ) {
    this.core = core;
    this.action = action;
    this.uid = uid;
  }

  get parties(): number {
    return this.core.parties;
  }

  wait(who: Who, timeout: number, signal?: AbortSignal): Promise<number> {
    const [anc1, anc2] = ancestors(who);
    const action = this.action;
    return this.core.wait(
      who === null ? ownCodes().self : 0,
      anc1,
      anc2,
      timeout,
      signal,
      action === null ? null : async () => (await resolveAction(action))(),
    );
  }

  abort(_who: Who): void {
    this.core.abort();
  }

  reset(_who: Who): void {
    this.core.reset();
  }

  broken(): boolean {
    return this.core.broken();
  }

  nWaiting(): number {
    return this.core.nWaiting();
  }

  state(): [boolean, number] {
    return [this.core.broken(), this.core.nWaiting()];
  }

  get buffer(): SharedArrayBuffer {
    return this.core.view.buffer as SharedArrayBuffer;
  }

  get watcher(): ChildWatcher {
    return this.core;
  }

  reduce(
    target: StartMethod,
    context: ReduceContext | undefined,
    owner: object,
    kind: string,
  ): Reduced {
    return reduceLocal(
      this,
      kind,
      target,
      context,
      owner,
      (op, args, context) => serveBarrier(this, op, args, context),
    );
  }
}

/** A Barrier in a subprocess child. */
export class RemoteBarrier implements BarrierBackend {
  readonly parties: number;
  #remote: Remote;

  constructor(id: number, parties: number) {
    this.#remote = new Remote(id);
    this.parties = parties;
  }

  async wait(
    who: Who,
    timeout: number,
    signal?: AbortSignal,
  ): Promise<number> {
    return await this.#remote.call(
      "wait",
      [pidOf(who), toWire(timeout)],
      signal,
    ) as number;
  }

  abort(who: Who): Promise<unknown> | void {
    return this.#remote.now(who, "abort", []) as Promise<unknown> | void;
  }

  reset(who: Who): Promise<unknown> | void {
    return this.#remote.now(who, "reset", []) as Promise<unknown> | void;
  }

  broken(): boolean {
    return this.#stateNow()[0];
  }

  nWaiting(): number {
    return this.#stateNow()[1];
  }

  #stateNow(): [boolean, number] {
    return this.#remote.now(null, "state", []) as [boolean, number];
  }

  state(): Promise<[boolean, number]> {
    return this.#remote.call("state", []) as Promise<[boolean, number]>;
  }

  reduce(
    _target: StartMethod,
    context: ReduceContext | undefined,
    owner: object,
    _kind: string,
  ): Reduced {
    return reduceRemote(
      null,
      context,
      owner,
      (op, args, context) => serveBarrier(this, op, args, context),
    );
  }
}
