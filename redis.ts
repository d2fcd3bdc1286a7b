// Copyright 2026 the @mp/multiprocessing authors. MIT license.
/**
 * {@linkcode redisBroker}: carries a {@linkcode Pool}'s tasks over Redis
 * Streams to workers on any host (`worker.ts`), and their results back.
 *
 * Tasks go to the stream `mp:<name>:tasks`, read by the workers through the
 * consumer group `mp`; each pool reads its results from its own stream. A
 * worker acknowledges a task entry in the same transaction that writes its
 * results; one that stops answering for `visibilityTimeout` ms has its
 * entries claimed by another worker (`XAUTOCLAIM`), up to `maxDeliveries`
 * times, after which the tasks fail saying how many times they were tried.
 * With an `authkey`, every task and result entry carries an HMAC-SHA256 of
 * the whole entry, and entries without a valid one are refused.
 *
 * This is the only module of the package that imports a client library
 * (`npm:redis`, node-redis 5); it needs `--allow-net` (and read and write
 * access to a unix socket it connects to).
 *
 * @example A pool whose tasks run on remote workers
 * ```ts ignore
 * import { Pool } from "@mp/multiprocessing/pool";
 * import { redisBroker } from "@mp/multiprocessing/redis";
 *
 * export function square(x: number) {
 *   return x * x;
 * }
 *
 * if (import.meta.main) {
 *   // Workers: deno run -A worker.ts --broker redis://localhost:6379 \
 *   //   --name jobs --module ./this_file.ts --processes 4
 *   await using pool = new Pool({
 *     broker: redisBroker("redis://localhost:6379"),
 *     name: "jobs",
 *   });
 *   console.log(await pool.map(square, [1, 2, 3])); // [ 1, 4, 9 ]
 * }
 * ```
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createHmac, timingSafeEqual } from "node:crypto";
import { createClient, RESP_TYPES } from "redis";
import type {
  Broker,
  BrokerPoolEvents,
  BrokerPoolLink,
  BrokerTask,
  BrokerWorkerEvents,
  BrokerWorkerLink,
} from "./_broker.ts";
import { validateQueueName } from "./_broker.ts";

export type {
  Broker,
  BrokerPoolEvents,
  BrokerPoolLink,
  BrokerTask,
  BrokerWorkerEvents,
  BrokerWorkerLink,
} from "./_broker.ts";

/** Options for {@linkcode redisBroker}. */
export interface RedisBrokerOptions {
  /**
   * A shared secret: the pool signs every task with it and workers refuse
   * entries without a valid signature (results are signed the same way),
   * so whoever can write to Redis cannot run a function with arguments of
   * their choosing. Pools and workers must use the same key.
   *
   * @default {undefined}
   */
  authkey?: string | Uint8Array;
  /**
   * Milliseconds a task may go without word from the worker holding it (a
   * live worker renews its hold every third of this) before another
   * worker claims it.
   *
   * @default {30000}
   */
  visibilityTimeout?: number;
  /**
   * How many times a task is delivered before it fails instead (a task
   * that keeps killing its worker).
   *
   * @default {3}
   */
  maxDeliveries?: number;
  /**
   * Milliseconds to wait for the first connection before failing.
   *
   * @default {5000}
   */
  connectTimeout?: number;
  /**
   * Milliseconds to keep reconnecting after the connection is lost (a Redis
   * restart) before giving up: pending tasks then fail.
   *
   * @default {10000}
   */
  reconnectTimeout?: number;
}

const GROUP = "mp";
const BUFFERS = { [RESP_TYPES.BLOB_STRING]: Buffer } as const;
// How long a blocking read waits before it looks again (for a close).
const BLOCK_MS = 200;

// Results are written only while their pool's marker key exists: a pool
// that is gone (closed, terminated) leaves no stream behind.
const ANSWER_SCRIPT = `
if redis.call('EXISTS', KEYS[3]) == 1 then
  if ARGV[4] == '' then
    redis.call('XADD', KEYS[2], '*', 'b', ARGV[3])
  else
    redis.call('XADD', KEYS[2], '*', 'b', ARGV[3], 's', ARGV[4])
  end
end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
return 1`;
const RESULTS_KEY = /^mp:[\w.:-]+:results:[0-9a-f-]{36}$/;

/** A pool's marker key, from its results stream's. */
/** Where pools of queue `name` say which tasks they no longer want. */
function cancelChannelOf(name: string): string {
  return `mp:${name}:cancel`;
}

function workersKeyOf(name: string): string {
  return `mp:${name}:workers`;
}

function markerOf(resultsKey: string): string {
  return resultsKey.replace(/:results:([0-9a-f-]{36})$/, ":pool:$1");
}

type Client = ReturnType<typeof createClient>;
type Fields = Map<string, Buffer>;
type StreamEntry = { id: string; fields: Fields };

/** Where and how to connect, parsed once from the URL. */
interface Target {
  address: string;
  options: Parameters<typeof createClient>[0] & object;
}

function parseUrl(url: string | URL): Target {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(
      `Cannot use Redis URL ${
        JSON.stringify(String(url))
      }: write redis://host:port/db, rediss://… or redis+unix:///path/to/redis.sock`,
    );
  }
  // Messages name the address, never the password (in either place).
  const shown = new URL(parsed.href);
  shown.password = "";
  if (shown.searchParams.has("password")) {
    shown.searchParams.set("password", "");
  }
  const address = shown.href;
  if (parsed.protocol === "redis:" || parsed.protocol === "rediss:") {
    return { address, options: { url: parsed.href } };
  }
  if (parsed.protocol === "redis+unix:" || parsed.protocol === "unix:") {
    const path = decodeURIComponent(parsed.pathname);
    if (path === "" || path === "/") {
      throw new TypeError(
        `Cannot use Redis URL ${address} as it names no socket: write redis+unix:///path/to/redis.sock`,
      );
    }
    const query = parsed.searchParams;
    const password = query.get("password") ??
      (parsed.password === ""
        ? undefined
        : decodeURIComponent(parsed.password));
    const username = query.get("user") ??
      (parsed.username === ""
        ? undefined
        : decodeURIComponent(parsed.username));
    const db = query.get("db");
    return {
      address,
      options: {
        socket: { path, tls: false },
        ...(password === undefined ? {} : { password }),
        ...(username === undefined ? {} : { username }),
        ...(db === null ? {} : { database: Number(db) }),
      },
    };
  }
  throw new TypeError(
    `Cannot use Redis URL ${address} as its scheme is ${parsed.protocol}: use redis:, rediss: or redis+unix:`,
  );
}

function validateMs(name: string, value: number, least: number): number {
  if (typeof value !== "number" || !(value >= least) || value === Infinity) {
    throw new RangeError(
      `Cannot create the Redis broker as ${name} is ${value}: it must be a finite number of milliseconds, ${least} or more`,
    );
  }
  return value;
}

/**
 * Makes a broker that carries a pool's tasks over Redis Streams; pass it as
 * the `broker` of a {@linkcode Pool} and of `serveWorker` (or the URL to
 * `worker.ts --broker`). Connections open when a pool or worker starts.
 *
 * @param url `redis://[user:password@]host:port/db`, `rediss://…` (TLS) or
 * `redis+unix:///path/to/redis.sock[?db=0&user=…&password=…]` (or
 * `redis+unix://user:password@localhost/path/to/redis.sock`).
 * @param options `authkey`, `visibilityTimeout`, `maxDeliveries`,
 * `connectTimeout` and `reconnectTimeout`.
 * @returns The broker.
 * @throws {TypeError} When the URL is not one of those forms.
 * @throws {RangeError} When an option is out of range.
 *
 * @example Usage
 * ```ts ignore
 * import { Pool } from "@mp/multiprocessing/pool";
 * import { redisBroker } from "@mp/multiprocessing/redis";
 *
 * const broker = redisBroker("redis://localhost:6379/0", {
 *   authkey: "secret",
 *   visibilityTimeout: 10_000,
 * });
 * await using pool = new Pool({ broker, name: "jobs" });
 * ```
 */
export function redisBroker(
  url: string | URL,
  options: RedisBrokerOptions = {},
): Broker {
  const {
    authkey,
    visibilityTimeout = 30_000,
    maxDeliveries = 3,
    connectTimeout = 5_000,
    reconnectTimeout = 10_000,
  } = options;
  const target = parseUrl(url);
  validateMs("visibilityTimeout", visibilityTimeout, 10);
  validateMs("connectTimeout", connectTimeout, 1);
  validateMs("reconnectTimeout", reconnectTimeout, 0);
  if (!Number.isInteger(maxDeliveries) || maxDeliveries < 1) {
    throw new RangeError(
      `Cannot create the Redis broker as maxDeliveries is ${maxDeliveries}: it must be an integer greater than 0`,
    );
  }
  if (
    authkey !== undefined && typeof authkey !== "string" &&
    !(authkey instanceof Uint8Array)
  ) {
    throw new TypeError(
      `Cannot create the Redis broker as authkey is ${typeof authkey}: pass a string or a Uint8Array`,
    );
  }
  const config: Config = {
    target,
    signer: authkey === undefined ? null : new Signer(authkey),
    visibilityTimeout,
    maxDeliveries,
    connectTimeout,
    reconnectTimeout,
  };
  return {
    address: target.address,
    maxDeliveries,
    connectPool: (name, events) => {
      validateQueueName(name);
      return RedisPoolLink.connect(config, name, events);
    },
    connectWorker: (name, events) => {
      validateQueueName(name);
      return RedisWorkerLink.connect(config, name, events);
    },
  };
}

interface Config {
  target: Target;
  signer: Signer | null;
  visibilityTimeout: number;
  maxDeliveries: number;
  connectTimeout: number;
  reconnectTimeout: number;
}

/** HMAC-SHA256 over an entry's parts, each part framed by its length. */
class Signer {
  #key: Uint8Array;
  constructor(key: string | Uint8Array) {
    this.#key = typeof key === "string" ? new TextEncoder().encode(key) : key;
  }

  sign(kind: string, ...parts: (string | Uint8Array)[]): Buffer {
    const hmac = createHmac("sha256", this.#key);
    hmac.update(kind);
    for (const part of parts) {
      const bytes = typeof part === "string" ? Buffer.from(part) : part;
      const length = Buffer.alloc(4);
      length.writeUInt32BE(bytes.length);
      hmac.update(length);
      hmac.update(bytes);
    }
    return hmac.digest();
  }

  verify(
    signature: Uint8Array | undefined,
    kind: string,
    ...parts: (string | Uint8Array)[]
  ): boolean {
    if (signature === undefined || signature.length !== 32) return false;
    return timingSafeEqual(signature, this.sign(kind, ...parts));
  }
}

/**
 * Opens a client whose reconnects are bounded: the first connection fails
 * at once (within `connectTimeout`), a lost one is retried for
 * `reconnectTimeout` ms, then `lost` hears why.
 */
async function openClient(
  config: Config,
  events: { ready?: () => void; lost: (error: Error) => void },
): Promise<Client> {
  const { target, connectTimeout, reconnectTimeout } = config;
  let connected = false;
  let lostSince = 0;
  let gaveUp = false;
  const options = target.options;
  const client = createClient({
    ...options,
    socket: {
      ...(options.socket ?? {}),
      connectTimeout,
      reconnectStrategy: (retries: number, cause: Error) => {
        if (!connected) return cause;
        if (retries === 0) lostSince = Date.now();
        const waited = Date.now() - lostSince;
        if (waited >= reconnectTimeout) {
          const error = new Error(
            `Lost the connection to Redis at ${target.address}: still down after ${retries} reconnects in ${waited} ms (reconnectTimeout is ${reconnectTimeout}): ${cause.message}`,
            { cause },
          );
          if (!gaveUp) {
            gaveUp = true;
            queueMicrotask(() => events.lost(error));
          }
          return error;
        }
        return Math.min(20 * 2 ** retries, 500);
      },
    } as NonNullable<typeof options.socket>,
  });
  // Errors are reported through the reconnect strategy and the commands
  // that fail; an unhandled `error` event would end the program.
  client.on("error", () => {});
  client.on("ready", () => {
    if (connected) events.ready?.();
  });
  try {
    await client.connect();
  } catch (error) {
    await closeClient(client);
    const cause = (error as Error & { cause?: Error }).cause ?? error;
    throw new Error(
      `Cannot connect to Redis at ${target.address} (connectTimeout is ${connectTimeout} ms): ${
        (cause as Error).message || (cause as Error).name
      }; check that redis-server runs there and the URL is right`,
      { cause },
    );
  }
  connected = true;
  return client;
}

/**
 * A connection for commands and one for blocking reads, which would hold up
 * every command queued behind them.
 */
async function openPair(
  config: Config,
  events: { ready?: () => void; lost: (error: Error) => void },
): Promise<[Client, Client]> {
  const client = await openClient(config, events);
  try {
    return [client, await openClient(config, { lost: events.lost })];
  } catch (error) {
    await closeClient(client);
    throw error;
  }
}

function closeClient(client: Client): Promise<void> {
  try {
    client.destroy();
  } catch {
    // Already closed.
  }
  return Promise.resolve();
}

/** The host's name, to tell consumers apart in `XINFO`; "host" without `--allow-sys`. */
function hostname(): string {
  try {
    return Deno.hostname();
  } catch {
    return "host";
  }
}

function text(value: unknown): string {
  return typeof value === "string" ? value : String(value);
}

/** The entries of an XREAD/XREADGROUP/XAUTOCLAIM reply's entry list. */
function entriesOf(list: unknown): StreamEntry[] {
  const entries: StreamEntry[] = [];
  if (!Array.isArray(list)) return entries;
  for (const item of list) {
    if (!Array.isArray(item) || !Array.isArray(item[1])) continue;
    const fields: Fields = new Map();
    const flat = item[1] as Buffer[];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      fields.set(text(flat[i]), flat[i + 1]!);
    }
    entries.push({ id: text(item[0]), fields });
  }
  return entries;
}

/** The entries of the first stream of an XREAD-like reply. */
function streamEntries(reply: unknown): StreamEntry[] {
  if (!Array.isArray(reply) || reply.length === 0) return [];
  const first = reply[0] as unknown[];
  return entriesOf(first[1]);
}

class RedisPoolLink implements BrokerPoolLink {
  #config: Config;
  #client: Client;
  #reader: Client;
  #tasksKey: string;
  #resultsKey: string;
  #markerKey: string;
  #cancelChannel: string;
  /** Ids cancelled this tick, published together. */
  #cancelled: number[] = [];
  #events: BrokerPoolEvents;
  #closed = false;
  #reading: Promise<void> = Promise.resolve();
  #workersKey: string;
  #workers = 0;
  #census: ReturnType<typeof setInterval> | undefined;

  static async connect(
    config: Config,
    name: string,
    events: BrokerPoolEvents,
  ): Promise<RedisPoolLink> {
    const id = crypto.randomUUID();
    let link: RedisPoolLink | null = null;
    const lost = (error: Error) => {
      if (link !== null && !link.#closed) events.lost(error);
    };
    const [client, reader] = await openPair(config, {
      ready: () => {
        if (link !== null) link.#checkMarker();
      },
      lost,
    });
    link = new RedisPoolLink(config, name, id, client, reader, events);
    try {
      await client.sendCommand(["SET", link.#markerKey, "1"]);
      await link.#countWorkers();
    } catch (error) {
      await link.close();
      throw error;
    }
    link.#reading = link.#read();
    // A stale count is harmless: it is only reported.
    link.#census = setInterval(
      () => link.#countWorkers().catch(() => {}),
      Math.max(5, Math.min(1_000, config.visibilityTimeout / 3)),
    );
    Deno.unrefTimer(link.#census);
    return link;
  }

  private constructor(
    config: Config,
    name: string,
    id: string,
    client: Client,
    reader: Client,
    events: BrokerPoolEvents,
  ) {
    this.#config = config;
    this.#client = client;
    this.#reader = reader;
    this.#events = events;
    this.#tasksKey = `mp:${name}:tasks`;
    this.#resultsKey = `mp:${name}:results:${id}`;
    this.#markerKey = markerOf(this.#resultsKey);
    this.#cancelChannel = cancelChannelOf(name);
    this.#workersKey = workersKeyOf(name);
  }

  /** Workers serving this queue, as of the last count. */
  workers(): number {
    return this.#workers;
  }

  async #countWorkers(): Promise<void> {
    const count = await this.#client.sendCommand([
      "EVAL",
      COUNT_WORKERS,
      "1",
      this.#workersKey,
      String(this.#config.visibilityTimeout),
    ]);
    this.#workers = Number(count);
  }

  /** After a reconnect: a Redis that lost its data lost our tasks too. */
  async #checkMarker(): Promise<void> {
    try {
      const exists = await this.#client.sendCommand([
        "EXISTS",
        this.#markerKey,
      ]);
      if (Number(exists) === 1 || this.#closed) return;
      await this.#client.sendCommand(["SET", this.#markerKey, "1"]);
      this.#events.reset();
    } catch {
      // Down again: the next ready event checks again.
    }
  }

  send(body: Uint8Array): () => void {
    const args: (string | Buffer)[] = [
      "XADD",
      this.#tasksKey,
      "*",
      "r",
      this.#resultsKey,
      "b",
      Buffer.from(body.buffer, body.byteOffset, body.length),
    ];
    const signer = this.#config.signer;
    if (signer !== null) {
      args.push("s", signer.sign("task", this.#resultsKey, body));
    }
    // A failure here is a lost connection, reported by the strategy; the
    // reset after a reconnect sends the task again.
    const added = this.#client.sendCommand(args).catch(() => null);
    return () => {
      added.then((id) => {
        if (id === null || this.#closed) return;
        // Deleted, it is never delivered; a worker that already holds it
        // runs it on (its result is dropped), and no claim revives it.
        return this.#client.sendCommand(["XDEL", this.#tasksKey, text(id)]);
      }).catch(() => {});
    };
  }

  cancel(ids: readonly number[]): void {
    if (this.#closed) return;
    if (this.#cancelled.length === 0) {
      queueMicrotask(() => this.#publishCancelled());
    }
    this.#cancelled.push(...ids);
  }

  #publishCancelled(): void {
    const ids = this.#cancelled.join(",");
    this.#cancelled = [];
    const signer = this.#config.signer;
    const signature = signer === null
      ? ""
      : signer.sign("cancel", this.#resultsKey, ids).toString("hex");
    // Lost with the connection: the worker runs on, its answer is dropped.
    this.#client.sendCommand([
      "PUBLISH",
      this.#cancelChannel,
      `${this.#resultsKey} ${ids} ${signature}`,
    ]).catch(() => {});
  }

  async #read(): Promise<void> {
    let last = "0-0";
    while (!this.#closed) {
      let reply: unknown;
      try {
        reply = await this.#reader.sendCommand(
          [
            "XREAD",
            "COUNT",
            "1000",
            "BLOCK",
            String(BLOCK_MS),
            "STREAMS",
            this.#resultsKey,
            last,
          ],
          { typeMapping: BUFFERS },
        );
      } catch {
        if (this.#closed || !this.#reader.isOpen) return;
        await new Promise((resolve) => setTimeout(resolve, 20));
        continue;
      }
      const entries = streamEntries(reply);
      if (entries.length === 0) continue;
      last = entries.at(-1)!.id;
      this.#client.sendCommand([
        "XDEL",
        this.#resultsKey,
        ...entries.map((entry) => entry.id),
      ]).catch(() => {});
      const signer = this.#config.signer;
      for (const { fields } of entries) {
        const body = fields.get("b");
        if (body === undefined) continue;
        if (
          signer !== null &&
          !signer.verify(fields.get("s"), "result", this.#resultsKey, body)
        ) {
          console.error(
            `Refused a result entry on ${this.#resultsKey}: its signature is missing or wrong (is the worker's authkey the pool's?)`,
          );
          continue;
        }
        this.#events.results(body);
      }
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#census);
    await closeClient(this.#reader);
    await this.#reading;
    try {
      await this.#client.sendCommand([
        "DEL",
        this.#resultsKey,
        this.#markerKey,
      ]);
    } catch {
      // Gone already: nothing to tidy.
    }
    await closeClient(this.#client);
  }
}

/**
 * Workers say they are alive in a sorted set, scored with Redis's own clock
 * (hosts' clocks may disagree): a worker's heartbeat stamps it, a pool
 * counts the stamps younger than its visibility timeout.
 */
const STAMP_WORKER = `local t = redis.call("TIME")
redis.call("ZADD", KEYS[1], t[1] * 1000 + math.floor(t[2] / 1000), ARGV[1])
return 1`;
const COUNT_WORKERS = `local t = redis.call("TIME")
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", now - tonumber(ARGV[1]))
return redis.call("ZCARD", KEYS[1])`;

/** How many cancelled ids a worker remembers for entries not taken yet. */
const MAX_CANCELLED_EARLY = 100_000;
const NONE: ReadonlySet<number> = new Set();

interface HeldTask extends BrokerTask {
  id: string;
  reply: string;
}

class RedisWorkerLink implements BrokerWorkerLink {
  #config: Config;
  #client: Client;
  #reader: Client;
  #subscriber: Client | null = null;
  #events: BrokerWorkerEvents;
  #tasksKey: string;
  #workersKey: string;
  #consumer = `${hostname()}-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  #held = new Map<string, HeldTask>();
  /**
   * Cancellations of tasks no worker here held, by pool (its results key),
   * oldest pool first: an entry taken later skips those units.
   */
  #cancelledEarly = new Map<string, Set<number>>();
  #cancelledEarlyCount = 0;
  #cursor = "0-0";
  #lastClaim = 0;
  #heartbeat: ReturnType<typeof setInterval>;
  #lost: Error | null = null;

  static async connect(
    config: Config,
    name: string,
    events: BrokerWorkerEvents,
  ): Promise<RedisWorkerLink> {
    let link: RedisWorkerLink | null = null;
    const lost = (error: Error) => {
      if (link !== null) link.#lost = error;
    };
    const [client, reader] = await openPair(config, { lost });
    link = new RedisWorkerLink(config, name, client, reader, events);
    try {
      await link.#createGroup();
      await link.#stamp();
      // Its own connection: one that subscribes can send nothing else.
      const subscriber = await openClient(config, { lost });
      link.#subscriber = subscriber;
      await subscriber.subscribe(
        cancelChannelOf(name),
        (message) => link!.#onCancel(message),
      );
    } catch (error) {
      await link.close();
      throw error;
    }
    return link;
  }

  private constructor(
    config: Config,
    name: string,
    client: Client,
    reader: Client,
    events: BrokerWorkerEvents,
  ) {
    this.#config = config;
    this.#client = client;
    this.#reader = reader;
    this.#events = events;
    this.#tasksKey = `mp:${name}:tasks`;
    this.#workersKey = workersKeyOf(name);
    this.#heartbeat = setInterval(
      () => this.#renew(),
      Math.max(5, config.visibilityTimeout / 3),
    );
  }

  async #createGroup(): Promise<void> {
    try {
      // From the start of the stream: tasks sent before any worker came.
      await this.#client.sendCommand([
        "XGROUP",
        "CREATE",
        this.#tasksKey,
        GROUP,
        "0",
        "MKSTREAM",
      ]);
    } catch (error) {
      if (!String((error as Error).message).includes("BUSYGROUP")) throw error;
    }
  }

  /** A pool's "reply ids signature": which of its tasks to stop. */
  #onCancel(message: string): void {
    const [reply = "", ids = "", signature = ""] = message.split(" ");
    const signer = this.#config.signer;
    if (
      signer !== null &&
      !signer.verify(Buffer.from(signature, "hex"), "cancel", reply, ids)
    ) {
      console.error(
        `Refused to cancel tasks of ${reply}: the signature is missing or wrong (is the pool's authkey the worker's?)`,
      );
      return;
    }
    const wanted = ids.split(",").map(Number);
    for (const task of this.#held.values()) {
      if (task.reply === reply) this.#events.cancelled(task, wanted);
    }
    this.#rememberCancelled(reply, wanted);
  }

  /**
   * Keeps cancelled ids for entries not taken yet (the rest of an entry
   * whose other units are still wanted), within a bound: past it, the
   * oldest pools' are forgotten, and such a unit runs, its answer dropped.
   */
  #rememberCancelled(reply: string, ids: number[]): void {
    let known = this.#cancelledEarly.get(reply);
    if (known === undefined) this.#cancelledEarly.set(reply, known = new Set());
    for (const id of ids) {
      if (known.has(id)) continue;
      known.add(id);
      this.#cancelledEarlyCount++;
    }
    for (const [oldest, set] of this.#cancelledEarly) {
      if (this.#cancelledEarlyCount <= MAX_CANCELLED_EARLY) break;
      this.#cancelledEarly.delete(oldest);
      this.#cancelledEarlyCount -= set.size;
    }
  }

  /** Tells Redis this worker still works on what it holds. */
  /** Tells pools this worker is alive (`stats().workers`). */
  #stamp(): Promise<unknown> {
    return this.#client.sendCommand([
      "EVAL",
      STAMP_WORKER,
      "1",
      this.#workersKey,
      this.#consumer,
    ]);
  }

  #renew(): void {
    this.#stamp().catch(() => {});
    if (this.#held.size === 0) return;
    this.#client.sendCommand([
      "XCLAIM",
      this.#tasksKey,
      GROUP,
      this.#consumer,
      "0",
      ...this.#held.keys(),
      "JUSTID",
    ]).catch(() => {});
  }

  async take(max: number): Promise<BrokerTask[]> {
    if (this.#lost !== null) throw this.#lost;
    try {
      const claimed = await this.#claim(max);
      if (claimed.length > 0) return claimed;
      const reply = await this.#reader.sendCommand(
        [
          "XREADGROUP",
          "GROUP",
          GROUP,
          this.#consumer,
          "COUNT",
          String(max),
          "BLOCK",
          String(BLOCK_MS),
          "STREAMS",
          this.#tasksKey,
          ">",
        ],
        { typeMapping: BUFFERS },
      );
      return this.#accept(streamEntries(reply), () => 1);
    } catch (error) {
      if (this.#lost !== null) throw this.#lost;
      if (String((error as Error).message).includes("NOGROUP")) {
        // Redis came back without the stream: make the group again.
        await this.#createGroup().catch(() => {});
      } else {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return [];
    }
  }

  /** Claims entries whose worker stopped answering, with their counts. */
  async #claim(max: number): Promise<BrokerTask[]> {
    const every = Math.max(5, this.#config.visibilityTimeout / 4);
    if (Date.now() - this.#lastClaim < every) return [];
    this.#lastClaim = Date.now();
    const reply = await this.#client.sendCommand(
      [
        "XAUTOCLAIM",
        this.#tasksKey,
        GROUP,
        this.#consumer,
        String(this.#config.visibilityTimeout),
        this.#cursor,
        "COUNT",
        String(max),
      ],
      { typeMapping: BUFFERS },
    ) as unknown[];
    this.#cursor = text(reply[0]);
    const entries = entriesOf(reply[1]);
    if (entries.length === 0) return [];
    const counts = new Map<string, number>();
    await Promise.all(entries.map(async ({ id }) => {
      const pending = await this.#client.sendCommand([
        "XPENDING",
        this.#tasksKey,
        GROUP,
        id,
        id,
        "1",
      ]) as unknown[][];
      counts.set(id, Number(pending[0]?.[3] ?? 1));
    }));
    return this.#accept(entries, (id) => counts.get(id) ?? 1);
  }

  /** Keeps the entries that are well formed and signed; drops the rest. */
  #accept(
    entries: StreamEntry[],
    deliveries: (id: string) => number,
  ): BrokerTask[] {
    const tasks: BrokerTask[] = [];
    const refused: string[] = [];
    const signer = this.#config.signer;
    for (const { id, fields } of entries) {
      const body = fields.get("b");
      const reply = fields.get("r");
      const problem = body === undefined || reply === undefined
        ? "it has no body or no reply stream"
        : !RESULTS_KEY.test(text(reply))
        ? "its reply stream is not a pool's results stream"
        : signer !== null &&
            !signer.verify(fields.get("s"), "task", text(reply), body)
        ? "its signature is missing or wrong (is the pool's authkey the worker's?)"
        : null;
      if (problem !== null) {
        console.error(
          `Refused task entry ${id} on ${this.#tasksKey}: ${problem}`,
        );
        refused.push(id);
        continue;
      }
      const task: HeldTask = {
        id,
        reply: text(reply),
        body: body!,
        deliveries: deliveries(id),
        cancelled: this.#cancelledEarly.get(text(reply)) ?? NONE,
      };
      this.#held.set(id, task);
      tasks.push(task);
    }
    if (refused.length > 0) {
      this.#client.sendCommand(["XACK", this.#tasksKey, GROUP, ...refused])
        .catch(() => {});
      this.#client.sendCommand(["XDEL", this.#tasksKey, ...refused])
        .catch(() => {});
    }
    return tasks;
  }

  async answer(task: BrokerTask, body: Uint8Array): Promise<void> {
    const { id, reply } = task as HeldTask;
    const signer = this.#config.signer;
    const signature = signer === null ? "" : signer.sign("result", reply, body);
    // One script, so a task is acknowledged only with its results written;
    // and written only while its pool is there to read them.
    try {
      await this.#client.sendCommand([
        "EVAL",
        ANSWER_SCRIPT,
        "3",
        this.#tasksKey,
        reply,
        markerOf(reply),
        GROUP,
        id,
        Buffer.from(body.buffer, body.byteOffset, body.length),
        signature,
      ]);
    } finally {
      // Not renewed any more either way: unanswered, it is claimed again
      // after the visibility timeout.
      this.#held.delete(id);
    }
  }

  async giveBack(task: BrokerTask): Promise<void> {
    const { id } = task as HeldTask;
    this.#held.delete(id);
    // Marked idle for the whole visibility timeout: claimable at once.
    await this.#client.sendCommand([
      "XCLAIM",
      this.#tasksKey,
      GROUP,
      this.#consumer,
      "0",
      id,
      "IDLE",
      String(this.#config.visibilityTimeout),
      "JUSTID",
    ]);
  }

  async close(): Promise<void> {
    clearInterval(this.#heartbeat);
    await closeClient(this.#reader);
    if (this.#subscriber !== null) await closeClient(this.#subscriber);
    // A consumer that holds nothing leaves the group (deleting one that
    // holds entries, even handed back, would lose them).
    try {
      await this.#client.sendCommand([
        "ZREM",
        this.#workersKey,
        this.#consumer,
      ]);
      const pending = await this.#client.sendCommand([
        "XPENDING",
        this.#tasksKey,
        GROUP,
        "-",
        "+",
        "1",
        this.#consumer,
      ]) as unknown[];
      if (pending.length === 0) {
        await this.#client.sendCommand([
          "XGROUP",
          "DELCONSUMER",
          this.#tasksKey,
          GROUP,
          this.#consumer,
        ]);
      }
    } catch {
      // Redis is gone: nothing to tidy, and the stamp ages out.
    }
    await closeClient(this.#client);
  }
}
