// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// The entry module every child runs, under either start method: receive the
// init message, import the target's module, rebuild the arguments, run the
// target, deliver pending writes, then exit with Python's exit codes.
import type { InitMessage } from "./_backend.ts";
import { decode } from "./_codec.ts";
import { adoptIsolateTable } from "./_isolates.ts";
// Loaded in every child, so that exits are reported up the tree through it.
import "./_shared.ts";
import { rebuild } from "./_reduce.ts";
import {
  current,
  deliverNow,
  flushAll,
  receiveReturn,
  type ReturnMessage,
  setDefaultModule,
  setParentLink,
} from "./_runtime.ts";
import { subprocessParentLink } from "./_backend_subprocess.ts";
import { workerParentLink } from "./_backend_worker.ts";
import { findExport, notExportedMessage } from "./_target.ts";
import { readFrames } from "./_wire.ts";
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

/**
 * Ends this child with `code` once what it sent has reached its parent; a
 * worker reports the code, as it has no OS exit code of its own.
 */
function exit(code: number): never {
  const status = osExitCode(code);
  try {
    deliverNow();
  } catch (error) {
    // The parent is gone: there is nobody left to deliver to.
    if (!(error instanceof ProcessError)) report(error);
  }
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

function linkToParent(init: InitMessage): void {
  setParentLink(
    workerScope !== null
      ? workerParentLink((message) => workerScope.postMessage(message))
      : subprocessParentLink(init.socket!, init.token!),
  );
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
if (init.isolates !== undefined) {
  adoptIsolateTable(init.isolates, init.info.pid);
}
setDefaultModule(init.module);
linkToParent(init);
exitOnStrayErrors();
Deno.exit = (code?: number) => exit(code ?? Deno.exitCode);
const code = await runTarget(init);
await flushAll();
exit(code);
