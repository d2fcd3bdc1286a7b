// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// Small helpers the public modules share.

/**
 * Checks a `timeout` option: a number of milliseconds, zero or more.
 *
 * @throws {RangeError} When `timeout` is negative or not a number.
 */
export function validateTimeout(timeout: number | undefined): void {
  if (timeout === undefined) return;
  if (typeof timeout !== "number" || Number.isNaN(timeout) || timeout < 0) {
    throw new RangeError(
      `Cannot wait with timeout ${timeout}: it must be a number of milliseconds, 0 or more`,
    );
  }
}

/**
 * Resolves after one turn of the event loop, which it keeps running until
 * then. Not by a timer: a process's first timer costs milliseconds (Deno
 * loads its timer modules then), which would land wherever it is made.
 */
export function nextTurn(): Promise<void> {
  const { port1, port2 } = new MessageChannel();
  return new Promise((resolve) => {
    port1.onmessage = () => {
      port1.close();
      port2.close();
      resolve();
    };
    port2.postMessage(null);
  });
}

/**
 * Calls `callback` after `delay` ms, as an unreferenced timer would (it does
 * not keep the program running), without being a timer (see `nextTurn`).
 *
 * @returns A function that cancels the call.
 */
export function unrefDelay(callback: () => void, delay: number): () => void {
  const word = new Int32Array(new SharedArrayBuffer(4));
  let cancelled = false;
  const { async, value } = Atomics.waitAsync(word, 0, 0, delay);
  const fire = () => cancelled || callback();
  if (async) value.then(fire);
  else queueMicrotask(fire);
  return () => {
    cancelled = true;
    // Ends the wait now, rather than leaving it pending until the delay.
    Atomics.notify(word, 0);
  };
}

// `setTimeout` stores its delay in 32 bits and fires at once past this.
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Like `setTimeout`, for any delay: one longer than a timer holds waits in
 * chunks. An infinite delay never fires.
 *
 * @returns A function that cancels the call.
 */
export function setLongTimeout(
  callback: () => void,
  delay: number,
): () => void {
  if (delay === Infinity) return () => {};
  const deadline = performance.now() + delay;
  let timer: ReturnType<typeof setTimeout>;
  const arm = (left: number) => {
    timer = left > MAX_TIMER_MS
      ? setTimeout(() => arm(deadline - performance.now()), MAX_TIMER_MS)
      : setTimeout(callback, left);
  };
  arm(delay);
  return () => clearTimeout(timer);
}

/**
 * Settles as `promise` does, unless `timeout` ms pass first (then as
 * `onTimeout()` returns or throws) or `signal` aborts (then rejects with its
 * reason). The promise itself is not cancelled.
 */
export function settleWithin<T, U>(
  promise: Promise<T>,
  timeout: number,
  signal: AbortSignal | undefined,
  onTimeout: () => U,
): Promise<T | U> {
  if (timeout === Infinity && signal === undefined) return promise;
  const stop = Promise.withResolvers<U>();
  const onAbort = () => stop.reject(signal!.reason);
  if (signal?.aborted) onAbort();
  signal?.addEventListener("abort", onAbort, { once: true });
  const cancel = setLongTimeout(
    () => stop.resolve(Promise.try(onTimeout)),
    timeout,
  );
  return Promise.race([promise, stop.promise]).finally(() => {
    cancel();
    signal?.removeEventListener("abort", onAbort);
  });
}

/**
 * Calls every listener with `args`: one that throws is reported and does
 * not keep the others from running.
 */
export function callEach<A extends unknown[]>(
  listeners: Iterable<(...args: A) => void>,
  ...args: A
): void {
  for (const listener of listeners) {
    try {
      listener(...args);
    } catch (error) {
      console.error(error);
    }
  }
}

/** Names a value's kind and, briefly, the value, for error messages. */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  switch (typeof value) {
    case "string": {
      const text = value.length > 20 ? `${value.slice(0, 20)}…` : value;
      return `a string (${JSON.stringify(text)})`;
    }
    case "number":
    case "boolean":
    case "bigint":
      return `a ${typeof value} (${String(value)})`;
    case "object": {
      const name = Object.getPrototypeOf(value)?.constructor?.name;
      return typeof name === "string" && name !== "Object"
        ? `an instance of class ${name}`
        : "a plain object";
    }
    default:
      return `a ${typeof value}`;
  }
}

/** Closes `conn`, unless it is closed already (by its peer, perhaps). */
export function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}

/** Removes the socket file at `path`, if any, unless it is gone already. */
export function removeSocket(path: string | undefined): void {
  if (path === undefined) return;
  try {
    Deno.removeSync(path);
  } catch {
    // Gone: another process was first.
  }
}

/**
 * A fresh path for a unix socket of this process, in the temporary
 * directory (`TMPDIR`, else `/tmp`), named `<prefix>-<pid>-<random>.sock`.
 */
export function socketPath(prefix: string): string {
  let dir = "/tmp";
  try {
    dir = Deno.env.get("TMPDIR") ?? dir;
  } catch {
    // No env permission: the default will do.
  }
  const random = crypto.randomUUID().slice(0, 8);
  return `${dir}/${prefix}-${Deno.pid}-${random}.sock`;
}

/**
 * Deno's web `Worker` has no public `ref()`/`unref()`, yet Deno 2.9 gives
 * it one method, under a symbol of its own (its only description-less
 * one), that does what `node:worker_threads`' pair does: `false` drops a
 * reference, `true` adds one back. A `node:worker_threads` worker would be
 * public, but costs 18 ms of this thread to create instead of 7. Without
 * that method (another Deno), every worker holds the program, as before.
 */
const REF: symbol | undefined = typeof Worker === "undefined"
  ? undefined
  : Object.getOwnPropertySymbols(Worker.prototype).find((symbol) => {
    const method = (Worker.prototype as unknown as Record<symbol, unknown>)[
      symbol
    ];
    return symbol.description === undefined &&
      typeof method === "function" && method.length === 1;
  });

/**
 * Sets whether `worker` keeps this program running, as it does from its
 * creation; a change only, as the worker counts references.
 */
export function holdWorker(worker: Worker, held: boolean): void {
  if (REF === undefined) return;
  (worker as unknown as Record<symbol, (ref: boolean) => void>)[REF]!(held);
}
