// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// How a primitive of this package crosses into a child (CPython's
// `reduction.py`): the sender walks a value, replaces each primitive with a
// plain descriptor, and the child rebuilds the primitive from it, connected to
// the same underlying object. The descriptor names the module that knows how
// to rebuild it, so a child need not have imported that module itself.
import type { StartMethod } from "./_runtime.ts";

/** The method a primitive implements to describe itself for a child. */
export const reduceSymbol: unique symbol = Symbol.for("mp.reduce");

/** What a primitive may learn about the child it is sent to. */
export interface ReduceContext {
  /** Runs `fn` once that child has exited (absent for values in queues). */
  onChildExit(fn: () => void): void;
}

/** A primitive that can be passed to a child. */
export interface Reducible {
  /** Returns cloneable data from which `rebuild` recreates the primitive in a child. */
  [reduceSymbol](target: StartMethod, context?: ReduceContext): unknown;
}

/** Recreates a primitive in the child from its reduced data. */
export type Rebuild = (data: unknown) => unknown;

const MARK = "__mp$reduced";

interface Descriptor {
  [MARK]: string;
  module: string;
  data: unknown;
}

const kinds = new Map<string, Rebuild>();
/** Describes a primitive for a child of the given start method. */
export type Reduce<P> = (
  primitive: P,
  target: StartMethod,
  context?: ReduceContext,
) => unknown;

/** The descriptors of each registered class's instances, by prototype. */
const describers = new WeakMap<object, Reduce<object>>();

const byMethod: Reduce<object> = (primitive, target, context) =>
  (primitive as Reducible)[reduceSymbol](target, context);

/**
 * Registers the class of a primitive: instances are reduced with `reduce`
 * (by default their `[reduceSymbol]` method) and rebuilt with `rebuild` in
 * the child. A public class passes `reduce`, so that its API shows no
 * internals.
 *
 * @param kind A name unique across the package.
 * @param module The URL of the module that calls this (`import.meta.url`).
 */
export function registerReducible<P extends object>(
  kind: string,
  module: string,
  constructor: abstract new (...args: never[]) => P,
  rebuild: Rebuild,
  reduce?: Reduce<P>,
): void {
  kinds.set(kind, rebuild);
  const data = (reduce ?? byMethod) as Reduce<object>;
  describers.set(
    constructor.prototype,
    (primitive, target, context): Descriptor => ({
      [MARK]: kind,
      module,
      data: data(primitive, target, context),
    }),
  );
}

/** How to describe a registered primitive; `undefined` for any other value. */
function describerOf(value: object): Reduce<object> | undefined {
  for (
    let proto = Object.getPrototypeOf(value);
    proto !== null;
    proto = Object.getPrototypeOf(proto)
  ) {
    const entry = describers.get(proto);
    if (entry !== undefined) return entry;
  }
  return undefined;
}

/** The classes of what is walked into: anything else but leaves loses its class. */
const CONTAINERS: ReadonlySet<unknown> = new Set([
  Object.prototype,
  null,
  Array.prototype,
  Map.prototype,
  Set.prototype,
]);

function isLeafBuiltin(value: object): boolean {
  return ArrayBuffer.isView(value) || value instanceof Error ||
    value instanceof Date || value instanceof RegExp ||
    value instanceof ArrayBuffer || value instanceof SharedArrayBuffer ||
    value instanceof Boolean || value instanceof Number ||
    value instanceof String || value instanceof BigInt ||
    value instanceof Blob;
}

function describe(value: unknown): string {
  if (typeof value === "function") {
    return value.name ? `function ${value.name}` : "an anonymous function";
  }
  if (typeof value === "symbol") return `symbol ${String(value.description)}`;
  const name = (value as object).constructor?.name ?? "unknown";
  return `an instance of class ${name}`;
}

function childPath(path: string, key: PropertyKey): string {
  if (typeof key === "number") return `${path}[${key}]`;
  const text = String(key);
  return /^[A-Za-z_$][\w$]*$/.test(text)
    ? `${path}.${text}`
    : `${path}[${JSON.stringify(text)}]`;
}

/**
 * Checks that `value` can be sent to a child and reports whether it holds any
 * primitive of this package.
 *
 * @throws {TypeError} Naming the path of the first value that cannot be cloned.
 */
function scan(value: unknown, path: string, seen: Set<object>): boolean {
  if (typeof value === "function" || typeof value === "symbol") {
    throw new TypeError(
      `Cannot send ${path} to another process as it is ${
        describe(value)
      }, which cannot be cloned: send data instead, or export the function and call it by name`,
    );
  }
  if (typeof value !== "object" || value === null) return false;
  if (seen.has(value)) return false;
  seen.add(value);
  if (describerOf(value) !== undefined) return true;
  if (isLeafBuiltin(value)) return false;
  const proto = Object.getPrototypeOf(value);
  if (!CONTAINERS.has(proto)) {
    throw new TypeError(
      `Cannot send ${path} to another process as it is ${
        describe(value)
      }, which loses its class and private state when cloned: send a plain object instead`,
    );
  }
  let found = false;
  if (value instanceof Map) {
    let i = 0;
    for (const [key, item] of value) {
      const keyText = typeof key === "string" || typeof key === "number"
        ? JSON.stringify(key)
        : `<key ${i}>`;
      if (scan(key, `${path}.keys()[${i}]`, seen)) found = true;
      if (scan(item, `${path}.get(${keyText})`, seen)) found = true;
      i++;
    }
  } else if (value instanceof Set) {
    let i = 0;
    for (const item of value) {
      if (scan(item, `${path}.values()[${i++}]`, seen)) found = true;
    }
  } else if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      if (scan(value[i], childPath(path, i), seen)) found = true;
    }
  } else {
    for (const key of Object.keys(value)) {
      const item = (value as Record<string, unknown>)[key];
      if (scan(item, childPath(path, key), seen)) found = true;
    }
  }
  return found;
}

/**
 * Walks `value`, putting what `swap` makes of an object in its place
 * (unless `undefined`), and the keys and items of any other container into
 * `into(container)`: an empty one of the same kind, or itself.
 */
function swapAll(
  value: unknown,
  swap: (object: object) => unknown,
  into: (container: object) => object,
  memo = new Map<object, unknown>(),
): unknown {
  if (typeof value !== "object" || value === null) return value;
  if (memo.has(value)) return memo.get(value);
  const swapped = swap(value);
  if (swapped !== undefined) {
    memo.set(value, swapped);
    return swapped;
  }
  // What reduce lets through is a container or a built-in leaf, and a
  // rebuilt primitive is an instance of its class: neither is walked into.
  if (!CONTAINERS.has(Object.getPrototypeOf(value))) return value;
  const container = into(value);
  memo.set(value, container);
  const visit = (item: unknown) => swapAll(item, swap, into, memo);
  // Read whole before anything is put in: the container may be `value`.
  if (value instanceof Map) {
    const map = container as Map<unknown, unknown>;
    const entries = [...value];
    map.clear();
    for (const [key, item] of entries) map.set(visit(key), visit(item));
  } else if (value instanceof Set) {
    const set = container as Set<unknown>;
    const items = [...value];
    set.clear();
    for (const item of items) set.add(visit(item));
  } else {
    const record = container as Record<string, unknown>;
    for (const [key, item] of Object.entries(value)) record[key] = visit(item);
  }
  return container;
}

/** An empty container of the kind of `value`. */
function emptyLike(value: object): object {
  return value instanceof Map
    ? new Map()
    : value instanceof Set
    ? new Set()
    : Array.isArray(value)
    ? new Array(value.length)
    : {};
}

/** A value ready to be cloned into a child. */
export interface Reduced {
  value: unknown;
  /** Whether the child must call {@linkcode rebuild} on `value`. */
  reduced: boolean;
}

/**
 * Prepares `value` for a child of the given start method: checks it can be
 * cloned and replaces every primitive of this package with its descriptor.
 *
 * @param path How to name the value in errors, such as `args`.
 * @throws {TypeError} When some part of `value` cannot be cloned; nothing is
 * sent and no primitive is touched.
 */
export function reduce(
  value: unknown,
  target: StartMethod,
  path: string,
  context?: ReduceContext,
): Reduced {
  if (!scan(value, path, new Set())) return { value, reduced: false };
  const describe = (object: object) =>
    describerOf(object)?.(object, target, context);
  return { value: swapAll(value, describe, emptyLike), reduced: true };
}

/**
 * The primitive `value` describes; `undefined` if it is no descriptor, or
 * its kind is not registered here and `missing` takes the module that would.
 *
 * @throws {TypeError} When its kind is not registered and there is no `missing`.
 */
function rebuildOne(value: object, missing?: Set<string>): unknown {
  if (!Object.hasOwn(value, MARK)) return undefined;
  const { [MARK]: kind, module, data } = value as Descriptor;
  const rebuild = kinds.get(kind);
  if (rebuild !== undefined) return rebuild(data);
  if (missing === undefined) {
    throw new TypeError(
      `Cannot rebuild a "${kind}" in this process as ${module} does not register it`,
    );
  }
  missing.add(module);
  return undefined;
}

const itself = (container: object) => container;

/**
 * Rebuilds, in place, every primitive described in a value made by
 * {@linkcode reduce}, importing the modules that know how.
 */
export async function rebuild(value: unknown): Promise<unknown> {
  // What the kinds loaded can rebuild is rebuilt at once, the rest once the
  // modules that register theirs are loaded.
  const missing = new Set<string>();
  const partly = swapAll(
    value,
    (object) => rebuildOne(object, missing),
    itself,
  );
  if (missing.size === 0) return partly;
  for (const module of missing) await import(module);
  return rebuildSync(partly);
}

/**
 * Rebuilds like {@linkcode rebuild}, without waiting: every module the
 * descriptors name must already be loaded in this process.
 *
 * @throws {TypeError} When one is not.
 */
export function rebuildSync(value: unknown): unknown {
  return swapAll(value, (object) => rebuildOne(object), itself);
}
