// A test primitive declared on the shared-object layer (`_shared.ts`): an
// integer and a claim, proving that a new kind is a state, a table of ops
// and a reap, and that the layer does the rest.
import {
  asyncOp,
  blockingOp,
  type Kind,
  notifyOp,
  Shared,
} from "../../_shared.ts";

const VALUE = 0;
/** The code of the claim's holder; 0 when released. */
const HOLDER = 1;

const ops = {
  add: asyncOp((s: Int32Array, _, n: number) => Atomics.add(s, VALUE, n) + n),
  get: blockingOp((s: Int32Array) => Atomics.load(s, VALUE)),
  bump: notifyOp((s: Int32Array) => void Atomics.add(s, VALUE, 1)),
  claim: asyncOp((s: Int32Array, { caller }) =>
    Atomics.compareExchange(s, HOLDER, 0, caller) === 0
  ),
  release: blockingOp((s: Int32Array, { caller }) =>
    Atomics.compareExchange(s, HOLDER, caller, 0) === caller
  ),
  claimedBy: blockingOp((s: Int32Array) => Atomics.load(s, HOLDER)),
};

const kind: Kind<Int32Array, null, typeof ops> = {
  name: "test.counter",
  module: import.meta.url,
  open: (memory: SharedArrayBuffer) => new Int32Array(memory),
  ops,
  reap(s, dead) {
    const holder = Atomics.load(s, HOLDER);
    if (holder !== 0 && dead(holder)) {
      Atomics.compareExchange(s, HOLDER, holder, 0);
    }
  },
};

export class Counter {
  #shared: Shared<Int32Array, null, typeof ops>;

  constructor(shared?: Shared<Int32Array, null, typeof ops>) {
    this.#shared = shared ?? new Shared(kind, null, new SharedArrayBuffer(8));
  }

  /** Adds `n`; resolves with the new value. */
  add(n: number): Promise<number> {
    return this.#shared.run("add", [n]);
  }
  get(): number {
    return this.#shared.run("get", []);
  }
  /** Adds 1, without waiting. */
  bump(): void {
    this.#shared.run("bump", []);
  }
  /** Takes the claim for this process; false when another holds it. */
  claim(): Promise<boolean> {
    return this.#shared.run("claim", []);
  }
  release(): boolean {
    return this.#shared.run("release", []);
  }
  /** The code of the claim's holder; 0 when none. */
  claimedBy(): number {
    return this.#shared.run("claimedBy", []);
  }
  claimed(): boolean {
    return this.claimedBy() !== 0;
  }

  /** The layer's object, for tests of the layer itself. */
  static shared(counter: Counter): Shared<Int32Array, null, typeof ops> {
    return counter.#shared;
  }
}

Shared.register(kind, Counter, Counter.shared, (s) => new Counter(s));
