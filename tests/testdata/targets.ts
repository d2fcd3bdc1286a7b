// Targets run by children in the tests.
import { currentProcess } from "../../process.ts";

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
