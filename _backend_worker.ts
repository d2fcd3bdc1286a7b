// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// Start method "worker": a Deno Worker, its own isolate in this OS process.
import type { ChildSide, InitMessage, Spawn } from "./_backend.ts";
import { fenceWorker, nextWorkerPid, shareTable } from "./_isolates.ts";
import {
  awaitAnswer,
  CallRouter,
  type ParentLink,
  receivePosted,
  receiveReturn,
  type ReturnMessage,
  type UpMessage,
} from "./_runtime.ts";
import { holdWorker } from "./_util.ts";

const CHILD_URL = new URL("./_child.ts", import.meta.url);

/**
 * Creates the worker of a child to be started: creating one blocks this
 * thread for milliseconds, after which the worker loads its modules on its
 * own thread while this one prepares what the child gets. `entry`, a module
 * that imports `_child.ts` after the target's module, loads both as one
 * graph instead of one after the other.
 */
export function prestartWorker(name: string, entry: URL = CHILD_URL): Worker {
  return new Worker(entry, { type: "module", name });
}

/** Starts a child under the worker start method. */
export const spawnWorker: Spawn = (child, options) => {
  // A worker shares this OS process: its pid and code come from the
  // process's isolate table, which it shares.
  const pid = nextWorkerPid();
  const isolates = shareTable(pid, true)!;
  const init = { ...child, info: { ...child.info, pid }, isolates };
  const worker = options.worker ?? prestartWorker(init.info.name);
  const { promise: exited, resolve } = Promise.withResolvers<number>();
  const router = new CallRouter(pid, (answer) => worker.postMessage(answer));
  let done = false;
  const finish = (code: number) => {
    if (done) return;
    done = true;
    router.close();
    worker.terminate();
    // `terminate()` stops the thread asynchronously: a worker stopped from
    // outside may run on briefly, so its exit (which frees what it held) is
    // reported once it can change shared memory no more.
    fenceWorker(pid).then(() => resolve(code));
  };
  // A worker child posts its calls, and its exit code at the end.
  type Up = UpMessage | { t: "exit"; code: number };
  worker.onmessage = (event: MessageEvent<Up>) => {
    const message = event.data;
    if (message.t === "exit") finish(message.code);
    else router.receive(message);
  };
  worker.onerror = (event) => {
    // The child reports its own errors; this fires only if it cannot load.
    event.preventDefault();
    console.error(
      `Process ${init.info.name}: the worker failed to load: ${event.message}`,
    );
    finish(1);
  };
  worker.postMessage(init);
  let held = true;
  return {
    pid,
    exited,
    terminate: () => finish(-15),
    kill: () => finish(-9),
    hold(hold) {
      // The worker counts references: only a change takes or gives one.
      if (hold === held || done) return;
      held = hold;
      holdWorker(worker, hold);
    },
    post: (id, value, transfer) =>
      worker.postMessage({ t: "posted", id, value }, transfer),
  };
};

const scope = globalThis as unknown as {
  postMessage(message: unknown): void;
  onmessage: ((event: MessageEvent) => void) | null;
};
const post = (message: unknown) => scope.postMessage(message);

/**
 * A worker child's link to its parent: everything goes in order through the
 * worker's own port, and a blocking call's answer is written into a slot of
 * shared memory while this thread sleeps.
 */
const parentLink: ParentLink = {
  send: post,
  flushed: () => Promise.resolve(),
  // Posted messages are delivered even after the worker closes.
  unsent: () => false,
  callSync: (message) => awaitAnswer((s) => post({ ...message, s })),
};

/** The worker start method's half inside the child. */
export const workerChild: ChildSide = {
  receiveInit() {
    const { promise, resolve } = Promise.withResolvers<InitMessage>();
    scope.onmessage = (event) => {
      // A value the parent posted (see `ChildHandle.post`), or an answer.
      type Down = ReturnMessage | { t: "posted"; id: number; value: unknown };
      scope.onmessage = (event: MessageEvent<Down>) => {
        const message = event.data;
        if (message.t === "posted") receivePosted(message.id, message.value);
        else receiveReturn(message);
      };
      resolve(event.data as InitMessage);
    };
    return promise;
  },
  link: () => parentLink,
  // The parent takes the first exit reported: an error while the child
  // exits may report another.
  reportExit: (code) => post({ t: "exit", code }),
};
