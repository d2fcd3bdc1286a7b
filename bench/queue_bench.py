"""Python 3.11's side of bench/queue_compare.ts: the same workloads, with
multiprocessing's default (fork) start method; prints one JSON object."""
import json
import multiprocessing as mp
import sys
import time

SMALL = 200_000
BIG_COUNT, BIG_SIZE = 200, 1024 * 1024
ROUNDS = 20_000


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


def small_items():
    q = mp.Queue()
    p = mp.Process(target=produce_pairs, args=(q, SMALL))
    p.start()
    q.get()
    t0 = time.perf_counter()
    for _ in range(SMALL - 1):
        q.get()
    elapsed = time.perf_counter() - t0
    p.join()
    return (SMALL - 1) / elapsed


def big_items():
    q = mp.Queue()
    p = mp.Process(target=produce_buffers, args=(q, BIG_COUNT, BIG_SIZE))
    p.start()
    q.get()
    t0 = time.perf_counter()
    for _ in range(BIG_COUNT - 1):
        q.get()
    elapsed = time.perf_counter() - t0
    p.join()
    return (BIG_COUNT - 1) * BIG_SIZE / elapsed / 1e6


def ping_pong():
    a, b = mp.Pipe()
    p = mp.Process(target=echo, args=(b, ROUNDS))
    p.start()
    a.send(0)
    a.recv()
    t0 = time.perf_counter()
    for i in range(ROUNDS - 1):
        a.send(i)
        a.recv()
    elapsed = time.perf_counter() - t0
    p.join()
    return elapsed / (ROUNDS - 1) * 1e6


if __name__ == "__main__":
    print(json.dumps({
        "small_items_per_s": small_items(),
        "big_mb_per_s": big_items(),
        "ping_pong_us": ping_pong(),
    }))
    sys.stdout.flush()
