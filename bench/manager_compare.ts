// Side by side with Python 3.11's multiprocessing.Manager, in the same run,
// alternating rounds: a child does 20,000 awaited d.set("k" + i, i) on a
// managed dict, and 20,000 awaited l.append(i) on a managed list, with the
// server and the child under each start method; 2 clients over TCP on
// loopback, 10,000 d.set each; and the server's RSS. Each figure is the
// median of ROUNDS rounds; ratios > 1 mean we are faster.
//
//   deno run -A bench/manager_compare.ts               (any cores)
//   taskset -c 0 deno run -A bench/manager_compare.ts  (all on one core)
import { Manager } from "../manager.ts";
import { Process, type StartMethod } from "../process.ts";
import { Queue } from "../queue.ts";
import { dictSets, listAppends, tcpClient } from "./_manager_targets.ts";

const ROUNDS = 3;
const N = 20_000;
const TCP_N = 10_000;
const module = new URL("./_manager_targets.ts", import.meta.url);

function median(values: number[]): number {
  const sorted = values.toSorted((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function rssMiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kib = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kib / 1024;
}

async function childRate(
  method: StartMethod,
  target: (...args: never[]) => unknown,
  proxy: unknown,
): Promise<number> {
  const out = new Queue<number>();
  const child = new Process({
    target: target as (...args: unknown[]) => unknown,
    args: [proxy, N, out],
    module,
    startMethod: method,
  });
  child.start();
  const seconds = await out.get();
  await child.join();
  return N / seconds;
}

interface Round {
  dict: number;
  list: number;
  rss: number;
}

async function round(method: StartMethod): Promise<Round> {
  await using manager = await Manager.start({ startMethod: method });
  const dict = await childRate(method, dictSets, manager.dict());
  const list = await childRate(method, listAppends, manager.list());
  // A worker server shares this OS process: its RSS is not its own.
  const rss = method === "subprocess" ? rssMiB(manager.pid!) : NaN;
  return { dict, list, rss };
}

async function tcpRate(): Promise<number> {
  const authkey = "bench-key";
  await using manager = await Manager.serve({ port: 0, authkey });
  const { port } = manager.address as { port: number };
  const out = new Queue<number>();
  const clients = [0, 1].map(() =>
    new Process({
      target: tcpClient,
      args: [port, authkey, TCP_N, out],
      module,
      startMethod: "subprocess",
    })
  );
  for (const client of clients) client.start();
  const seconds = Math.max(await out.get(), await out.get());
  for (const client of clients) await client.join();
  return 2 * TCP_N / seconds;
}

async function python(): Promise<Record<string, number>> {
  const script = new URL("./manager_bench.py", import.meta.url).pathname;
  const { stdout, success } = await new Deno.Command("python3", {
    args: [script],
  }).output();
  if (!success) throw new Error("The Python benchmark failed");
  return JSON.parse(new TextDecoder().decode(stdout));
}

if (import.meta.main) {
  const py: Record<string, number[]> = {};
  const ours: Record<string, number[]> = {};
  const push = (into: Record<string, number[]>, key: string, value: number) =>
    (into[key] ??= []).push(value);
  for (let i = 0; i < ROUNDS; i++) {
    const result = await python();
    for (const [key, value] of Object.entries(result)) push(py, key, value);
    for (const method of ["worker", "subprocess"] as const) {
      const { dict, list, rss } = await round(method);
      push(ours, `${method}.dict`, dict);
      push(ours, `${method}.list`, list);
      push(ours, `${method}.rss`, rss);
    }
    push(ours, "tcp", await tcpRate());
  }
  const m = (values: number[] | undefined) => median(values ?? [NaN]);
  const k = (rate: number) => `${(rate / 1000).toFixed(1)}k/s`;
  const pyDict = m(py.dict_set);
  const pyList = m(py.list_append);
  console.log("| case | python | ours, worker | ours, subprocess |");
  console.log("|---|---|---|---|");
  for (
    const [label, key, base] of [
      ["child: 20,000 awaited d.set", "dict", pyDict],
      ["child: 20,000 awaited l.append", "list", pyList],
    ] as const
  ) {
    const w = m(ours[`worker.${key}`]);
    const s = m(ours[`subprocess.${key}`]);
    console.log(
      `| ${label} | ${k(base)} | ${k(w)} (${(w / base).toFixed(2)}×) | ${
        k(s)
      } (${(s / base).toFixed(2)}×) |`,
    );
  }
  const tcp = m(ours.tcp);
  const pyTcp = m(py.tcp_two_clients);
  console.log(
    `| 2 TCP clients × 10,000 d.set | ${k(pyTcp)} | ${k(tcp)} (${
      (tcp / pyTcp).toFixed(2)
    }×) | — |`,
  );
  console.log(
    `| server RSS after the run | ${
      m(py.server_rss_mib).toFixed(1)
    } MiB | (in this OS process) | ${
      m(ours["subprocess.rss"]).toFixed(1)
    } MiB |`,
  );
}
