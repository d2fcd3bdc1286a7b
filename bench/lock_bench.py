"""Python 3.11's multiprocessing.Lock, for bench/lock_compare.ts.

(a) 2 processes x N acquire -> increment -> release of a shared counter
    (Value('i', lock=False)) under one Lock;
(b) N uncontended acquire -> release pairs in one child process.

Timing runs from the start event to the last "done", as on the Deno side.
Prints one JSON object: pairs per second, medians of several rounds.
"""
import json
import multiprocessing as mp
import statistics
import sys
import time


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


def measure(ctx, children, target, args):
    ready, go, done = ctx.Semaphore(0), ctx.Event(), ctx.Semaphore(0)
    procs = [
        ctx.Process(target=target, args=(*args, ready, go, done))
        for _ in range(children)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        ready.acquire()
    started = time.perf_counter()
    go.set()
    for _ in procs:
        done.acquire()
    elapsed = time.perf_counter() - started
    for p in procs:
        p.join()
    return elapsed


def main():
    method = sys.argv[1] if len(sys.argv) > 1 else "fork"
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    contended_times = 20_000
    uncontended_times = 1_000_000
    ctx = mp.get_context(method)
    contended, solo = [], []
    for _ in range(rounds):
        lock = ctx.Lock()
        counter = ctx.Value("i", 0, lock=False)
        elapsed = measure(ctx, 2, contend, (lock, counter, contended_times))
        assert counter.value == 2 * contended_times
        contended.append(2 * contended_times / elapsed)
        lock = ctx.Lock()
        elapsed = measure(ctx, 1, uncontended, (lock, uncontended_times))
        solo.append(uncontended_times / elapsed)
    print(json.dumps({
        "method": method,
        "contended": statistics.median(contended),
        "uncontended": statistics.median(solo),
    }))


if __name__ == "__main__":
    main()
