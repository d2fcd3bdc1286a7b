// Copyright 2026 the @mp/multiprocessing authors. MIT license.
/**
 * {@linkcode serveWorker} and the `worker.ts` command: run the tasks of
 * `Pool`s with a `broker` on this host, with a local pool of children of
 * either start method.
 *
 * ```sh
 * deno run -A worker.ts --broker redis://host:6379 --name jobs \
 *   --module ./tasks.ts --processes 4 [--start-method subprocess] \
 *   [--authkey KEY] [--visibility-timeout 30000] [--max-deliveries 3]
 * ```
 *
 * Functions travel by reference: a task names an export of `--module`,
 * which this worker imports; its arguments and result are data, encoded
 * with the package's codec, and nothing from the stream is evaluated. On
 * SIGTERM (or SIGINT) the worker takes no more tasks, finishes what it holds
 * within `--grace` ms, hands back the rest for other workers, and exits 0.
 *
 * @example Serve a queue from code
 * ```ts ignore
 * import { serveWorker } from "@mp/multiprocessing/worker";
 * import { redisBroker } from "@mp/multiprocessing/redis";
 *
 * const stop = new AbortController();
 * Deno.addSignalListener("SIGTERM", () => stop.abort());
 * await serveWorker({
 *   broker: redisBroker("redis://localhost:6379"),
 *   name: "jobs",
 *   module: new URL("./tasks.ts", import.meta.url),
 *   processes: 4,
 *   signal: stop.signal,
 * });
 * ```
 *
 * @module
 */
import {
  type Broker,
  type BrokerTask,
  type BrokerWorkerLink,
  poolInternals,
  validateQueueName,
} from "./_broker.ts";
import { decode, encode } from "./_codec.ts";
import { type Outcome, toFailure, type Unit } from "./_pool_worker.ts";
import { ProcessError } from "./errors.ts";
import { Pool } from "./pool.ts";
import { cpuCount, getStartMethod, type StartMethod } from "./process.ts";

export type { Broker } from "./_broker.ts";
export type { StartMethod } from "./process.ts";

/** Options for {@linkcode serveWorker}. */
export interface ServeWorkerOptions {
  /** Where the tasks come from, such as `redisBroker(url)`. */
  broker: Broker;
  /**
   * The queue to serve: the pools' `name`.
   *
   * @default {"default"}
   */
  name?: string;
  /** The module that exports the task functions. */
  module: string | URL;
  /**
   * How many children run tasks at once.
   *
   * @default {cpuCount()}
   */
  processes?: number;
  /**
   * How the children are created.
   *
   * @default {getStartMethod()}
   */
  startMethod?: StartMethod;
  /** Stops the worker: no more tasks are taken, held ones finish. */
  signal?: AbortSignal;
  /**
   * Milliseconds held tasks may run on after `signal` aborts; what is not
   * done by then is handed back to other workers.
   *
   * @default {10000}
   */
  grace?: number;
  /** Called once connected and serving. */
  onReady?: () => void;
}

const now = () => performance.timeOrigin + performance.now();

function isUnit(value: unknown): value is Unit {
  return Array.isArray(value) && value.length === 5 &&
    typeof value[0] === "number" && typeof value[2] === "string" &&
    (value[3] === 0 || value[3] === 1 || value[3] === 2) &&
    Array.isArray(value[4]);
}

function failed(id: number, error: Error): Outcome {
  const at = now();
  return [id, 0, toFailure(error), at, 0];
}

/** Encodes the outcomes; one whose value cannot be sent fails alone. */
function encodeOutcomes(outcomes: Outcome[]): Uint8Array {
  try {
    return encode(outcomes);
  } catch {
    return encode(outcomes.map((outcome) => {
      try {
        encode(outcome);
        return outcome;
      } catch (error) {
        return failed(
          outcome[0],
          new TypeError(
            `Cannot send the result of the task to the pool: ${
              (error as Error).message
            }`,
          ),
        );
      }
    }));
  }
}

/**
 * Serves the tasks of the pools that share `name` on `broker`, until
 * `signal` aborts: takes them as its children have room, runs them, and
 * answers each task entry once its results are written.
 *
 * @param options The broker, queue name, task module, children and signal.
 * @returns Once stopped, with what it held finished or handed back.
 * @throws {TypeError} When `broker`, `name` or `module` is missing or wrong.
 * @throws {Error} When the broker cannot be reached, or the connection is
 * lost for good.
 *
 * @example Usage
 * ```ts ignore
 * import { serveWorker } from "@mp/multiprocessing/worker";
 * import { redisBroker } from "@mp/multiprocessing/redis";
 *
 * await serveWorker({
 *   broker: redisBroker("redis+unix:///run/redis.sock"),
 *   name: "jobs",
 *   module: "file:///srv/tasks.ts",
 *   signal: AbortSignal.timeout(60_000),
 * });
 * ```
 */
export async function serveWorker(options: ServeWorkerOptions): Promise<void> {
  const {
    broker,
    name = "default",
    module,
    processes = cpuCount(),
    startMethod = getStartMethod(),
    signal,
    grace = 10_000,
    onReady,
  } = options;
  if (broker === undefined || typeof broker.connectWorker !== "function") {
    throw new TypeError(
      "Cannot serve as broker is missing: pass one, such as redisBroker(url)",
    );
  }
  validateQueueName(name);
  if (module === undefined) {
    throw new TypeError(
      "Cannot serve as module is missing: pass the URL of the module that exports the task functions",
    );
  }
  const moduleUrl = new URL(module).href;
  const pool = new Pool({ processes, startMethod, module: moduleUrl });
  /** Per held task, how to stop each of its units. */
  const stoppers = new Map<BrokerTask, Map<number, AbortController>>();
  const cancelled = (task: BrokerTask, ids: readonly number[]) => {
    const units = stoppers.get(task);
    for (const id of ids) {
      units?.get(id)?.abort(
        new Error("Stopped the task as its pool cancelled it"),
      );
    }
  };
  let link: BrokerWorkerLink;
  try {
    link = await broker.connectWorker(name, { cancelled });
  } catch (error) {
    pool.terminate();
    await pool.join();
    throw error;
  }
  const runUnit = poolInternals.runUnit!;
  const held = new Map<BrokerTask, Promise<void>>();
  const handedBack = new Set<BrokerTask>();
  let averageRun = -1;
  // Enough tasks held to keep every child busy for ~20 ms between takes,
  // few enough that long tasks spread over every worker.
  const limit = () =>
    processes *
    (averageRun < 0
      ? 2
      : Math.max(2, Math.min(64, Math.ceil(20 / Math.max(averageRun, 0.01)))));

  const run = async (task: BrokerTask): Promise<void> => {
    let units: Unit[];
    try {
      const decoded = decode(task.body);
      if (!Array.isArray(decoded) || !decoded.every(isUnit)) throw 0;
      units = decoded.filter((unit) => !task.cancelled.has(unit[0]));
    } catch {
      console.error("Dropped a task entry that is not a list of tasks");
      await link.answer(task, encode([]));
      return;
    }
    let outcomes: Outcome[];
    if (task.deliveries > broker.maxDeliveries) {
      const error = new ProcessError(
        `Cannot finish the task as it was tried ${
          task.deliveries - 1
        } times and its worker never answered (it died or stopped): maxDeliveries is ${broker.maxDeliveries}`,
      );
      outcomes = units.map((unit) => failed(unit[0], error));
    } else {
      const stops = new Map(
        units.map((unit) => [unit[0], new AbortController()]),
      );
      stoppers.set(task, stops);
      try {
        outcomes = await Promise.all(
          units.map((unit) =>
            runUnit(
              pool,
              [unit[0], moduleUrl, unit[2], unit[3], unit[4]],
              stops.get(unit[0])!.signal,
            )
          ),
        );
      } finally {
        stoppers.delete(task);
      }
      for (const outcome of outcomes) {
        const ran = outcome[4];
        averageRun = averageRun < 0 ? ran : averageRun * 0.8 + ran * 0.2;
      }
    }
    if (handedBack.has(task)) return;
    await link.answer(task, encodeOutcomes(outcomes));
  };

  const start = (task: BrokerTask) => {
    const running = run(task).catch(() => {
      // Not answered (the connection is down): it stays pending, and
      // another worker, or this one, claims it after the visibility
      // timeout.
    }).finally(() => held.delete(task));
    held.set(task, running);
  };

  const stopped = new Promise<void>((resolve) => {
    if (signal?.aborted) resolve();
    signal?.addEventListener("abort", () => resolve(), { once: true });
  });
  let failure: unknown = null;
  onReady?.();
  try {
    while (!signal?.aborted) {
      const room = limit() - held.size;
      if (room <= 0) {
        await Promise.race([...held.values(), stopped]);
        continue;
      }
      const tasks = await link.take(room);
      for (const task of tasks) {
        if (signal?.aborted) {
          await link.giveBack(task).catch(() => {});
        } else start(task);
      }
    }
  } catch (error) {
    failure = error;
  }
  // Finish what is held, within the grace period; hand back the rest.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, failure === null ? grace : 0);
  });
  await Promise.race([Promise.all(held.values()), late]);
  clearTimeout(timer);
  for (const task of held.keys()) {
    handedBack.add(task);
    await link.giveBack(task).catch(() => {});
  }
  pool.terminate();
  await pool.join();
  await Promise.all(held.values());
  await link.close();
  if (failure !== null) throw failure;
}

// --- the command ----------------------------------------------------------

const USAGE =
  `Usage: deno run -A worker.ts --broker URL --module PATH_OR_URL [--name NAME]
  [--processes N] [--start-method worker|subprocess] [--authkey KEY]
  [--visibility-timeout MS] [--max-deliveries N] [--grace MS]

  --broker              redis://host:port/db, rediss://… or redis+unix:///path.sock
  --module              the module that exports the task functions
  --name                the queue, as the pools' \`name\` (default "default")
  --authkey             the pools' authkey (or set MP_AUTHKEY)
`;

function parseFlags(args: string[]): Map<string, string> {
  const flags = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--help" || arg === "-h") {
      flags.set("help", "");
      continue;
    }
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (match === null) throw new TypeError(`Cannot read argument ${arg}`);
    const value = match[2] ?? args[++i];
    if (value === undefined) {
      throw new TypeError(`Cannot read --${match[1]}: it needs a value`);
    }
    flags.set(match[1]!, value);
  }
  return flags;
}

function numberFlag(flags: Map<string, string>, name: string) {
  const value = flags.get(name);
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isFinite(number)) {
    throw new TypeError(`Cannot read --${name} ${value}: it must be a number`);
  }
  return number;
}

async function main(args: string[]): Promise<number> {
  let flags: Map<string, string>;
  try {
    flags = parseFlags(args);
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (flags.has("help")) {
    console.log(USAGE);
    return 0;
  }
  const url = flags.get("broker");
  const module = flags.get("module");
  if (url === undefined || module === undefined) {
    console.error(
      `Cannot start the worker without --broker and --module\n\n${USAGE}`,
    );
    return 2;
  }
  const known = new Set([
    "broker",
    "module",
    "name",
    "processes",
    "start-method",
    "authkey",
    "visibility-timeout",
    "max-deliveries",
    "grace",
    "connect-timeout",
  ]);
  for (const flag of flags.keys()) {
    if (!known.has(flag)) {
      console.error(
        `Cannot start the worker: unknown flag --${flag}\n\n${USAGE}`,
      );
      return 2;
    }
  }
  const { redisBroker } = await import("./redis.ts");
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  Deno.addSignalListener("SIGTERM", onSignal);
  Deno.addSignalListener("SIGINT", onSignal);
  try {
    const authkey = flags.get("authkey") ?? Deno.env.get("MP_AUTHKEY");
    const visibilityTimeout = numberFlag(flags, "visibility-timeout");
    const maxDeliveries = numberFlag(flags, "max-deliveries");
    const connectTimeout = numberFlag(flags, "connect-timeout");
    const broker = redisBroker(url, {
      ...(authkey === undefined ? {} : { authkey }),
      ...(visibilityTimeout === undefined ? {} : { visibilityTimeout }),
      ...(maxDeliveries === undefined ? {} : { maxDeliveries }),
      ...(connectTimeout === undefined ? {} : { connectTimeout }),
    });
    const name = flags.get("name") ?? "default";
    const processes = numberFlag(flags, "processes") ?? cpuCount();
    const startMethod =
      (flags.get("start-method") ?? getStartMethod()) as StartMethod;
    const grace = numberFlag(flags, "grace");
    await serveWorker({
      broker,
      name,
      module: new URL(module, `file://${Deno.cwd()}/`),
      processes,
      startMethod,
      signal: stop.signal,
      ...(grace === undefined ? {} : { grace }),
      onReady: () =>
        console.log(
          `worker ${Deno.pid} serving ${name} at ${broker.address} with ${processes} ${startMethod} processes`,
        ),
    });
    return 0;
  } catch (error) {
    console.error(`worker: ${(error as Error).message}`);
    return 1;
  } finally {
    Deno.removeSignalListener("SIGTERM", onSignal);
    Deno.removeSignalListener("SIGINT", onSignal);
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
