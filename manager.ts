// Copyright 2026 the @mp/multiprocessing authors. MIT license.
/**
 * Python's `multiprocessing.Manager`: a server process that owns shared
 * objects — dicts, lists, namespaces, values, locks, queues and your own
 * classes — and proxies that any process uses to operate on them. The
 * manager locks internally: every operation runs whole on the server, so
 * your code needs no lock of its own for one operation.
 *
 * The server runs in its own worker by default (a busy main thread does not
 * stall it), or in its own OS process with `startMethod: "subprocess"`.
 * Proxies are created synchronously, can be passed to any child (of either
 * start method, at any depth, or inside a queue item) and stay connected:
 * every process that holds a proxy talks to the server directly, at its
 * address, never through the process that created it. A proxy stored in a
 * managed object is still a live proxy when read back.
 *
 * Network managers (Python's `BaseManager(address, authkey)`):
 * {@linkcode Manager.serve} listens on TCP, {@linkcode Manager.connect}
 * reaches it from another program or host. Both sides prove they know the
 * `authkey` with an HMAC-SHA256 challenge before anything else is read, and
 * only structured-clone data crosses: nothing is ever evaluated from the
 * wire.
 *
 * @example A dict and a list shared with children
 * ```ts ignore
 * import { Manager, Process } from "@mp/multiprocessing";
 * import type { DictProxy, ListProxy } from "@mp/multiprocessing/manager";
 *
 * export async function work(d: DictProxy<number, number>, l: ListProxy<number>, i: number) {
 *   await d.set(i, i * i);
 *   await l.append(i);
 * }
 *
 * if (import.meta.main) {
 *   await using manager = await Manager.start();
 *   const d = manager.dict<number, number>();
 *   const l = manager.list<number>();
 *   const children = [1, 2, 3].map((i) => new Process({ target: work, args: [d, l, i] }));
 *   for (const child of children) child.start();
 *   for (const child of children) await child.join();
 *   console.log(await d.toMap(), (await l.toArray()).sort());
 * }
 * ```
 *
 * @module
 */
import {
  closeDirectLink,
  DEFAULT_FRAME_LIMIT,
  type DirectAddress,
  directLink,
  probeDirect,
} from "./_direct.ts";
import {
  type Box,
  controlKind,
  type ControlState,
  type CustomConfig,
  customKind,
  type CustomState,
  dictKind,
  listKind,
  namespaceKind,
  proxyMakers,
  show,
  valueKind,
} from "./_manager_ops.ts";
import {
  serveManager,
  type ServerReady,
  type TypeEntry,
} from "./_manager_server.ts";
import { rebuild, rebuildSync, reduce } from "./_reduce.ts";
import { getDefaultModule, type StartMethod } from "./_runtime.ts";
import {
  adopted,
  adopter,
  type Descriptor,
  type Kind,
  Shared,
} from "./_shared.ts";
import { ProcessError } from "./errors.ts";
import type {
  Barrier,
  BoundedSemaphore,
  Condition,
  Event,
  Lock,
  RLock,
  Semaphore,
} from "./lock.ts";
import { Process } from "./process.ts";
import { certainlyNotExported, checkNotImporting } from "./_target.ts";
import { checkStartPermissions, childHandles } from "./_backend.ts";
import { type JoinableQueue, Queue } from "./queue.ts";
// Loaded for the classes the server's descriptors name.
import "./lock.ts";

// deno-lint-ignore no-explicit-any
type AnyShared = Shared<any, any, any>;

/**
 * A key of a {@linkcode DictProxy}: a value a Map tells apart by value, so
 * that a key sent from another process finds its entry.
 */
export type DictKey = string | number | bigint | boolean | null | undefined;

/** Prepares a value for the server, naming where it cannot be cloned. */
function pack(value: unknown, where: string): unknown {
  return reduce(value, "subprocess", where).value;
}

/** Rebuilds proxies and primitives in what the server answered. */
async function unpack<T>(result: Promise<unknown>): Promise<T> {
  const value = await result;
  if (typeof value !== "object" || value === null) return value as T;
  return await rebuild(value) as T;
}

function checkKey(key: unknown, method: string): DictKey {
  const type = typeof key;
  if (
    type === "string" || type === "number" || type === "bigint" ||
    type === "boolean" || key === null || key === undefined
  ) {
    return key as DictKey;
  }
  throw new TypeError(
    `Cannot use ${
      type === "object" ? `an ${key!.constructor?.name ?? "object"}` : type
    } as the key of ${method}(): keys of a managed dict are strings, numbers, bigints, booleans, null or undefined`,
  );
}

function sharedOf(proxy: object): AnyShared {
  return (proxy as { [SHARED]: AnyShared })[SHARED];
}

const SHARED = Symbol("shared");

function adoptShared(name: string): AnyShared {
  const shared = adopted<AnyShared>();
  if (shared === null) {
    throw new TypeError(
      `Cannot construct a ${name} directly: create one with a Manager (manager.dict(), manager.list(), …)`,
    );
  }
  return shared;
}

/**
 * A proxy of a dict on the manager's server (Python's `DictProxy`). Keys are
 * primitives (strings, numbers, bigints, booleans, `null`, `undefined`);
 * values are anything structured clone carries, including other proxies.
 * Every method resolves once the server has applied it.
 *
 * @typeParam K The keys' type.
 * @typeParam V The values' type.
 *
 * @example Count words from any process
 * ```ts ignore
 * import { Manager } from "@mp/multiprocessing/manager";
 *
 * await using manager = await Manager.start();
 * const d = manager.dict<string, number>();
 * await d.set("a", 1);
 * console.log(await d.get("a"), await d.size()); // 1 1
 * ```
 */
export class DictProxy<K extends DictKey = DictKey, V = unknown> {
  #shared: Shared<Box<Map<DictKey, unknown>>, null, typeof dictKind.ops>;

  /**
   * Not for direct use: a proxy comes from {@linkcode Manager.prototype.dict}.
   *
   * @throws {TypeError} Always, when called directly.
   */
  constructor() {
    this.#shared = adoptShared("DictProxy");
  }

  /** @internal */
  get [SHARED](): AnyShared {
    return this.#shared;
  }

  /**
   * The value of `key`, or `fallback` when it is missing (Python's
   * `d.get(key, default)`).
   *
   * @param key The key.
   * @param fallback What to answer for a missing key.
   * @returns The value.
   * @throws {TypeError} When `key` is not a primitive.
   *
   * @example Usage
   * ```ts ignore
   * console.log(await d.get("missing", 0)); // 0
   * ```
   */
  get(key: K, fallback?: V): Promise<V | undefined> {
    return unpack(this.#shared.run("get", [
      checkKey(key, "get"),
      pack(fallback, "the fallback of get()"),
    ]));
  }

  /**
   * The value of `key` (Python's `d[key]`).
   *
   * @param key The key.
   * @returns The value.
   * @throws {KeyError} When `key` is missing.
   *
   * @example Usage
   * ```ts ignore
   * await d.set("a", 1);
   * console.log(await d.item("a")); // 1
   * ```
   */
  item(key: K): Promise<V> {
    return unpack(this.#shared.run("item", [checkKey(key, "item")]));
  }

  /**
   * Sets `key` to `value` (Python's `d[key] = value`).
   *
   * @param key The key.
   * @param value The value, cloned; proxies stay proxies.
   * @returns Once the server has stored it.
   * @throws {TypeError} When `key` is not a primitive or `value` cannot be
   * cloned (naming where); nothing is sent.
   *
   * @example Usage
   * ```ts ignore
   * await d.set("a", 1);
   * ```
   */
  set(key: K, value: V): Promise<void> {
    return this.#shared.run("set", [
      checkKey(key, "set"),
      pack(value, `the value of set(${show(key)})`),
    ]) as Promise<void>;
  }

  /**
   * Whether `key` is present (Python's `key in d`).
   *
   * @param key The key.
   * @returns Whether it is there.
   *
   * @example Usage
   * ```ts ignore
   * console.log(await d.has("a"));
   * ```
   */
  has(key: K): Promise<boolean> {
    return this.#shared.run("has", [checkKey(key, "has")]) as Promise<
      boolean
    >;
  }

  /**
   * Removes `key` (Python's `del d[key]`).
   *
   * @param key The key.
   * @returns Once removed.
   * @throws {KeyError} When `key` is missing.
   *
   * @example Usage
   * ```ts ignore
   * await d.delete("a");
   * ```
   */
  delete(key: K): Promise<void> {
    return this.#shared.run("delete", [checkKey(key, "delete")]) as Promise<
      void
    >;
  }

  /**
   * The keys, in insertion order.
   *
   * @returns A snapshot of the keys.
   *
   * @example Usage
   * ```ts ignore
   * console.log(await d.keys());
   * ```
   */
  keys(): Promise<K[]> {
    return this.#shared.run("keys", []) as Promise<K[]>;
  }

  /**
   * The values, in insertion order of their keys.
   *
   * @returns A snapshot of the values.
   *
   * @example Usage
   * ```ts ignore
   * console.log(await d.values());
   * ```
   */
  values(): Promise<V[]> {
    return unpack(this.#shared.run("values", []));
  }

  /**
   * The `[key, value]` pairs, in insertion order (Python's `d.items()`).
   *
   * @returns A snapshot of the entries.
   *
   * @example Usage
   * ```ts ignore
   * for (const [key, value] of await d.entries()) console.log(key, value);
   * ```
   */
  entries(): Promise<[K, V][]> {
    return unpack(this.#shared.run("entries", []));
  }

  /**
   * How many keys there are (Python's `len(d)`).
   *
   * @returns The count.
   *
   * @example Usage
   * ```ts ignore
   * console.log(await d.size());
   * ```
   */
  size(): Promise<number> {
    return this.#shared.run("size", []) as Promise<number>;
  }

  /**
   * Removes every key.
   *
   * @returns Once cleared.
   *
   * @example Usage
   * ```ts ignore
   * await d.clear();
   * ```
   */
  clear(): Promise<void> {
    return this.#shared.run("clear", []) as Promise<void>;
  }

  /**
   * Sets every pair of `other`, in one operation (Python's `d.update()`).
   *
   * @param other A Map, an iterable of pairs, or a plain object.
   * @returns Once all are set.
   * @throws {TypeError} When a key is not a primitive or a value cannot be
   * cloned; nothing is set.
   *
   * @example Usage
   * ```ts ignore
   * await d.update({ a: 1, b: 2 });
   * ```
   */
  update(
    other: Iterable<readonly [K, V]> | Record<string, V>,
  ): Promise<void> {
    const pairs = Symbol.iterator in Object(other)
      ? [...other as Iterable<readonly [K, V]>]
      : Object.entries(other);
    const entries = pairs.map(([key, value]) => [
      checkKey(key, "update"),
      value,
    ]);
    return this.#shared.run("update", [
      pack(entries, "the pairs of update()") as [DictKey, unknown][],
    ]) as Promise<void>;
  }

  /**
   * The value of `key`, first setting it to `value` when missing (Python's
   * `d.setdefault()`).
   *
   * @param key The key.
   * @param value What to set when missing.
   * @returns The value now stored.
   *
   * @example Usage
   * ```ts ignore
   * console.log(await d.setDefault("n", 0)); // 0
   * ```
   */
  setDefault(key: K, value: V): Promise<V> {
    return unpack(this.#shared.run("setDefault", [
      checkKey(key, "setDefault"),
      pack(value, `the value of setDefault(${show(key)})`),
    ]));
  }

  /**
   * Removes `key` and answers its value (Python's `d.pop(key[, default])`).
   *
   * @param key The key.
   * @param fallback What to answer for a missing key; without it, a
   * missing key rejects.
   * @returns The value removed, or `fallback`.
   * @throws {KeyError} When `key` is missing and no fallback is given.
   *
   * @example Usage
   * ```ts ignore
   * console.log(await d.pop("a", -1));
   * ```
   */
  pop(key: K, ...fallback: [] | [V]): Promise<V> {
    return unpack(this.#shared.run("pop", [
      checkKey(key, "pop"),
      ...fallback.map((value) => pack(value, "the fallback of pop()")),
    ]));
  }

  /**
   * Removes and answers the pair inserted last (Python's `d.popitem()`).
   *
   * @returns The pair.
   * @throws {KeyError} When the dict is empty.
   *
   * @example Usage
   * ```ts ignore
   * const [key, value] = await d.popItem();
   * ```
   */
  popItem(): Promise<[K, V]> {
    return unpack(this.#shared.run("popItem", []));
  }

  /**
   * A copy as a plain object (keys as strings, as `Object.fromEntries`).
   *
   * @returns The copy.
   *
   * @example Usage
   * ```ts ignore
   * console.log(await d.toObject()); // { a: 1 }
   * ```
   */
  async toObject(): Promise<Record<string, V>> {
    return Object.fromEntries(await this.entries());
  }

  /**
   * A copy as a Map.
   *
   * @returns The copy.
   *
   * @example Usage
   * ```ts ignore
   * console.log(await d.toMap()); // Map(1) { "a" => 1 }
   * ```
   */
  async toMap(): Promise<Map<K, V>> {
    return new Map(await this.entries());
  }
}

/** Options of {@linkcode ListProxy.prototype.sort}. */
export interface SortOptions {
  /**
   * Sorts in descending order; equal items keep their order.
   *
   * @default {false}
   */
  reverse?: boolean;
}

/**
 * A proxy of a list on the manager's server (Python's `ListProxy`), with
 * Python's indexes: negative ones count from the end, and one out of range
 * rejects with an `IndexError` that names it. Every method resolves once the
 * server has applied it.
 *
 * @typeParam T The items' type.
 *
 * @example Append from anywhere
 * ```ts ignore
 * import { Manager } from "@mp/multiprocessing/manager";
 *
 * await using manager = await Manager.start();
 * const l = manager.list([3, 1, 2]);
 * await l.sort();
 * console.log(await l.get(-1), await l.toArray()); // 3 [ 1, 2, 3 ]
 * ```
 */
export class ListProxy<T = unknown> {
  #shared: Shared<Box<unknown[]>, null, typeof listKind.ops>;

  /**
   * Not for direct use: a proxy comes from {@linkcode Manager.prototype.list}.
   *
   * @throws {TypeError} Always, when called directly.
   */
  constructor() {
    this.#shared = adoptShared("ListProxy");
  }

  /** @internal */
  get [SHARED](): AnyShared {
    return this.#shared;
  }

  /**
   * Adds `value` at the end.
   *
   * @param value The item, cloned; proxies stay proxies.
   * @returns Once stored.
   * @throws {TypeError} When `value` cannot be cloned; nothing is sent.
   *
   * @example Usage
   * ```ts ignore
   * await l.append(4);
   * ```
   */
  append(value: T): Promise<void> {
    return this.#shared.run("append", [
      pack(value, "the value of append()"),
    ]) as Promise<void>;
  }

  /**
   * Adds every item of `values` at the end, in one operation.
   *
   * @param values The items.
   * @returns Once stored.
   *
   * @example Usage
   * ```ts ignore
   * await l.extend([5, 6]);
   * ```
   */
  extend(values: Iterable<T>): Promise<void> {
    return this.#shared.run("extend", [
      pack([...values], "the values of extend()") as unknown[],
    ]) as Promise<void>;
  }

  /**
   * The item at `index` (Python's `l[index]`).
   *
   * @param index An integer; negative counts from the end.
   * @returns The item.
   * @throws {IndexError} When `index` is out of range.
   * @throws {TypeError} When `index` is not an integer.
   *
   * @example Usage
   * ```ts ignore
   * console.log(await l.get(-1));
   * ```
   */
  get(index: number): Promise<T> {
    return unpack(this.#shared.run("get", [index]));
  }

  /**
   * Replaces the item at `index` (Python's `l[index] = value`).
   *
   * @param index An integer; negative counts from the end.
   * @param value The new item.
   * @returns Once stored.
   * @throws {IndexError} When `index` is out of range.
   *
   * @example Usage
   * ```ts ignore
   * await l.set(0, 10);
   * ```
   */
  set(index: number, value: T): Promise<void> {
    return this.#shared.run("set", [
      index,
      pack(value, `the value of set(${index})`),
    ]) as Promise<void>;
  }

  /**
   * Inserts `value` before `index` (clamped to the list, as Python does).
   *
   * @param index Where; negative counts from the end.
   * @param value The item.
   * @returns Once stored.
   *
   * @example Usage
   * ```ts ignore
   * await l.insert(0, -1);
   * ```
   */
  insert(index: number, value: T): Promise<void> {
    return this.#shared.run("insert", [
      index,
      pack(value, `the value of insert(${index})`),
    ]) as Promise<void>;
  }

  /**
   * Removes and answers the item at `index`.
   *
   * @param index An integer; negative counts from the end.
   * @returns The item.
   * @default {-1} for `index`
   * @throws {IndexError} When the list is empty or `index` out of range.
   *
   * @example Usage
   * ```ts ignore
   * console.log(await l.pop());
   * ```
   */
  pop(index = -1): Promise<T> {
    return unpack(this.#shared.run("pop", [index]));
  }

  /**
   * Removes the item at `index` (Python's `del l[index]`).
   *
   * @param index An integer; negative counts from the end.
   * @returns Once removed.
   * @throws {IndexError} When `index` is out of range.
   *
   * @example Usage
   * ```ts ignore
   * await l.delete(0);
   * ```
   */
  delete(index: number): Promise<void> {
    return this.#shared.run("delete", [index]) as Promise<void>;
  }

  /**
   * Removes the first item equal to `value` (by value, as Python's `==`).
   *
   * @param value The item to remove.
   * @returns Once removed.
   * @throws {ValueError} When no item equals it.
   *
   * @example Usage
   * ```ts ignore
   * await l.remove(3);
   * ```
   */
  remove(value: T): Promise<void> {
    return this.#shared.run("remove", [
      pack(value, "the value of remove()"),
    ]) as Promise<void>;
  }

  /**
   * The index of the first item equal to `value` in `[start, stop)`.
   *
   * @param value The item to find.
   * @param start Where to start; negative counts from the end.
   * @param stop Where to stop.
   * @returns Its index.
   * @throws {ValueError} When no item equals it.
   *
   * @example Usage
   * ```ts ignore
   * console.log(await l.index(3));
   * ```
   */
  index(value: T, start?: number, stop?: number): Promise<number> {
    return this.#shared.run("index", [
      pack(value, "the value of index()"),
      start,
      stop,
    ]) as Promise<number>;
  }

  /**
   * How many items equal `value`.
   *
   * @param value The item to count.
   * @returns The count.
   *
   * @example Usage
   * ```ts ignore
   * console.log(await l.count(3));
   * ```
   */
  count(value: T): Promise<number> {
    return this.#shared.run("count", [
      pack(value, "the value of count()"),
    ]) as Promise<number>;
  }

  /**
   * How many items there are (Python's `len(l)`).
   *
   * @returns The length.
   *
   * @example Usage
   * ```ts ignore
   * console.log(await l.length());
   * ```
   */
  length(): Promise<number> {
    return this.#shared.run("length", []) as Promise<number>;
  }

  /**
   * A copy of `l[start:stop:step]`, with Python's slice rules.
   *
   * @param start The first index; `undefined` or `null` for the edge.
   * @param stop The index to stop before.
   * @param step The stride; negative walks backwards.
   * @returns The items.
   * @throws {ValueError} When `step` is 0.
   *
   * @example Usage
   * ```ts ignore
   * console.log(await l.slice(null, null, -1)); // reversed copy
   * ```
   */
  slice(
    start?: number | null,
    stop?: number | null,
    step?: number | null,
  ): Promise<T[]> {
    return unpack(this.#shared.run("slice", [start, stop, step]));
  }

  /**
   * Sorts in place in Python's default order: numbers by value, strings by
   * code point, arrays element by element.
   *
   * @param options Whether to reverse.
   * @returns Once sorted.
   * @throws {TypeError} When two items cannot be ordered (a number and a
   * string); the list is left as it was.
   *
   * @example Usage
   * ```ts ignore
   * await l.sort({ reverse: true });
   * ```
   */
  sort(options: SortOptions = {}): Promise<void> {
    return this.#shared.run("sort", [options.reverse === true]) as Promise<
      void
    >;
  }

  /**
   * Reverses in place.
   *
   * @returns Once reversed.
   *
   * @example Usage
   * ```ts ignore
   * await l.reverse();
   * ```
   */
  reverse(): Promise<void> {
    return this.#shared.run("reverse", []) as Promise<void>;
  }

  /**
   * Removes every item.
   *
   * @returns Once cleared.
   *
   * @example Usage
   * ```ts ignore
   * await l.clear();
   * ```
   */
  clear(): Promise<void> {
    return this.#shared.run("clear", []) as Promise<void>;
  }

  /**
   * A copy of the whole list.
   *
   * @returns The items.
   *
   * @example Usage
   * ```ts ignore
   * console.log(await l.toArray());
   * ```
   */
  toArray(): Promise<T[]> {
    return unpack(this.#shared.run("toArray", []));
  }
}

/**
 * A proxy of a namespace on the manager's server (Python's `Namespace`):
 * named values, read and written one at a time.
 *
 * @example Usage
 * ```ts ignore
 * import { Manager } from "@mp/multiprocessing/manager";
 *
 * await using manager = await Manager.start();
 * const ns = manager.namespace();
 * await ns.set("x", 1);
 * console.log(await ns.get("x"), await ns.toObject()); // 1 { x: 1 }
 * ```
 */
export class NamespaceProxy {
  #shared: Shared<Box<Map<string, unknown>>, null, typeof namespaceKind.ops>;

  /**
   * Not for direct use: a proxy comes from
   * {@linkcode Manager.prototype.namespace}.
   *
   * @throws {TypeError} Always, when called directly.
   */
  constructor() {
    this.#shared = adoptShared("NamespaceProxy");
  }

  /** @internal */
  get [SHARED](): AnyShared {
    return this.#shared;
  }

  /**
   * The value of attribute `name` (Python's `ns.name`).
   *
   * @param name The attribute.
   * @returns Its value; `undefined` when it is not set.
   *
   * @example Usage
   * ```ts ignore
   * console.log(await ns.get("x"));
   * ```
   */
  get<T = unknown>(name: string): Promise<T> {
    return unpack(this.#shared.run("get", [checkName(name)]));
  }

  /**
   * Sets attribute `name` (Python's `ns.name = value`).
   *
   * @param name The attribute.
   * @param value Its value, cloned.
   * @returns Once stored.
   * @throws {TypeError} When `value` cannot be cloned.
   *
   * @example Usage
   * ```ts ignore
   * await ns.set("x", 1);
   * ```
   */
  set(name: string, value: unknown): Promise<void> {
    return this.#shared.run("set", [
      checkName(name),
      pack(value, `the value of set(${show(name)})`),
    ]) as Promise<void>;
  }

  /**
   * Whether attribute `name` is set.
   *
   * @param name The attribute.
   * @returns Whether it is set.
   *
   * @example Usage
   * ```ts ignore
   * console.log(await ns.has("x"));
   * ```
   */
  has(name: string): Promise<boolean> {
    return this.#shared.run("has", [checkName(name)]) as Promise<boolean>;
  }

  /**
   * Removes attribute `name` (Python's `del ns.name`).
   *
   * @param name The attribute.
   * @returns Once removed.
   * @throws {KeyError} When it is not set.
   *
   * @example Usage
   * ```ts ignore
   * await ns.delete("x");
   * ```
   */
  delete(name: string): Promise<void> {
    return this.#shared.run("delete", [checkName(name)]) as Promise<void>;
  }

  /**
   * A copy of every attribute.
   *
   * @returns A plain object.
   *
   * @example Usage
   * ```ts ignore
   * console.log(await ns.toObject());
   * ```
   */
  toObject(): Promise<Record<string, unknown>> {
    return unpack(this.#shared.run("toObject", []));
  }
}

function checkName(name: unknown): string {
  if (typeof name !== "string") {
    throw new TypeError(
      `Cannot use ${show(name)} as an attribute name: names are strings`,
    );
  }
  return name;
}

/**
 * A proxy of one value on the manager's server (Python's `manager.Value`).
 *
 * @typeParam T The value's type.
 *
 * @example Usage
 * ```ts ignore
 * import { Manager } from "@mp/multiprocessing/manager";
 *
 * await using manager = await Manager.start();
 * const v = manager.value(0);
 * await v.set((await v.get()) + 1);
 * ```
 */
export class ValueProxy<T = unknown> {
  #shared: Shared<Box<unknown>, null, typeof valueKind.ops>;

  /**
   * Not for direct use: a proxy comes from {@linkcode Manager.prototype.value}.
   *
   * @throws {TypeError} Always, when called directly.
   */
  constructor() {
    this.#shared = adoptShared("ValueProxy");
  }

  /** @internal */
  get [SHARED](): AnyShared {
    return this.#shared;
  }

  /**
   * The value.
   *
   * @returns A copy of it.
   *
   * @example Usage
   * ```ts ignore
   * console.log(await v.get());
   * ```
   */
  get(): Promise<T> {
    return unpack(this.#shared.run("get", []));
  }

  /**
   * Replaces the value.
   *
   * @param value The new value, cloned.
   * @returns Once stored.
   * @throws {TypeError} When `value` cannot be cloned.
   *
   * @example Usage
   * ```ts ignore
   * await v.set(2);
   * ```
   */
  set(value: T): Promise<void> {
    return this.#shared.run("set", [
      pack(value, "the value of set()"),
    ]) as Promise<void>;
  }
}

/**
 * The proxy of an object of a registered type: each public method of the
 * class, as an awaited call on the server.
 *
 * @typeParam T The class's instance type.
 */
export type Proxied<T> = {
  [K in keyof T as T[K] extends (...args: never[]) => unknown ? K : never]:
    T[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<
        Awaited<R>
      >
      : never;
};

/**
 * A proxy of an object of a type registered with
 * {@linkcode Manager.register}: it has one method for each public method of
 * the class (those not starting with `_`), each an awaited call on the
 * server. {@linkcode Manager.prototype.create} types it as
 * {@linkcode Proxied}.
 *
 * @example Usage
 * ```ts ignore
 * const counter = manager.create<Counter>("Counter", 0);
 * console.log(await counter.increment());
 * ```
 */
export class ObjectProxy {
  #shared: Shared<CustomState, CustomConfig, typeof customKind.ops>;

  /**
   * Not for direct use: a proxy comes from
   * {@linkcode Manager.prototype.create}.
   *
   * @throws {TypeError} Always, when called directly.
   */
  constructor() {
    const shared = adoptShared("ObjectProxy") as Shared<
      CustomState,
      CustomConfig,
      typeof customKind.ops
    >;
    this.#shared = shared;
    for (const method of shared.config.methods) {
      Object.defineProperty(this, method, {
        value: (...args: unknown[]) =>
          unpack(shared.run("call", [
            method,
            pack(args, `the arguments of ${method}()`) as unknown[],
          ])),
        enumerable: false,
      });
    }
  }

  /** @internal */
  get [SHARED](): AnyShared {
    return this.#shared;
  }

  /**
   * The type's name, as registered.
   *
   * @returns The typeid.
   *
   * @example Usage
   * ```ts ignore
   * console.log(proxy.typeid); // "Counter"
   * ```
   */
  get typeid(): string {
    return this.#shared.config.typeid;
  }

  /**
   * Calls method `method` by name, for a method the type does not declare.
   *
   * @param method The method's name.
   * @param args Its arguments.
   * @returns What it returned.
   * @throws {TypeError} When the type has no such public method.
   *
   * @example Usage
   * ```ts ignore
   * await proxy.callMethod("increment", [1]);
   * ```
   */
  callMethod(method: string, args: unknown[] = []): Promise<unknown> {
    return unpack(this.#shared.run("call", [
      method,
      pack(args, `the arguments of ${method}()`) as unknown[],
    ]));
  }
}

proxyMakers.set(dictKind.name, () => new DictProxy());
proxyMakers.set(listKind.name, () => new ListProxy());
proxyMakers.set(namespaceKind.name, () => new NamespaceProxy());
proxyMakers.set(valueKind.name, () => new ValueProxy());
proxyMakers.set(customKind.name, () => new ObjectProxy());

for (
  const [kind, Class] of [
    [dictKind, DictProxy],
    [listKind, ListProxy],
    [namespaceKind, NamespaceProxy],
    [valueKind, ValueProxy],
    [customKind, ObjectProxy],
  ] as const
) {
  Shared.register(
    kind as Kind<unknown, unknown, never>,
    Class as unknown as abstract new () => object,
    (proxy) => sharedOf(proxy),
    { wrap: adopter(proxyMakers.get(kind.name)!) },
  );
}

/** How a manager's server is started. */
export interface ManagerOptions {
  /**
   * Where the server runs: its own worker, or its own OS process.
   *
   * @default {"worker"}
   */
  startMethod?: StartMethod;
  /**
   * How long {@linkcode Manager.prototype.start} waits for the server, in
   * milliseconds.
   *
   * @default {30000}
   */
  timeout?: number;
  /**
   * The largest operation, in bytes, a client may send; the server refuses
   * a larger frame instead of allocating for it.
   *
   * @default {67108864}
   */
  maxFrameBytes?: number;
}

/** Where a network manager listens, and its key. */
export interface ServeOptions extends ManagerOptions {
  /**
   * The address to listen on.
   *
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /**
   * The TCP port; 0 picks a free one (see {@linkcode Manager.prototype.address}).
   *
   * @default {0}
   */
  port?: number;
  /** The key every client must prove it knows. */
  authkey: string | Uint8Array;
}

/** Where a network manager is, and its key. */
export interface ConnectOptions {
  /**
   * The server's host.
   *
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /** The server's TCP port. */
  port: number;
  /** The key the server was started with. */
  authkey: string | Uint8Array;
}

/** Options of {@linkcode Manager.register}. */
export interface RegisterOptions {
  /**
   * The URL of the module that exports the class.
   *
   * @default {Deno.mainModule}
   */
  module?: string | URL;
}

/** Options of {@linkcode Manager.prototype.queue}. */
export interface ManagedQueueOptions {
  /**
   * The most items the queue holds; ≤ 0 for no bound.
   *
   * @default {0}
   */
  maxsize?: number;
}

/** Options of {@linkcode Manager.prototype.barrier}. */
export interface ManagedBarrierOptions {
  /**
   * The default timeout of `wait()`, in milliseconds.
   *
   * @default {undefined}
   */
  timeout?: number;
}

interface Registered {
  Class: abstract new (...args: never[]) => unknown;
  module: string;
}

const registry = new Map<string, Registered>();

function keyBytes(authkey: unknown): Uint8Array {
  if (typeof authkey === "string") return new TextEncoder().encode(authkey);
  if (authkey instanceof Uint8Array) return authkey.slice();
  throw new TypeError(
    `Cannot use ${show(authkey)} as an authkey: pass a string or a Uint8Array`,
  );
}

function checkStartMethod(method: unknown): StartMethod {
  if (method === "worker" || method === "subprocess") return method;
  throw new TypeError(
    `Cannot start a manager with start method ${
      show(method)
    }: use "worker" or "subprocess"`,
  );
}

/**
 * A manager (Python's `multiprocessing.Manager()` and `BaseManager`): a
 * server that owns shared objects, and the factory of their proxies.
 * Create one with {@linkcode Manager.start}, {@linkcode Manager.serve} (a
 * network manager) or {@linkcode Manager.connect} (a client of one), and
 * shut it down with `await using` or {@linkcode Manager.prototype.shutdown}.
 * A local server does not hold the program, only calls waiting for its
 * answers do: a program that forgets to shut it down ends once its last
 * call is answered, and the server ends with it. A network server
 * ({@linkcode Manager.serve}) serves other programs too, so it keeps the
 * program running until it is shut down.
 *
 * Objects live until the manager shuts down. A proxy used after that
 * rejects at once; if the server dies, every pending and later call rejects
 * with a `ProcessError` that says so. A client process that dies does not
 * disturb the server: a managed lock it held is released for the others,
 * as for the local lock family.
 *
 * @example Start, use, shut down
 * ```ts ignore
 * import { Manager } from "@mp/multiprocessing/manager";
 *
 * await using manager = await Manager.start();
 * const d = manager.dict<string, number>();
 * await d.set("x", 1);
 * console.log(await d.toObject()); // { x: 1 }
 * ```
 */
export class Manager implements AsyncDisposable {
  #options: ManagerOptions;
  #listen:
    | { transport: "unix" }
    | { transport: "tcp"; hostname: string; port: number; authkey: Uint8Array };
  // deno-lint-ignore no-explicit-any
  #process: Process<any> | null = null;
  #control: Shared<ControlState, null, typeof controlKind.ops> | null = null;
  #address: DirectAddress | null = null;
  #serverPid: number | null = null;
  #state: "new" | "starting" | "running" | "shut" = "new";
  #connected = false;

  /**
   * Describes a manager; its server starts with
   * {@linkcode Manager.prototype.start}.
   *
   * @param options How the server runs.
   * @throws {TypeError} When `startMethod` is unknown.
   */
  constructor(options: ManagerOptions = {}) {
    this.#options = { ...options };
    checkStartMethod(options.startMethod ?? "worker");
    this.#listen = { transport: "unix" };
  }

  /**
   * Starts a manager's server and resolves once it serves.
   *
   * @param options How the server runs.
   * @returns The started manager.
   * @throws {ProcessError} When the server fails to start.
   *
   * @example Usage
   * ```ts ignore
   * await using manager = await Manager.start({ startMethod: "subprocess" });
   * ```
   */
  static async start(options: ManagerOptions = {}): Promise<Manager> {
    const manager = new Manager(options);
    await manager.start();
    return manager;
  }

  /**
   * Starts a network manager: its server listens on TCP and accepts any
   * client that proves it knows `authkey` (Python's
   * `BaseManager(address, authkey).start()`).
   *
   * @param options Where to listen, and the key.
   * @returns The started manager; {@linkcode Manager.prototype.address}
   * tells the port.
   * @throws {TypeError} When `authkey` is missing or empty.
   *
   * @example Usage
   * ```ts ignore
   * await using manager = await Manager.serve({ port: 0, authkey: "secret" });
   * console.log(manager.address);
   * ```
   */
  static async serve(options: ServeOptions): Promise<Manager> {
    const authkey = keyBytes(options?.authkey);
    if (authkey.length === 0) {
      throw new TypeError(
        "Cannot serve a network manager with an empty authkey: every client proves it knows the key",
      );
    }
    const manager = new Manager(options);
    manager.#listen = {
      transport: "tcp",
      hostname: options.hostname ?? "127.0.0.1",
      port: options.port ?? 0,
      authkey,
    };
    await manager.start();
    return manager;
  }

  /**
   * Connects to a network manager's server (Python's
   * `BaseManager(address, authkey).connect()`). Objects it creates live on
   * that server; {@linkcode Manager.prototype.lookup} finds those the
   * server published, and {@linkcode Manager.prototype.shutdown} leaves the
   * server running.
   *
   * @param options Where the server is, and its key.
   * @returns The connected manager.
   * @throws {AuthenticationError} When the key is wrong (on either side).
   * @throws {ProcessError} When the server cannot be reached.
   *
   * @example Usage
   * ```ts ignore
   * const manager = await Manager.connect({ port: 50000, authkey: "secret" });
   * ```
   */
  static async connect(options: ConnectOptions): Promise<Manager> {
    const authkey = keyBytes(options?.authkey);
    if (!Number.isInteger(options.port)) {
      throw new TypeError(
        `Cannot connect to port ${
          show(options.port)
        }: pass the server's TCP port`,
      );
    }
    const address: DirectAddress = {
      transport: "tcp",
      hostname: options.hostname ?? "127.0.0.1",
      port: options.port,
      authkey,
      limit: DEFAULT_FRAME_LIMIT,
    };
    const root = await probeDirect(address) as { owner: number; id: number };
    const manager = new Manager();
    manager.#connected = true;
    manager.#adopt({ ...root, config: null, address }, root.owner);
    return manager;
  }

  /**
   * Registers a class whose instances managers create on their servers
   * (Python's `BaseManager.register(typeid, callable)`). The class must be
   * exported from `module`: the server imports it and finds it by export
   * name, so no code crosses. Register before `start()`.
   *
   * @param typeid The name {@linkcode Manager.prototype.create} takes.
   * @param Class The exported class.
   * @param options Which module exports it.
   * @throws {TypeError} When `Class` is not a class or `typeid` is taken
   * by a built-in type.
   *
   * @example Usage
   * ```ts ignore
   * export class Counter {
   *   #n = 0;
   *   increment() { return ++this.#n; }
   * }
   * Manager.register("Counter", Counter, { module: import.meta.url });
   * ```
   */
  static register(
    typeid: string,
    Class: abstract new (...args: never[]) => unknown,
    options: RegisterOptions = {},
  ): void {
    if (typeof typeid !== "string" || typeid === "") {
      throw new TypeError(
        `Cannot register type ${show(typeid)}: a typeid is a non-empty string`,
      );
    }
    if (typeof Class !== "function") {
      throw new TypeError(
        `Cannot register ${show(typeid)} as ${show(Class)} is not a class`,
      );
    }
    if (BUILTIN_TYPES.has(typeid)) {
      throw new TypeError(
        `Cannot register ${show(typeid)} as it names a built-in managed type`,
      );
    }
    const module = String(options.module ?? getDefaultModule());
    registry.set(typeid, { Class, module });
  }

  /**
   * Starts the server and resolves once it serves.
   *
   * @returns Once started.
   * @throws {Error} When already started.
   * @throws {TypeError} When a registered class is not exported from its
   * module.
   * @throws {ProcessError} When the server fails to start in time.
   *
   * @example Usage
   * ```ts ignore
   * const manager = new Manager();
   * await manager.start();
   * ```
   */
  async start(): Promise<void> {
    if (this.#state !== "new") {
      throw new Error(
        `Cannot start the manager as it is ${this.#state} already`,
      );
    }
    checkNotImporting("a manager");
    const startMethod = checkStartMethod(this.#options.startMethod ?? "worker");
    checkStartPermissions(
      startMethod,
      "the manager's server",
      this.#listen.transport === "unix",
    );
    this.#state = "starting";
    const types: TypeEntry[] = [];
    for (const [typeid, { Class, module }] of registry) {
      const exportName = await exportNameOf(Class, module);
      if (exportName === undefined) {
        this.#state = "new";
        throw new TypeError(
          `Cannot register ${
            show(typeid)
          } as class ${Class.name} is not exported from ${module}: export it, or pass the module that exports it as \`module\``,
        );
      }
      types.push({ typeid, module, exportName });
    }
    const ready = new Queue<ServerReady>();
    const process = new Process({
      target: serveManager,
      args: [ready, {
        listen: this.#listen,
        limit: this.#options.maxFrameBytes ?? DEFAULT_FRAME_LIMIT,
        types,
      }],
      module: new URL("./_manager_server.ts", import.meta.url),
      name: "SyncManager",
      startMethod,
    });
    process.start();
    this.#process = process;
    const timeout = this.#options.timeout ?? 30_000;
    const exited = process.join().then((code) => {
      throw new ProcessError(
        `Cannot start the manager as its server exited with code ${code} before serving`,
        { exitCode: code },
      );
    });
    try {
      const { control, pid } = await Promise.race([
        ready.get({ timeout }),
        exited,
      ]);
      this.#adopt(control, pid);
      // Proxies' calls keep the program running while they wait (see
      // `DirectLink`): a local server need not, so a program that forgot to
      // shut it down still ends. A network one serves other programs, whose
      // calls this one cannot see: it holds the program until shut down.
      if (this.#listen.transport === "unix") {
        childHandles.get(process)?.hold(false);
      }
    } catch (error) {
      process.kill();
      this.#state = "shut";
      throw error;
    } finally {
      exited.catch(() => {});
    }
  }

  #adopt(control: Descriptor<unknown>, pid: number): void {
    this.#control = new Shared(controlKind, null, undefined, control);
    this.#address = control.address!;
    this.#serverPid = pid;
    this.#state = "running";
  }

  /**
   * Where the server listens: `{ hostname, port }` for a network manager,
   * `{ path }` (a unix socket) for a local one; `null` before start.
   *
   * @returns The address.
   *
   * @example Usage
   * ```ts ignore
   * console.log(manager.address?.port);
   * ```
   */
  get address():
    | { hostname: string; port: number }
    | { path: string }
    | null {
    const address = this.#address;
    if (address === null) return null;
    return address.transport === "tcp"
      ? { hostname: address.hostname!, port: address.port! }
      : { path: address.path! };
  }

  /**
   * The pid of the server process (for a worker server, its unique id);
   * `null` before start.
   *
   * @returns The pid.
   *
   * @example Usage
   * ```ts ignore
   * console.log(manager.pid);
   * ```
   */
  get pid(): number | null {
    return this.#serverPid;
  }

  #create<T>(typeid: string, args: unknown[]): T {
    const control = this.#running();
    const packed = pack(args, `the arguments of ${typeid}()`) as unknown[];
    return rebuildSync(control.run("create", [typeid, packed])) as T;
  }

  /**
   * A new dict on the server, created synchronously (Python's
   * `manager.dict()`).
   *
   * @typeParam K The keys' type.
   * @typeParam V The values' type.
   * @param init Initial pairs: a Map, an iterable of pairs, or an object.
   * @returns Its proxy, usable at once.
   * @throws {TypeError} When a key is not a primitive or a value cannot be
   * cloned.
   *
   * @example Usage
   * ```ts ignore
   * const d = manager.dict<string, number>({ a: 1 });
   * ```
   */
  dict<K extends DictKey = DictKey, V = unknown>(
    init?: Iterable<readonly [K, V]> | Record<string, V>,
  ): DictProxy<K, V> {
    const pairs = init === undefined
      ? []
      : Symbol.iterator in Object(init)
      ? [...init as Iterable<readonly [K, V]>]
      : Object.entries(init);
    return this.#create("dict", [
      pairs.map(([key, value]) => [checkKey(key, "dict"), value]),
    ]);
  }

  /**
   * A new list on the server (Python's `manager.list()`).
   *
   * @typeParam T The items' type.
   * @param init The initial items.
   * @returns Its proxy, usable at once.
   * @throws {TypeError} When an item cannot be cloned.
   *
   * @example Usage
   * ```ts ignore
   * const l = manager.list([0, 1, 2, 3, 4]);
   * ```
   */
  list<T = unknown>(init: Iterable<T> = []): ListProxy<T> {
    return this.#create("list", [[...init]]);
  }

  /**
   * A new namespace on the server (Python's `manager.Namespace()`).
   *
   * @param init Initial attributes.
   * @returns Its proxy, usable at once.
   *
   * @example Usage
   * ```ts ignore
   * const ns = manager.namespace({ x: 1 });
   * ```
   */
  namespace(init: Record<string, unknown> = {}): NamespaceProxy {
    return this.#create("namespace", [Object.entries(init)]);
  }

  /**
   * A new value on the server (Python's `manager.Value()`).
   *
   * @typeParam T The value's type.
   * @param initial Its initial value.
   * @returns Its proxy, usable at once.
   *
   * @example Usage
   * ```ts ignore
   * const v = manager.value(0);
   * ```
   */
  value<T>(initial: T): ValueProxy<T> {
    return this.#create("value", [initial]);
  }

  /**
   * A new lock on the server: a {@linkcode Lock} every holder of this one
   * reaches there.
   *
   * @returns The lock.
   *
   * @example Usage
   * ```ts ignore
   * const lock = manager.lock();
   * await lock.withLock(() => {});
   * ```
   */
  lock(): Lock {
    return this.#create("lock", []);
  }

  /**
   * A new re-entrant lock on the server.
   *
   * @returns The lock.
   *
   * @example Usage
   * ```ts ignore
   * const rlock = manager.rlock();
   * ```
   */
  rlock(): RLock {
    return this.#create("rlock", []);
  }

  /**
   * A new semaphore on the server.
   *
   * @param value The initial count.
   * @returns The semaphore.
   * @default {1} for `value`
   *
   * @example Usage
   * ```ts ignore
   * const semaphore = manager.semaphore(2);
   * ```
   */
  semaphore(value = 1): Semaphore {
    return this.#create("semaphore", [value]);
  }

  /**
   * A new bounded semaphore on the server.
   *
   * @param value The initial and largest count.
   * @returns The semaphore.
   * @default {1} for `value`
   *
   * @example Usage
   * ```ts ignore
   * const semaphore = manager.boundedSemaphore(2);
   * ```
   */
  boundedSemaphore(value = 1): BoundedSemaphore {
    return this.#create("boundedSemaphore", [value]);
  }

  /**
   * A new event on the server.
   *
   * @returns The event.
   *
   * @example Usage
   * ```ts ignore
   * const event = manager.event();
   * ```
   */
  event(): Event {
    return this.#create("event", []);
  }

  /**
   * A new condition on the server, on `lock` (a managed lock of this
   * manager) or a new re-entrant lock.
   *
   * @param lock The condition's lock.
   * @returns The condition.
   *
   * @example Usage
   * ```ts ignore
   * const condition = manager.condition();
   * ```
   */
  condition(lock?: Lock | RLock): Condition {
    return this.#create("condition", lock === undefined ? [] : [lock]);
  }

  /**
   * A new barrier on the server. A barrier's `action` would be code, which
   * never crosses: run it after `wait()` where it answers 0 instead.
   *
   * @param parties How many processes wait for each other.
   * @param options The default timeout.
   * @returns The barrier.
   *
   * @example Usage
   * ```ts ignore
   * const barrier = manager.barrier(3);
   * ```
   */
  barrier(parties: number, options: ManagedBarrierOptions = {}): Barrier {
    return this.#create("barrier", [parties, options]);
  }

  /**
   * A new queue on the server.
   *
   * @typeParam T The items' type.
   * @param options Its bound.
   * @returns The queue.
   *
   * @example Usage
   * ```ts ignore
   * const queue = manager.queue<number>({ maxsize: 10 });
   * ```
   */
  queue<T>(options: ManagedQueueOptions = {}): Queue<T> {
    return this.#create("queue", [options]);
  }

  /**
   * A new joinable queue on the server.
   *
   * @typeParam T The items' type.
   * @param options Its bound.
   * @returns The queue.
   *
   * @example Usage
   * ```ts ignore
   * const queue = manager.joinableQueue<number>();
   * ```
   */
  joinableQueue<T>(options: ManagedQueueOptions = {}): JoinableQueue<T> {
    return this.#create("joinableQueue", [options]);
  }

  /**
   * A new object of a registered type, constructed on the server with
   * `args` (Python's `manager.Counter(...)` after `register`).
   *
   * @typeParam T The class's instance type, for the proxy's methods.
   * @param typeid The name it was registered under.
   * @param args The constructor's arguments, cloned.
   * @returns Its proxy: each public method an awaited call.
   * @throws {TypeError} When the type is not registered with this server.
   *
   * @example Usage
   * ```ts ignore
   * const counter = manager.create<Counter>("Counter");
   * await counter.increment();
   * ```
   */
  create<T = Record<string, unknown>>(
    typeid: string,
    ...args: unknown[]
  ): Proxied<T> & ObjectProxy {
    if (BUILTIN_TYPES.has(typeid)) {
      throw new TypeError(
        `Cannot create a ${
          show(typeid)
        } with create(): call manager.${typeid}() instead`,
      );
    }
    return this.#create(typeid, args);
  }

  /**
   * Publishes `value` (a proxy, a managed lock or queue, or plain data)
   * under `name` on the server, for clients that have only its address
   * (Python's `BaseManager.register(typeid, callable=lambda: obj)`).
   *
   * @param name The name clients look it up by.
   * @param value What to publish; proxies stay live proxies.
   * @returns Once published.
   * @throws {TypeError} When `value` cannot be cloned.
   *
   * @example Usage
   * ```ts ignore
   * await manager.publish("counters", manager.dict());
   * ```
   */
  publish(name: string, value: unknown): Promise<void> {
    return this.#running().run("publish", [
      checkName(name),
      pack(value, `the value published as ${show(name)}`),
    ]) as Promise<void>;
  }

  /**
   * What was published under `name` on the server, with proxies rebuilt.
   *
   * @typeParam T What was published.
   * @param name The name it was published under.
   * @returns The value.
   * @throws {KeyError} When nothing was published under `name`.
   *
   * @example Usage
   * ```ts ignore
   * const counters = await client.lookup<DictProxy<string, number>>("counters");
   * ```
   */
  lookup<T = unknown>(name: string): Promise<T> {
    return unpack(this.#running().run("lookup", [checkName(name)]));
  }

  #running(): Shared<ControlState, null, typeof controlKind.ops> {
    if (this.#control === null || this.#state !== "running") {
      throw new Error(
        `Cannot use the manager as it is ${
          this.#state === "shut" ? "shut down" : "not started"
        }: call start() first`,
      );
    }
    return this.#control;
  }

  /**
   * Stops the server and resolves once it is gone. Every proxy of it in
   * this process rejects at once from now on; in other processes, with an
   * error saying the server is gone. A manager made by
   * {@linkcode Manager.connect} only stops creating objects: the server,
   * and the proxies it gave, go on. Calling it again does nothing.
   *
   * @returns Once the server has exited.
   *
   * @example Usage
   * ```ts ignore
   * await manager.shutdown();
   * ```
   */
  async shutdown(): Promise<void> {
    if (this.#state === "shut" || this.#state === "new") {
      this.#state = "shut";
      return;
    }
    this.#state = "shut";
    const address = this.#address!;
    // A client leaves the server and its proxies as they are: another
    // manager of this process may use the same link.
    if (this.#connected) return;
    try {
      this.#control!.run("shutdown", []);
      await directLink(address).flushed();
    } catch {
      // The server is gone already.
    }
    closeDirectLink(
      address,
      new ProcessError(
        `Cannot use a proxy of the manager at ${
          address.transport === "tcp"
            ? `${address.hostname}:${address.port}`
            : address.path
        } as it has been shut down`,
      ),
    );
    const process = this.#process;
    if (process === null) return;
    childHandles.get(process)?.hold(true);
    const code = await process.join({
      timeout: this.#options.timeout ?? 30_000,
    });
    if (code === null) {
      process.kill();
      await process.join();
    }
  }

  /**
   * Shuts down, for `await using`.
   *
   * @returns Once shut down.
   *
   * @example Usage
   * ```ts ignore
   * await using manager = await Manager.start();
   * ```
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }
}

const BUILTIN_TYPES = new Set([
  "dict",
  "list",
  "namespace",
  "value",
  "lock",
  "rlock",
  "semaphore",
  "boundedSemaphore",
  "event",
  "condition",
  "barrier",
  "queue",
  "joinableQueue",
]);

/**
 * The name `module` exports `Class` under. The main module is not imported
 * for it: still running (awaiting this very start), it would be waited for
 * without end. Its source is read instead, and the server, which imports
 * it, checks the export.
 */
async function exportNameOf(
  Class: abstract new (...args: never[]) => unknown,
  module: string,
): Promise<string | undefined> {
  if (module === Deno.mainModule) {
    return certainlyNotExported(Class.name, module) ? undefined : Class.name;
  }
  const namespace = await import(module);
  return Object.keys(namespace).find((name) => namespace[name] === Class);
}
