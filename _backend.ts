// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// The one interface every start method implements (CPython's `popen_*`).
// Everything above it (Process, and later Pool and Manager) is written once.
import type { TableShare } from "./_isolates.ts";
import type { ParentLink, ProcessInfo, StartMethod } from "./_runtime.ts";
import { socketPath } from "./_util.ts";

/** What a child needs to run its target: sent once, at start. */
export interface InitMessage {
  /** URL of the module exporting the target. */
  module: string;
  /** The target function's own name (`fn.name`). */
  target: string;
  args: unknown[];
  /** Whether `args` hold primitives to rebuild. */
  reduced: boolean;
  info: ProcessInfo;
  /** How the child shares its parent's isolate table (`_isolates.ts`). */
  isolates?: TableShare;
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
   * Whether the child keeps this program running, as it does from its
   * start: a pool or a manager lets go of its idle children, so that a
   * program that forgot to close it still ends when its own work does.
   */
  hold(held: boolean): void;
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

/** Creates a child of one start method. */
export type Spawn = (init: InitMessage, options: SpawnOptions) => ChildHandle;

/** Whether this process holds the permission `descriptor` describes. */
export function allowed(descriptor: Deno.PermissionDescriptor): boolean {
  try {
    return Deno.permissions.querySync(descriptor).state === "granted";
  } catch {
    // A permission name this Deno does not know: nothing is granted.
    return false;
  }
}

/**
 * Checks that this process may start a child of `startMethod`, before
 * anything starts: a missing flag is then one error at the call that
 * needs it, naming the flag, not a failure inside the child.
 *
 * @param what What is being started, for the message ("process P-1").
 * @param serves Whether the child serves at a unix socket of its own (a
 * manager's server), which a worker child's permissions, this process's,
 * must allow too.
 * @throws {Deno.errors.NotCapable} When a permission is missing.
 */
export function checkStartPermissions(
  startMethod: StartMethod,
  what: string,
  serves = false,
): void {
  const worker = startMethod === "worker";
  const library = new URL(".", import.meta.url);
  if (
    worker && library.protocol === "file:" &&
    !allowed({ name: "read", path: decodeURIComponent(library.pathname) })
  ) {
    throw new Deno.errors.NotCapable(
      `Cannot start ${what} as reading the modules of a worker child is not allowed: run with --allow-read (-R)`,
    );
  }
  // A subprocess child reaches its parent at a unix socket; a worker that
  // serves listens at one of its own.
  const path = socketPath("mp");
  const socket = !worker || serves;
  const missing = [
    !worker && !allowed({ name: "run", command: Deno.execPath() }) &&
    "--allow-run",
    socket && !allowed({ name: "read", path }) && "--allow-read",
    socket && !allowed({ name: "write", path }) && "--allow-write",
    socket && !allowed({ name: "net", host: `unix:${path}` }) && "--allow-net",
  ].filter((flag) => flag !== false);
  if (missing.length === 0) return;
  const flags = missing.join(" ");
  const them = missing.length === 1 ? "it" : "them";
  throw new Deno.errors.NotCapable(
    worker
      ? `Cannot start ${what} as it serves at a unix socket, which needs ${flags}: run with ${them}`
      : `Cannot start ${what} as a subprocess child needs ${flags} (to run deno, and for the unix socket it reaches its parent by): run with ${them}, or use startMethod "worker"`,
  );
}
