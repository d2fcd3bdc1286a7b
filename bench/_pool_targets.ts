// Task functions of the pool benchmarks, the same work as those of
// bench/python/cases.py.

export function add100(x: number): number {
  return x + 100;
}

export function add(a: number, b: number): number {
  return a + b;
}

/** CPU work: `n` rounds of arithmetic. */
export function spin(n: number): number {
  let x = 0;
  for (let i = 0; i < n; i++) x = (x + i * i) % 1_000_003;
  return x;
}

/** The length of the bytes a task received. */
export function byteLength(bytes: Uint8Array): number {
  return bytes.length;
}
