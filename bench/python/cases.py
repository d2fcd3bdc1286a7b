# Copyright 2026 the @mp/multiprocessing authors. MIT license.
"""Python 3.11 multiprocessing's side of bench/compare.ts: the same workload
as bench/_ours.ts for each case, one function for one function.

    python3 bench/python/cases.py <fork|spawn> '[["queue_small", 1000], ...]'

Runs each case once with the given start method and prints one JSON object,
case -> figure (or {"error": message}).
"""
import json
import multiprocessing as mp
import os
import sys
import time

MIB = 1024 * 1024
CPU_TASKS = 8
TIMEOUT = 120


# Children's targets.

def produce_pairs(q, count):
    for _ in range(count):
        q.put(["xiaoming", 12])


def produce_buffers(q, count, size):
    buffer = bytes(size)
    for _ in range(count):
        q.put(buffer)


def echo(conn, rounds):
    for _ in range(rounds):
        conn.send(conn.recv())


def contend(lock, counter, times, ready, go, done):
    ready.release()
    go.wait()
    for _ in range(times):
        lock.acquire()
        counter.value += 1
        lock.release()
    done.release()


def uncontended(lock, times, ready, go, done):
    ready.release()
    go.wait()
    for _ in range(times):
        lock.acquire()
        lock.release()
    done.release()


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


def add100(x):
    return x + 100


def add(a, b):
    return a + b


def spin(n):
    x = 0
    for i in range(n):
        x = (x + i * i) % 1_000_003
    return x


def noop():
    pass


# Runners: each takes (ctx, n) and returns its figure.

def child(ctx, target, *args):
    p = ctx.Process(target=target, args=args)
    p.start()
    return p


def joined(p):
    p.join(TIMEOUT)
    if p.exitcode != 0:
        raise RuntimeError(f"a child exited with code {p.exitcode}")


def drain(q, n):
    q.get(timeout=TIMEOUT)
    t0 = time.perf_counter()
    for _ in range(n - 1):
        q.get(timeout=TIMEOUT)
    return time.perf_counter() - t0


def queue_small(ctx, n):
    q = ctx.Queue()
    p = child(ctx, produce_pairs, q, n)
    seconds = drain(q, n)
    joined(p)
    return (n - 1) / seconds


def queue_bulk(ctx, n):
    q = ctx.Queue()
    p = child(ctx, produce_buffers, q, n, MIB)
    seconds = drain(q, n)
    joined(p)
    return (n - 1) * MIB / seconds / 1e6


def pipe_round_trip(ctx, n):
    mine, theirs = ctx.Pipe()
    p = child(ctx, echo, theirs, n)
    mine.send(0)
    mine.recv()
    t0 = time.perf_counter()
    for i in range(1, n):
        mine.send(i)
        mine.recv()
    elapsed = time.perf_counter() - t0
    joined(p)
    return elapsed / (n - 1) * 1e6


def lock_run(ctx, count, target, args):
    ready, go, done = ctx.Semaphore(0), ctx.Event(), ctx.Semaphore(0)
    procs = [child(ctx, target, *args, ready, go, done) for _ in range(count)]
    for _ in procs:
        if not ready.acquire(timeout=TIMEOUT):
            raise RuntimeError("a child never became ready")
    t0 = time.perf_counter()
    go.set()
    for _ in procs:
        if not done.acquire(timeout=TIMEOUT):
            raise RuntimeError("a child never finished")
    elapsed = time.perf_counter() - t0
    for p in procs:
        joined(p)
    return elapsed


def lock_contended(ctx, n):
    counter = ctx.Value("i", 0, lock=False)
    elapsed = lock_run(ctx, 2, contend, (ctx.Lock(), counter, n))
    if counter.value != 2 * n:
        raise RuntimeError(f"lost increments: {counter.value} of {2 * n}")
    return 2 * n / elapsed


def lock_uncontended(ctx, n):
    return n / lock_run(ctx, 1, uncontended, (ctx.Lock(), n))


def managed(ctx, target, make, n):
    with ctx.Manager() as manager:
        out = ctx.Queue()
        proxy = make(manager)  # Held: a dropped proxy frees the object.
        p = child(ctx, target, proxy, n, out)
        seconds = out.get(timeout=TIMEOUT)
        joined(p)
    return n / seconds


def manager_dict_set(ctx, n):
    return managed(ctx, dict_sets, lambda m: m.dict(), n)


def manager_list_append(ctx, n):
    return managed(ctx, list_appends, lambda m: m.list(), n)


AUTHKEY = b"bench-authkey"


def tcp_client(port, n, out):
    from multiprocessing.managers import SyncManager

    manager = SyncManager(address=("127.0.0.1", port), authkey=AUTHKEY)
    manager.connect()
    d = manager.dict()
    d["warm"] = 0
    t0 = time.perf_counter()
    for i in range(n):
        d["k" + str(i)] = i
    out.put(time.perf_counter() - t0)


def manager_tcp(ctx, n):
    from multiprocessing.managers import SyncManager

    with SyncManager(address=("127.0.0.1", 0), authkey=AUTHKEY, ctx=ctx) as manager:
        port = manager.address[1]
        out = ctx.Queue()
        procs = [child(ctx, tcp_client, port, n, out) for _ in range(2)]
        seconds = [out.get(timeout=TIMEOUT) for _ in procs]
        for p in procs:
            joined(p)
    return 2 * n / max(seconds)


def warm_pool(ctx):
    pool = ctx.Pool(2)
    pool.map(add100, range(1000), chunksize=1)
    return pool


def seconds(work):
    t0 = time.perf_counter()
    work()
    return time.perf_counter() - t0


def pool_map(ctx, n):
    with warm_pool(ctx) as pool:
        items = list(range(n))
        pool.map(add100, items)
        return n / seconds(lambda: pool.map(add100, items))


def pool_map_chunksize_1(ctx, n):
    with warm_pool(ctx) as pool:
        items = list(range(n))
        pool.map(add100, items, chunksize=1)
        return n / seconds(lambda: pool.map(add100, items, chunksize=1))


def pool_imap(ctx, n):
    def numbers():
        yield from range(n)

    def imaps():
        for _ in pool.imap(add100, numbers()):
            pass

    with warm_pool(ctx) as pool:
        imaps()
        return n / seconds(imaps)


def pool_serial_apply(ctx, n):
    with warm_pool(ctx) as pool:
        def applies():
            for i in range(n):
                pool.apply(add, (i, 1))
        applies()
        return seconds(applies) / n * 1e6


def calibrate(ms):
    """Spin iterations that take about `ms` here."""
    n = 10_000
    while True:
        elapsed = seconds(lambda: spin(n)) * 1000
        if elapsed > 20:
            return max(1, round(n * ms / elapsed))
        n *= 2


def pool_cpu_speedup(ctx, ms):
    with warm_pool(ctx) as pool:
        n = calibrate(ms)
        serial = seconds(lambda: (spin(n), spin(n))) * CPU_TASKS / 2
        tasks = [n] * CPU_TASKS
        return serial / seconds(lambda: pool.map(spin, tasks, chunksize=1))


def pool_first_result(ctx, _):
    t0 = time.perf_counter()
    with ctx.Pool(2) as pool:
        pool.apply(add, (1, 2))
        return (time.perf_counter() - t0) * 1000


def tree_rss_mib(pid):
    kib = 0
    pending = [pid]
    while pending:
        pid = pending.pop()
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        kib += int(line.split()[1])
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as f:
                    pending += [int(c) for c in f.read().split()]
        except FileNotFoundError:
            pass  # Gone meanwhile.
    return kib / 1024


def pool_rss(ctx, n):
    with warm_pool(ctx) as pool:
        pool.map(add100, range(n))
        return tree_rss_mib(os.getpid())


def process_start(ctx, n):
    times = []
    for i in range(n + 2):
        t0 = time.perf_counter()
        joined(child(ctx, noop))
        if i >= 2:
            times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2] * 1000


if __name__ == "__main__":
    ctx = mp.get_context(sys.argv[1])
    figures = {}
    for name, n in json.loads(sys.argv[2]):
        try:
            figures[name] = globals()[name](ctx, n)
        except Exception as error:  # Reported, so that one case cannot hide the rest.
            figures[name] = {"error": f"{type(error).__name__}: {error}"}
    print(json.dumps(figures))
    sys.stdout.flush()
