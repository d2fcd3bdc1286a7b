// Copyright 2026 the @mp/multiprocessing authors. MIT license.
/**
 * {@linkcode Pipe} and {@linkcode Connection}: Python's two-ended pipes.
 * Pass an end to a child (in `args`, or inside a queue item); what one end
 * sends, the other receives, in order, whatever its size.
 *
 * End of file follows Python: `recv()` rejects with `EOFError` once nothing
 * is left and every handle on the sending end is closed. A child's handle
 * closes when it calls `close()` or exits; the creating process holds its own
 * handle on both ends until it calls `close()` — so, as in Python, close your
 * copy of the end you gave away to see EOF when the child is done.
 *
 * @example Receive from a child
 * ```ts ignore
 * import { Pipe, type Connection } from "@mp/multiprocessing/pipe";
 * import { Process } from "@mp/multiprocessing/process";
 *
 * export function f(conn: Connection<string>) {
 *   conn.send("send data");
 *   conn.close();
 * }
 *
 * if (import.meta.main) {
 *   const [parentConn, childConn] = Pipe<string>();
 *   const p = new Process({ target: f, args: [childConn] });
 *   p.start();
 *   console.log(await parentConn.recv()); // "send data"
 *   await p.join();
 * }
 * ```
 *
 * @module
 */
import { BYTES, decodeFrameFully, encodeFrame, rawBytes } from "./_frame.ts";
import { type EndShared, newPipe, PIPE_END } from "./_pipe_core.ts";
import { adopted, handOver, Shared } from "./_shared.ts";
import { describeValue, validateTimeout } from "./_util.ts";
import { EOFError } from "./errors.ts";

/** Options for the receiving calls of a {@linkcode Connection}. */
export interface RecvOptions {
  /**
   * How long to wait, in milliseconds, before rejecting with `TimeoutError`.
   *
   * @default {Infinity}
   */
  timeout?: number;
  /** Stops waiting, rejecting with `signal.reason`. */
  signal?: AbortSignal;
}

/** Options for {@linkcode Connection.prototype.poll}. */
export interface PollOptions {
  /** Stops waiting, rejecting with `signal.reason`. */
  signal?: AbortSignal;
}

// Reads a connection's shared end from outside the class.
let sharedOf: (connection: Connection<unknown>) => EndShared;

/**
 * One end of a {@linkcode Pipe} (Python's
 * `multiprocessing.connection.Connection`). Create them with `Pipe()`.
 *
 * @typeParam T The type of the values sent.
 *
 * @example Talk both ways
 * ```ts
 * import { Pipe } from "@mp/multiprocessing/pipe";
 *
 * const [a, b] = Pipe<string>();
 * a.send("ping");
 * console.log(await b.recv()); // "ping"
 * b.send("pong");
 * console.log(await a.recv()); // "pong"
 * ```
 */
export class Connection<T> implements AsyncIterable<T> {
  #shared: EndShared;
  /** The handle this copy holds on the sending side (0: the owner's own). */
  #lease: number;
  #closed = false;

  /**
   * Not for direct use: call {@linkcode Pipe}.
   *
   * @throws {TypeError} Always, outside of `Pipe()`.
   */
  constructor() {
    // Pipe() or a child's rebuild hands over the end and its copy's handle.
    const end = adopted<{ shared: EndShared; lease: number }>();
    if (end === null) {
      throw new TypeError(
        "Cannot create a Connection directly: call Pipe() for a pair",
      );
    }
    this.#shared = end.shared;
    this.#lease = end.lease;
  }

  /** Whether {@linkcode Connection.prototype.close} was called here. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Whether this end can receive. */
  get readable(): boolean {
    return this.#shared.config.readable;
  }

  /** Whether this end can send. */
  get writable(): boolean {
    return this.#shared.config.writable;
  }

  #check(action: "send" | "receive"): void {
    if (this.#closed) {
      throw new Error(`Cannot ${action} as this connection is closed`);
    }
    const able = action === "send" ? this.writable : this.readable;
    if (!able) {
      throw new Error(
        `Cannot ${action} on this end of a one-way pipe: the first end receives, the second sends`,
      );
    }
  }

  /**
   * Sends a value to the other end. Returns at once; the value is delivered
   * even if this process exits right after.
   *
   * @param value Any structured-cloneable value; primitives of this package
   * may appear inside.
   * @throws {TypeError} When the value holds something that cannot be cloned
   * (the error names where); nothing is sent.
   * @throws {Error} When this end is closed or cannot send.
   *
   * @example Usage
   * ```ts
   * import { Pipe } from "@mp/multiprocessing/pipe";
   *
   * const [a, b] = Pipe<number[]>();
   * a.send([1, 2]);
   * console.log(await b.recv()); // [1, 2]
   * ```
   */
  send(value: T): void {
    this.#check("send");
    if (!this.#shared.state?.trySendFast(value)) {
      this.#shared.run("send", [encodeFrame(value, "value")]);
    }
  }

  /**
   * Receives the next value, waiting for one.
   *
   * @param options `timeout` in milliseconds and an abort `signal`.
   * @returns The value (a `Uint8Array` for a message sent with `sendBytes`).
   * @throws {EOFError} When the other end is closed and nothing is left.
   * @throws {TimeoutError} When nothing arrives within `timeout`.
   *
   * @example Usage
   * ```ts
   * import { Pipe } from "@mp/multiprocessing/pipe";
   *
   * const [a, b] = Pipe<string>();
   * a.send("x");
   * console.log(await b.recv({ timeout: 1000 })); // "x"
   * ```
   */
  recv(options: RecvOptions = {}): Promise<T> {
    const { timeout = Infinity, signal } = options;
    try {
      this.#checkWait(timeout, signal);
      const state = this.#shared.state;
      const taken = timeout > 0 ? state?.tryRecvSoon() : state?.tryRecvFast();
      if (taken !== undefined) return taken as Promise<T>;
    } catch (error) {
      return Promise.reject(error);
    }
    const frame = this.#shared.run("recv", [Infinity, timeout], signal);
    return frame.then(decodeFrameFully) as Promise<T>;
  }

  #checkWait(timeout: number, signal: AbortSignal | undefined): void {
    validateTimeout(timeout);
    this.#check("receive");
    signal?.throwIfAborted();
  }

  /**
   * Tells whether a value can be received without waiting, waiting up to
   * `timeout` ms for one. At end of file it is `true`, as `recv` then
   * rejects at once.
   *
   * @param timeout Milliseconds to wait; `Infinity` waits until data comes.
   * @param options An abort `signal`.
   * @returns Whether `recv` would answer at once.
   * @throws {RangeError} When `timeout` is negative.
   *
   * @example Usage
   * ```ts
   * import { Pipe } from "@mp/multiprocessing/pipe";
   *
   * const [a, b] = Pipe<number>();
   * console.log(await b.poll()); // false
   * a.send(1);
   * console.log(await b.poll(100)); // true
   * ```
   */
  async poll(timeout = 0, options: PollOptions = {}): Promise<boolean> {
    this.#checkWait(timeout, options.signal);
    return await this.#shared.run("poll", [timeout], options.signal);
  }

  /**
   * Sends raw bytes (Python's `send_bytes`): `size` bytes of `buffer` from
   * `offset`.
   *
   * @param buffer The bytes, or any view of them.
   * @param offset Where to start, in bytes.
   * @param size How many bytes; the rest of `buffer` by default.
   * @throws {TypeError} When `buffer` is not an ArrayBuffer or a view, such
   * as a string; nothing is sent.
   * @throws {RangeError} When `offset` or `size` fall outside `buffer`.
   *
   * @example Usage
   * ```ts
   * import { Pipe } from "@mp/multiprocessing/pipe";
   *
   * const [a, b] = Pipe();
   * a.sendBytes(new Uint8Array([1, 2, 3]), 1);
   * console.log(await b.recvBytes()); // Uint8Array(2) [ 2, 3 ]
   * ```
   */
  sendBytes(
    buffer: ArrayBufferView | ArrayBuffer,
    offset = 0,
    size?: number,
  ): void {
    this.#check("send");
    if (!isBytes(buffer)) {
      throw new TypeError(
        `Cannot send bytes of ${
          describeValue(buffer)
        }: sendBytes() takes an ArrayBuffer or a view of one; encode a string with TextEncoder, or send any value with send()`,
      );
    }
    const bytes = rawBytes(buffer);
    const length = size ?? bytes.length - offset;
    if (
      !Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 ||
      length < 0 || offset + length > bytes.length
    ) {
      throw new RangeError(
        `Cannot send bytes ${offset} to ${
          offset + length
        } of a buffer of ${bytes.length} bytes: keep offset and size within it`,
      );
    }
    const frame = new Uint8Array(1 + length);
    frame[0] = BYTES;
    frame.set(bytes.subarray(offset, offset + length), 1);
    this.#shared.run("send", [frame]);
  }

  /**
   * Receives a message sent with `sendBytes` (Python's `recv_bytes`).
   *
   * @param maxlength The longest message accepted.
   * @param options `timeout` in milliseconds and an abort `signal`.
   * @returns The bytes (for a message sent with `send`, its encoding, as
   * Python returns the pickle).
   * @throws {RangeError} When the message is longer than `maxlength`; it
   * stays unread.
   * @throws {EOFError} When the other end is closed and nothing is left.
   *
   * @example Usage
   * ```ts
   * import { Pipe } from "@mp/multiprocessing/pipe";
   *
   * const [a, b] = Pipe();
   * a.sendBytes(new TextEncoder().encode("hi"));
   * console.log(new TextDecoder().decode(await b.recvBytes(10))); // "hi"
   * ```
   */
  async recvBytes(
    maxlength = Infinity,
    options: RecvOptions = {},
  ): Promise<Uint8Array> {
    if (!(maxlength >= 0)) {
      throw new RangeError(
        `Cannot receive with maxlength ${maxlength}: it must be 0 or more`,
      );
    }
    const { timeout = Infinity, signal } = options;
    this.#checkWait(timeout, signal);
    // A frame is the message after a flag byte.
    const frame = await this.#shared.run("recv", [maxlength, timeout], signal);
    return frame.subarray(1);
  }

  /**
   * Closes this end in this process. Values already sent are still
   * delivered; the other end sees EOF once every handle on this end is
   * closed.
   *
   * @example Usage
   * ```ts
   * import { Pipe } from "@mp/multiprocessing/pipe";
   *
   * const [a, b] = Pipe<number>();
   * b.close();
   * try {
   *   await a.recv();
   * } catch (error) {
   *   console.log((error as Error).name); // "EOFError"
   * }
   * ```
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#shared.run("close", [this.#lease]);
  }

  /**
   * Yields values until end of file.
   *
   * @returns An async iterator over the values received.
   *
   * @example Usage
   * ```ts
   * import { Pipe } from "@mp/multiprocessing/pipe";
   *
   * const [a, b] = Pipe<number>();
   * a.send(1);
   * a.close();
   * for await (const value of b) console.log(value); // 1
   * ```
   */
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    while (true) {
      try {
        yield await this.recv();
      } catch (error) {
        if (error instanceof EOFError) return;
        throw error;
      }
    }
  }

  static {
    sharedOf = (connection) => connection.#shared;
  }
}

// Checked at run time: JavaScript callers pass anything, and `new
// Uint8Array("hello")` would quietly make an empty message.
function isBytes(value: unknown): boolean {
  return ArrayBuffer.isView(value) || value instanceof ArrayBuffer ||
    value instanceof SharedArrayBuffer;
}

function connectionOf<T>(shared: EndShared, lease: number): Connection<T> {
  return handOver({ shared, lease }, () => new Connection<T>());
}

/**
 * Creates a pipe and returns its two ends (Python's `multiprocessing.Pipe`).
 * With `duplex` (the default) both ends send and receive; without, the
 * first end only receives and the second only sends.
 *
 * @typeParam T The type of the values sent.
 * @param duplex Whether both ends can send.
 * @returns The two connected ends.
 *
 * @example One-way pipe
 * ```ts
 * import { Pipe } from "@mp/multiprocessing/pipe";
 *
 * const [reader, writer] = Pipe<string>(false);
 * writer.send("hello");
 * console.log(await reader.recv(), reader.writable); // "hello" false
 * ```
 */
export function Pipe<T = unknown>(
  duplex = true,
): [Connection<T>, Connection<T>] {
  const [first, second] = newPipe(duplex).map(([memory, config]) =>
    connectionOf<T>(new Shared(PIPE_END, config, memory), 0)
  );
  return [first!, second!];
}

Shared.register(PIPE_END, Connection, sharedOf, {
  wrap: (shared, lease) => connectionOf(shared, lease as number),
  // Each copy sent to a child holds a handle on the sending side, given up
  // when the child closes it or exits, so a dead child never leaves its
  // peer waiting for end of file.
  extra: (connection, context) => {
    const shared = sharedOf(connection);
    if (!shared.config.writable) return 0;
    const lease = shared.atOwner("lease", []);
    context?.onChildExit(() => shared.atOwner("release", [lease]));
    return lease;
  },
});
