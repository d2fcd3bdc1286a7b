// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// The entry module every child runs, under either start method: receive the
// init message, import the target's module, rebuild the arguments, run the
// target, deliver pending writes, then exit with Python's exit codes. What
// differs between start methods is the backend's child side, chosen once.
import type { ChildSide, InitMessage } from "./_backend.ts";
import { adoptTable, wasStopped } from "./_isolates.ts";
// Loaded in every child, so that exits are reported up the tree through it.
import "./_shared.ts";
import { rebuild } from "./_reduce.ts";
import {
  current,
  deliverNow,
  flushAll,
  setDefaultModule,
  setParentLink,
} from "./_runtime.ts";
import { subprocessChild } from "./_backend_subprocess.ts";
import { workerChild } from "./_backend_worker.ts";
import { findExport, importWork, notExportedMessage } from "./_target.ts";
import { nextTurn } from "./_util.ts";
import { ProcessError } from "./errors.ts";
// The rest of the graph, listed so that the module loader fetches it at
// once: found level by level through each module's imports, it took a
// worker child ~2 ms longer to load, before anything else could start.
import "./_backend.ts";
import "./_codec.ts";
import "./_direct.ts";
import "./_errors_wire.ts";
import "./_feeder.ts";
import "./_futex.ts";
import "./_lock_core.ts";
import "./_ring.ts";
import "./_ring_link.ts";
import "./_shm.ts";
import "./_wire.ts";

const side: ChildSide = "WorkerGlobalScope" in globalThis
  ? workerChild
  : subprocessChild;

const realExit = Deno.exit;

/**
 * Ends this child with `code` once what it sent has reached its parent; a
 * worker reports the code, as it has no OS exit code of its own.
 */
function exit(code: number): never {
  // What an OS process reports: the low 8 bits, so both start methods
  // agree (`Deno.exit(300)` gives 44, `Deno.exit(-1)` 255).
  const status = Math.trunc(code) & 0xff;
  try {
    deliverNow();
  } catch (error) {
    // The parent is gone: there is nobody left to deliver to.
    if (!(error instanceof ProcessError)) report(error);
  }
  side.reportExit(status);
  return realExit(status);
}

function report(error: unknown): void {
  // A worker stopped from outside runs on briefly, and what it still tries
  // fails on purpose (see `beginEffect`): its parent has already moved on.
  if (wasStopped()) return;
  console.error(`Process ${current.name}:`);
  console.error(error);
}

function exitOnStrayError(event: ErrorEvent | PromiseRejectionEvent): void {
  event.preventDefault();
  report(event instanceof ErrorEvent ? event.error : event.reason);
  exit(1);
}

async function runTarget(init: InitMessage): Promise<number> {
  for (const module of init.preload ?? []) {
    // Only started here; whoever imports it later hears of a failure.
    importWork(module).catch(() => {});
  }
  try {
    const namespace = await importWork(init.module);
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
    await nextTurn();
    return Deno.exitCode;
  } catch (error) {
    report(error);
    return 1;
  }
}

const init = await side.receiveInit();
Object.assign(current, init.info);
adoptTable(init.isolates);
setDefaultModule(init.module);
setParentLink(side.link(init));
globalThis.addEventListener("error", exitOnStrayError);
globalThis.addEventListener("unhandledrejection", exitOnStrayError);
Deno.exit = (code?: number) => exit(code ?? Deno.exitCode);
const code = await runTarget(init);
await flushAll();
exit(code);
