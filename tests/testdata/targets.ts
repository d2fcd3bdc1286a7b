// Targets run by children in the tests.
import { currentProcess, Process, type StartMethod } from "../../process.ts";
import type { Recorder } from "./recorder.ts";

export function hello(name: string) {
  console.log(`hello ${name} from ${currentProcess().name}`);
}

export function fails(message: string) {
  throw new Error(message);
}

export async function rejects(message: string) {
  await Promise.resolve();
  throw new Error(message);
}

export function exitsWith(code: number) {
  Deno.exit(code);
}

export function sleepsForever(): Promise<never> {
  return new Promise(() => setInterval(() => {}, 1_000));
}

export function reportsSelf() {
  console.log(JSON.stringify(currentProcess()));
}

export async function recordSelf(recorder: Recorder) {
  await recorder.record(currentProcess());
}

export async function recordDeep(
  nested: { deep: [number, Map<string, Recorder>] },
) {
  const [n, map] = nested.deep;
  await map.get("r")!.record(n * 2);
}

export async function recordTwiceSameObject(a: Recorder, b: Recorder) {
  await a.record(a === b);
}

export async function startsGrandchild(
  recorder: Recorder,
  startMethod: StartMethod,
) {
  const child = new Process({
    target: recordSelf,
    args: [recorder],
    module: import.meta.url,
    startMethod,
  });
  child.start();
  await recorder.record(await child.join({ timeout: 20_000 }));
}

export function recordWithoutAwait(recorder: Recorder) {
  // Not awaited: the child must still deliver it before exiting.
  recorder.record("last words");
}

export async function printsPidThenSleeps() {
  console.log(`pid ${Deno.pid}`);
  await sleepsForever();
}

export async function startsSleepingGrandchild() {
  console.log(`pid ${Deno.pid}`);
  const grandchild = new Process({
    target: printsPidThenSleeps,
    module: import.meta.url,
    startMethod: "subprocess",
  });
  grandchild.start();
  await grandchild.join();
}

export function notExportedCaller() {
  return notExported();
}

function notExported() {}

export async function recordCountSync(recorder: Recorder) {
  await recorder.record("first");
  await recorder.record(recorder.countSync());
}

export function leavesRejection(message: string) {
  Promise.reject(new Error(message));
}

export function setsExitCode(code: number) {
  Deno.exitCode = code;
}

export function leavesTimer(recorder: Recorder) {
  // Would fire long after the target returned: the child does not wait.
  setTimeout(() => recorder.record("late"), 5_000);
  recorder.record("early");
}
