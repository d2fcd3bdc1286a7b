// A minimal primitive used to prove `_reduce.ts`: it lives in the process
// that made it, and children record values into it through their parent.
import {
  reduceSymbol,
  type Reducible,
  registerReducible,
} from "../../_reduce.ts";
import { callOwnerSync, callParent, current, expose } from "../../_runtime.ts";

export class Recorder implements Reducible {
  #values: unknown[] = [];
  #ownerId: number | null = null;

  static fromOwner(id: number): Recorder {
    const recorder = new Recorder();
    recorder.#ownerId = id;
    return recorder;
  }

  async record(value: unknown): Promise<void> {
    if (this.#ownerId === null) this.#values.push(value);
    else await callParent(this.#ownerId, "record", [value]);
  }

  async values(): Promise<unknown[]> {
    if (this.#ownerId === null) return [...this.#values];
    return await callParent(this.#ownerId, "values", []) as unknown[];
  }

  /** Blocks until the owner answers: proves blocking calls. */
  countSync(): number {
    if (this.#ownerId === null) return this.#values.length;
    return callOwnerSync(
      current.parentPid,
      this.#ownerId,
      "count",
      [],
    ) as number;
  }

  [reduceSymbol](): number {
    return expose(this, (op, args) => {
      if (op === "record") return this.record(args[0]);
      if (op === "count") return this.countSync();
      return this.values();
    });
  }
}

registerReducible(
  "test.recorder",
  import.meta.url,
  Recorder,
  (id) => Recorder.fromOwner(id as number),
);
