"""Python 3.11's side of bench/manager_compare.ts: the same workloads with
multiprocessing.Manager (fork start method); prints one JSON object."""
import json
import multiprocessing as mp
import time
from multiprocessing.managers import BaseManager, DictProxy

N = 20_000
TCP_N = 10_000
AUTHKEY = b"bench-key"


def dict_sets(d, n, out):
    d["warm"] = 0
    t0 = time.perf_counter()
    for i in range(n):
        d["k" + str(i)] = i
    out.put(time.perf_counter() - t0)


def list_appends(l, n, out):
    l.append(-1)
    t0 = time.perf_counter()
    for i in range(n):
        l.append(i)
    out.put(time.perf_counter() - t0)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def child_rate(target, proxy, n):
    out = mp.Queue()
    p = mp.Process(target=target, args=(proxy, n, out))
    p.start()
    seconds = out.get()
    p.join()
    return n / seconds


shared = {}


def get_dict():
    return shared


class NetManager(BaseManager):
    pass


NetManager.register("get_dict", callable=get_dict, proxytype=DictProxy)


def tcp_client(port, n, out):
    m = NetManager(address=("127.0.0.1", port), authkey=AUTHKEY)
    m.connect()
    d = m.get_dict()
    d["warm"] = 0
    t0 = time.perf_counter()
    for i in range(n):
        d["k" + str(i)] = i
    out.put(time.perf_counter() - t0)


def tcp_rate():
    m = NetManager(address=("127.0.0.1", 0), authkey=AUTHKEY)
    m.start()
    port = m.address[1]
    out = mp.Queue()
    clients = [mp.Process(target=tcp_client, args=(port, TCP_N, out)) for _ in range(2)]
    for c in clients:
        c.start()
    seconds = max(out.get() for _ in clients)
    for c in clients:
        c.join()
    m.shutdown()
    return 2 * TCP_N / seconds


def main():
    with mp.Manager() as manager:
        d = manager.dict()
        l = manager.list()
        result = {
            "dict_set": child_rate(dict_sets, d, N),
            "list_append": child_rate(list_appends, l, N),
            "server_rss_mib": rss_kib(manager._process.pid) / 1024,
        }
    result["tcp_two_clients"] = tcp_rate()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
