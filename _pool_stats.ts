// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// Percentiles over the most recent samples, in bounded memory: a pool that
// runs ten million tasks keeps the same few kilobytes of timings.

/** The p50, p90 and p99 of a set of durations, in milliseconds. */
export interface Percentiles {
  /** The median. */
  readonly p50: number;
  /** The 90th percentile. */
  readonly p90: number;
  /** The 99th percentile. */
  readonly p99: number;
}

const SIZE = 4096;

/** The last {@linkcode SIZE} samples, in a ring. */
export class Samples {
  #values = new Float64Array(SIZE);
  #count = 0;

  add(value: number): void {
    this.#values[this.#count % SIZE] = value;
    this.#count++;
  }

  percentiles(): Percentiles {
    const n = Math.min(this.#count, SIZE);
    if (n === 0) return { p50: 0, p90: 0, p99: 0 };
    const sorted = this.#values.slice(0, n).sort();
    const at = (q: number) => sorted[Math.min(n - 1, Math.floor(q * n))]!;
    return { p50: at(0.5), p90: at(0.9), p99: at(0.99) };
  }
}
