// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// The shared-memory side of lock.ts: the state of every lock-family
// primitive lives in a SharedArrayBuffer, so the parent and all its worker
// children (every isolate of one OS process) contend on the same words with
// Atomics, futex-style. Subprocess children reach the same state through the
// isolate that passed them the primitive, which runs these cores for them.
//
// Nothing here blocks a thread: waits are `Atomics.waitAsync`, after a brief
// spin when the holder runs on another thread. Each isolate parks its waiters
// for a lock or semaphore behind one `waitAsync` at a time, so a release
// wakes one promise per isolate, not one per waiting task.
//
// Who holds a lock, waits on a condition or stands at a barrier is written
// in shared memory as the party's code (`_isolates.ts`): an isolate of this
// OS process, or a caller in another OS process for which an isolate here
// runs these cores. `reap` frees what dead parties held.
import { deadlineOf, hold, unhold, waitWhile } from "./_futex.ts";
import { isDead, selfCode } from "./_isolates.ts";
import { setLongTimeout } from "./_util.ts";

/**
 * Loads of the state word before sleeping, when the holder runs on another
 * thread: a wake-up after sleeping costs tens of microseconds here, a
 * thousand loads about ten.
 */
const SPIN = 1_000;
const CORES = navigator.hardwareConcurrency;

/** Answers of the acquiring methods. */
export const NOT_ACQUIRED = 0;
export const ACQUIRED = 1;
/** Acquired, and the previous holder had died holding it. */
export const TAKEN_OVER = 2;

interface Parked {
  code: number;
  settle(result: number): void;
}

/**
 * The tasks of this isolate waiting to take a lock or a semaphore, in
 * arrival order, behind one `waitAsync` on the state word.
 */
class ParkingLot {
  #view: Int32Array;
  #word: number;
  #ready: (value: number) => boolean;
  #attempt: (parked: Parked) => number;
  #beforeSleep: (value: number) => number | null;
  #afterSleep: () => void;
  #queue: Parked[] = [];
  #serving = false;

  /**
   * @param ready Whether the state word's value lets a waiter try.
   * @param attempt Tries for the first waiter.
   * @param beforeSleep Announces a sleeper (sets a bit, counts it), and
   * returns the value to sleep on, or `null` when the word changed meanwhile.
   * @param afterSleep Undoes what `beforeSleep` counted, once no waiter is left.
   */
  constructor(
    view: Int32Array,
    word: number,
    ready: (value: number) => boolean,
    attempt: (parked: Parked) => number,
    beforeSleep: (value: number) => number | null,
    afterSleep: () => void,
  ) {
    this.#view = view;
    this.#word = word;
    this.#ready = ready;
    this.#attempt = attempt;
    this.#beforeSleep = beforeSleep;
    this.#afterSleep = afterSleep;
  }

  get empty(): boolean {
    return this.#queue.length === 0;
  }

  park(
    code: number,
    timeout: number,
    signal: AbortSignal | undefined,
  ): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      let cancelTimer: (() => void) | undefined;
      const done = () => {
        const at = this.#queue.indexOf(parked);
        if (at !== -1) this.#queue.splice(at, 1);
        if (cancelTimer === undefined) unhold();
        else cancelTimer();
        signal?.removeEventListener("abort", onAbort);
      };
      const parked: Parked = {
        code,
        settle: (result) => {
          done();
          resolve(result);
        },
      };
      const onAbort = () => {
        done();
        reject(signal!.reason);
      };
      if (timeout === Infinity) hold();
      else {
        cancelTimer = setLongTimeout(
          () => parked.settle(NOT_ACQUIRED),
          timeout,
        );
      }
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#queue.push(parked);
      if (!this.#serving) this.#serve();
    });
  }

  async #serve(): Promise<void> {
    this.#serving = true;
    const view = this.#view;
    try {
      while (this.#queue.length > 0) {
        const value = Atomics.load(view, this.#word);
        if (this.#ready(value)) {
          const first = this.#queue[0]!;
          const result = this.#attempt(first);
          if (result !== NOT_ACQUIRED) first.settle(result);
          continue;
        }
        const expected = this.#beforeSleep(value);
        if (expected === null) continue;
        // Left pending if every waiter gives up meanwhile: the next change
        // of the word still notifies, and ends it.
        const wait = Atomics.waitAsync(view, this.#word, expected);
        if (wait.async) await wait.value;
      }
    } finally {
      this.#afterSleep();
      this.#serving = false;
    }
  }
}

// ---------------------------------------------------------------------------
// Lock and RLock

/**
 * The words of a lock, from its base index. The state word is 0 when free,
 * DIED when free after its holder died, else the holder's code times two,
 * plus one while some isolate sleeps waiting for it.
 */
const STATE = 0;
const COUNT = 1;
const RECOVERED = 2;
/** How many isolates spin for this lock right now. */
const SPINNING = 3;
/** How many 32-bit words a lock takes. */
export const LOCK_WORDS = 4;

/** State word: free, and the previous holder died holding it. */
export const DIED = 0x7ffffffe;
const SLEEPERS = 1;

function isFree(value: number): boolean {
  return value === 0 || value === DIED;
}

/** A Lock (or, re-entrant, an RLock) in shared memory. */
export class LockCore {
  readonly view: Int32Array;
  readonly base: number;
  readonly reentrant: boolean;
  #lot: ParkingLot;

  constructor(view: Int32Array, base: number, reentrant: boolean) {
    this.view = view;
    this.base = base;
    this.reentrant = reentrant;
    this.#lot = new ParkingLot(
      view,
      base + STATE,
      isFree,
      (parked) => this.tryAcquire(parked.code),
      (value) => {
        // A worker may run on briefly after its death was handled, and take
        // the lock again: whoever would wait for it frees it instead.
        if (isDead(value >> 1)) {
          this.forceRelease(value >> 1);
          return null;
        }
        if ((value & SLEEPERS) !== 0) return value;
        const marked = value | SLEEPERS;
        return Atomics.compareExchange(view, base, value, marked) === value
          ? marked
          : null;
      },
      () => {},
    );
  }

  /** This isolate's state word when it holds the lock, once known. */
  #mine = 0;

  /**
   * The fast path of an acquire by this isolate: takes a free lock with one
   * compare-and-swap.
   */
  acquireOwn(): boolean {
    let mine = this.#mine;
    if (mine === 0) mine = this.#mine = selfCode() << 1;
    const view = this.view;
    const base = this.base;
    if (Atomics.compareExchange(view, base, 0, mine) !== 0) return false;
    if (this.reentrant) view[base + COUNT] = 1;
    return true;
  }

  /** Takes the lock for `code` if it is free (or already its own, re-entrant). */
  tryAcquire(code: number): number {
    const view = this.view;
    const base = this.base;
    const mine = code << 1;
    const seen = Atomics.compareExchange(view, base, 0, mine);
    if (seen === 0) {
      if (this.reentrant) view[base + COUNT] = 1;
      return ACQUIRED;
    }
    if (seen === DIED) {
      if (Atomics.compareExchange(view, base, DIED, mine) !== DIED) {
        return NOT_ACQUIRED;
      }
      view[base + RECOVERED] = 1;
      if (this.reentrant) view[base + COUNT] = 1;
      return TAKEN_OVER;
    }
    if (this.reentrant && seen >> 1 === code) {
      view[base + COUNT]!++;
      return ACQUIRED;
    }
    return NOT_ACQUIRED;
  }

  /**
   * Takes the lock for `code`, waiting up to `timeout` ms (0: not at all).
   *
   * @returns NOT_ACQUIRED, ACQUIRED or TAKEN_OVER.
   */
  acquire(
    code: number,
    timeout: number,
    signal?: AbortSignal,
  ): Promise<number> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    let result = this.tryAcquire(code);
    if (result !== NOT_ACQUIRED || timeout <= 0) return Promise.resolve(result);
    if (this.#lot.empty && this.#holderRunsElsewhere(code)) {
      const view = this.view;
      const base = this.base;
      // Spinning pays only while the holder and every spinner have a core.
      const spinners = Atomics.add(view, base + SPINNING, 1) + 1;
      try {
        if (spinners + 1 <= CORES) {
          for (let i = 0; i < SPIN; i++) {
            if (isFree(Atomics.load(view, base))) {
              result = this.tryAcquire(code);
              if (result !== NOT_ACQUIRED) return Promise.resolve(result);
            }
          }
        }
      } finally {
        Atomics.sub(view, base + SPINNING, 1);
      }
    }
    return this.#lot.park(code, timeout, signal);
  }

  /** Whether the holder is another thread of this OS process, worth spinning for. */
  #holderRunsElsewhere(code: number): boolean {
    const holder = this.holder();
    return holder > 0 && holder !== code && holder !== selfCode();
  }

  /** The holder's code, or 0 when free. */
  holder(): number {
    const state = Atomics.load(this.view, this.base);
    return isFree(state) ? 0 : state >> 1;
  }

  locked(): boolean {
    return !isFree(Atomics.load(this.view, this.base));
  }

  /** Whether the current hold was taken over from a holder that died. */
  recovered(): boolean {
    return this.locked() && this.view[this.base + RECOVERED] === 1;
  }

  /**
   * Releases a Lock, whoever holds it (any process may release a Lock).
   *
   * @throws {RangeError} When it is not held.
   */
  releaseAny(): void {
    const view = this.view;
    const base = this.base;
    view[base + RECOVERED] = 0;
    const seen = Atomics.exchange(view, base, 0);
    if (isFree(seen)) {
      if (seen === DIED) Atomics.compareExchange(view, base, 0, DIED);
      throw new RangeError(
        "Cannot release the lock as it is not held: acquire it first",
      );
    }
    if ((seen & SLEEPERS) !== 0) Atomics.notify(view, base, Infinity);
  }

  /**
   * Releases on behalf of `code`: any holder's hold of a Lock, only the
   * holder's own of an RLock.
   *
   * @throws {RangeError} When the lock is not held (by `code`, re-entrant).
   */
  release(code: number): void {
    if (this.reentrant) this.releaseOwned(code);
    else this.releaseAny();
  }

  /**
   * Releases an RLock held by `code` once; frees it at the last release.
   *
   * @throws {RangeError} When it is not held, or another process holds it.
   */
  releaseOwned(code: number): void {
    const view = this.view;
    const base = this.base;
    const seen = Atomics.load(view, base);
    if (isFree(seen) || seen >> 1 !== code) {
      throw new RangeError(
        isFree(seen)
          ? "Cannot release the re-entrant lock as it is not held: acquire it first"
          : "Cannot release the re-entrant lock as another process holds it: only its owner may release it",
      );
    }
    const count = view[base + COUNT]! - 1;
    if (count > 0) {
      view[base + COUNT] = count;
      return;
    }
    this.#free();
  }

  #free(): void {
    const view = this.view;
    const base = this.base;
    view[base + COUNT] = 0;
    view[base + RECOVERED] = 0;
    if ((Atomics.exchange(view, base, 0) & SLEEPERS) !== 0) {
      Atomics.notify(view, base, Infinity);
    }
  }

  /**
   * Frees the lock entirely for a condition wait; the caller holds it.
   *
   * @returns What {@linkcode restore} needs: the re-entry count.
   */
  releaseForWait(): number {
    const saved = this.reentrant ? this.view[this.base + COUNT]! : 1;
    this.#free();
    return saved;
  }

  /** Takes the lock back after a condition wait, whatever happens meanwhile. */
  async restore(
    code: number,
    saved: number,
  ): Promise<number> {
    const result = await this.acquire(code, Infinity);
    if (this.reentrant) this.view[this.base + COUNT]! += saved - 1;
    return result;
  }

  /**
   * Frees the lock if `holder` still holds it, marking that its holder
   * died, so the next acquirer learns of it. (Its other words are rewritten
   * by the next acquirer.)
   */
  forceRelease(holder: number): boolean {
    const view = this.view;
    const base = this.base;
    for (;;) {
      const seen = Atomics.load(view, base);
      if (isFree(seen) || seen >> 1 !== holder) return false;
      if (Atomics.compareExchange(view, base, seen, DIED) === seen) break;
    }
    Atomics.notify(view, base, Infinity);
    return true;
  }

  /** Frees the lock if its holder is dead. */
  reap(dead: (code: number) => boolean): void {
    const holder = this.holder();
    if (holder !== 0 && dead(holder)) this.forceRelease(holder);
  }

  /** Takes the lock without yielding; for short internal critical sections. */
  lockSync(code: number): boolean {
    for (let i = 0; i < 1_000_000; i++) {
      if (this.tryAcquire(code) !== NOT_ACQUIRED) return true;
    }
    return false;
  }
}

/** A new, zeroed shared buffer of `words` 32-bit words. */
export function sharedWords(words: number): Int32Array {
  return new Int32Array(new SharedArrayBuffer(words * 4));
}

// ---------------------------------------------------------------------------
// Semaphore

const VALUE = 0;
const SEM_WAITERS = 1;
const BOUND = 2;
/** How many 32-bit words a semaphore takes. */
export const SEMAPHORE_WORDS = 4;
/** The largest value a semaphore can count to. */
export const MAX_SEMAPHORE_VALUE = 0x7fffffff;

/** A Semaphore (bounded, or not when `bound` is -1) in shared memory. */
export class SemaphoreCore {
  readonly view: Int32Array;
  #lot: ParkingLot;

  constructor(view: Int32Array) {
    this.view = view;
    let counted = false;
    this.#lot = new ParkingLot(
      view,
      VALUE,
      (value) => value > 0,
      () => this.tryAcquire() ? ACQUIRED : NOT_ACQUIRED,
      (value) => {
        if (!counted) {
          counted = true;
          Atomics.add(view, SEM_WAITERS, 1);
          return null;
        }
        return value;
      },
      () => {
        if (counted) Atomics.sub(view, SEM_WAITERS, 1);
        counted = false;
      },
    );
  }

  /** Initializes a fresh buffer. */
  static init(view: Int32Array, value: number, bound: number): void {
    view[VALUE] = value;
    view[BOUND] = bound;
  }

  tryAcquire(): boolean {
    const view = this.view;
    for (;;) {
      const value = Atomics.load(view, VALUE);
      if (value <= 0) return false;
      if (Atomics.compareExchange(view, VALUE, value, value - 1) === value) {
        return true;
      }
    }
  }

  acquire(timeout: number, signal?: AbortSignal): Promise<boolean> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.tryAcquire()) return Promise.resolve(true);
    if (timeout <= 0) return Promise.resolve(false);
    // Whoever releases may run on another core (it cannot be known who).
    if (this.#lot.empty && CORES > 1) {
      for (let i = 0; i < SPIN; i++) {
        if (Atomics.load(this.view, VALUE) > 0 && this.tryAcquire()) {
          return Promise.resolve(true);
        }
      }
    }
    return this.#lot.park(0, timeout, signal).then((result) =>
      result !== NOT_ACQUIRED
    );
  }

  /**
   * Adds `n` to the value, waking waiters.
   *
   * @throws {RangeError} When a bounded semaphore would exceed its bound.
   */
  release(n: number): void {
    const view = this.view;
    const bound = view[BOUND]!;
    for (;;) {
      const value = Atomics.load(view, VALUE);
      const limit = bound >= 0 ? bound : MAX_SEMAPHORE_VALUE;
      if (value + n > limit) {
        throw new RangeError(
          bound >= 0
            ? `Cannot release the bounded semaphore ${n} time(s) as its value ${value} would exceed its initial value ${bound}: release only what was acquired`
            : `Cannot release the semaphore ${n} time(s) as its value ${value} would exceed ${MAX_SEMAPHORE_VALUE}`,
        );
      }
      if (Atomics.compareExchange(view, VALUE, value, value + n) === value) {
        break;
      }
    }
    if (Atomics.load(view, SEM_WAITERS) !== 0) {
      Atomics.notify(view, VALUE, Infinity);
    }
  }

  value(): number {
    return Atomics.load(this.view, VALUE);
  }
}

// ---------------------------------------------------------------------------
// Event

/** Bit 0: the flag; the other bits count how many times it was set. */
const FLAG = 0;
/** How many 32-bit words an event takes. */
export const EVENT_WORDS = 2;

/** An Event in shared memory. */
export class EventCore {
  readonly view: Int32Array;

  constructor(view: Int32Array) {
    this.view = view;
  }

  isSet(): boolean {
    return (Atomics.load(this.view, FLAG) & 1) === 1;
  }

  set(): void {
    const view = this.view;
    for (;;) {
      const value = Atomics.load(view, FLAG);
      if ((value & 1) === 1) return;
      if (
        Atomics.compareExchange(view, FLAG, value, (value + 3) | 0) === value
      ) {
        Atomics.notify(view, FLAG, Infinity);
        return;
      }
    }
  }

  clear(): void {
    const view = this.view;
    for (;;) {
      const value = Atomics.load(view, FLAG);
      if ((value & 1) === 0) return;
      if (Atomics.compareExchange(view, FLAG, value, value & ~1) === value) {
        return;
      }
    }
  }

  /** Waits until the flag is set (or was set at some point meanwhile). */
  async wait(timeout: number, signal?: AbortSignal): Promise<boolean> {
    signal?.throwIfAborted();
    const view = this.view;
    const start = Atomics.load(view, FLAG);
    if ((start & 1) === 1) return true;
    const deadline = deadlineOf(timeout);
    let seen = start;
    for (;;) {
      if (!await waitWhile(view, FLAG, seen, deadline, signal)) return false;
      seen = Atomics.load(view, FLAG);
      if ((seen & 1) === 1 || seen >>> 1 !== start >>> 1) return true;
    }
  }
}

// ---------------------------------------------------------------------------
// Condition

const HEAD = 0;
const TAIL = 1;
const FREE = 2;
const CAPACITY = 3;
const CONDITION_HEADER = 8;
const SLOT_WORDS = 8;
/** Slot words. */
const SLOT_STATE = 0;
const SLOT_NEXT = 1;
const SLOT_PREV = 2;
const SLOT_LINKED = 3;
const SLOT_CODE = 4;
/** Slot states. */
const SLOT_FREE = 0;
const WAITING = 1;
const NOTIFIED = 2;
const CANCELLED = 3;
const SLOT_DEAD = 4;

const INITIAL_SLOTS = 16;
/** At most this many waiters at once on one condition. */
export const MAX_CONDITION_WAITERS = 1 << 14;

/** How a condition wait ended. */
export type WaitOutcome = "notified" | "timeout" | "aborted";

/**
 * The waiters of a Condition, in shared memory: a FIFO list of slots, one
 * per waiting task, each with its own word to sleep on, so that `notify(n)`
 * wakes exactly n of them. The list is changed only by the holder of the
 * condition's lock; a waiter that gives up marks its slot with a CAS.
 */
export class ConditionCore {
  #view: Int32Array;

  constructor(buffer: SharedArrayBuffer) {
    this.#view = new Int32Array(buffer);
  }

  /** A fresh growable buffer for a condition. */
  static newBuffer(): SharedArrayBuffer {
    const buffer = new SharedArrayBuffer(
      (CONDITION_HEADER + INITIAL_SLOTS * SLOT_WORDS) * 4,
      {
        maxByteLength: (CONDITION_HEADER + MAX_CONDITION_WAITERS * SLOT_WORDS) *
          4,
      },
    );
    const view = new Int32Array(buffer);
    view[HEAD] = -1;
    view[TAIL] = -1;
    view[FREE] = -1;
    ConditionCore.#chainFree(view, 0, INITIAL_SLOTS);
    view[CAPACITY] = INITIAL_SLOTS;
    return buffer;
  }

  get buffer(): SharedArrayBuffer {
    return this.#view.buffer as SharedArrayBuffer;
  }

  static #chainFree(view: Int32Array, from: number, to: number): void {
    for (let i = to - 1; i >= from; i--) {
      view[slotAt(i) + SLOT_NEXT] = view[FREE]!;
      view[FREE] = i;
    }
  }

  /**
   * Adds a waiter at the tail; the caller holds the condition's lock.
   *
   * @throws {RangeError} When too many tasks already wait.
   */
  enqueue(code: number): number {
    const view = this.#view;
    if (view[FREE] === -1) this.#sweep();
    if (view[FREE] === -1) this.#grow();
    const slot = view[FREE]!;
    const at = slotAt(slot);
    view[FREE] = view[at + SLOT_NEXT]!;
    view[at + SLOT_CODE] = code;
    view[at + SLOT_NEXT] = -1;
    view[at + SLOT_PREV] = view[TAIL]!;
    view[at + SLOT_LINKED] = 1;
    if (view[TAIL] === -1) view[HEAD] = slot;
    else view[slotAt(view[TAIL]!) + SLOT_NEXT] = slot;
    view[TAIL] = slot;
    Atomics.store(view, at + SLOT_STATE, WAITING);
    return slot;
  }

  #grow(): void {
    const view = this.#view;
    const capacity = view[CAPACITY]!;
    if (capacity >= MAX_CONDITION_WAITERS) {
      throw new RangeError(
        `Cannot wait on the condition as ${MAX_CONDITION_WAITERS} tasks already wait on it`,
      );
    }
    const next = capacity * 2;
    this.buffer.grow((CONDITION_HEADER + next * SLOT_WORDS) * 4);
    ConditionCore.#chainFree(view, capacity, next);
    view[CAPACITY] = next;
  }

  /** Frees the slots of waiters that died. */
  #sweep(): void {
    const view = this.#view;
    const capacity = view[CAPACITY]!;
    for (let slot = 0; slot < capacity; slot++) {
      const at = slotAt(slot);
      if (Atomics.load(view, at + SLOT_STATE) === SLOT_DEAD) {
        if (view[at + SLOT_LINKED] === 1) this.#unlink(slot);
        this.#free(slot);
      }
    }
  }

  #unlink(slot: number): void {
    const view = this.#view;
    const at = slotAt(slot);
    const prev = view[at + SLOT_PREV]!;
    const next = view[at + SLOT_NEXT]!;
    if (prev === -1) view[HEAD] = next;
    else view[slotAt(prev) + SLOT_NEXT] = next;
    if (next === -1) view[TAIL] = prev;
    else view[slotAt(next) + SLOT_PREV] = prev;
    view[at + SLOT_LINKED] = 0;
  }

  #free(slot: number): void {
    const view = this.#view;
    const at = slotAt(slot);
    Atomics.store(view, at + SLOT_STATE, SLOT_FREE);
    view[at + SLOT_NEXT] = view[FREE]!;
    view[FREE] = slot;
  }

  /**
   * Sleeps on a slot until notified, `timeout` ms pass or `signal` aborts;
   * the condition's lock is not held meanwhile.
   */
  async sleep(
    slot: number,
    timeout: number,
    signal: AbortSignal | undefined,
  ): Promise<WaitOutcome> {
    const view = this.#view;
    const word = slotAt(slot) + SLOT_STATE;
    const deadline = deadlineOf(timeout);
    let aborted = false;
    try {
      await waitWhile(view, word, WAITING, deadline, signal);
    } catch {
      aborted = true;
    }
    if (Atomics.compareExchange(view, word, WAITING, CANCELLED) === WAITING) {
      return aborted ? "aborted" : "timeout";
    }
    return "notified";
  }

  /** Removes a waiter after it took the lock back. */
  dequeue(slot: number): void {
    if (this.#view[slotAt(slot) + SLOT_LINKED] === 1) this.#unlink(slot);
    this.#free(slot);
  }

  /**
   * Wakes up to `n` waiters, oldest first; the caller holds the lock.
   *
   * @returns How many were woken.
   */
  notify(n: number): number {
    const view = this.#view;
    let slot = view[HEAD]!;
    let woken = 0;
    let guard = view[CAPACITY]!;
    while (slot !== -1 && woken < n && guard-- > 0) {
      const at = slotAt(slot);
      const next = view[at + SLOT_NEXT]!;
      const was = Atomics.compareExchange(
        view,
        at + SLOT_STATE,
        WAITING,
        NOTIFIED,
      );
      if (was === WAITING) {
        Atomics.notify(view, at + SLOT_STATE, Infinity);
        woken++;
        this.#unlink(slot);
      } else if (was === SLOT_DEAD) {
        this.#unlink(slot);
        this.#free(slot);
      } else {
        this.#unlink(slot);
      }
      slot = next;
    }
    return woken;
  }

  /** How many tasks wait, counting none that gave up. */
  waiting(): number {
    const view = this.#view;
    let count = 0;
    for (
      let slot = view[HEAD]!, guard = view[CAPACITY]!;
      slot !== -1 && guard-- > 0;
      slot = view[slotAt(slot) + SLOT_NEXT]!
    ) {
      if (Atomics.load(view, slotAt(slot) + SLOT_STATE) === WAITING) count++;
    }
    return count;
  }

  /** Marks the slots of dead waiters, so `notify()` does not count them. */
  reap(dead: (code: number) => boolean): void {
    const view = this.#view;
    const capacity = view[CAPACITY]!;
    for (let slot = 0; slot < capacity; slot++) {
      const at = slotAt(slot);
      const state = Atomics.load(view, at + SLOT_STATE);
      if (state === SLOT_FREE || state === SLOT_DEAD) continue;
      if (dead(view[at + SLOT_CODE]!)) {
        Atomics.compareExchange(view, at + SLOT_STATE, state, SLOT_DEAD);
      }
    }
  }
}

function slotAt(slot: number): number {
  return CONDITION_HEADER + slot * SLOT_WORDS;
}
