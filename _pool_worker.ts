// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// The child's side of a Pool: a Process target that takes batches of tasks
// from its own queue, runs them one at a time in the order sent, and puts
// each outcome on the pool's result queue as soon as it has one. Running in
// order, and answering before the next task starts, is what lets the parent
// know which task a dead child was running: the first one it sent that has
// no answer yet.
import { toWireError, type WireError } from "./_errors_wire.ts";
import { spinUpTo } from "./_futex.ts";
import { rebuild } from "./_reduce.ts";
import { takePosted } from "./_runtime.ts";
import { findExport, importWork, notExportedMessage } from "./_target.ts";
// A value import: the queues in a child's arguments are rebuilt with no
// module load of their own, one load fewer before the first task.
import type { Queue } from "./queue.ts";
import "./queue.ts";

/** How a task unit calls its function. */
export const APPLY = 0;
/** `fn(item)` for each item of the payload (a chunk of `map`). */
export const MAP = 1;
/** `fn(...args)` for each argument list of the payload (`starmap`). */
export const STARMAP = 2;

/** A unit's flag: its payload comes by message (`takePosted`), with moved buffers. */
export const POSTED = 1;
/**
 * A unit's flag: the parent had nothing else in flight when it sent this
 * one, so it likely awaits the answer before it sends more.
 */
export const AWAITED = 2;

/** One unit of work: a task, or a chunk of a map. */
export type Unit = [
  id: number,
  module: string,
  name: string,
  kind: typeof APPLY | typeof MAP | typeof STARMAP,
  payload: unknown[],
  /** {@linkcode POSTED} and {@linkcode AWAITED}, or'ed. */
  flags?: number,
];

/** What the parent puts on a child's queue: units to run, or `null` to stop. */
export type TaskMessage = Unit[] | null;

/** An error as a child sends it: the record, and its own cloneable fields. */
export interface Failure {
  error: WireError;
  props?: Record<string, unknown>;
}

/**
 * What a child answers for one unit: its id, whether it succeeded, the value
 * (or the failure and, for a chunk, the values before it), when it started
 * (ms since the epoch, high resolution) and how long it ran (ms).
 */
export type Outcome =
  | [id: number, ok: 1, value: unknown, started: number, ran: number]
  | [
    id: number,
    ok: 0,
    failure: Failure,
    started: number,
    ran: number,
    partial?: unknown[],
  ];

/** What a child puts on the result queue. */
export type ResultMessage =
  | Outcome
  | [kind: "init", slot: number, failure: Failure];

/** How the parent sets up one child. */
export interface WorkerInit {
  slot: number;
  /** The tasks' module, loaded while the first task is on its way. */
  module: string;
  initializer?: [module: string, name: string];
  initargs: unknown[];
}

const namespaces = new Map<string, Promise<Record<string, unknown>>>();
const functions = new Map<string, (...args: unknown[]) => unknown>();

async function lookUp(
  module: string,
  name: string,
): Promise<(...args: unknown[]) => unknown> {
  const key = `${module}#${name}`;
  const known = functions.get(key);
  if (known !== undefined) return known;
  let namespace = namespaces.get(module);
  if (namespace === undefined) {
    namespace = importWork(module);
    namespaces.set(module, namespace);
  }
  const fn = findExport(await namespace, name);
  if (fn === undefined) {
    throw new TypeError(
      notExportedMessage(name, module, {
        action: "run the task",
        option: "the pool's `module`",
      }),
    );
  }
  functions.set(key, fn);
  return fn;
}

/** Turns anything thrown into what a child sends, keeping cloneable fields. */
export function toFailure(thrown: unknown): Failure {
  const failure: Failure = { error: toWireError(thrown) };
  if (thrown instanceof Error) {
    const props: Record<string, unknown> = {};
    let any = false;
    for (const key of Object.keys(thrown)) {
      if (key === "name" || key === "message" || key === "stack") continue;
      try {
        const value = (thrown as unknown as Record<string, unknown>)[key];
        structuredClone(value);
        props[key] = value;
        any = true;
      } catch {
        // A field that cannot cross is left behind; the error still does.
      }
    }
    if (any) failure.props = props;
  }
  return failure;
}

const now = () => performance.timeOrigin + performance.now();

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null &&
    (typeof value === "object" || typeof value === "function") &&
    typeof (value as { then?: unknown }).then === "function";
}

/**
 * Runs a single task whose function is loaded without taking a turn: most
 * tasks of a busy pool. `undefined` leaves it to {@linkcode runUnit}.
 */
function runAtOnce(unit: Unit): Outcome | Promise<Outcome> | undefined {
  const [id, module, name, kind, payload, flags = 0] = unit;
  if (kind !== APPLY || (flags & POSTED) !== 0) return undefined;
  const fn = functions.get(`${module}#${name}`);
  if (fn === undefined) return undefined;
  const started = now();
  const failed = (error: unknown): Outcome => [
    id,
    0,
    toFailure(error),
    started,
    now() - started,
  ];
  try {
    const value = fn(...payload);
    if (!isThenable(value)) return [id, 1, value, started, now() - started];
    return Promise.resolve(value).then(
      (settled): Outcome => [id, 1, settled, started, now() - started],
      failed,
    );
  } catch (error) {
    return failed(error);
  }
}

/** A payload the parent moved to this worker, with its buffers. */
async function postedPayload(id: number): Promise<unknown[]> {
  const { payload, reduced } = await takePosted(id) as {
    payload: unknown[];
    reduced: boolean;
  };
  return reduced ? await rebuild(payload) as unknown[] : payload;
}

async function runUnit(unit: Unit): Promise<Outcome> {
  const [id, module, name, kind, sent, flags = 0] = unit;
  const started = now();
  const values: unknown[] = [];
  try {
    const payload = (flags & POSTED) !== 0 ? await postedPayload(id) : sent;
    const fn = await lookUp(module, name);
    if (kind === APPLY) {
      let value = fn(...payload);
      if (isThenable(value)) value = await value;
      return [id, 1, value, started, now() - started];
    }
    for (const item of payload) {
      let value = kind === MAP ? fn(item) : fn(...item as unknown[]);
      if (isThenable(value)) value = await value;
      values.push(value);
    }
    return [id, 1, values, started, now() - started];
  } catch (error) {
    const outcome: Outcome = [
      id,
      0,
      toFailure(error),
      started,
      now() - started,
    ];
    if (kind !== APPLY) outcome.push(values);
    return outcome;
  }
}

function send(results: Queue<ResultMessage>, outcome: Outcome): void {
  try {
    results.putNowait(outcome);
  } catch (error) {
    // The value cannot cross: the task fails, the child goes on.
    const failure = toFailure(
      new TypeError(
        `Cannot send the result of the task to the pool: ${
          (error as Error).message
        }`,
      ),
    );
    results.putNowait([outcome[0], 0, failure, outcome[3], outcome[4]]);
  }
}

/**
 * The target every pool child runs: set up, then serve tasks until told to
 * stop.
 */
export async function poolWorker(
  tasks: Queue<TaskMessage>,
  results: Queue<ResultMessage>,
  init: WorkerInit,
): Promise<void> {
  const loading = importWork(init.module);
  // Handled here so a module that fails to load fails its tasks, not the child.
  loading.catch(() => {});
  namespaces.set(init.module, loading);
  if (init.initializer !== undefined) {
    try {
      const [module, name] = init.initializer;
      const fn = await lookUp(module, name);
      const value = fn(...init.initargs);
      if (isThenable(value)) await value;
    } catch (error) {
      results.putNowait(["init", init.slot, toFailure(error)]);
      // Stays until stopped: an exit could reach the parent before the
      // report, and fail the tasks sent here as a crash instead.
      while (await tasks.get() !== null);
      return;
    }
  }
  for (let awaited = false;;) {
    // After an awaited task, the parent is likely awaiting each task in
    // turn and sends the next within a millisecond: a child that slept
    // through it would make every hop a wake-up. Otherwise the parent is
    // busy with other tasks' results, or sending more, and a long spin
    // would take the CPU it needs (imap over 2 children fell from 66k to
    // 27k items/s when every child spun after each task of one).
    spinUpTo(awaited ? 1 : 0);
    const batch = await tasks.get();
    if (batch === null) return;
    awaited = batch.length === 1 && ((batch[0]![5] ?? 0) & AWAITED) !== 0;
    for (const unit of batch) {
      let outcome = runAtOnce(unit) ?? runUnit(unit);
      if (outcome instanceof Promise) outcome = await outcome;
      send(results, outcome);
      // One turn, so the answer leaves before the next task starts: a child
      // killed inside that task has answered for every one before it.
      await null;
    }
  }
}
