// A live progress line for a long job: imapUnordered over 20,000 items,
// results counted as they come. On a terminal the line on stderr is redrawn
// in place; otherwise (a pipe, a file, CI) it prints a plain line now and
// then. The summary goes to stdout.
//
//   deno run -R examples/progress.ts
//
// -R (--allow-read) is the least it needs: worker children load their modules.
import { Pool } from "../pool.ts";

/** A small piece of CPU work: whether `n` is prime. */
export function isPrime(n: number): boolean {
  if (n < 2) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}

function* numbers(count: number): Generator<number> {
  for (let i = 0; i < count; i++) yield 1_000_000 + i;
}

const encoder = new TextEncoder();

/** Done/total, rate and ETA, as one line. */
function progressLine(done: number, total: number, started: number): string {
  const seconds = (performance.now() - started) / 1000;
  const rate = done / Math.max(seconds, 1e-3);
  const eta = (total - done) / Math.max(rate, 1e-9);
  const percent = (done / total * 100).toFixed(0).padStart(3);
  return `${percent}% ${done}/${total} ${rate.toFixed(0)} items/s ETA ${
    eta.toFixed(1)
  }s`;
}

if (import.meta.main) {
  const total = 20_000;
  const terminal = Deno.stderr.isTerminal();
  await using pool = new Pool({ processes: 2 });
  const started = performance.now();
  let done = 0;
  let primes = 0;
  let lastDraw = 0;
  for await (
    const prime of pool.imapUnordered(isPrime, numbers(total), {
      chunksize: 100,
    })
  ) {
    done++;
    if (prime) primes++;
    const now = performance.now();
    if (terminal && (now - lastDraw > 50 || done === total)) {
      lastDraw = now;
      // `\r` and "erase line" redraw the line in place.
      Deno.stderr.writeSync(
        encoder.encode(`\r\x1b[2K${progressLine(done, total, started)}`),
      );
    } else if (!terminal && done % 5_000 === 0) {
      console.error(progressLine(done, total, started));
    }
  }
  if (terminal) Deno.stderr.writeSync(encoder.encode("\n"));
  console.log(`${primes} primes among ${total} numbers from 1000000`);
}
