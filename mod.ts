// Copyright 2026 the @mp/multiprocessing authors. MIT license.
/**
 * Python's `multiprocessing` for Deno: run exported functions in child
 * processes and coordinate them, under two start methods:
 *
 * - `"worker"` (default): a Deno `Worker`, its own V8 isolate in this OS
 *   process; fast to start, shares memory with its parent.
 * - `"subprocess"`: a separate OS process running `deno run`; its own pid,
 *   memory and crash isolation.
 *
 * Python's blocking calls are `async` here, timeouts are in milliseconds and
 * names are camelCase (`put_nowait` → `putNowait`). Values cross process
 * boundaries by structured clone.
 *
 * @example Run a function in a child
 * ```ts ignore
 * import { Process } from "@mp/multiprocessing";
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
export * from "./errors.ts";
export * from "./lock.ts";
export * from "./manager.ts";
export * from "./pipe.ts";
export * from "./pool.ts";
export * from "./process.ts";
export * from "./queue.ts";
