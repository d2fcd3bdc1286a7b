// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// The shared-object layer: the one way any process reaches state that lives
// with an owner.
//
// A kind of shared object is declared once: how to open its state over its
// shared memory, a table of typed operations (each async, blocking or
// fire-and-forget), and how to free what dead parties held. The layer gives
// every kind the rest: one descriptor, rebuilding in a child, routing to the
// owner from whichever process holds the object however it got there, one
// ledger of callers that undoes a dead caller's work, and the fast path:
// an isolate that maps the object's memory (the owner, every worker of its
// OS process it was passed to and, with shared memory across OS processes
// (`_shm.ts`, Linux and `--allow-ffi`), any process of its tree) runs each
// operation itself; any other process sends it to the owner, which runs the
// same code on the caller's behalf. Which memory a process maps is decided
// here, in `memoryFor`; `run` follows from it.
//
// An owner that serves at an address (`_direct.ts`, a manager's server)
// puts it in every descriptor it makes: whoever holds such an object, and
// however it got it, sends its operations straight there rather than up the
// tree, which could not reach an owner that is not an ancestor.
import {
  type DirectAddress,
  type DirectLink,
  directLink,
  servedAddress,
} from "./_direct.ts";
import {
  callerCode,
  isDead,
  markExitedBehind,
  onDeath,
  selfCode,
  treeName,
} from "./_isolates.ts";
import { type BufferRef, bufferRef, mapBuffer } from "./_shm.ts";
import {
  rebuildSync,
  reduce,
  type ReduceContext,
  registerReducible,
} from "./_reduce.ts";
import {
  type CallContext,
  callOwner,
  callOwnerSync,
  current,
  expose,
  hasParent,
  notifyOwner,
  onChildExit,
  serveFixed,
  type StartMethod,
} from "./_runtime.ts";

/** Who runs an operation, and how to stop it. */
export interface OpContext {
  /** The caller's code (see `_isolates.ts`): the party that holds what it takes. */
  readonly caller: number;
  /** Aborts when the caller gives up, or dies. */
  readonly signal: AbortSignal | undefined;
}

/** How an operation is called: what the caller waits for. */
export type OpMode = "async" | "blocking" | "notify";

/** One operation of a kind, on state `S`. */
export interface Op<S, A extends unknown[], R, M extends OpMode> {
  readonly mode: M;
  readonly run: (state: S, context: OpContext, ...args: A) => R;
}

// deno-lint-ignore no-explicit-any
export type AnyOp<S> = Op<S, any[], unknown, OpMode>;

/** Declares an operation that callers await. */
export function asyncOp<S, A extends unknown[], R>(
  run: (state: S, context: OpContext, ...args: A) => R | Promise<R>,
): Op<S, A, R | Promise<R>, "async"> {
  return { mode: "async", run };
}

/** Declares an operation of a synchronous method: a remote caller blocks. */
export function blockingOp<S, A extends unknown[], R>(
  run: (state: S, context: OpContext, ...args: A) => R,
): Op<S, A, R, "blocking"> {
  return { mode: "blocking", run };
}

/** Declares an operation that needs no answer: applied in order, unawaited. */
export function notifyOp<S, A extends unknown[]>(
  run: (state: S, context: OpContext, ...args: A) => void,
): Op<S, A, void, "notify"> {
  return { mode: "notify", run };
}

/** An object's shared memory: one buffer, or several. */
export type Memory = SharedArrayBuffer | readonly SharedArrayBuffer[];

/** A kind of shared object. */
export interface Kind<S, C, O extends Record<string, AnyOp<S>>> {
  /** A name unique across the package. */
  readonly name: string;
  /**
   * The URL of the module that registers its public classes, which a child
   * imports to rebuild one.
   */
  readonly module: string;
  /**
   * Opens the state over its memory, in any isolate that maps it; `shared`
   * lets the state reach the owner itself (see {@linkcode Shared.atOwner}).
   */
  open(memory: Memory, config: C, shared: Shared<S, C, O>): S;
  readonly ops: O;
  /**
   * Whether the state is the owner's alone (plain JS data, not shared
   * memory): never handed to a worker child, always reached through calls.
   */
  readonly ownerOnly?: true;
  /** Frees what dead parties held; may run in any isolate that maps the memory. */
  reap?(state: S, dead: (code: number) => boolean): void;
}

type ArgsOf<P> = P extends Op<never, infer A, unknown, OpMode> ? A : never;
type ResultOf<P> = P extends Op<never, never[], infer R, infer M>
  ? M extends "async" ? Promise<Awaited<R>> : M extends "notify" ? void : R
  : never;

/** What crosses into another process: the same shape for every kind. */
export interface Descriptor<C> {
  /** The pid of the isolate that owns the state. */
  owner: number;
  /** The object's number among those its owner exposes. */
  id: number;
  config: C;
  /** What the public class adds for this one copy (a pipe end's lease). */
  extra?: unknown;
  /** The state's memory, for a worker of the owner's OS process. */
  memory?: Memory;
  /** Where any process of the same tree maps the memory (`_shm.ts`). */
  shm?: SharedMemoryRef;
  /** Where the owner serves its objects to any process, if it does. */
  address?: DirectAddress;
}

/** An object's memory as other OS processes of its tree map it. */
export interface SharedMemoryRef {
  /** The process tree whose codes the memory holds (see `treeName`). */
  tree: string;
  buffers: BufferRef[];
  /** Whether the memory is one buffer rather than a list. */
  single?: true;
}

const buffersOf = (memory: Memory): readonly SharedArrayBuffer[] =>
  memory instanceof SharedArrayBuffer ? [memory] : memory;

/** How other processes map `memory`, if all of it is shareable. */
function shmRefOf(memory: Memory): SharedMemoryRef | null {
  const tree = treeName();
  if (tree === null) return null;
  const refs = buffersOf(memory).map(bufferRef);
  if (refs.includes(null)) return null;
  const buffers = refs as BufferRef[];
  return memory instanceof SharedArrayBuffer
    ? { tree, buffers, single: true }
    : { tree, buffers };
}

/**
 * The memory a process rebuilding `descriptor` runs operations on: a
 * worker's, passed along; any process's of the same tree, mapped, when
 * memory is shared across OS processes; else none, and every operation is
 * a call to the owner. This is where a process's path is decided.
 */
function memoryFor(descriptor: Descriptor<unknown>): Memory | undefined {
  const { memory, shm } = descriptor;
  if (shm === undefined || shm.tree !== treeName()) return memory;
  const given = memory === undefined ? undefined : buffersOf(memory);
  const mapped = shm.buffers.map((ref, i) => mapBuffer(ref, given?.[i]));
  if (mapped.includes(null)) return memory;
  return shm.single ? mapped[0]! : mapped as SharedArrayBuffer[];
}

// deno-lint-ignore no-explicit-any
type AnyShared = Shared<any, any, any>;

const reapable = new Set<WeakRef<AnyShared>>();

function reapAll(): void {
  for (const ref of reapable) {
    const shared = ref.deref();
    if (shared === undefined) reapable.delete(ref);
    else shared.reap();
  }
}

// A party registered by an owner up the tree may die under a process the
// owner never hears from (a grandchild whose parent lives on): every exit is
// reported up the tree, and each ancestor marks the party dead in its table.
const EXITS = -1;

function reportExit(pid: number): void {
  if (hasParent()) notifyOwner(current.parentPid, EXITS, "exited", [pid]);
}

onChildExit(reportExit);
serveFixed(EXITS, (_op, [pid], { route }) => {
  // Only a party behind the reporting child can be marked: a worker of this
  // OS process was marked by its own parent, in the table they share.
  markExitedBehind(pid as number, route);
  reportExit(pid as number);
});

/** The op `name` of `kind`, checked. */
function opOf<S>(
  kind: Kind<S, unknown, Record<string, AnyOp<S>>>,
  name: string,
): AnyOp<S> {
  if (!Object.hasOwn(kind.ops, name)) {
    throw new TypeError(
      `Cannot apply operation "${name}" as a ${kind.name} has no such operation`,
    );
  }
  return kind.ops[name]!;
}

let handedOver: unknown = null;

/**
 * Calls `make`, whose constructor takes `what` with {@linkcode adopted}
 * instead of making a new object: how a rebuild (or a factory such as
 * `Pipe()`) reaches a public class without a constructor parameter.
 */
export function handOver<P>(what: unknown, make: () => P): P {
  handedOver = what;
  try {
    return make();
  } finally {
    handedOver = null;
  }
}

/** A rebuild that hands its object over to `make()`'s constructor. */
export function adopter<P>(make: () => P): (what: unknown) => P {
  return (what) => handOver(what, make);
}

/** What {@linkcode handOver} gave the constructor now running; else `null`. */
export function adopted<T>(): T | null {
  const what = handedOver as T | null;
  handedOver = null;
  return what;
}

/** Makes a public instance of a rebuilt object (see `Shared.register`). */
type Wrap<T, P> = (shared: T, extra: unknown) => P;

/** How {@linkcode Shared.register} names, rebuilds and describes a class's instances. */
interface RegisterOptions<T, P> {
  name?: string;
  wrap?: Wrap<T, P>;
  extra?: (instance: P, context: ReduceContext | undefined) => unknown;
}

/** The objects rebuilt in this isolate, so one passed twice is one object. */
const rebuilt = new Map<string, WeakRef<object>>();

/**
 * The objects this isolate owns and exposes, by id (the exposed handler
 * keeps them anyway), so one that comes back after its public instance was
 * collected is rebuilt on its own state, not as a call to this isolate.
 */
const owned = new Map<number, AnyShared>();

/** One object of a kind, as this isolate reaches it. */
export class Shared<S, C, O extends Record<string, AnyOp<S>>> {
  readonly kind: Kind<S, C, O>;
  readonly config: C;
  /** The state, where this isolate maps its memory; `null` elsewhere. */
  readonly state: S | null;
  #memory: Memory | undefined;
  #owner: number;
  #id: number;
  #address: DirectAddress | undefined;
  /** The link to `#address`, looked up at first use. */
  #link: DirectLink | undefined;

  /**
   * Creates a new object owned by this isolate, or opens one from its
   * descriptor in another.
   */
  constructor(
    kind: Kind<S, C, O>,
    config: C,
    memory: Memory | undefined,
    descriptor?: Descriptor<unknown>,
  ) {
    this.kind = kind;
    this.config = config;
    this.#memory = memory;
    this.#owner = descriptor?.owner ?? current.pid;
    this.#id = descriptor?.id ?? 0;
    this.#address = descriptor?.address;
    this.state = memory === undefined ? null : kind.open(memory, config, this);
    if (memory !== undefined && kind.reap !== undefined) {
      reapable.add(new WeakRef(this));
      onDeath(reapAll); // Listeners are a set: added once.
    }
  }

  /** Whether this isolate owns the object. */
  get owned(): boolean {
    return this.#owner === current.pid;
  }

  /** Whether this isolate runs operations itself (it maps the memory). */
  get local(): boolean {
    return this.state !== null;
  }

  /**
   * Runs operation `name`: here when the memory is mapped, else in the
   * owner on this process's behalf. An async operation resolves with its
   * result; a blocking one returns it (a remote caller blocks); a
   * fire-and-forget one returns at once.
   */
  run<N extends keyof O & string>(
    name: N,
    args: ArgsOf<O[N]>,
    signal?: AbortSignal,
  ): ResultOf<O[N]> {
    if (this.state === null) return this.#send(name, args, signal);
    const op = opOf(this.kind, name);
    const context = { caller: selfCode(), signal };
    if (op.mode !== "async") {
      return op.run(this.state, context, ...args) as ResultOf<O[N]>;
    }
    // An async op answers a promise even when it completes at once, and
    // rejects rather than throws, as it does for a remote caller.
    return Promise.try(op.run, this.state, context, ...args) as ResultOf<O[N]>;
  }

  /** Sends operation `name` to the owner, as its mode says. */
  #send<R>(name: string, args: unknown[], signal?: AbortSignal): R {
    const { mode } = opOf(this.kind, name);
    const message = [current.pid, ...args];
    const id = this.#id;
    const owner = this.#owner;
    const link = this.#address === undefined
      ? undefined
      : (this.#link ??= directLink(this.#address));
    if (mode === "async") {
      return callOwner(owner, id, name, message, signal, link) as R;
    }
    if (mode === "blocking") {
      return callOwnerSync(owner, id, name, message, link) as R;
    }
    return notifyOwner(owner, id, name, message, link) as R;
  }

  /**
   * Runs operation `name` in the owner, even from an isolate that maps the
   * memory: for what only the owner keeps (a ledger, handles it gave out)
   * or takes over (the writes a child could not make before it exits).
   */
  atOwner<N extends keyof O & string>(
    name: N,
    args: ArgsOf<O[N]>,
    signal?: AbortSignal,
  ): ResultOf<O[N]> {
    return this.owned
      ? this.run(name, args, signal)
      : this.#send(name, args, signal);
  }

  /** Frees what dead parties held. */
  reap(): void {
    if (this.state !== null) this.kind.reap?.(this.state, isDead);
  }

  /** Serves an operation a process without the memory sent to the owner. */
  #serve(name: string, message: unknown[], context: CallContext): unknown {
    const op = opOf(this.kind, name);
    const [pid, ...args] = message;
    const caller = callerCode(pid as number, context.route);
    const result = op.run(
      this.state!,
      { caller, signal: context.signal },
      ...args,
    );
    if (!(result instanceof Promise)) return result;
    // A caller that died while the operation ran never sees its result:
    // free what it took, as for any dead party.
    return result.finally(() => {
      if (isDead(caller)) this.reap();
    });
  }

  /** Describes the object for a child of the given start method. */
  describe(target: StartMethod): Descriptor<unknown> {
    if (this.#owner === current.pid && this.#id === 0) {
      this.#id = expose(
        this,
        (name, args, context) => this.#serve(name, args, context),
      );
      owned.set(this.#id, this);
    }
    const descriptor: Descriptor<unknown> = {
      owner: this.#owner,
      id: this.#id,
      // A config may hold other primitives (a condition's lock): they cross
      // as primitives do anywhere, and are rebuilt with the object.
      config: reduce(this.config, target, "config").value,
    };
    const address = this.#address ??
      (this.owned ? servedAddress() ?? undefined : undefined);
    if (address !== undefined) descriptor.address = address;
    if (this.#memory !== undefined && !this.kind.ownerOnly) {
      if (target === "worker" && this.#address === undefined) {
        descriptor.memory = this.#memory;
      }
      // An object served at an address (a manager's) lives and dies with its
      // server: other OS processes reach it there, never in its memory.
      const shm = address === undefined ? shmRefOf(this.#memory) : null;
      if (shm !== null) descriptor.shm = shm;
    }
    return descriptor;
  }

  /**
   * Registers the public class `Class` of kind `kind`: its instances cross
   * into children (under `options.name`, by default the kind's) through
   * `sharedOf`, and a child rebuilds one with `options.wrap` (or `options`
   * itself, a function), once per object however often it arrives. By
   * default `wrap` hands the object to `new Class()` (see
   * {@linkcode adopted}); `options.extra` adds what one copy carries of its
   * own.
   */
  static register<S, C, O extends Record<string, AnyOp<S>>, P extends object>(
    kind: Kind<S, C, O>,
    Class: abstract new (...args: never[]) => P,
    sharedOf: (instance: P, target: StartMethod) => Shared<S, C, O>,
    options: RegisterOptions<Shared<S, C, O>, P> | Wrap<Shared<S, C, O>, P> =
      {},
  ): void {
    const {
      name = kind.name,
      wrap = adopter(() => new (Class as unknown as new () => P)()),
      extra,
    } = typeof options === "function" ? { wrap: options } : options;
    const keyOf = ({ owner, id }: Descriptor<unknown>) =>
      `${name}:${owner}:${id}`;
    registerReducible(
      name,
      kind.module,
      Class,
      (data) => {
        const descriptor = data as Descriptor<unknown>;
        const key = keyOf(descriptor);
        const known = rebuilt.get(key)?.deref();
        if (known !== undefined) return known;
        const own = descriptor.owner === current.pid
          ? owned.get(descriptor.id) as Shared<S, C, O> | undefined
          : undefined;
        const shared = own ?? new Shared(
          kind,
          rebuildSync(descriptor.config) as C,
          memoryFor(descriptor),
          descriptor,
        );
        const instance = wrap(shared, descriptor.extra);
        rebuilt.set(key, new WeakRef(instance));
        return instance;
      },
      (instance, target, context) => {
        const shared = sharedOf(instance, target);
        const descriptor = shared.describe(target);
        if (extra !== undefined) descriptor.extra = extra(instance, context);
        rebuilt.set(keyOf(descriptor), new WeakRef(instance));
        return descriptor;
      },
    );
  }
}
