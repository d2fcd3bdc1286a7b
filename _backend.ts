// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// The one interface every start method implements (CPython's `popen_*`).
// Everything above it (Process, and later Pool and Manager) is written once.
import type { BufferRef } from "./_shm.ts";
import type { ParentLink, ProcessInfo, StartMethod } from "./_runtime.ts";

/** What a child needs to run its target: sent once, at start. */
export interface InitMessage {
  t: "init";
  /** URL of the module exporting the target. */
  module: string;
  /** The target function's own name (`fn.name`). */
  target: string;
  args: unknown[];
  /** Whether `args` hold primitives to rebuild. */
  reduced: boolean;
  info: ProcessInfo;
  /**
   * The isolate table of this OS process (`_isolates.ts`), which a worker
   * child shares.
   */
  isolates?: SharedArrayBuffer;
  /** How other OS processes map the table, if they can (see `_isolates.ts`). */
  table?: BufferRef | null;
  /**
   * For a subprocess child: the tree's isolate table to map and the code
   * it was registered under, when memory is shared across OS processes.
   */
  identity?: { table: BufferRef; code: number };
  /** Where a subprocess child connects to call its parent. */
  socket?: string;
  token?: string;
  /**
   * Modules the child starts loading at once, beside the target's: those
   * the target will import (a pool's task module).
   */
  preload?: string[];
}

/**
 * A start method's half inside the child: how the child gets its init
 * message, reaches its parent and reports its exit.
 */
export interface ChildSide {
  /**
   * Resolves with the init message; from then on the child ends when its
   * parent does.
   */
  receiveInit(): Promise<InitMessage>;
  /** This process's pid, from its init message. */
  pidOf(init: InitMessage): number;
  link(init: InitMessage): ParentLink;
  /** Tells the parent the exit code, just before the child ends. */
  reportExit(code: number): void;
}

/** A child once started. */
export interface ChildHandle {
  /** OS pid of a subprocess; a unique id for a worker. */
  readonly pid: number;
  /** Resolves with the exit code once the child is gone and cleaned up. */
  readonly exited: Promise<number>;
  /** Asks the child to stop (SIGTERM). */
  terminate(): void;
  /** Stops the child at once (SIGKILL). */
  kill(): void;
  /**
   * Posts `value` to the child by structured clone, moving the buffers in
   * `transfer` (a worker only): it takes it with `takePosted(id)`.
   * @throws {DOMException} `DataCloneError` when `value` cannot be cloned.
   */
  post?(id: number, value: unknown, transfer: ArrayBuffer[]): void;
}

/** What a library caller (a pool) set up for a `Process`'s child. */
export interface ChildSetup {
  /** Modules its child preloads (see `InitMessage.preload`). */
  preload?: string[];
  /**
   * The worker already created for it (see `prestartWorker`), which the
   * worker start method uses instead of creating one.
   */
  worker?: Worker;
}

/** Each `Process`'s {@linkcode ChildSetup}, if it has one. */
export const childSetups: WeakMap<object, ChildSetup> = new WeakMap();

/** Each started child's handle, by its `Process`. */
export const childHandles: WeakMap<object, ChildHandle> = new WeakMap();

/** Options the backends share. */
export interface SpawnOptions {
  /** Deno flags for a subprocess child; `undefined` inherits the parent's. */
  denoFlags?: readonly string[] | undefined;
  /** A worker already created for a worker child (see `ChildSetup`). */
  worker?: Worker | undefined;
}

/** Creates children of one start method. */
export interface Backend {
  readonly method: StartMethod;
  spawn(init: InitMessage, options: SpawnOptions): ChildHandle;
}

/** Exit codes as Python reports them for signals: minus the signal number. */
export const SIGNAL_NUMBERS: Readonly<Record<string, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
};
