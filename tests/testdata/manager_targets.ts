// Targets run by children in the manager tests, and a registered type.
import type {
  DictProxy,
  ListProxy,
  NamespaceProxy,
  ObjectProxy,
} from "../../manager.ts";
import type { Barrier, Event, Lock, Semaphore } from "../../lock.ts";
import { Process, type StartMethod } from "../../process.ts";
import type { JoinableQueue, Queue } from "../../queue.ts";

const module = import.meta.url;

/** A type registered with the manager in the tests. */
export class Counter {
  #n: number;
  constructor(start = 0) {
    this.#n = start;
  }
  increment(by = 1): number {
    this.#n += by;
    return this.#n;
  }
  value(): number {
    return this.#n;
  }
  async later(ms: number): Promise<string> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return "done";
  }
  /** Ends the server's process: how the tests kill a server. */
  crash(): void {
    Deno.exit(7);
  }
  _hidden(): string {
    return "hidden";
  }
}

export async function setAndAppend(
  d: DictProxy<number, number>,
  l: ListProxy<number>,
  key: number,
) {
  await d.set(key, key);
  await l.append(key);
}

/** Writes, then says so on an event the parent polls without yielding. */
export async function setThenSignal(
  d: DictProxy<string, number>,
  ready: Event,
  go: Event,
  done: Event,
) {
  ready.set();
  await go.wait({ timeout: 30_000 });
  await d.set("child", 1);
  done.set();
}

export async function viaGrandchild(
  d: DictProxy<number, number>,
  l: ListProxy<number>,
  method: StartMethod,
) {
  const child = new Process({
    target: setAndAppend,
    args: [d, l, 42],
    module,
    startMethod: method,
  });
  child.start();
  const code = await child.join();
  if (code !== 0) throw new Error(`grandchild exited with ${code}`);
}

export async function sendProxies(
  queue: Queue<unknown>,
  d: DictProxy<number, number>,
  l: ListProxy<number>,
) {
  await queue.put({ d, l });
}

export async function takeProxies(queue: Queue<unknown>) {
  const { d, l } = await queue.get({ timeout: 30_000 }) as {
    d: DictProxy<number, number>;
    l: ListProxy<number>;
  };
  await setAndAppend(d, l, 5);
}

/** Reads a dict nested in a list, and writes through it. */
export async function writeNested(l: ListProxy<unknown>) {
  const inner = await l.get(0) as DictProxy<string, string>;
  await inner.set("from", "child");
}

export async function incrementCounter(counter: ObjectProxy, times: number) {
  const c = counter as ObjectProxy & { increment(): Promise<number> };
  for (let i = 0; i < times; i++) await c.increment();
}

export async function acquireAndDie(lock: Lock, held: Event) {
  await lock.acquire();
  held.set();
  // Dies holding it.
  Deno.exit(3);
}

export async function acquireAndHang(lock: Lock, held: Event) {
  await lock.acquire();
  held.set();
  await new Promise(() => {});
}

export async function incrementUnderLock(
  lock: Lock,
  ns: NamespaceProxy,
  times: number,
) {
  for (let i = 0; i < times; i++) {
    await lock.acquire();
    const n = await ns.get<number>("n");
    await ns.set("n", n + 1);
    lock.release();
  }
}

export async function syncObjects(
  event: Event,
  semaphore: Semaphore,
  barrier: Barrier,
  queue: Queue<number>,
  joinable: JoinableQueue<string>,
) {
  await event.wait({ timeout: 30_000 });
  await semaphore.acquire();
  await queue.put(1);
  const item = await joinable.get({ timeout: 30_000 });
  joinable.taskDone();
  await queue.put(item.length);
  await barrier.wait();
}

export async function mapSet(d: DictProxy<string, number>, n: number) {
  for (let i = 0; i < n; i++) await d.set("k" + i, i);
}

export async function listAppend(l: ListProxy<number>, n: number) {
  for (let i = 0; i < n; i++) await l.append(i);
}

/** Its last write is not awaited: it must arrive all the same. */
export function setUnawaited(d: DictProxy<string, number>) {
  d.set("last", 1);
}

/** The bytes of large value `i`: 2 MiB, more than a link's ring holds. */
export function largeValue(i: number): Uint8Array {
  const bytes = new Uint8Array(2 * 1024 * 1024);
  bytes.fill(i % 251);
  bytes[0] = i & 0xff;
  return bytes;
}

/** Sets large values one after another until killed, saying when it began. */
export async function setLargeUntilKilled(
  d: DictProxy<string, Uint8Array>,
  started: Event,
) {
  for (let i = 0;; i++) {
    await d.set(`k${i}`, largeValue(i));
    if (i === 2) await started.set();
  }
}
