// Task functions for the pool tests.
export function add(a: number, b: number): number {
  return a + b;
}

export function add100(x: number): number {
  return x + 100;
}

export function square(x: number): number {
  return x * x;
}

export async function sleepy(ms: number, value: unknown): Promise<unknown> {
  await new Promise((resolve) => setTimeout(resolve, ms));
  return value;
}

export function pid(): number {
  return Deno.pid;
}
