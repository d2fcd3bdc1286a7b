// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// The seam between a Pool and a message engine that carries its tasks to
// workers on other hosts. The engine moves opaque bytes and counts
// deliveries; the Pool and the worker own the codec, so another engine
// (NATS, SQS, a database) is a new implementation of these few methods, not
// a new Pool.
import type { Outcome, Unit } from "./_pool_worker.ts";

/**
 * A message engine that carries a pool's tasks to remote workers and their
 * results back, such as the one {@linkcode redisBroker} makes (from
 * `@mp/multiprocessing/redis`).
 *
 * Tasks and results are opaque bytes to the broker: it delivers each task
 * to one worker at least once (again after a worker stops answering), and
 * each pool drops the duplicates by task id.
 */
export interface Broker {
  /** Where the broker connects, for messages (no password). */
  readonly address: string;
  /** How many times a task is delivered before it fails. */
  readonly maxDeliveries: number;
  /**
   * Connects a pool's side: it sends tasks and hears their results.
   *
   * @param name The queue the pool and its workers share.
   * @param events Receives result batches, a reset (the engine lost what
   * it held: send again what is unanswered) and a lost connection.
   * @returns The pool's link, once connected.
   * @throws {Error} When the engine cannot be reached within its connect
   * timeout.
   */
  connectPool(name: string, events: BrokerPoolEvents): Promise<BrokerPoolLink>;
  /**
   * Connects a worker's side: it takes tasks and answers them.
   *
   * @param name The queue to serve.
   * @param events Hears which running tasks their pools no longer want.
   * @returns The worker's link, once connected.
   * @throws {Error} When the engine cannot be reached within its connect
   * timeout.
   */
  connectWorker(
    name: string,
    events: BrokerWorkerEvents,
  ): Promise<BrokerWorkerLink>;
}

/** What a broker tells the pool that connected. */
export interface BrokerPoolEvents {
  /** A batch of results, as a worker answered it. */
  results(body: Uint8Array): void;
  /** The engine came back without the pool's tasks: send them again. */
  reset(): void;
  /** The connection is gone for good. */
  lost(error: Error): void;
}

/** A pool's connection to its broker. */
export interface BrokerPoolLink {
  /**
   * Sends one task entry (one or more tasks, encoded).
   *
   * @returns A function that takes the entry back: a worker that has not
   * taken it yet never will (one that has runs it on).
   */
  send(body: Uint8Array): () => void;
  /**
   * Asks whichever worker holds these tasks (by the ids in their units) to
   * stop them; whatever they answer is dropped.
   */
  cancel(ids: readonly number[]): void;
  /** Workers seen serving this queue lately: a recent count, not a live one. */
  workers(): number;
  /** Disconnects, dropping what is left of the pool's results. */
  close(): Promise<void>;
}

/** One task entry a worker took. */
export interface BrokerTask {
  /** The encoded tasks. */
  readonly body: Uint8Array;
  /** How many times it has been delivered, this time included. */
  readonly deliveries: number;
  /**
   * The ids of its units that its pool cancelled before this worker took
   * it: they are not run.
   */
  readonly cancelled: ReadonlySet<number>;
}

/** What a broker tells the worker that connected. */
export interface BrokerWorkerEvents {
  /** The pool that sent `task` no longer wants the units with these ids. */
  cancelled(task: BrokerTask, ids: readonly number[]): void;
}

/** A worker's connection to its broker. */
export interface BrokerWorkerLink {
  /**
   * Takes up to `max` task entries: new ones, and those whose worker
   * stopped answering. Resolves empty after a short wait with none.
   */
  take(max: number): Promise<BrokerTask[]>;
  /** Writes the results of a task entry, then acknowledges it. */
  answer(task: BrokerTask, body: Uint8Array): Promise<void>;
  /** Gives a task entry back at once, for another worker to take. */
  giveBack(task: BrokerTask): Promise<void>;
  /** Disconnects. */
  close(): Promise<void>;
}

/**
 * How a worker runs a task through its local pool, unit in, outcome out;
 * `pool.ts` fills it in (a private method, reached without making it API).
 */
export const poolInternals: {
  runUnit?: (
    pool: object,
    unit: Unit,
    signal: AbortSignal,
  ) => Promise<Outcome>;
} = {};

/** Checks the name of a queue a pool shares with its workers. */
export function validateQueueName(name: unknown): void {
  if (typeof name !== "string" || !/^[\w.:-]{1,200}$/.test(name)) {
    throw new TypeError(
      `Cannot use queue name ${
        JSON.stringify(name) ?? String(name)
      }: use 1 to 200 letters, digits, "_", "-", "." or ":"`,
    );
  }
}
