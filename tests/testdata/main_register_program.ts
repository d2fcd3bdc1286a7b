// A class registered with a manager from the program's own main module,
// which is still running (awaiting the manager's start) when it starts.
import { Manager } from "../../manager.ts";

export class Counter {
  #n = 0;
  increment(): number {
    return ++this.#n;
  }
}

if (import.meta.main) {
  Manager.register("Counter", Counter);
  await using manager = await Manager.start({ timeout: 20_000 });
  const counter = await manager.create("Counter") as unknown as Counter;
  console.log(await counter.increment(), await counter.increment());
}
