// Per-operation cost of queues and pipes within one process (the fast paths
// every cross-process transfer also takes). Cross-process throughput, side
// by side with Python, is in `deno task compare` (bench/compare.ts).
//
//   deno bench -A --no-check bench/queue_bench.ts
import { Pipe } from "../pipe.ts";
import { Queue } from "../queue.ts";

const queue = new Queue<[string, number]>();
const [sender, receiver] = Pipe<[string, number]>();
const bigQueue = new Queue<Uint8Array>();
const big = new Uint8Array(1024 * 1024);

Deno.bench({
  name: "Queue put + get, small item",
  group: "one item through, same process",
  baseline: true,
  async fn() {
    await queue.put(["xiaoming", 12]);
    await queue.get();
  },
});

Deno.bench({
  name: "Pipe send + recv, small item",
  group: "one item through, same process",
  async fn() {
    sender.send(["xiaoming", 12]);
    await receiver.recv();
  },
});

Deno.bench({
  name: "Queue put + get, 1 MiB Uint8Array",
  group: "one item through, same process",
  async fn() {
    await bigQueue.put(big);
    await bigQueue.get();
  },
});
