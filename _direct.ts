// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// Owners with an address: how any process reaches an object directly,
// however it got it, instead of through the tree of processes.
//
// An isolate that serves (a manager's server) listens on a unix socket, or
// on TCP for other hosts, and every object it owns carries that address in
// its descriptor (`_shared.ts`). A process holding such an object opens one
// connection per address (and a second for blocking calls) and sends the
// object's operations there: the owner serves each peer with the ordered
// link of `_backend_subprocess.ts`. When a peer's connections close, the
// peer is dead to the owner, and what it held is freed by the layer's one
// rule for dead parties.
//
// A subprocess child reaches its parent by the same link: the parent serves
// its children at an address of their own, which only they may use.
//
// A peer of the same process tree that shares memory with the owner sends
// its operations over a pair of rings instead (`_ring_link.ts`): the socket
// then only tells the owner when the peer dies.
//
// Over TCP both sides prove they know the key before anything else is read
// (Python's `multiprocessing.connection` deliver_challenge and
// answer_challenge, with HMAC-SHA256), and frames over the owner's limit are
// refused at the sender and, should one come anyway, end the connection.
import { closeQuietly, holdWorker, removeSocket, socketPath } from "./_util.ts";
import { ChildLink } from "./_backend_subprocess.ts";
import { decode, encode } from "./_codec.ts";
import { DIRECT_ROUTE, markExited, treeName } from "./_isolates.ts";
import {
  createRingPair,
  mapRingPair,
  readEach,
  RingOutbox,
  type RingPair,
  type RingPairRef,
} from "./_ring_link.ts";
import {
  addFlusher,
  awaitAnswer,
  barrierThrough,
  current,
  failInflight,
  type ParentLink,
  receiveReturn,
  type ReturnMessage,
  type UpMessage,
} from "./_runtime.ts";
import { acceptEach, MAIN, readFrames, writeAll } from "./_wire.ts";
import { FrameWriter } from "./_feeder.ts";
import { AuthenticationError, ProcessError } from "./errors.ts";

/** Where an owner listens, as its objects' descriptors carry it. */
export interface DirectAddress {
  transport: "unix" | "tcp";
  /** The socket file, for `unix`. */
  path?: string;
  hostname?: string;
  port?: number;
  /** The key both sides prove, for `tcp`. */
  authkey?: Uint8Array;
  /** The largest frame the owner accepts. */
  limit: number;
  /**
   * The owner's process tree (see `treeName`), for `unix`, when it shares
   * memory across OS processes: a peer of the same tree sends over rings.
   */
  tree?: string;
}

/** The default frame limit: far above any sane operation, far below memory. */
export const DEFAULT_FRAME_LIMIT = 64 * 1024 * 1024;
/** Handshake frames are small; anything larger is not a peer of ours. */
const HANDSHAKE_LIMIT = 4096;
const CHALLENGE = new TextEncoder().encode("#CHALLENGE#");
const WELCOME = new TextEncoder().encode("#WELCOME#");
const FAILURE = new TextEncoder().encode("#FAILURE#");
const NONCE_BYTES = 32;
const HELPER_IDLE_MS = 500;

/** How to name an address in messages. */
export function describeAddress(address: DirectAddress): string {
  return address.transport === "unix"
    ? `unix:${address.path}`
    : `tcp://${address.hostname}:${address.port}`;
}

async function readExact(conn: Deno.Conn, size: number): Promise<Uint8Array> {
  const bytes = new Uint8Array(size);
  for (let got = 0; got < size;) {
    const n = await conn.read(bytes.subarray(got));
    if (n === null) throw new Error("The connection closed during handshake");
    got += n;
  }
  return bytes;
}

async function readSmall(conn: Deno.Conn): Promise<Uint8Array> {
  const header = await readExact(conn, 4);
  const size = new DataView(header.buffer).getUint32(0, true);
  if (size > HANDSHAKE_LIMIT) {
    throw new AuthenticationError(
      `Cannot accept a handshake frame of ${size} bytes as the limit is ${HANDSHAKE_LIMIT}`,
    );
  }
  return await readExact(conn, size);
}

async function writeSmall(conn: Deno.Conn, payload: Uint8Array) {
  const frame = new Uint8Array(4 + payload.length);
  new DataView(frame.buffer).setUint32(0, payload.length, true);
  frame.set(payload, 4);
  await writeAll(conn, frame);
}

async function hmac(key: Uint8Array, message: Uint8Array): Promise<Uint8Array> {
  const cryptoKey = await crypto.subtle.importKey(
    "raw",
    key as Uint8Array<ArrayBuffer>,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return new Uint8Array(
    await crypto.subtle.sign(
      "HMAC",
      cryptoKey,
      message as Uint8Array<ArrayBuffer>,
    ),
  );
}

/** Compares in time independent of where the bytes first differ. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** Proves to the peer that it knows the key; throws when it does not. */
async function deliverChallenge(conn: Deno.Conn, key: Uint8Array) {
  const message = new Uint8Array(CHALLENGE.length + NONCE_BYTES);
  message.set(CHALLENGE);
  crypto.getRandomValues(message.subarray(CHALLENGE.length));
  await writeSmall(conn, message);
  const answer = await readSmall(conn);
  const ok = sameBytes(answer, await hmac(key, message));
  await writeSmall(conn, ok ? WELCOME : FAILURE);
  if (!ok) {
    throw new AuthenticationError(
      "Cannot accept the peer as its answer to the challenge is wrong: its authkey differs",
    );
  }
}

/** Answers the peer's challenge with the key; throws when refused. */
async function answerChallenge(conn: Deno.Conn, key: Uint8Array) {
  const message = await readSmall(conn);
  if (!sameBytes(message.subarray(0, CHALLENGE.length), CHALLENGE)) {
    throw new AuthenticationError(
      "Cannot authenticate as the peer sent no challenge: it is not a manager server with an authkey",
    );
  }
  await writeSmall(conn, await hmac(key, message));
  const verdict = await readSmall(conn);
  if (!sameBytes(verdict, WELCOME)) {
    throw new AuthenticationError(
      "Cannot authenticate as the peer refused the answer: the authkey is wrong",
    );
  }
}

interface Hello {
  token: string;
  role: string;
  pid: number;
  /** The rings the peer sends over, if it does. */
  rings?: RingPairRef;
}

/**
 * Opens a connection to the owner at `address` for the peer `token`, as
 * its connection `role`, and completes the handshake.
 *
 * @throws {ProcessError} When the owner cannot be reached.
 * @throws {AuthenticationError} When either side does not know the key.
 */
export async function openDirect(
  address: DirectAddress,
  role: string,
  token: string,
  rings?: RingPairRef,
): Promise<Deno.Conn> {
  return (await handshakeWith(address, role, token, rings)).conn;
}

/** A connection's role that only asks for the server's root, then closes. */
const PROBE = "p";

/**
 * Connects to the server at `address` once, proving the key both ways, and
 * resolves with its root object's data.
 *
 * @throws {ProcessError} When the server cannot be reached.
 * @throws {AuthenticationError} When either side does not know the key.
 */
export async function probeDirect(address: DirectAddress): Promise<unknown> {
  const { conn, root } = await handshakeWith(
    address,
    PROBE,
    crypto.randomUUID(),
  );
  closeQuietly(conn);
  return root;
}

async function handshakeWith(
  address: DirectAddress,
  role: string,
  token: string,
  rings?: RingPairRef,
): Promise<{ conn: Deno.Conn; root: unknown }> {
  let conn: Deno.Conn;
  try {
    conn = address.transport === "unix"
      ? await Deno.connect({ transport: "unix", path: address.path! })
      : await Deno.connect({
        hostname: address.hostname!,
        port: address.port!,
      });
  } catch (error) {
    throw new ProcessError(
      `Cannot reach the server at ${
        describeAddress(address)
      }: it has shut down or died (${(error as Error).message})`,
      { cause: error },
    );
  }
  try {
    if (address.authkey !== undefined) {
      await answerChallenge(conn, address.authkey);
      await deliverChallenge(conn, address.authkey);
    }
    const hello: Hello = { token, role, pid: current.pid };
    if (rings !== undefined) hello.rings = rings;
    await writeSmall(conn, new TextEncoder().encode(JSON.stringify(hello)));
    const accepted = JSON.parse(
      new TextDecoder().decode(await readSmall(conn)),
    ) as { root: unknown; refused?: string };
    if (accepted.refused !== undefined) {
      throw new ProcessError(
        `Cannot connect to the server at ${
          describeAddress(address)
        } as it refused this process: ${accepted.refused}`,
      );
    }
    return { conn, root: accepted.root };
  } catch (error) {
    closeQuietly(conn);
    if (error instanceof AuthenticationError) throw error;
    if (error instanceof ProcessError) throw error;
    // Our own socket file answers only our server: a handshake it breaks
    // off is a server that went away in the middle.
    const why = address.transport === "unix"
      ? "is gone: it shut down or died during the handshake"
      : "did not complete the handshake";
    throw new ProcessError(
      `The server at ${describeAddress(address)} ${why} (${
        (error as Error).message
      })`,
      { cause: error },
    );
  }
}

/** What to listen on. */
export type ListenOptions =
  | { transport: "unix" }
  | { transport: "tcp"; hostname: string; port: number; authkey: Uint8Array };

let ownAddress: DirectAddress | null = null;

/** The address this isolate serves its objects on, if it serves. */
export function servedAddress(): DirectAddress | null {
  return ownAddress;
}

/**
 * Serves the objects of this isolate to any process that holds one, at an
 * address every descriptor made from now on carries; one per isolate.
 */
export class DirectServer {
  /** Where peers connect. */
  readonly address: DirectAddress;
  #listener: Deno.Listener;
  #peers = new Map<string, ChildLink>();
  #closed = false;
  /**
   * Plain data every peer receives on connecting: how a process that has
   * only the address finds the server's first object.
   */
  root: unknown = null;

  /**
   * How a peer's token maps to its link, for a server of this process's
   * subprocess children; `null` for a server of this isolate's objects.
   */
  #children: ((token: string) => ChildLink | undefined) | null;

  /**
   * Starts listening.
   *
   * @param options Where, and the key for TCP.
   * @param limit The largest frame a peer may send.
   * @param children For a server of this process's subprocess children
   * rather than of its objects: the link of the child with a token, for
   * the children spawned, which are known before they connect. Any other
   * peer is refused; a child's exit is reported by the OS, not by its
   * connections closing; and descriptors do not carry the address.
   */
  constructor(
    options: ListenOptions,
    limit = DEFAULT_FRAME_LIMIT,
    children?: (token: string) => ChildLink | undefined,
  ) {
    this.#children = children ?? null;
    if (ownAddress !== null && children === undefined) {
      throw new Error(
        `Cannot serve twice from one isolate: it serves at ${
          describeAddress(ownAddress)
        } already`,
      );
    }
    if (options.transport === "unix") {
      const path = socketPath(children === undefined ? "mp-srv" : "mp");
      this.#listener = Deno.listen({ transport: "unix", path });
      // Only this user's processes may connect to a local server.
      Deno.chmodSync(path, 0o600);
      this.address = { transport: "unix", path, limit };
      const tree = treeName();
      if (tree !== null) this.address.tree = tree;
      // A server whose manager was never shut down ends with its parent
      // (see `subprocessChild`): its socket file goes with it. A server of
      // children goes with its last child.
      if (children === undefined) {
        globalThis.addEventListener("unload", () => this.close(), {
          once: true,
        });
      }
    } else {
      const listener = Deno.listen({
        hostname: options.hostname,
        port: options.port,
      });
      this.#listener = listener;
      this.address = {
        transport: "tcp",
        hostname: options.hostname,
        port: listener.addr.port,
        authkey: options.authkey,
        limit,
      };
    }
    if (children === undefined) ownAddress = this.address;
    this.#accept();
  }

  /** Whether waiting for peers keeps this program running. */
  hold(held: boolean): void {
    held ? this.#listener.ref() : this.#listener.unref();
  }

  #accept(): void {
    acceptEach(this.#listener, (conn) => {
      this.#greet(conn).catch(() => closeQuietly(conn));
    });
  }

  async #greet(conn: Deno.Conn): Promise<void> {
    const key = this.address.authkey;
    if (key !== undefined) {
      await deliverChallenge(conn, key);
      await answerChallenge(conn, key);
    }
    const hello = JSON.parse(
      new TextDecoder().decode(await readSmall(conn)),
    ) as Hello;
    if (
      typeof hello.token !== "string" || typeof hello.pid !== "number" ||
      typeof hello.role !== "string" || this.#closed
    ) {
      throw new Error("Cannot accept a peer whose greeting is malformed");
    }
    const child = this.#children?.(hello.token);
    if (this.#children !== null && child === undefined) {
      const refused = "its token names no child of this process";
      await writeSmall(
        conn,
        new TextEncoder().encode(JSON.stringify({ refused })),
      );
      throw new Error(`Cannot accept a peer as ${refused}`);
    }
    await writeSmall(
      conn,
      new TextEncoder().encode(JSON.stringify({ root: this.root })),
    );
    if (hello.role === PROBE) {
      conn.close();
      return;
    }
    if (child !== undefined) {
      child.onConnect(hello.role, conn);
      return;
    }
    let peer = this.#peers.get(hello.token);
    // Both connections of a peer name its rings: map them once.
    const rings = hello.rings === undefined || peer?.hasRings
      ? null
      : mapRingPair(hello.rings);
    if (hello.rings !== undefined && !peer?.hasRings && rings === null) {
      throw new Error("Cannot map the rings a peer sends over");
    }
    if (peer === undefined) {
      const fresh = new ChildLink(DIRECT_ROUTE, this.address.limit);
      peer = fresh;
      this.#peers.set(hello.token, fresh);
      peer.onConnect(hello.role, conn);
      if (rings !== null) peer.attachRings(rings);
      // Every connection of a peer closes only when it dies (or this server
      // does): from then on it is dead here, and what it held is freed.
      fresh.closed().then(() => {
        this.#peers.delete(hello.token);
        // Connections this server dropped say nothing of the peer's life.
        if (!this.#closed) markExited(hello.pid);
      });
      return;
    }
    peer.onConnect(hello.role, conn);
    if (rings !== null) peer.attachRings(rings);
  }

  /** Stops listening and drops every peer. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#listener.close();
    for (const peer of this.#peers.values()) peer.abort();
    removeSocket(this.address.path);
    if (ownAddress === this.address) ownAddress = null;
  }
}

const links = new Map<string, DirectLink>();

function keyOf(address: DirectAddress): string {
  return describeAddress(address);
}

/** This isolate's link to the owner at `address`, made at first use. */
export function directLink(address: DirectAddress): DirectLink {
  const key = keyOf(address);
  let link = links.get(key);
  if (link === undefined) {
    link = new DirectLink(address);
    links.set(key, link);
  }
  return link;
}

/**
 * Ends this isolate's link to the owner at `address`: calls waiting through
 * it and every later one reject with `reason`.
 */
export function closeDirectLink(address: DirectAddress, reason: Error): void {
  links.get(keyOf(address))?.fail(reason);
}

/** How a link to a subprocess child's parent differs. */
export interface DirectLinkOptions {
  /**
   * The token the owner knows this process by.
   *
   * @default {crypto.randomUUID()}
   */
  token?: string;
  /**
   * Whether the owner is this process's parent. The parent learns of the
   * exit only once it has applied all this process sent, so the exit waits
   * for no acknowledgement; and without shared memory blocking calls are
   * the common ones (`lock.release()`, `qsize()`), so the helper worker is
   * never stopped.
   *
   * @default {false}
   */
  parent?: boolean;
}

/**
 * One process's ordered link to an owner with an address: a main
 * connection, and a helper worker with a second one for blocking calls.
 */
export class DirectLink implements ParentLink {
  #address: DirectAddress;
  #token: string;
  #parent: boolean;
  /** What calls fail with once the owner is gone. */
  #gone: string;
  #connection: Promise<Deno.Conn> | null = null;
  #conn: Deno.Conn | null = null;
  #writer: FrameWriter | RingOutbox;
  /** The rings calls go over instead of the socket, if the owner can map them. */
  #rings: { pair: RingPair; ref: RingPairRef } | null;
  #answering = false;
  /** Whether the owner is known to read the rings (it answered over them). */
  #attached = false;
  #helper: Worker | null = null;
  #error: Error | null = null;
  /** Calls sent and not yet answered: while any, the link keeps us alive. */
  #pending = 0;
  /** The owner's pid, and whether it may not have applied all sent yet. */
  #owner = 0;
  #unapplied = false;

  constructor(address: DirectAddress, options: DirectLinkOptions = {}) {
    const { token = crypto.randomUUID(), parent = false } = options;
    this.#address = address;
    this.#token = token;
    this.#parent = parent;
    this.#gone = parent
      ? "The parent process is gone"
      : `The server at ${
        describeAddress(address)
      } is gone: it has shut down or died`;
    // On one CPU a ring's waker and waiter take turns through the kernel's
    // futex and two threads each way; the socket's round trip costs less.
    const rings = address.tree !== undefined && address.tree === treeName() &&
      navigator.hardwareConcurrency > 1;
    this.#rings = rings ? createRingPair() : null;
    this.#writer = this.#rings !== null
      ? new RingOutbox(this.#rings.pair.up)
      : new FrameWriter(async (bytes) => {
        await writeAll(await this.#connect(), bytes);
      });
    // A child's last operations, unawaited, still reach the server before
    // it exits (the feeder-thread rule of queues).
    if (!parent) addFlusher(() => this.#applied().catch(() => {}));
  }

  #connect(): Promise<Deno.Conn> {
    this.#connection ??= openDirect(
      this.#address,
      MAIN,
      this.#token,
      this.#rings?.ref,
    ).then(
      (conn) => {
        this.#conn = conn;
        this.#attached = true;
        if (this.#pending === 0) conn.unref();
        readFrames(conn, (payload) => this.#receive(payload))
          .catch(() => {})
          .finally(() => this.fail(new ProcessError(this.#gone)));
        return conn;
      },
      (error) => {
        this.fail(error);
        throw error;
      },
    );
    return this.#connection;
  }

  #receive(payload: Uint8Array): void {
    this.#attached = true;
    const answer = decode(payload) as ReturnMessage;
    if (--this.#pending === 0) this.#conn?.unref();
    receiveReturn(answer);
  }

  /** Reads answers from the rings while calls are out. */
  #readAnswers(): void {
    if (this.#rings === null || this.#answering) return;
    this.#answering = true;
    readEach(
      this.#rings.pair.down,
      (payload) => this.#receive(payload),
      () => this.#pending === 0 || this.#error !== null,
    ).catch((error) => this.fail(error)).finally(() => {
      this.#answering = false;
      if (this.#pending > 0 && this.#error === null) this.#readAnswers();
    });
  }

  /** Rejects every call waiting through this link, and every later one. */
  fail(error: Error): void {
    this.#error ??= error;
    failInflight(this.#error, this);
    if (this.#writer instanceof RingOutbox) this.#writer.close();
    this.#rings?.pair.down.wakeReaders();
    if (this.#conn !== null) closeQuietly(this.#conn);
    this.#helper?.terminate();
    this.#helper = null;
  }

  #check(message: Uint8Array): Uint8Array {
    if (this.#error !== null) throw this.#error;
    if (message.length > this.#address.limit) {
      throw new RangeError(
        `Cannot send an operation of ${message.length} bytes to the server at ${
          describeAddress(this.#address)
        } as its frame limit is ${this.#address.limit} bytes`,
      );
    }
    return message;
  }

  send(message: UpMessage): void {
    const bytes = this.#check(encode(message));
    if (message.t === "call") {
      this.#owner = message.o;
      this.#unapplied = true;
      if (message.c !== 0 && this.#pending++ === 0) this.#conn?.ref();
    }
    this.#writer.send(bytes);
    if (this.#connection === null) this.#connect().catch(() => {});
    if (this.#pending > 0) this.#readAnswers();
  }

  async flushed(): Promise<void> {
    // Over rings, what was sent is delivered once the owner has mapped them
    // (the handshake) and it is all in the ring: the owner drains the ring
    // before it lets a peer that exited go.
    if (this.#rings !== null && !this.#attached && this.#connection !== null) {
      await this.#connection;
    }
    await this.#writer.flushed();
  }

  /**
   * Resolves once the owner has applied everything sent: being in its ring
   * or socket is not enough, as the owner reads other links too, and whoever
   * learns that this process exited may ask it at once for what it wrote.
   */
  async #applied(): Promise<void> {
    await this.flushed();
    if (!this.#unapplied || this.#error !== null) return;
    await barrierThrough(this.#owner, this);
    this.#unapplied = false;
  }

  unsent(): boolean {
    return !this.#writer.idle;
  }

  callSync(message: Parameters<ParentLink["callSync"]>[0]) {
    if (this.#error !== null) throw this.#error;
    // Only an owner with a limit (a parent has none) needs the size now.
    if (this.#address.limit < Infinity) this.#check(encode(message));
    const { written, frames } = this.#writer.unconfirmed();
    try {
      return awaitAnswer((s) =>
        this.#post({ t: "call", w: written, r: frames, m: message, s })
      );
    } finally {
      if (!this.#parent) this.#retireHelper();
    }
  }

  #retireTimer: ReturnType<typeof setTimeout> | undefined;

  /**
   * A live worker keeps a Deno program running, and a program must end
   * when its work is done: an idle helper is stopped, and started again at
   * the next blocking call.
   */
  #retireHelper(): void {
    clearTimeout(this.#retireTimer);
    const timer = setTimeout(() => {
      this.#helper?.terminate();
      this.#helper = null;
    }, HELPER_IDLE_MS);
    Deno.unrefTimer(timer);
    this.#retireTimer = timer;
  }

  #post(message: unknown): void {
    if (this.#helper === null) {
      this.#helper = new Worker(
        new URL("./_sync_worker.ts", import.meta.url),
        { type: "module" },
      );
      // Only a blocked caller waits for it, never the event loop.
      holdWorker(this.#helper, false);
      this.#helper.postMessage({
        t: "init",
        direct: this.#address,
        token: this.#token,
        rings: this.#rings?.ref,
        gone: this.#gone,
      });
    }
    this.#helper.postMessage(message);
  }
}
