// A shared integer for the lock tests: on shared memory in the parent and
// its worker children, reached through the parent from subprocess children.
// It has no lock of its own, so a read-modify-write by two processes at once
// loses updates unless they hold a Lock around it.
import {
  reduceSymbol,
  type Reducible,
  registerReducible,
} from "../../_reduce.ts";
import { callParent, expose, type StartMethod } from "../../_runtime.ts";

export class Cell implements Reducible {
  #view: Int32Array | null;
  #id: number | null;

  constructor(view?: Int32Array, id?: number) {
    this.#view = view ??
      (id === undefined ? new Int32Array(new SharedArrayBuffer(4)) : null);
    this.#id = id ?? null;
  }

  async get(): Promise<number> {
    if (this.#view !== null) return Atomics.load(this.#view, 0);
    return await callParent(this.#id!, "get", []) as number;
  }

  /**
   * Resolves once the value is set. Await it before releasing a lock: a
   * subprocess child that shares memory releases it at once, ahead of its
   * calls still on their way.
   */
  async set(value: number): Promise<void> {
    if (this.#view !== null) Atomics.store(this.#view, 0, value);
    else await callParent(this.#id!, "set", [value]);
  }

  [reduceSymbol](target: StartMethod): unknown {
    if (target === "worker" && this.#view !== null) {
      return { sab: this.#view.buffer };
    }
    return {
      id: expose(this, async (op, args) => {
        if (op === "get") return await this.get();
        this.set(args[0] as number);
        return null;
      }),
    };
  }
}

registerReducible("test.lockCell", import.meta.url, Cell, (data) => {
  const { sab, id } = data as { sab?: SharedArrayBuffer; id?: number };
  return sab === undefined
    ? new Cell(undefined, id)
    : new Cell(new Int32Array(sab));
});
