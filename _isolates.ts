// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// One identity for every party that can hold shared state, and one table of
// who descends from whom, shared by all isolates of this OS process.
//
// A code is a small positive number that names a party in lock words,
// condition slots and ledgers: each isolate of this OS process (the main
// isolate is 1, worker children get the next token), and each process that
// reaches an object of this OS process through calls (a subprocess child,
// or anything behind one), registered under its pid with the code of the
// route its calls came through as its parent. A party is dead when it or
// any of its ancestors in the table has exited, so recovery works at any
// depth: a grandchild's hold is freed when its parent dies, whichever
// isolate of this OS process learns of the death.
//
// With shared memory across OS processes (`_shm.ts`) the table is one for
// the whole process tree: a subprocess child maps its parent's, and takes
// the code its parent registered it under when it spawned it, so that it
// can run operations itself with the same code its owner would give it.
import {
  type BufferRef,
  bufferRef,
  mapBuffer,
  sharedBuffer,
  wordsOf,
} from "./_shm.ts";
import { callEach } from "./_util.ts";

/** Codes below this name isolates of this OS process; the rest, remote callers. */
const MAX_TOKENS = 1 << 16;
const REMOTE_SLOTS = 1 << 16;

const NEXT_TOKEN = 0;
const EPOCH = 1;
/** How many waiters of the whole tree sleep in the kernel (see `_futex.ts`). */
export const KERNEL_SLEEPERS = 2;
/** Set once a subprocess child maps the table: waits must cross processes. */
const CROSS = 3;
const HEADER = 4;
/**
 * Per code: pid (high, low; a remote caller's only), parent code, state. A
 * code is its party's place in the table: isolate tokens first, then the
 * remote callers' slots.
 */
const PARTY_WORDS = 4;
const TABLE_WORDS = HEADER + (MAX_TOKENS + REMOTE_SLOTS) * PARTY_WORDS;
const FREE = 0;
const CLAIMING = -1;

const MAIN_TOKEN = 1;
const WORKER_PID_BASE = 0x400000;
const WORKER_PID_STRIDE = 0x10000;

let table: Int32Array | null = null;
let ownCode = MAIN_TOKEN;
/** A worker's own state word (see `beginEffect`); -1 in a main isolate. */
let ownWord = -1;
let effectDepth = 0;

function words(): Int32Array {
  if (table === null) {
    table = wordsOf(sharedBuffer(TABLE_WORDS * 4));
    table[NEXT_TOKEN] = MAIN_TOKEN + 1;
  }
  return table;
}

/** How other OS processes map the table, if they can. */
function tableRef(): BufferRef | null {
  return bufferRef(words().buffer as SharedArrayBuffer);
}

/** How a child shares its parent's table (see {@linkcode shareTable}). */
export interface TableShare {
  /** The table itself, for a worker child of this OS process. */
  buffer?: SharedArrayBuffer;
  /** How other OS processes map it, if they can. */
  ref: BufferRef | null;
  /** The child's own code. */
  code: number;
}

/**
 * How the child `pid` this isolate starts shares the table: a worker child
 * shares this OS process's, with the code in its pid; a subprocess child,
 * registered now, maps it when memory is shared across OS processes (else
 * it reaches every object through calls, and gets `null`).
 */
export function shareTable(pid: number, worker: boolean): TableShare | null {
  if (worker) {
    const buffer = words().buffer as SharedArrayBuffer;
    return { buffer, ref: tableRef(), code: tokenOfPid(pid)! };
  }
  const code = callerCode(pid, pid);
  const ref = tableRef();
  if (ref === null) return null;
  markCrossProcess();
  return { ref, code };
}

/**
 * Makes every wait in the tree on memory shared across OS processes sleep
 * in the kernel from now on, as once a subprocess child shares the table:
 * for memory mapped twice in one OS process too (see `_ring_link.ts`).
 */
export function markCrossProcess(): void {
  Atomics.store(words(), CROSS, 1);
}

/** In a child, takes the table its parent shares and its own code. */
export function adoptTable(share: TableShare | undefined): void {
  if (share === undefined) return;
  const { buffer, ref, code } = share;
  const adopted = ref === null ? buffer : mapBuffer(ref, buffer) ?? buffer;
  if (adopted === undefined) return;
  table = wordsOf(adopted);
  ownCode = code;
  // Only a worker is stopped asynchronously; a subprocess child's code is
  // a remote caller's.
  ownWord = code < MAX_TOKENS ? deadWord(code) : -1;
}

/** The name of the table's memfd, once known (see {@linkcode treeName}). */
let tree: string | null | undefined;

/**
 * The name of this isolate's process tree, or `null` when its table is not
 * shared across OS processes: an object of another OS process may be mapped
 * only within one tree, where codes mean the same.
 */
export function treeName(): string | null {
  tree ??= tableRef()?.name ?? null;
  return tree;
}

/**
 * The table's words when waits may cross OS processes (a subprocess child
 * maps the table), else `null`.
 */
export function crossProcessWords(): Int32Array | null {
  return table !== null && Atomics.load(table, CROSS) !== 0 ? table : null;
}

/** This isolate's code. */
export function selfCode(): number {
  return ownCode;
}

/**
 * A pid for a new worker child of this isolate: above Linux's pid_max and
 * unique in this OS process tree, its low part the child's token.
 *
 * @throws {RangeError} When this OS process has started too many workers.
 */
export function nextWorkerPid(): number {
  const view = words();
  const token = Atomics.add(view, NEXT_TOKEN, 1);
  if (token >= MAX_TOKENS) {
    throw new RangeError(
      `Cannot start another worker as this OS process has started ${MAX_TOKENS} already`,
    );
  }
  Atomics.store(view, deadWord(token) - 1, ownCode);
  return workerPidBase() + token;
}

function workerPidBase(): number {
  return WORKER_PID_BASE + Deno.pid * WORKER_PID_STRIDE;
}

/** The token of a worker pid of this OS process, else `null`. */
export function tokenOfPid(pid: number): number | null {
  const token = pid - workerPidBase();
  return token > MAIN_TOKEN && token < MAX_TOKENS ? token : null;
}

/**
 * The code of a live registration of `pid` (or, with `dead`, of one marked
 * dead too), else -1 minus the code of the first free slot.
 */
function findRemote(view: Int32Array, pid: number, dead = false): number {
  const high = Math.floor(pid / 2 ** 32) | 0;
  const low = pid | 0;
  const hash = Math.imul(low, 0x9e3779b1) ^ high;
  for (let probe = 0; probe < REMOTE_SLOTS; probe++) {
    const code = MAX_TOKENS + ((hash + probe) & (REMOTE_SLOTS - 1));
    const at = HEADER + code * PARTY_WORDS;
    const state = Atomics.load(view, at + 3);
    if (state === FREE) return -1 - code;
    if (state === CLAIMING) {
      probe--; // Another isolate is filling it in: look again.
      continue;
    }
    if (
      (state === 1 || dead && state === DEAD) && view[at] === high &&
      view[at + 1] === low
    ) {
      return code;
    }
  }
  throw new RangeError(
    `Cannot register process ${pid} as ${REMOTE_SLOTS} remote callers are registered already`,
  );
}

/** The route of a peer that connected to this process's address. */
export const DIRECT_ROUTE = 0;

/**
 * The code of a process that reaches this one through calls: `pid` is the
 * caller's, `route` the direct child its calls came through (the same pid
 * for a direct subprocess child; {@linkcode DIRECT_ROUTE} for a peer that
 * connected at this process's address). The first call registers it.
 */
export function callerCode(pid: number, route: number): number {
  const token = tokenOfPid(pid);
  if (token !== null) return token;
  const view = words();
  const found = findRemote(view, pid);
  if (found >= 0) return found;
  // The parent is found (or registered) before a slot is claimed: a probe
  // for it that met our own claimed slot would wait for it forever. A peer
  // that reached this process at its address (route 0) descends from
  // nobody here: it dies only when its own connections end.
  const parent = route === DIRECT_ROUTE
    ? 0
    : pid === route
    ? ownCode
    : callerCode(route, route);
  for (;;) {
    const found = findRemote(view, pid);
    if (found >= 0) return found;
    const code = -1 - found;
    const at = HEADER + code * PARTY_WORDS;
    if (Atomics.compareExchange(view, at + 3, FREE, CLAIMING) !== FREE) {
      continue;
    }
    view[at] = Math.floor(pid / 2 ** 32) | 0;
    view[at + 1] = pid | 0;
    view[at + 2] = parent;
    Atomics.store(view, at + 3, 1);
    return code;
  }
}

function deadWord(code: number): number {
  return HEADER + code * PARTY_WORDS + 3;
}

function parentOf(view: Int32Array, code: number): number {
  return view[deadWord(code) - 1]!;
}

// An isolate token's state word: alive, in an effect, or dead.
const ALIVE = 0;
const IN_EFFECT = 1;
const DEAD = 2;
/** How long a stopped worker may stay inside an effect before it counts as gone. */
const EFFECT_GRACE_MS = 250;

/**
 * Starts an effect on shared memory that must not happen once this worker
 * has been reported dead: `Worker.terminate()` stops a thread
 * asynchronously, so a worker stopped from outside may run on briefly, and
 * a frame it committed then would arrive after its parent saw it exit, or
 * corrupt a ring whose lock was freed for it. Pair with `endEffect`.
 *
 * @throws {Error} When this worker has been reported dead: it is being
 * stopped, and must change nothing.
 */
export function beginEffect(): void {
  if (ownWord < 0 || effectDepth++ > 0) return;
  if (Atomics.compareExchange(table!, ownWord, ALIVE, IN_EFFECT) !== ALIVE) {
    effectDepth = 0;
    throw new Error("Cannot change shared state as this worker was stopped");
  }
}

/** Whether this worker has been reported dead: it is being stopped. */
export function wasStopped(): boolean {
  return ownWord >= 0 && Atomics.load(table!, ownWord) === DEAD;
}

/** Ends the effect `beginEffect` started. */
export function endEffect(): void {
  if (ownWord < 0 || --effectDepth > 0) return;
  Atomics.store(table!, ownWord, ALIVE);
}

/**
 * Waits until the worker child `pid`, stopped or exited, and every worker
 * behind it, can change shared memory no more: each is marked dead once it
 * is outside any effect (or after a grace period, for one stopped inside).
 */
export async function fenceWorker(pid: number): Promise<void> {
  const token = tokenOfPid(pid);
  if (token === null) return;
  const view = words();
  const end = Math.min(Atomics.load(view, NEXT_TOKEN), MAX_TOKENS);
  const giveUp = performance.now() + EFFECT_GRACE_MS;
  // A worker's descendants have later tokens than it has.
  for (let code = token; code < end; code++) {
    if (code !== token && !descendsFrom(view, code, token)) continue;
    const word = deadWord(code);
    while (Atomics.compareExchange(view, word, ALIVE, DEAD) === IN_EFFECT) {
      if (performance.now() > giveUp) {
        Atomics.store(view, word, DEAD);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }
}

function descendsFrom(view: Int32Array, code: number, ancestor: number) {
  for (let depth = 0; code > MAIN_TOKEN && depth < 64; depth++) {
    code = parentOf(view, code);
    if (code === ancestor) return true;
  }
  return false;
}

/** Whether the party `code`, or one of its ancestors, has exited. */
export function isDead(code: number): boolean {
  if (code <= 0 || table === null) return false;
  const view = table;
  for (let depth = 0; code > 0 && depth < 64; depth++) {
    if (code >= MAX_TOKENS + REMOTE_SLOTS) return false;
    if (Atomics.load(view, deadWord(code)) === DEAD) return true;
    code = parentOf(view, code);
  }
  return false;
}

const listeners = new Set<() => void>();
let watching = false;

/**
 * Calls `listener` in this isolate after any party of this OS process has
 * died, wherever the death was seen. Returns what unregisters it.
 */
export function onDeath(listener: () => void): () => void {
  listeners.add(listener);
  if (!watching) watchDeaths();
  return () => listeners.delete(listener);
}

async function watchDeaths(): Promise<void> {
  watching = true;
  const view = words();
  // A pending Atomics.waitAsync keeps no isolate alive, so this watcher
  // never stops a program from exiting.
  for (let seen = Atomics.load(view, EPOCH);;) {
    const wait = Atomics.waitAsync(view, EPOCH, seen);
    if (wait.async) await wait.value;
    const now = Atomics.load(view, EPOCH);
    if (now === seen) continue;
    seen = now;
    callEach(listeners);
  }
}

/**
 * Records that the direct child `pid` of this isolate has exited: it and
 * every party behind it are dead from now on. The listeners of this
 * isolate run at once; other isolates' soon after.
 */
export function markExited(pid: number): void {
  const view = words();
  const code = tokenOfPid(pid) ?? findRemote(view, pid);
  if (code < 0) return; // It never called: it holds nothing.
  markDead(view, code);
}

function markDead(view: Int32Array, code: number): void {
  Atomics.store(view, deadWord(code), DEAD);
  Atomics.add(view, EPOCH, 1);
  Atomics.notify(view, EPOCH);
  callEach(listeners);
}

/**
 * Records that `pid`, a process of another OS process that calls this one
 * through the direct child `route`, has exited, as a process on that route
 * (its parent) reports: this isolate would never see that death itself.
 * Only a caller registered behind `route` is marked.
 *
 * @returns Whether `pid` was such a caller, now marked dead.
 */
export function markExitedBehind(pid: number, route: number): boolean {
  if (pid === route || tokenOfPid(pid) !== null) return false;
  const view = words();
  // In a table shared across OS processes, the parent on the route may have
  // marked it already: what this isolate holds must still be freed.
  const code = findRemote(view, pid, true);
  if (code < 0) return false; // It never called: it holds nothing.
  if (!descendsFrom(view, code, callerCode(route, route))) return false;
  markDead(view, code);
  return true;
}
