// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// The managed objects as kinds of the shared-object layer: their state is
// plain JS data that only the manager's server holds, and each operation
// runs there in one turn of its event loop, so it is atomic. Values arrive
// reduced (primitives of this package as descriptors) and are stored so:
// the server never needs to rebuild what it only keeps.
//
// Python's semantics live here: negative indexes, slices, `==` for
// `remove`/`index`/`count`, and the default order of `sort`.
import {
  type AnyOp,
  asyncOp,
  blockingOp,
  handOver,
  type Kind,
  notifyOp,
} from "./_shared.ts";
import { IndexError, KeyError, ValueError } from "./errors.ts";

/** A managed object's state: the value, boxed so a type may replace it. */
export interface Box<T> {
  v: T;
}

/** Where the kinds' public classes are registered. */
export const MANAGER_MODULE = new URL("./manager.ts", import.meta.url).href;

/** A key of a managed dict: what a Map tells apart by value. */
export type DictKey = string | number | bigint | boolean | null | undefined;

/** How each kind's public proxy is made on its layer object (`manager.ts`). */
export const proxyMakers = new Map<string, () => object>();

/** The public proxy of a managed object, made on its layer object. */
export function wrapProxy(kind: { name: string }, shared: unknown): object {
  return handOver(shared, proxyMakers.get(kind.name)!);
}

/** How a value is named in messages. */
export function show(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "bigint") return `${value}n`;
  try {
    const text = JSON.stringify(value);
    if (text !== undefined) {
      return text.length > 60 ? text.slice(0, 57) + "…" : text;
    }
  } catch {
    // Not JSON: fall through.
  }
  return String(value);
}

function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

/**
 * Python's `a < b` ordering for what `sort` meets: numbers (and bigints,
 * booleans) by value, strings by code point, arrays element by element.
 *
 * @throws {TypeError} For values Python could not order either.
 */
export function pyCompare(a: unknown, b: unknown): number {
  const numeric = (x: unknown) =>
    typeof x === "number" || typeof x === "bigint" || typeof x === "boolean";
  if (numeric(a) && numeric(b)) {
    const x = typeof a === "boolean" ? Number(a) : a as number | bigint;
    const y = typeof b === "boolean" ? Number(b) : b as number | bigint;
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (typeof a === "string" && typeof b === "string") {
    // Code points, not UTF-16 units: Python's order for astral characters.
    const ia = a[Symbol.iterator]();
    const ib = b[Symbol.iterator]();
    for (;;) {
      const x = ia.next();
      const y = ib.next();
      if (x.done) return y.done ? 0 : -1;
      if (y.done) return 1;
      const cx = x.value.codePointAt(0)!;
      const cy = y.value.codePointAt(0)!;
      if (cx !== cy) return cx < cy ? -1 : 1;
    }
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) {
      if (pyEqual(a[i], b[i])) continue;
      return pyCompare(a[i], b[i]);
    }
    return a.length - b.length;
  }
  throw new TypeError(
    `Cannot order ${show(a)} (${typeName(a)}) and ${show(b)} (${
      typeName(b)
    }): sort orders numbers, strings, and arrays of them`,
  );
}

/** Python's `==` for cloned data: by value, not identity. */
export function pyEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a === "number" && typeof b === "number") {
    return a === b; // NaN != NaN, as in Python.
  }
  if (
    (typeof a === "bigint" || typeof a === "number") &&
    (typeof b === "bigint" || typeof b === "number")
  ) {
    // deno-lint-ignore eqeqeq
    return a == b;
  }
  if (typeof a !== "object" || typeof b !== "object" || !a || !b) return false;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length &&
      a.every((item, i) => pyEqual(item, b[i]));
  }
  if (a instanceof Date) return b instanceof Date && +a === +b;
  if (a instanceof Map) {
    if (!(b instanceof Map) || a.size !== b.size) return false;
    for (const [key, item] of a) {
      if (!b.has(key) || !pyEqual(item, b.get(key))) return false;
    }
    return true;
  }
  if (a instanceof Set) {
    if (!(b instanceof Set) || a.size !== b.size) return false;
    for (const item of a) if (!b.has(item)) return false;
    return true;
  }
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((key) =>
    Object.hasOwn(b, key) &&
    pyEqual(
      (a as Record<string, unknown>)[key],
      (b as Record<string, unknown>)[key],
    )
  );
}

function checkInteger(index: unknown, what: string): number {
  if (typeof index !== "number" || !Number.isInteger(index)) {
    throw new TypeError(
      `Cannot use ${show(index)} as ${what}: list indices must be integers`,
    );
  }
  return index;
}

/** The position of Python index `index` in a list of `length`, checked. */
function position(index: unknown, length: number, doing: string): number {
  const i = checkInteger(index, "an index");
  const at = i < 0 ? i + length : i;
  if (at < 0 || at >= length) {
    throw new IndexError(
      `Cannot ${doing} index ${i} of the list as it has ${length} item${
        length === 1 ? "" : "s"
      } (list index out of range)`,
    );
  }
  return at;
}

/** Python's `slice.indices(length)`. */
function sliceIndices(
  length: number,
  start: number | null | undefined,
  stop: number | null | undefined,
  step: number | null | undefined,
): [number, number, number] {
  const s = step ?? 1;
  checkInteger(s, "a slice step");
  if (s === 0) {
    throw new ValueError(
      "Cannot slice with step 0 (slice step cannot be zero)",
    );
  }
  const clamp = (
    value: number | null | undefined,
    low: number,
    high: number,
    fallback: number,
  ) => {
    if (value === null || value === undefined) return fallback;
    checkInteger(value, "a slice bound");
    if (value < 0) return Math.max(value + length, low);
    return Math.min(value, high);
  };
  return s > 0
    ? [clamp(start, 0, length, 0), clamp(stop, 0, length, length), s]
    : [
      clamp(start, -1, length - 1, length - 1),
      clamp(stop, -1, length - 1, -1),
      s,
    ];
}

type DictState = Box<Map<DictKey, unknown>>;

/** Python's `dict` on the server. */
export const dictOps = {
  get: asyncOp((s: DictState, _, key: DictKey, fallback?: unknown) =>
    s.v.has(key) ? s.v.get(key) : fallback
  ),
  item: asyncOp((s: DictState, _, key: DictKey) => {
    if (!s.v.has(key)) throw missingKey(key, "get");
    return s.v.get(key);
  }),
  set: asyncOp((s: DictState, _, key: DictKey, value: unknown) => {
    s.v.set(key, value);
  }),
  has: asyncOp((s: DictState, _, key: DictKey) => s.v.has(key)),
  delete: asyncOp((s: DictState, _, key: DictKey) => {
    if (!s.v.delete(key)) throw missingKey(key, "delete");
  }),
  keys: asyncOp((s: DictState) => [...s.v.keys()]),
  values: asyncOp((s: DictState) => [...s.v.values()]),
  entries: asyncOp((s: DictState) => [...s.v.entries()]),
  size: asyncOp((s: DictState) => s.v.size),
  clear: asyncOp((s: DictState) => s.v.clear()),
  update: asyncOp((s: DictState, _, entries: [DictKey, unknown][]) => {
    for (const [key, value] of entries) s.v.set(key, value);
  }),
  setDefault: asyncOp((s: DictState, _, key: DictKey, value: unknown) => {
    if (!s.v.has(key)) s.v.set(key, value);
    return s.v.get(key);
  }),
  pop: asyncOp((s: DictState, _, key: DictKey, ...fallback: unknown[]) => {
    if (!s.v.has(key)) {
      if (fallback.length > 0) return fallback[0];
      throw missingKey(key, "pop");
    }
    const value = s.v.get(key);
    s.v.delete(key);
    return value;
  }),
  popItem: asyncOp((s: DictState) => {
    if (s.v.size === 0) {
      throw new KeyError(
        "Cannot pop an item from the dict as it is empty (popitem(): dictionary is empty)",
      );
    }
    // Python pops the item inserted last.
    const [key, value] = [...s.v.entries()].at(-1)!;
    s.v.delete(key);
    return [key, value];
  }),
};

function missingKey(key: unknown, doing: string): KeyError {
  return new KeyError(
    `Cannot ${doing} key ${show(key)} of the dict as it is not there`,
  );
}

type ListState = Box<unknown[]>;

/** Python's `list` on the server. */
export const listOps = {
  append: asyncOp((s: ListState, _, value: unknown) => {
    s.v.push(value);
  }),
  /** Fire-and-forget `append`, for writers that pipeline. */
  appendNowait: notifyOp((s: ListState, _, value: unknown) => {
    s.v.push(value);
  }),
  extend: asyncOp((s: ListState, _, values: unknown[]) => {
    for (const value of values) s.v.push(value);
  }),
  get: asyncOp((s: ListState, _, index: number) =>
    s.v[position(index, s.v.length, "get")]
  ),
  set: asyncOp((s: ListState, _, index: number, value: unknown) => {
    s.v[position(index, s.v.length, "set")] = value;
  }),
  insert: asyncOp((s: ListState, _, index: number, value: unknown) => {
    const i = checkInteger(index, "an index");
    const n = s.v.length;
    const at = i < 0 ? Math.max(0, i + n) : Math.min(i, n);
    s.v.splice(at, 0, value);
  }),
  pop: asyncOp((s: ListState, _, index: number = -1) => {
    if (s.v.length === 0) {
      throw new IndexError(
        "Cannot pop from the list as it is empty (pop from empty list)",
      );
    }
    return s.v.splice(position(index, s.v.length, "pop"), 1)[0];
  }),
  delete: asyncOp((s: ListState, _, index: number) => {
    s.v.splice(position(index, s.v.length, "delete"), 1);
  }),
  remove: asyncOp((s: ListState, _, value: unknown) => {
    const at = s.v.findIndex((item) => pyEqual(item, value));
    if (at < 0) {
      throw new ValueError(
        `Cannot remove ${
          show(value)
        } from the list as it is not there (list.remove(x): x not in list)`,
      );
    }
    s.v.splice(at, 1);
  }),
  index: asyncOp(
    (s: ListState, _, value: unknown, start?: number, stop?: number) => {
      const [from, to] = sliceIndices(s.v.length, start, stop, 1);
      for (let i = from; i < to; i++) if (pyEqual(s.v[i], value)) return i;
      throw new ValueError(
        `Cannot find ${show(value)} in the list (${
          show(value)
        } is not in list)`,
      );
    },
  ),
  count: asyncOp((s: ListState, _, value: unknown) =>
    s.v.reduce<number>((n, item) => n + (pyEqual(item, value) ? 1 : 0), 0)
  ),
  length: asyncOp((s: ListState) => s.v.length),
  slice: asyncOp(
    (
      s: ListState,
      _,
      start?: number | null,
      stop?: number | null,
      step?: number | null,
    ) => {
      const [from, to, by] = sliceIndices(s.v.length, start, stop, step);
      const out: unknown[] = [];
      if (by > 0) { for (let i = from; i < to; i += by) out.push(s.v[i]); }
      else for (let i = from; i > to; i += by) out.push(s.v[i]);
      return out;
    },
  ),
  sort: asyncOp((s: ListState, _, reverse = false) => {
    // Sorted into a copy first: a failed comparison leaves the list as it was.
    const sorted = s.v.toSorted(pyCompare);
    if (reverse) {
      // Python's reverse sort is stable: equal items keep their order.
      const reversed = s.v.toReversed().toSorted(pyCompare).reverse();
      s.v.splice(0, s.v.length, ...reversed);
    } else s.v.splice(0, s.v.length, ...sorted);
  }),
  reverse: asyncOp((s: ListState) => {
    s.v.reverse();
  }),
  clear: asyncOp((s: ListState) => {
    s.v.length = 0;
  }),
  toArray: asyncOp((s: ListState) => s.v.slice()),
};

type NamespaceState = Box<Map<string, unknown>>;

/** Python's `Namespace` on the server. */
export const namespaceOps = {
  get: asyncOp((s: NamespaceState, _, name: string) => s.v.get(name)),
  set: asyncOp((s: NamespaceState, _, name: string, value: unknown) => {
    s.v.set(name, value);
  }),
  has: asyncOp((s: NamespaceState, _, name: string) => s.v.has(name)),
  delete: asyncOp((s: NamespaceState, _, name: string) => {
    if (!s.v.delete(name)) {
      throw new KeyError(
        `Cannot delete attribute ${
          show(name)
        } of the namespace as it is not there`,
      );
    }
  }),
  toObject: asyncOp((s: NamespaceState) => Object.fromEntries(s.v)),
};

/** Python's `Value` proxy on the server. */
export const valueOps = {
  get: asyncOp((s: Box<unknown>) => s.v),
  set: asyncOp((s: Box<unknown>, _, value: unknown) => {
    s.v = value;
  }),
};

/** What the server knows of a custom type's instance. */
export interface CustomState {
  v: Record<string, (...args: unknown[]) => unknown>;
  methods: ReadonlySet<string>;
  /** Rebuilds primitives in the arguments, reduces them in results. */
  call(method: string, args: unknown[]): Promise<unknown>;
}

/** A registered type's instance on the server: its public methods. */
export const customOps = {
  call: asyncOp((s: CustomState, _, method: string, args: unknown[]) => {
    if (typeof method !== "string" || !s.methods.has(method)) {
      throw new TypeError(
        `Cannot call ${
          show(method)
        } as ${s.v.constructor.name} has no such public method: it has ${
          [...s.methods].join(", ")
        }`,
      );
    }
    if (!Array.isArray(args)) {
      throw new TypeError(
        `Cannot call ${method} with ${show(args)}: arguments must be an array`,
      );
    }
    return s.call(method, args);
  }),
};

/** The server's own operations: creating objects, and stopping. */
export interface ControlState {
  create(typeid: string, args: unknown[]): unknown;
  stop(): void;
  /** Objects published by name, reduced, for clients that have only the address. */
  published: Map<string, unknown>;
}

export const controlOps = {
  create: blockingOp((s: ControlState, _, typeid: string, args: unknown[]) =>
    s.create(typeid, args)
  ),
  publish: asyncOp((s: ControlState, _, name: string, value: unknown) => {
    s.published.set(name, value);
  }),
  lookup: asyncOp((s: ControlState, _, name: string) => {
    if (!s.published.has(name)) {
      throw new KeyError(
        `Cannot look up ${
          show(name)
        } as the manager has published nothing under that name: it has ${
          [...s.published.keys()].map(show).join(", ") || "none"
        }`,
      );
    }
    return s.published.get(name);
  }),
  shutdown: notifyOp((s: ControlState) => s.stop()),
};

/** A kind whose state is the server's own JS data, created empty. */
function serverKind<S, C, O extends Record<string, AnyOp<S>>>(
  name: string,
  ops: O,
  open: () => S,
): Kind<S, C, O> {
  return { name, module: MANAGER_MODULE, ownerOnly: true, open, ops };
}

// The server fills the box as it creates the object.
const emptyBox = <S>() => ({ v: undefined }) as S;

export const dictKind = serverKind<DictState, null, typeof dictOps>(
  "manager.dict",
  dictOps,
  emptyBox,
);
export const listKind = serverKind<ListState, null, typeof listOps>(
  "manager.list",
  listOps,
  emptyBox,
);
export const namespaceKind = serverKind<
  NamespaceState,
  null,
  typeof namespaceOps
>("manager.namespace", namespaceOps, emptyBox);
export const valueKind = serverKind<Box<unknown>, null, typeof valueOps>(
  "manager.value",
  valueOps,
  emptyBox,
);

/** What every holder of a custom object knows: its type and methods. */
export interface CustomConfig {
  typeid: string;
  methods: string[];
}

export const customKind = serverKind<
  CustomState,
  CustomConfig,
  typeof customOps
>("manager.custom", customOps, () => ({}) as CustomState);

export const controlKind = serverKind<ControlState, null, typeof controlOps>(
  "manager.control",
  controlOps,
  () => ({}) as ControlState,
);

/** The public methods of a class: what its proxy offers. */
export function publicMethods(
  Class: new (...args: never[]) => unknown,
): string[] {
  const names = new Set<string>();
  for (
    let proto = Class.prototype;
    proto !== null && proto !== Object.prototype;
    proto = Object.getPrototypeOf(proto)
  ) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      if (name === "constructor" || name.startsWith("_")) continue;
      const descriptor = Object.getOwnPropertyDescriptor(proto, name)!;
      if (typeof descriptor.value === "function") names.add(name);
    }
  }
  return [...names];
}
