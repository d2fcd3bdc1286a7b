// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// The shared-memory side of lock.ts: the state of every lock-family
// primitive lives in a SharedArrayBuffer, so the parent and all its worker
// children (every isolate of one OS process) contend on the same words with
// Atomics, futex-style. Subprocess children map the same words when memory
// is shared across OS processes (`_shm.ts`); otherwise they reach the state
// through the isolate that passed them the primitive, which runs these
// cores for them.
//
// Nothing here blocks a thread: waits are `_futex.ts`'s `waitWhile` (a
// brief spin, then `Atomics.waitAsync` or the kernel futex), with a word
// counting the sleepers so that a release notifies only when someone
// sleeps.
//
// Who holds a lock, waits on a condition or stands at a barrier is written
// in shared memory as the party's code (`_isolates.ts`): an isolate of this
// OS process, or a caller in another OS process for which an isolate here
// runs these cores. `reap` frees what dead parties held.
import { deadlineOf, notify, waitFor, waitWhile, wake } from "./_futex.ts";
import { isDead, selfCode } from "./_isolates.ts";
import { grownTo, sharedBuffer } from "./_shm.ts";

/** Answers of the acquiring methods. */
export const NOT_ACQUIRED = 0;
export const ACQUIRED = 1;
/** Acquired, and the previous holder had died holding it. */
export const TAKEN_OVER = 2;

// ---------------------------------------------------------------------------
// Lock and RLock

/**
 * The words of a lock. The state word is 0 when free, DIED when free after
 * its holder died, else the holder's code times two, plus one while some
 * task sleeps waiting for it (so that a release learns from the word itself
 * whether to wake anyone). COUNT is the re-entry count of an RLock, and 1
 * while a Lock is held, so that a condition wait saves and restores either
 * the same way.
 */
const STATE = 0;
const COUNT = 1;
const RECOVERED = 2;
/** How many 32-bit words a lock takes. */
export const LOCK_WORDS = 3;

/** State word: free, and the previous holder died holding it. */
export const DIED = 0x7ffffffe;
const SLEEPERS = 1;

function isFree(value: number): boolean {
  return value === 0 || value === DIED;
}

/** A Lock (or, re-entrant, an RLock) in shared memory, at the view's start. */
export class LockCore {
  constructor(readonly view: Int32Array, readonly reentrant: boolean) {}

  /** Takes the lock for `code` if it is free (or already its own, re-entrant). */
  tryAcquire(code: number): number {
    const view = this.view;
    const mine = code << 1;
    const seen = Atomics.compareExchange(view, STATE, 0, mine);
    const died = seen === DIED &&
      Atomics.compareExchange(view, STATE, DIED, mine) === DIED;
    if (seen === 0 || died) {
      view[COUNT] = 1;
      if (died) view[RECOVERED] = 1;
      return died ? TAKEN_OVER : ACQUIRED;
    }
    if (this.reentrant && seen >> 1 === code) {
      view[COUNT]!++;
      return ACQUIRED;
    }
    return NOT_ACQUIRED;
  }

  /**
   * Takes the lock for `code`, waiting up to `timeout` ms (0: not at all).
   *
   * @returns NOT_ACQUIRED, ACQUIRED or TAKEN_OVER.
   */
  async acquire(
    code: number,
    timeout: number,
    signal?: AbortSignal,
  ): Promise<number> {
    signal?.throwIfAborted();
    const attempt = () => this.tryAcquire(code);
    return await this.acquireUntil(deadlineOf(timeout), signal, attempt);
  }

  /**
   * Tries `attempt` (which takes the lock as {@linkcode tryAcquire} does)
   * until it succeeds or the deadline passes, sleeping while the lock is
   * held. It sleeps on the state read after a failed attempt, never on one
   * read before it: a lock taken and freed in between would leave it asleep
   * on "free", which nobody changes again.
   *
   * @returns What `attempt` answered last (falsy at the deadline).
   * @throws The signal's reason when it aborts.
   */
  async acquireUntil<T>(
    deadline: number,
    signal: AbortSignal | undefined,
    attempt: () => T,
  ): Promise<T> {
    const view = this.view;
    for (;;) {
      const result = attempt();
      if (result || deadline <= performance.now()) return result;
      const value = this.#sleepOn(Atomics.load(view, STATE));
      if (value !== null) await waitWhile(view, STATE, value, deadline, signal);
    }
  }

  /** The state value a waiter sleeps on, or `null` to try again at once. */
  #sleepOn(value: number): number | null {
    // A worker may run on briefly after its death was handled, and take
    // the lock again: whoever would wait for it frees it instead.
    if (isFree(value) || this.reap(isDead)) return null;
    const marked = value | SLEEPERS;
    return value === marked ||
        Atomics.compareExchange(this.view, STATE, value, marked) === value
      ? marked
      : null;
  }

  /** The holder's code, or 0 when free. */
  holder(): number {
    const state = Atomics.load(this.view, STATE);
    return isFree(state) ? 0 : state >> 1;
  }

  /** Whether the current hold was taken over from a holder that died. */
  recovered(): boolean {
    return this.holder() !== 0 && this.view[RECOVERED] === 1;
  }

  /**
   * Releases on behalf of `code`: any holder's hold of a Lock, only the
   * holder's own of an RLock, once (freeing it at the last release).
   *
   * @throws {RangeError} When the lock is not held (by `code`, re-entrant).
   */
  release(code: number): void {
    const view = this.view;
    if (this.reentrant) {
      const holder = this.holder();
      if (holder !== code) {
        throw new RangeError(
          holder === 0
            ? "Cannot release the re-entrant lock as it is not held: acquire it first"
            : "Cannot release the re-entrant lock as another process holds it: only its owner may release it",
        );
      }
      if (--view[COUNT]! > 0) return;
    }
    const seen = this.free();
    if (isFree(seen)) {
      if (seen === DIED) Atomics.compareExchange(view, STATE, 0, DIED);
      throw new RangeError(
        "Cannot release the lock as it is not held: acquire it first",
      );
    }
  }

  /** Frees the lock, whoever holds it, waking its waiters; returns the state it had. */
  free(): number {
    const view = this.view;
    view[RECOVERED] = 0;
    const seen = Atomics.exchange(view, STATE, 0);
    if ((seen & SLEEPERS) !== 0) notify(view, STATE);
    return seen;
  }

  /**
   * Frees the lock if `holder` still holds it, marking that its holder
   * died, so the next acquirer learns of it. (Its other words are rewritten
   * by the next acquirer.)
   */
  forceRelease(holder: number): boolean {
    const view = this.view;
    for (;;) {
      const seen = Atomics.load(view, STATE);
      if (isFree(seen) || seen >> 1 !== holder) return false;
      if (Atomics.compareExchange(view, STATE, seen, DIED) === seen) break;
    }
    notify(view, STATE);
    return true;
  }

  /** Frees the lock if its holder is dead; whether it did. */
  reap(dead: (code: number) => boolean): boolean {
    const holder = this.holder();
    return holder !== 0 && dead(holder) && this.forceRelease(holder);
  }

  /**
   * Runs a short internal critical section holding the lock for this
   * isolate: at once if the lock is free, or freed within a brief spin (its
   * holder runs on another thread), else once it is acquired.
   */
  runLocked(section: () => void): void {
    const code = selfCode();
    const run = () => {
      try {
        section();
      } finally {
        this.release(code);
      }
    };
    for (let i = 0; i < 1_000_000; i++) {
      if (this.tryAcquire(code) !== NOT_ACQUIRED) return run();
    }
    this.acquire(code, Infinity).then(run);
  }
}

// ---------------------------------------------------------------------------
// Semaphore

/**
 * How many releases there were; the word after it counts the sleepers
 * (see `_futex.ts`'s `waitFor`).
 */
const RELEASES = 0;
const VALUE = 2;
const BOUND = 3;
/** How many 32-bit words a semaphore takes. */
const SEMAPHORE_WORDS = 4;
/** The largest value a semaphore can count to. */
export const MAX_SEMAPHORE_VALUE = 0x7fffffff;

/** A Semaphore (bounded, or not when `bound` is -1) in shared memory. */
export class SemaphoreCore {
  constructor(readonly view: Int32Array) {}

  /** A fresh buffer for a semaphore. */
  static newBuffer(value: number, bound: number): SharedArrayBuffer {
    const buffer = sharedBuffer(SEMAPHORE_WORDS * 4);
    const view = new Int32Array(buffer);
    view[VALUE] = value;
    view[BOUND] = bound;
    return buffer;
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

  async acquire(timeout: number, signal?: AbortSignal): Promise<boolean> {
    signal?.throwIfAborted();
    const ready = () => this.tryAcquire() || undefined;
    const deadline = deadlineOf(timeout);
    return await waitFor(this.view, RELEASES, deadline, signal, ready) ?? false;
  }

  /**
   * Adds `n` to the value, waking waiters.
   *
   * @throws {RangeError} When a bounded semaphore would exceed its bound.
   */
  release(n: number): void {
    const view = this.view;
    const bound = view[BOUND]!;
    const limit = bound >= 0 ? bound : MAX_SEMAPHORE_VALUE;
    for (;;) {
      const value = Atomics.load(view, VALUE);
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
    wake(view, RELEASES);
  }
}

// ---------------------------------------------------------------------------
// Event

/**
 * How many times the flag was set; the word after it counts the sleepers
 * (see `_futex.ts`'s `waitFor`).
 */
const SETS = 0;
const FLAG = 2;
/** How many 32-bit words an event takes. */
export const EVENT_WORDS = 3;

/** An Event in shared memory. */
export class EventCore {
  constructor(readonly view: Int32Array) {}

  isSet(): boolean {
    return Atomics.load(this.view, FLAG) === 1;
  }

  set(): void {
    if (Atomics.exchange(this.view, FLAG, 1) === 0) wake(this.view, SETS);
  }

  clear(): void {
    Atomics.store(this.view, FLAG, 0);
  }

  /** Waits until the flag is set (or was set at some point meanwhile). */
  async wait(timeout: number, signal?: AbortSignal): Promise<boolean> {
    signal?.throwIfAborted();
    const view = this.view;
    const sets = Atomics.load(view, SETS);
    const ready = () =>
      this.isSet() || Atomics.load(view, SETS) !== sets ? true : undefined;
    return await waitFor(view, SETS, deadlineOf(timeout), signal, ready) ??
      false;
  }
}

// ---------------------------------------------------------------------------
// Condition

/** Header words: the next waiter's ticket, and how many slots there are. */
const NEXT_TICKET = 0;
const CAPACITY = 1;
const CONDITION_HEADER = 2;
/** A slot's words: its state (the word its waiter sleeps on), code, ticket. */
const SLOT_WORDS = 3;
const SLOT_CODE = 1;
const SLOT_TICKET = 2;
/**
 * Slot states. A notifier leaves NOTIFIED in a waiter's slot, or a mark of
 * its own above it (a barrier's outcome), for the waiter to answer.
 */
const SLOT_FREE = 0;
const WAITING = 1;
export const CANCELLED = 2;
export const NOTIFIED = 3;

const INITIAL_SLOTS = 16;
/** At most this many waiters at once on one condition. */
export const MAX_CONDITION_WAITERS = 1 << 14;

function slotAt(slot: number): number {
  return CONDITION_HEADER + slot * SLOT_WORDS;
}

function conditionBytes(slots: number): number {
  return slotAt(slots) * 4;
}

/**
 * A Condition's waiters, in shared memory, and its lock: a slot per waiting task,
 * each with its own word to sleep on, so that `notify(n)` wakes exactly n
 * of them, oldest (lowest ticket) first. Slots are taken and freed only by
 * the holder of the condition's lock; a waiter that gives up marks its slot
 * with a CAS, and `reap` marks a dead waiter's slot for reuse.
 */
export class ConditionCore {
  #view: Int32Array;

  /** Opens the waiters in `buffer` of a condition on `lock`. */
  constructor(buffer: SharedArrayBuffer, readonly lock: LockCore) {
    this.#view = new Int32Array(buffer);
  }

  /** @throws {TypeError} When `caller` does not hold the lock. */
  checkHeld(caller: number, doing: string): void {
    if (this.lock.holder() !== caller) {
      throw new TypeError(
        `Cannot ${doing} the condition as its lock is not held: acquire it first`,
      );
    }
  }

  /** A fresh growable buffer for a condition. */
  static newBuffer(): SharedArrayBuffer {
    const buffer = sharedBuffer(
      conditionBytes(INITIAL_SLOTS),
      conditionBytes(MAX_CONDITION_WAITERS),
    );
    new Int32Array(buffer)[CAPACITY] = INITIAL_SLOTS;
    return buffer;
  }

  /**
   * Where each slot's words start, with this process's buffer grown to
   * every slot: another OS process may have added slots, and a buffer's
   * length is each one's own.
   */
  #slots(): number[] {
    const capacity = this.#view[CAPACITY]!;
    grownTo(this.#view.buffer as SharedArrayBuffer, conditionBytes(capacity));
    return Array.from({ length: capacity }, (_, slot) => slotAt(slot));
  }

  /**
   * Adds a waiter; the caller holds the condition's lock.
   *
   * @throws {RangeError} When too many tasks already wait.
   */
  #enqueue(code: number): number {
    const view = this.#view;
    const slots = this.#slots();
    const capacity = slots.length;
    const ticket = view[NEXT_TICKET]!;
    // Slots are taken in ticket order, so the search starts where the
    // oldest free one most likely is.
    let at = -1;
    for (let i = 0; i < capacity && at === -1; i++) {
      // Tickets wrap to negative numbers after 2³¹ waits.
      const slot = slots[((ticket >>> 0) + i) % capacity]!;
      if (Atomics.load(view, slot) === SLOT_FREE) at = slot;
    }
    if (at === -1) {
      if (capacity >= MAX_CONDITION_WAITERS) {
        throw new RangeError(
          `Cannot wait on the condition as ${MAX_CONDITION_WAITERS} tasks already wait on it`,
        );
      }
      at = slotAt(capacity);
      (view.buffer as SharedArrayBuffer).grow(conditionBytes(capacity * 2));
      view[CAPACITY] = capacity * 2;
    }
    view[at + SLOT_CODE] = code;
    view[at + SLOT_TICKET] = ticket;
    view[NEXT_TICKET] = (ticket + 1) | 0;
    Atomics.store(view, at, WAITING);
    return at;
  }

  /**
   * Waits on the condition for `caller`, which holds the lock: releases the
   * lock, sleeps on a slot until notified, `timeout` ms pass or `signal`
   * aborts, and takes the lock back before this settles.
   *
   * @returns How the wait ended: CANCELLED at the timeout, else NOTIFIED or
   * a notifier's mark.
   * @throws {TypeError} When `caller` does not hold the lock.
   * @throws The signal's reason when it aborts before a notification.
   */
  async wait(
    caller: number,
    timeout: number,
    signal: AbortSignal | undefined,
  ): Promise<number> {
    signal?.throwIfAborted();
    this.checkHeld(caller, "wait on");
    const view = this.#view;
    const lock = this.lock;
    const word = this.#enqueue(caller);
    // The lock is freed entirely, and its re-entry count restored after.
    const count = lock.view[COUNT]!;
    lock.free();
    let aborted = false;
    try {
      await waitWhile(view, word, WAITING, deadlineOf(timeout), signal);
    } catch {
      aborted = true;
    }
    // A waiter notified as it gave up was notified.
    Atomics.compareExchange(view, word, WAITING, CANCELLED);
    await lock.acquire(caller, Infinity);
    // Another task of the same process may have entered an RLock meanwhile.
    lock.view[COUNT]! += count - 1;
    const ended = Atomics.exchange(view, word, SLOT_FREE);
    if (aborted && ended === CANCELLED) throw signal!.reason;
    return ended;
  }

  /**
   * Wakes up to `n` waiters, oldest first, leaving `mark` in their slots;
   * the caller holds the lock.
   */
  notify(n: number, mark = NOTIFIED): void {
    const view = this.#view;
    const slots = this.#slots();
    // How many tickets were handed out since the slot's, through wrapping.
    const age = (at: number) =>
      (view[NEXT_TICKET]! - view[at + SLOT_TICKET]!) | 0;
    const waiting = slots.filter((at) => Atomics.load(view, at) === WAITING);
    let woken = 0;
    for (const at of waiting.sort((a, b) => age(b) - age(a))) {
      if (woken === n) return;
      if (Atomics.compareExchange(view, at, WAITING, mark) === WAITING) {
        notify(view, at, Infinity);
        woken++;
      }
    }
  }

  /**
   * Ends every wait with `mark`, also one that gave up and has not taken
   * the lock back yet (its slot can only be CANCELLED, as the caller holds
   * the lock); the caller holds the lock.
   */
  endAll(mark: number): void {
    this.notify(Infinity, mark);
    for (const at of this.#slots()) {
      Atomics.compareExchange(this.#view, at, CANCELLED, mark);
    }
  }

  /**
   * Frees the slots of dead waiters, so `notify()` does not count them. A
   * waiter's task the owner runs for it (and that still ends the wait)
   * finds its slot freed, as a notified one does.
   *
   * @returns Whether a dead waiter's wait had not ended.
   */
  reap(dead: (code: number) => boolean): boolean {
    const view = this.#view;
    let pending = false;
    for (const at of this.#slots()) {
      const state = Atomics.load(view, at);
      if (state !== SLOT_FREE && dead(view[at + SLOT_CODE]!)) {
        pending ||= state === WAITING || state === CANCELLED;
        Atomics.compareExchange(view, at, state, SLOT_FREE);
      }
    }
    return pending;
  }
}
