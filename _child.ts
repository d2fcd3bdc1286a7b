// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// The entry module every child runs, under either start method: receive the
// init message, import the target's module, rebuild the arguments, run the
// target, deliver pending writes, then exit with Python's exit codes.
import type { InitMessage } from "./_backend.ts";
import { decode, encode } from "./_codec.ts";
import { rebuild } from "./_reduce.ts";
import {
  adoptPidCounter,
  adoptWorkerPid,
  current,
  failInflight,
  flushAll,
  newSlot,
  receiveReturn,
  type ReturnMessage,
  setDefaultModule,
  setParentLink,
  type UpMessage,
  waitSlot,
} from "./_runtime.ts";
import { findExport, notExportedMessage } from "./_target.ts";
import { FrameWriter, readFrames, writeAll } from "./_wire.ts";
import { ProcessError } from "./errors.ts";

interface WorkerScope {
  postMessage(message: unknown): void;
  close(): void;
  onmessage: ((event: MessageEvent) => void) | null;
}

const workerScope = "WorkerGlobalScope" in globalThis
  ? globalThis as unknown as WorkerScope
  : null;

const realExit = Deno.exit;
let exiting = false;

/**
 * The code an OS process reports for `Deno.exit(code)`: its low 8 bits, so
 * both start methods agree (`Deno.exit(300)` gives 44, `Deno.exit(-1)` 255).
 */
function osExitCode(code: number): number {
  return Math.trunc(code) & 0xff;
}

/** Ends this child with `code`; a worker reports it, as it has no OS exit code. */
function exit(code: number): never {
  const status = osExitCode(code);
  if (workerScope !== null && !exiting) {
    exiting = true;
    workerScope.postMessage({ t: "exit", code: status });
  }
  return realExit(status);
}

function report(error: unknown): void {
  console.error(`Process ${current.name}:`);
  console.error(error);
}

/**
 * The parent died (perhaps SIGKILLed, unable to clean up): its socket file
 * would stay in the temporary directory, so its children remove it.
 */
function removeSocket(path: string | undefined): void {
  if (path === undefined) return;
  try {
    Deno.removeSync(path);
  } catch {
    // Another child was first, or the parent had removed it.
  }
}

function receiveInit(): Promise<InitMessage> {
  const { promise, resolve } = Promise.withResolvers<InitMessage>();
  if (workerScope !== null) {
    workerScope.onmessage = (event) => {
      workerScope.onmessage = (event: MessageEvent<ReturnMessage>) =>
        receiveReturn(event.data);
      resolve(event.data as InitMessage);
    };
    return promise;
  }
  // After the init frame, stdin stays open until the parent dies.
  let socket: string | undefined;
  readFrames(Deno.stdin, (payload) => {
    const init = decode(payload) as InitMessage;
    socket = init.socket;
    resolve(init);
  })
    .catch(() => {})
    .finally(() => {
      removeSocket(socket);
      realExit(1);
    });
  return promise;
}

/** Decodes the answer of a blocking call from its slot. */
function blockOn(
  slot: SharedArrayBuffer,
  post: (message: unknown) => void,
): ReturnMessage {
  const bytes = waitSlot(slot, (k, s) => post({ t: "fetch", k, s }));
  return decode(bytes) as ReturnMessage;
}

function linkToParent(init: InitMessage): void {
  if (workerScope !== null) {
    const post = (message: unknown) => workerScope.postMessage(message);
    setParentLink({
      send: post,
      flushed: () => Promise.resolve(),
      callSync(message) {
        const slot = newSlot();
        post({ ...message, s: slot });
        return blockOn(slot, post);
      },
    });
    return;
  }
  const { socket, token } = init;
  let connection: Promise<Deno.Conn> | null = null;
  const connect = async () => {
    const conn = await Deno.connect({ transport: "unix", path: socket! });
    await writeAll(conn, new TextEncoder().encode(token));
    readFrames(
      conn,
      (payload) => receiveReturn(decode(payload) as ReturnMessage),
    )
      .catch(() => {})
      .finally(() =>
        failInflight(new ProcessError("The parent process is gone"))
      );
    return conn;
  };
  const writer = new FrameWriter(async (bytes) => {
    connection ??= connect();
    await writeAll(await connection, bytes);
  });
  // A blocking call cannot wait for this thread's own event loop, so a
  // helper worker, started at the first one, carries it over its own
  // connection while this thread sleeps.
  let helper: Worker | null = null;
  const postToHelper = (message: unknown) => {
    if (helper === null) {
      helper = new Worker(new URL("./_sync_worker.ts", import.meta.url), {
        type: "module",
      });
      helper.postMessage({ t: "init", socket, token });
    }
    helper.postMessage(message);
  };
  setParentLink({
    send: (message: UpMessage) => writer.send(encode(message)),
    flushed: () => writer.flushed(),
    callSync(message) {
      const slot = newSlot();
      postToHelper({ ...message, s: slot });
      return blockOn(slot, postToHelper);
    },
  });
}

function exitOnStrayErrors(): void {
  globalThis.addEventListener("error", (event) => {
    event.preventDefault();
    report(event.error);
    exit(1);
  });
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    report(event.reason);
    exit(1);
  });
}

async function runTarget(init: InitMessage): Promise<number> {
  try {
    const namespace = await import(init.module);
    const target = findExport(namespace, init.target);
    if (target === undefined) {
      throw new TypeError(notExportedMessage(init.target, init.module));
    }
    const args = init.reduced
      ? await rebuild(init.args) as unknown[]
      : init.args;
    await target(...args);
    // A promise the target left rejected is reported once the microtasks
    // have run, as in a Deno program, which then exits 1: give it that turn.
    await new Promise((resolve) => setTimeout(resolve, 0));
    return Deno.exitCode;
  } catch (error) {
    report(error);
    return 1;
  }
}

const init = await receiveInit();
Object.assign(current, init.info);
if (workerScope === null) current.pid = Deno.pid;
if (init.pidCounter !== undefined) adoptPidCounter(init.pidCounter);
if (workerScope !== null) adoptWorkerPid(init.info.pid);
setDefaultModule(init.module);
linkToParent(init);
exitOnStrayErrors();
if (workerScope !== null) {
  Deno.exit = (code?: number) => exit(code ?? 0);
}
const code = await runTarget(init);
await flushAll();
exit(code);
