// Copyright 2026 the @mp/multiprocessing authors. MIT license.
/**
 * {@linkcode Process}: run an exported function in a child, as Python's
 * `multiprocessing.Process` does, under one of two start methods:
 *
 * - `"worker"` (default): a Deno `Worker`, its own V8 isolate in this OS
 *   process. Starts fast and shares memory with its parent.
 * - `"subprocess"`: a separate OS process running `deno run`, with its own pid,
 *   memory and crash isolation.
 *
 * Functions travel by reference, as Python pickles them: the child imports the
 * target's module and looks the function up among its exports, so the target
 * must be exported and the program's main code guarded by `import.meta.main`
 * (which is `false` in children).
 *
 * @example Run a function in a child
 * ```ts ignore
 * import { Process } from "@mp/multiprocessing/process";
 *
 * export function greet(name: string) {
 *   console.log(`hello ${name}`);
 * }
 *
 * if (import.meta.main) {
 *   const p = new Process({ target: greet, args: ["bob"] });
 *   p.start();
 *   console.log(await p.join()); // 0
 * }
 * ```
 *
 * @module
 */
import {
  checkStartPermissions,
  type ChildHandle,
  childHandles,
  childSetups,
} from "./_backend.ts";
import { spawnSubprocess } from "./_backend_subprocess.ts";
import { spawnWorker } from "./_backend_worker.ts";
import { markExited } from "./_isolates.ts";
import { reduce } from "./_reduce.ts";
// Every process that starts children relays their exits up the tree (the
// layer's exit reports), whether or not it uses a shared object itself.
import "./_shared.ts";
import {
  current,
  getDefaultModule,
  notifyChildExit,
  type ProcessInfo,
  type StartMethod,
} from "./_runtime.ts";
import { checkNotImporting, exportedName } from "./_target.ts";
import { settleWithin, validateTimeout } from "./_util.ts";

export type { ProcessInfo, StartMethod } from "./_runtime.ts";

let defaultStartMethod: StartMethod = "worker";
const active = new Set<Process>();
let childCount = 0;

/** A default child name, as Python numbers them: `Process-1`, `Process-1:2`. */
function nextChildName(): string {
  childCount++;
  return current.isMain
    ? `Process-${childCount}`
    : `${current.name}:${childCount}`;
}

/**
 * Checks a start method name.
 *
 * @throws {TypeError} When `method` is not `"worker"` or `"subprocess"`.
 */
function validateStartMethod(method: unknown): StartMethod {
  if (method !== "worker" && method !== "subprocess") {
    throw new TypeError(
      `Cannot use start method ${
        JSON.stringify(method) ?? String(method)
      }: use "worker" or "subprocess"`,
    );
  }
  return method;
}

/**
 * Sets the start method used when an option does not choose one
 * (Python's `multiprocessing.set_start_method`).
 *
 * @param method `"worker"` or `"subprocess"`.
 * @throws {TypeError} When `method` is neither.
 *
 * @example Usage
 * ```ts
 * import { getStartMethod, setStartMethod } from "@mp/multiprocessing/process";
 *
 * setStartMethod("subprocess");
 * console.log(getStartMethod()); // "subprocess"
 * setStartMethod("worker");
 * ```
 */
export function setStartMethod(method: StartMethod): void {
  defaultStartMethod = validateStartMethod(method);
}

/**
 * Returns the start method used when an option does not choose one.
 *
 * @returns `"worker"` unless {@linkcode setStartMethod} changed it.
 *
 * @example Usage
 * ```ts
 * import { getStartMethod } from "@mp/multiprocessing/process";
 *
 * console.log(getStartMethod()); // "worker"
 * ```
 */
export function getStartMethod(): StartMethod {
  return defaultStartMethod;
}

/**
 * Describes the process this code runs in (Python's
 * `multiprocessing.current_process()`).
 *
 * @returns A snapshot of the name, pid, parent pid and start method.
 *
 * @example Usage
 * ```ts
 * import { currentProcess } from "@mp/multiprocessing/process";
 *
 * console.log(currentProcess().name); // "MainProcess"
 * ```
 */
export function currentProcess(): ProcessInfo {
  return Object.freeze({ ...current });
}

/**
 * Lists the children this process started that are still running
 * (Python's `multiprocessing.active_children()`).
 *
 * @returns The running children, in start order.
 *
 * @example Usage
 * ```ts
 * import { activeChildren } from "@mp/multiprocessing/process";
 *
 * console.log(activeChildren().length); // 0
 * ```
 */
export function activeChildren(): Process[] {
  return [...active];
}

/**
 * Returns the number of logical CPUs (Python's `multiprocessing.cpu_count()`).
 *
 * @returns `navigator.hardwareConcurrency`.
 *
 * @example Usage
 * ```ts
 * import { cpuCount } from "@mp/multiprocessing/process";
 *
 * console.log(cpuCount() >= 1); // true
 * ```
 */
export function cpuCount(): number {
  return navigator.hardwareConcurrency;
}

/** Options for {@linkcode Process}. */
export interface ProcessOptions<A extends unknown[] = unknown[]> {
  /**
   * The function the child runs. It must be exported from `module`, as the
   * child imports that module and looks it up by name.
   */
  target: (...args: A) => unknown;
  /**
   * The arguments for `target`, sent by structured clone. Queues, pipes,
   * locks and other primitives of this package may appear anywhere inside
   * and stay connected to the same object in the child.
   *
   * @default {[]}
   */
  args?: A;
  /**
   * The child's name, as seen by {@linkcode currentProcess} and in error
   * reports.
   *
   * @default {"Process-N"}
   */
  name?: string;
  /**
   * The URL of the module that exports `target`; pass `import.meta.url`
   * when that is not the main module.
   *
   * @default {Deno.mainModule}
   */
  module?: string | URL;
  /**
   * How the child is created.
   *
   * @default {getStartMethod()}
   */
  startMethod?: StartMethod;
  /**
   * Deno flags for a `"subprocess"` child, such as
   * `["--allow-read=/data"]`, replacing the permissions it inherits. By
   * default the child gets every permission the parent holds in full
   * (a permission granted only for some paths or hosts is not passed on).
   * A `"worker"` child always shares the parent's permissions.
   *
   * @default {undefined}
   */
  denoFlags?: readonly string[];
}

/** Options for {@linkcode Process.prototype.join}. */
export interface JoinOptions {
  /**
   * How long to wait, in milliseconds, before resolving with `null`.
   *
   * @default {Infinity}
   */
  timeout?: number;
  /** Stops waiting, rejecting with `signal.reason`; the child runs on. */
  signal?: AbortSignal;
}

/**
 * A function running in a child process or worker (Python's
 * `multiprocessing.Process`).
 *
 * Exit codes follow Python: `0` when the target returns (or the value it
 * left in `Deno.exitCode`), `1` when it throws or leaves a rejected promise
 * nobody handles (the error is printed on the child's stderr, like a
 * traceback), `n & 0xff` for `Deno.exit(n)` (what an OS process reports, so
 * `Deno.exit(300)` gives `44` under both start methods), and minus the signal
 * number when stopped by {@linkcode Process.prototype.terminate} (`-15`) or
 * {@linkcode Process.prototype.kill} (`-9`).
 *
 * The child ends when its target settles, or at `Deno.exit(n)`, once what it
 * wrote (queue items, pipe messages, lock releases, …) has reached the
 * owners, in the order written. Timers, intervals and other callbacks the
 * target left pending are dropped, under both start methods, as by
 * `Deno.exit()`: await what must finish.
 *
 * A subprocess child exits when its parent dies, at its next await; a child
 * stuck in synchronous code exits once it yields.
 *
 * @typeParam A The target's parameter types.
 *
 * @example Compute in two children at once
 * ```ts ignore
 * import { Process } from "@mp/multiprocessing/process";
 *
 * export function work(id: number) {
 *   console.log(`child ${id} done`);
 * }
 *
 * if (import.meta.main) {
 *   const children = [0, 1].map((id) =>
 *     new Process({ target: work, args: [id], startMethod: "subprocess" })
 *   );
 *   for (const child of children) child.start();
 *   for (const child of children) console.log(await child.join()); // 0
 * }
 * ```
 */
export class Process<A extends unknown[] = unknown[]> {
  #target: (...args: A) => unknown;
  #args: A;
  #name: string;
  #module: string;
  #startMethod: StartMethod;
  #denoFlags: readonly string[] | undefined;
  #handle: ChildHandle | null = null;
  #exitCode: number | null = null;
  #exited: Promise<number> | null = null;

  /**
   * Describes a child; nothing runs until {@linkcode Process.prototype.start}.
   *
   * @param options The target, its arguments and how to run it.
   * @throws {TypeError} When `target` is not a function or `startMethod` is
   * unknown.
   */
  constructor(options: ProcessOptions<A>) {
    const {
      target,
      args = [] as unknown[] as A,
      name,
      module = getDefaultModule(),
      startMethod = defaultStartMethod,
      denoFlags,
    } = options ?? {};
    if (typeof target !== "function") {
      throw new TypeError(
        `Cannot create a process as target is ${typeof target}: pass an exported function`,
      );
    }
    if (!Array.isArray(args)) {
      throw new TypeError(
        `Cannot create a process as args is ${typeof args}: pass an array`,
      );
    }
    this.#target = target;
    this.#args = args;
    this.#startMethod = validateStartMethod(startMethod);
    this.#module = new URL(module).href;
    this.#name = name ?? nextChildName();
    this.#denoFlags = denoFlags;
  }

  /** The child's name. */
  get name(): string {
    return this.#name;
  }

  /** How the child is created. */
  get startMethod(): StartMethod {
    return this.#startMethod;
  }

  /**
   * The OS pid of a subprocess child, or a unique id for a worker child;
   * `null` before {@linkcode Process.prototype.start}.
   */
  get pid(): number | null {
    return this.#handle?.pid ?? null;
  }

  /** The exit code once the child has ended, else `null`. */
  get exitCode(): number | null {
    return this.#exitCode;
  }

  /**
   * Starts the child. The target and `args` are checked first, so nothing
   * is spawned when they cannot be sent.
   *
   * @throws {Error} When the process was already started.
   * @throws {TypeError} When the target is not an exported, named function,
   * or `args` hold something that cannot be cloned (the error names its path,
   * such as `args[1].cb`).
   *
   * @example Usage
   * ```ts ignore
   * import { Process } from "@mp/multiprocessing/process";
   *
   * export function work() {}
   *
   * if (import.meta.main) {
   *   const p = new Process({ target: work });
   *   p.start();
   *   await p.join();
   * }
   * ```
   */
  start(): void {
    if (this.#handle !== null) {
      throw new Error(
        `Cannot start process ${this.#name} as it was already started: create a new Process to run again`,
      );
    }
    checkNotImporting(`process ${this.#name}`);
    const targetName = this.#checkTarget();
    checkStartPermissions(this.#startMethod, `process ${this.#name}`);
    const startMethod = this.#startMethod;
    const exitHooks: (() => void)[] = [];
    const { value, reduced } = reduce(this.#args, startMethod, "args", {
      onChildExit: (fn) => exitHooks.push(fn),
    });
    const { preload, worker } = childSetups.get(this) ?? {};
    const spawn = startMethod === "worker" ? spawnWorker : spawnSubprocess;
    const handle = spawn({
      module: this.#module,
      target: targetName,
      args: value as unknown[],
      reduced,
      ...(preload === undefined ? {} : { preload }),
      info: {
        name: this.#name,
        pid: 0,
        parentPid: current.pid,
        isMain: false,
        startMethod,
      },
    }, { denoFlags: this.#denoFlags, worker });
    this.#handle = handle;
    childHandles.set(this, handle);
    active.add(this as unknown as Process);
    this.#exited = handle.exited.then((code) => {
      markExited(handle.pid);
      notifyChildExit(handle.pid);
      for (const hook of exitHooks) hook();
      this.#exitCode = code;
      active.delete(this as unknown as Process);
      return code;
    });
  }

  #checkTarget(): string {
    return exportedName(this.#target, this.#module, {
      role: "its target",
      action: "start the process",
    });
  }

  /**
   * Waits for the child to end (Python's `join`).
   *
   * @param options `timeout` in milliseconds and an abort `signal`.
   * @returns The exit code, or `null` if the child is still running when the
   * timeout passes.
   * @throws {Error} When the process was never started.
   * @throws {RangeError} When `timeout` is negative.
   *
   * @example Usage
   * ```ts ignore
   * import { Process } from "@mp/multiprocessing/process";
   *
   * export function work() {}
   *
   * if (import.meta.main) {
   *   const p = new Process({ target: work });
   *   p.start();
   *   console.log(await p.join({ timeout: 5_000 })); // 0
   * }
   * ```
   */
  async join(options: JoinOptions = {}): Promise<number | null> {
    const { timeout = Infinity, signal } = options;
    validateTimeout(timeout);
    this.#started("join");
    signal?.throwIfAborted();
    if (this.#exitCode !== null) return this.#exitCode;
    return await settleWithin(this.#exited!, timeout, signal, () => null);
  }

  /**
   * Asks the child to stop: SIGTERM for a subprocess, `Worker.terminate()`
   * for a worker. Its exit code becomes `-15`. Does nothing once it has ended.
   *
   * @throws {Error} When the process was never started.
   *
   * @example Usage
   * ```ts ignore
   * import { Process } from "@mp/multiprocessing/process";
   *
   * export function forever() {
   *   setInterval(() => {}, 1000);
   * }
   *
   * if (import.meta.main) {
   *   const p = new Process({ target: forever });
   *   p.start();
   *   p.terminate();
   *   console.log(await p.join()); // -15
   * }
   * ```
   */
  terminate(): void {
    this.#started("terminate").terminate();
  }

  /**
   * Stops the child at once: SIGKILL for a subprocess, `Worker.terminate()`
   * for a worker. Its exit code becomes `-9`. Does nothing once it has ended.
   *
   * @throws {Error} When the process was never started.
   *
   * @example Usage
   * ```ts ignore
   * import { Process } from "@mp/multiprocessing/process";
   *
   * export function forever() {
   *   setInterval(() => {}, 1000);
   * }
   *
   * if (import.meta.main) {
   *   const p = new Process({ target: forever });
   *   p.start();
   *   p.kill();
   *   console.log(await p.join()); // -9
   * }
   * ```
   */
  kill(): void {
    this.#started("kill").kill();
  }

  #started(action: string): ChildHandle {
    if (this.#handle === null) {
      throw new Error(
        `Cannot ${action} process ${this.#name} as it has not been started: call start() first`,
      );
    }
    return this.#handle;
  }

  /**
   * Tells whether the child has started and not yet ended.
   *
   * @returns `true` while the child runs.
   *
   * @example Usage
   * ```ts ignore
   * import { Process } from "@mp/multiprocessing/process";
   *
   * export function work() {}
   *
   * if (import.meta.main) {
   *   const p = new Process({ target: work });
   *   console.log(p.isAlive()); // false
   *   p.start();
   *   console.log(p.isAlive()); // true
   *   await p.join();
   * }
   * ```
   */
  isAlive(): boolean {
    return this.#handle !== null && this.#exitCode === null;
  }

  /**
   * Terminates the child if it still runs and waits for it to end, so
   * `await using` leaves nothing behind.
   *
   * @example Usage
   * ```ts ignore
   * import { Process } from "@mp/multiprocessing/process";
   *
   * export function work() {}
   *
   * if (import.meta.main) {
   *   await using p = new Process({ target: work });
   *   p.start();
   * }
   * ```
   */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#handle === null) return;
    if (this.#exitCode === null) this.#handle.terminate();
    await this.#exited;
  }
}
