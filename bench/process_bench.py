"""Python's start+join of a child that does nothing, for spawn and fork."""
import multiprocessing as mp
import statistics
import time


def noop():
    pass


def measure(method: str, runs: int = 40) -> float:
    ctx = mp.get_context(method)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        p = ctx.Process(target=noop)
        p.start()
        p.join()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


if __name__ == "__main__":
    for method in ("spawn", "fork"):
        print(f"python {method} start+join: {measure(method):.1f} ms (median)")
