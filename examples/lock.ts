// Ten children, half workers and half subprocesses, each print
// "hello world i" under one Lock (Python's multiprocessing Lock example).
// Each line is written in three pieces with a pause between them: the lock
// keeps every line whole; without it, pieces of different lines would mix.
//
//   deno run -R -W -N --allow-run examples/lock.ts
import { Lock } from "../lock.ts";
import { Process } from "../process.ts";

const encoder = new TextEncoder();

async function write(text: string): Promise<void> {
  const bytes = encoder.encode(text);
  let written = 0;
  while (written < bytes.length) {
    written += await Deno.stdout.write(bytes.subarray(written));
  }
}

/** Prints "hello world i" holding `lock`. */
export async function f(lock: Lock, i: number): Promise<void> {
  await lock.acquire();
  try {
    for (const piece of ["hello", " world", ` ${i}\n`]) {
      await write(piece);
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  } finally {
    lock.release();
  }
}

if (import.meta.main) {
  const lock = new Lock();
  const children = Array.from({ length: 10 }, (_, i) =>
    new Process({
      target: f,
      args: [lock, i],
      startMethod: i % 2 === 0 ? "worker" : "subprocess",
    }));
  for (const child of children) child.start();
  for (const child of children) await child.join();
}
