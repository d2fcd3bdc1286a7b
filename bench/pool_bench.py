"""Python 3.11's side of bench/pool_compare.ts: the same workloads on
multiprocessing.Pool(2) with the default (fork) start method, plus
construction to first result with spawn; each throughput figure is the
median of three runs in one pool; prints one JSON object."""
import glob
import json
import multiprocessing as mp
import os
import sys
import time

MAP_ITEMS = 200_000
CHUNK1_ITEMS = 20_000
APPLIES = 2_000
CPU_TASKS = 8
IMAP_ITEMS = 10_000_000


def add100(x):
    return x + 100


def add(a, b):
    return a + b


def spin(n):
    x = 0
    for i in range(n):
        x = (x + i * i) % 1_000_003
    return x


def numbers(count):
    for i in range(count):
        yield i


def rss_mib(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total / 1024


def children(pid):
    found = []
    for path in glob.glob(f"/proc/{pid}/task/*/children"):
        with open(path) as f:
            found += [int(p) for p in f.read().split()]
    return found


def median_of(run, times=3):
    values = sorted(run() for _ in range(times))
    return values[len(values) // 2]


def first_result(method):
    t0 = time.perf_counter()
    with mp.get_context(method).Pool(2) as pool:
        pool.apply(add, (1, 2))
        elapsed = time.perf_counter() - t0
    return elapsed * 1000


def calibrate():
    """Iterations for one ~0.25 s task here."""
    n = 200_000
    while True:
        t0 = time.perf_counter()
        spin(n)
        elapsed = time.perf_counter() - t0
        if elapsed > 0.05:
            return int(n * 0.25 / elapsed)
        n *= 2


if __name__ == "__main__":
    result = {}
    result["first_result_fork_ms"] = first_result("fork")
    result["first_result_spawn_ms"] = first_result("spawn")
    with mp.Pool(2) as pool:
        # The same warm-up as the Deno side: every child up and running.
        pool.map(add100, range(1000), chunksize=1)
        items = list(range(MAP_ITEMS))
        pool.map(add100, items)

        def map_all():
            t0 = time.perf_counter()
            pool.map(add100, items)
            return MAP_ITEMS / (time.perf_counter() - t0)

        def chunk1():
            t0 = time.perf_counter()
            pool.map(add100, range(CHUNK1_ITEMS), chunksize=1)
            return CHUNK1_ITEMS / (time.perf_counter() - t0)

        def applies():
            t0 = time.perf_counter()
            for i in range(APPLIES):
                pool.apply(add, (i, 1))
            return (time.perf_counter() - t0) / APPLIES * 1e6

        result["map_per_s"] = median_of(map_all)
        result["rss_mib"] = rss_mib([os.getpid()] + children(os.getpid()))
        result["chunk1_per_s"] = median_of(chunk1)
        result["apply_us"] = median_of(applies)
        n = calibrate()
        t0 = time.perf_counter()
        spin(n)
        spin(n)
        serial = (time.perf_counter() - t0) * CPU_TASKS / 2
        t0 = time.perf_counter()
        pool.map(spin, [n] * CPU_TASKS, chunksize=1)
        result["cpu_speedup"] = serial / (time.perf_counter() - t0)
        before = rss_mib([os.getpid()] + children(os.getpid()))
        peak = before
        count = 0
        for _ in pool.imap(add100, numbers(IMAP_ITEMS), chunksize=1000):
            count += 1
            if count % 1_000_000 == 0:
                peak = max(peak, rss_mib([os.getpid()] + children(os.getpid())))
        result["imap10m_rss_mib"] = peak
    print(json.dumps(result))
    sys.stdout.flush()
