// Counts the primes below 2,000,000 in four children at once, two of each
// start method, then reports how each child ended.
//
//   deno run -R -W -N --allow-run examples/process.ts
import { Process, type StartMethod } from "../process.ts";

/** Prints how many primes lie in `[start, end)`. */
export function countPrimes(start: number, end: number): void {
  let count = 0;
  for (let n = Math.max(start, 2); n < end; n++) {
    let prime = true;
    for (let d = 2; d * d <= n; d++) {
      if (n % d === 0) {
        prime = false;
        break;
      }
    }
    if (prime) count++;
  }
  console.log(`primes in [${start}, ${end}): ${count}`);
}

if (import.meta.main) {
  const limit = 2_000_000;
  const step = limit / 4;
  const methods: StartMethod[] = [
    "worker",
    "subprocess",
    "worker",
    "subprocess",
  ];
  const children = methods.map((startMethod, i) =>
    new Process({
      target: countPrimes,
      args: [i * step, (i + 1) * step],
      startMethod,
    })
  );
  for (const child of children) child.start();
  for (const child of children) {
    const code = await child.join();
    console.log(
      `${child.name} (${child.startMethod}) exited with code ${code}`,
    );
  }
}
