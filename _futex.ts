// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// The one way this package waits on a word of shared memory: a brief spin,
// then `Atomics.waitAsync` in slices, with a deadline and a signal, never
// blocking a thread (the main thread's event loop keeps running).
//
// `Atomics.notify` wakes only threads of its own OS process. Once a
// subprocess child maps memory of this tree (`_shm.ts`), a wait on such
// memory sleeps in the kernel futex instead (an FFI call that returns a
// promise), and every wake (`notify`) wakes both kinds; a tree-wide count
// of kernel sleepers keeps the syscall off the path while nobody sleeps.
import { crossProcessWords, KERNEL_SLEEPERS } from "./_isolates.ts";
import { addressOf, futexWait, futexWake } from "./_shm.ts";
import { settleWithin } from "./_util.ts";

/**
 * How long a waiter spins before it sleeps. A wake-up through
 * `Atomics.waitAsync` costs 30–70 µs here (more when it crosses cores), while
 * the other side of a ping-pong answers in a few: spinning that long keeps
 * round trips short, and is cheap next to the sleep it avoids. It adapts:
 * halved after each spin that failed, doubled after each that succeeded.
 */
const SPIN_MS = 0.05;
const MIN_SPIN_MS = 0.002;
/**
 * The longest single sleep. Sleeping in slices bounds what a missed wake-up
 * could cost, and keeps every timer far below the 2³¹ ms that overflow.
 */
const MAX_SLICE_MS = 1_000;

let holds = 0;
let keepAlive: ReturnType<typeof setInterval> | undefined;

// A pending `Atomics.waitAsync` does not keep the event loop alive, so a
// program whose only work is waiting would exit: a timer holds it while
// anything waits. A worker lives until it is closed or terminated, so it
// needs none, and skips the few milliseconds a first timer costs (which a
// pool child would pay before its first task).
const IN_WORKER = "WorkerGlobalScope" in globalThis;

/** Keeps the event loop alive until the matching {@linkcode unhold}. */
export function hold(): void {
  if (holds++ > 0 || IN_WORKER) return;
  // One timer, referenced while anything waits: a pool's reader sleeps on
  // every result, and a new timer each time cost a subprocess pool 10% of
  // its serial apply.
  if (keepAlive === undefined) keepAlive = setInterval(() => {}, 1e9);
  else Deno.refTimer(keepAlive);
}

/**
 * Signals of waits that something else keeps the program running for: a
 * call made for a caller in another process (that caller's own link holds
 * it while it must), or a pool's reader (its busy children hold it). Their
 * waits need no timer of their own: a first timer costs 4–20 ms, which a
 * pool's first result would wait for.
 */
const heldElsewhere = new WeakSet<AbortSignal>();

/** Marks `signal`'s waits as held by something else (see `heldElsewhere`). */
export function holdsElsewhere(signal: AbortSignal): void {
  heldElsewhere.add(signal);
}

/** Ends one {@linkcode hold}. */
export function unhold(): void {
  if (--holds === 0 && !IN_WORKER) Deno.unrefTimer(keepAlive!);
}

/** The deadline, in `performance.now()` time, of a timeout in ms. */
export function deadlineOf(timeout: number): number {
  return timeout === Infinity ? Infinity : performance.now() + timeout;
}

/** Settles as a sleep does, or rejects once `signal` aborts. */
function untilAborted(sleep: Promise<unknown>, signal?: AbortSignal) {
  return settleWithin(sleep, Infinity, signal, () => {});
}

/**
 * The spin before a sleep in the kernel, adapting as a plain one does, up to
 * longer: that sleep's wake-up crosses two threads (the one blocked in the
 * futex, then the event loop's), and the other side is another OS process
 * on its own CPU, not this thread's event loop.
 */
const KERNEL_SPIN_MS = 0.2;

/** The spin budgets: full length, and the length each adapted to. */
const PLAIN = { full: SPIN_MS, ms: SPIN_MS };
const KERNEL = { full: KERNEL_SPIN_MS, ms: KERNEL_SPIN_MS };

/**
 * Lets this thread's waits spin up to `ms` before they sleep: for a thread
 * that does nothing but wait for the next piece of work (a pool child).
 * Waking a sleeper costs 150–400 µs on a virtual machine, so once one side
 * of a ping-pong sleeps, the other's short spin misses too, and both would
 * sleep on every hop; a spin that outlasts the other side's wake-up ends it.
 */
export function spinUpTo(ms: number): void {
  const full = Math.max(SPIN_MS, ms);
  if (PLAIN.full === full) return;
  PLAIN.full = PLAIN.ms = full;
  KERNEL.full = KERNEL.ms = Math.max(KERNEL_SPIN_MS, ms);
}

/**
 * Whether this process may run on one CPU only (`taskset -c 0`, a one-core
 * container): there the other side cannot run while this one spins, so a
 * spin only delays the sleep that lets it.
 */
const ONE_CPU = navigator.hardwareConcurrency === 1;

/**
 * How often this thread woke each word, by buffer and word: two objects
 * opened over the same memory (a pipe's two ends) have views of their own.
 * A word this thread changed while a wait of its own slept on it changed
 * through this thread's event loop, which a spin only holds up: such a wait
 * tells nothing about spinning.
 */
const wokenHere = new WeakMap<ArrayBufferLike, number[]>();

function wakesHere(view: Int32Array, index: number): number {
  return wokenHere.get(view.buffer)?.[(view.byteOffset >> 2) + index] ?? 0;
}

function countWake(view: Int32Array, index: number): void {
  let counts = wokenHere.get(view.buffer);
  if (counts === undefined) wokenHere.set(view.buffer, counts = []);
  const word = (view.byteOffset >> 2) + index;
  counts[word] = (counts[word] ?? 0) + 1;
}

/**
 * A wait that slept but ended within this long after a full spin would
 * have was one such a spin might have caught: the budget goes back up
 * then. Without it, after one slow phase (a child loading its module) the
 * two sides of a ping-pong would sleep on every hop for good, each spinning
 * too briefly to see the other's answer (a pool's serial `apply` took
 * 300 µs instead of 15). It must outlast a wake-up, which a virtual machine
 * can stretch to 400 µs: a sleep that short says nothing of how soon the
 * word changed.
 */
const WAKE_MS = 0.5;

/** The budget of a spin on `view[index]`: a kernel word's, or a plain one's. */
function budgetOf(view: Int32Array, index: number): typeof PLAIN {
  const kernel = crossProcessWords() !== null &&
    addressOf(view, index) !== null;
  return kernel ? KERNEL : PLAIN;
}

/**
 * The budgets of the spins a caller makes before it starts a wait (see
 * {@linkcode spinWhile}), apart from the waits' own. Such a spin holds up
 * this thread's pending microtasks too, so when what it waits for comes
 * only after them (a reply this thread sends, then a request back), it
 * can never succeed: its budget falls at each failure and rises only when
 * it succeeds, never on a wait's quick wake-up, and at its floor it tries
 * a full spin once in {@linkcode PROBE_EVERY} to find out whether that
 * has changed.
 */
const EAGER_PLAIN = { ms: SPIN_MS, misses: 0 };
const EAGER_KERNEL = { ms: KERNEL_SPIN_MS, misses: 0 };
const PROBE_EVERY = 128;

/**
 * Spins while `view[index] === value`, as a wait does before it sleeps,
 * without sleeping or yielding: `true` once the word changed, `false`
 * when the spin budget ran out first.
 */
export function spinWhile(
  view: Int32Array,
  index: number,
  value: number,
): boolean {
  if (Atomics.load(view, index) !== value) return true;
  if (ONE_CPU) return false;
  const wait = budgetOf(view, index);
  const eager = wait === PLAIN ? EAGER_PLAIN : EAGER_KERNEL;
  const probe = eager.ms <= MIN_SPIN_MS && ++eager.misses % PROBE_EVERY === 0;
  const ms = probe ? wait.full : Math.min(eager.ms, wait.full);
  if (spinFor(view, index, value, ms)) {
    eager.ms = wait.full;
    return true;
  }
  eager.ms = Math.max(MIN_SPIN_MS, ms / 2);
  return false;
}

function spin(view: Int32Array, index: number, value: number): boolean {
  if (ONE_CPU) return Atomics.load(view, index) !== value;
  const budget = budgetOf(view, index);
  const ms = budget.ms;
  if (spinFor(view, index, value, ms)) {
    budget.ms = Math.min(budget.full, ms * 2 + 0.001);
    return true;
  }
  // When the change must come through this thread's own event loop (an
  // answer to a subprocess child's call), spinning only delays it.
  budget.ms = Math.max(MIN_SPIN_MS, ms / 2);
  return false;
}

/** Spins up to `ms` while `view[index] === value`: whether it changed. */
function spinFor(
  view: Int32Array,
  index: number,
  value: number,
  ms: number,
): boolean {
  const until = performance.now() + ms;
  do {
    for (let i = 0; i < 64; i++) {
      if (Atomics.load(view, index) !== value) return true;
    }
  } while (performance.now() < until);
  return false;
}

/**
 * Waits while `view[index] === value`, until the word changes, the deadline
 * passes or `signal` aborts.
 *
 * @param waiters The index of a word that counts sleepers, so that a waker
 * ({@linkcode wake}) skips the notify when nobody sleeps.
 * @returns `false` when the deadline passed with the word unchanged.
 * @throws The signal's reason when it aborts.
 */
export async function waitWhile(
  view: Int32Array,
  index: number,
  value: number,
  deadline = Infinity,
  signal?: AbortSignal,
  waiters?: number,
): Promise<boolean> {
  if (Atomics.load(view, index) !== value) return true;
  signal?.throwIfAborted();
  if (deadline <= performance.now()) return false;
  const started = performance.now();
  if (spin(view, index, value)) return true;
  const woken = wakesHere(view, index);
  const holds = signal === undefined || !heldElsewhere.has(signal);
  if (holds) hold();
  if (waiters !== undefined) Atomics.add(view, waiters, 1);
  try {
    while (Atomics.load(view, index) === value) {
      signal?.throwIfAborted();
      const left = deadline - performance.now();
      if (left <= 0) return false;
      const slice = Math.min(left, MAX_SLICE_MS);
      const tree = crossProcessWords();
      const address = tree === null ? null : addressOf(view, index);
      if (address !== null) {
        await sleepInKernel(tree!, address, value, slice, signal);
      } else {
        const wait = Atomics.waitAsync(view, index, value, slice);
        if (wait.async) await untilAborted(wait.value, signal);
      }
    }
    if (!ONE_CPU && woken === wakesHere(view, index)) {
      const budget = budgetOf(view, index);
      const took = performance.now() - started;
      if (took < budget.full + WAKE_MS) budget.ms = budget.full;
    }
    return true;
  } finally {
    if (waiters !== undefined) Atomics.sub(view, waiters, 1);
    if (holds) unhold();
  }
}

async function sleepInKernel(
  tree: Int32Array,
  address: number,
  value: number,
  ms: number,
  signal: AbortSignal | undefined,
): Promise<void> {
  Atomics.add(tree, KERNEL_SLEEPERS, 1);
  const sleep = futexWait(address, value, ms);
  try {
    await untilAborted(sleep, signal);
  } catch (error) {
    // The thread asleep in the kernel is woken (with whoever else sleeps
    // there: they look again), so no call is left pending.
    futexWake(address);
    await sleep;
    throw error;
  } finally {
    Atomics.sub(tree, KERNEL_SLEEPERS, 1);
  }
}

/**
 * Wakes up to `count` waiters on `view[index]`, of this OS process and,
 * when memory is shared across processes, of any other.
 */
export function notify(view: Int32Array, index: number, count = Infinity) {
  Atomics.notify(view, index, count);
  countWake(view, index);
  const tree = crossProcessWords();
  if (tree === null || Atomics.load(tree, KERNEL_SLEEPERS) === 0) return;
  const address = addressOf(view, index);
  if (address !== null) {
    futexWake(address, count === Infinity ? 0x7fffffff : count);
  }
}

/**
 * Waits until `ready()` gives something other than `undefined`, asking again
 * each time `view[seq]` changes; `view[seq + 1]` counts the sleepers.
 *
 * @returns What `ready()` gave, or at the deadline what it gives then.
 * @throws The signal's reason when it aborts.
 */
export async function waitFor<T>(
  view: Int32Array,
  seq: number,
  deadline: number,
  signal: AbortSignal | undefined,
  ready: () => T | undefined,
): Promise<T | undefined> {
  while (true) {
    const seen = Atomics.load(view, seq);
    const result = ready();
    if (result !== undefined) return result;
    if (!await waitWhile(view, seq, seen, deadline, signal, seq + 1)) {
      return ready();
    }
  }
}

/** Bumps `view[seq]` and wakes whoever waits on it in {@linkcode waitFor}. */
export function wake(view: Int32Array, seq: number): void {
  Atomics.add(view, seq, 1);
  if (Atomics.load(view, seq + 1) > 0) notify(view, seq);
}
