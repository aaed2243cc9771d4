"""Per-job overhead of the runtime and streaming throughput, against direct calls in the same run.

    .venv/bin/python bench/bench_runtime.py [--jobs 2000] [--chunks 200000]

Prints, for a trivial handler and for one doing 1 ms of work: ``run_sync`` per job vs calling the
function directly (the floor), as µs per job and as a ratio; and chunks/second through the runtime
vs iterating the generator directly (sync and async generators).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable
from typing import Any

from rp_jupyter.runtime import Runtime


def trivial(job: dict[str, Any]) -> Any:
    return job["input"]


def one_ms(job: dict[str, Any]) -> Any:
    end = time.perf_counter() + 0.001
    while time.perf_counter() < end:
        pass
    return job["input"]


def tokens(job: dict[str, Any]) -> Any:
    for _ in range(job["input"]):
        yield "tok "


async def async_tokens(job: dict[str, Any]) -> Any:
    for _ in range(job["input"]):
        yield "tok "


def per_job(runtime: Runtime, fn: Callable[..., Any], jobs: int, rounds: int = 5) -> tuple[float, float]:
    """Median seconds per job: (through run_sync, direct call)."""
    runtime.register(fn, fn.__name__)
    through, direct = [], []
    for _ in range(rounds):
        start = time.perf_counter()
        for i in range(jobs):
            runtime.run_sync(fn.__name__, {"input": i})
        through.append((time.perf_counter() - start) / jobs)
        start = time.perf_counter()
        for i in range(jobs):
            fn({"id": "x", "input": i})
        direct.append((time.perf_counter() - start) / jobs)
    return statistics.median(through), statistics.median(direct)


def stream(runtime: Runtime, fn: Callable[..., Any], chunks: int, rounds: int = 3) -> tuple[float, float]:
    """Median chunks/second: (through the runtime, direct iteration)."""
    runtime.register(fn, fn.__name__)
    through, direct = [], []
    for _ in range(rounds):
        job = runtime.submit(fn.__name__, {"input": chunks}).wait(120)
        assert len(job.stream) == chunks
        through.append(chunks / ((job._t_end or 0) - (job._t_start or 0)))
        start = time.perf_counter()
        if fn is async_tokens:
            asyncio.run(_drain(fn, chunks))
        else:
            for _ in fn({"id": "x", "input": chunks}):
                pass
        direct.append(chunks / (time.perf_counter() - start))
    return statistics.median(through), statistics.median(direct)


async def _drain(fn: Callable[..., Any], chunks: int) -> None:
    async for _ in fn({"id": "x", "input": chunks}):
        pass


def thread_floor(runtime: Runtime, rounds: int = 2000) -> float:
    """Seconds for the cheapest possible cross-thread trip: an empty coroutine on the runtime's loop."""

    async def nothing() -> None:
        return None

    start = time.perf_counter()
    for _ in range(rounds):
        runtime.run_coroutine(nothing()).result()
    return (time.perf_counter() - start) / rounds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--chunks", type=int, default=200_000)
    args = parser.parse_args()
    runtime = Runtime(keep_finished=100)
    try:
        floor = thread_floor(runtime, max(100, args.jobs))
        print(f"   floor: one empty round trip to the runtime's loop thread and back: {floor * 1e6:6.1f} µs")
        for fn in (trivial, one_ms):
            jobs = args.jobs if fn is trivial else max(1, args.jobs // 10)
            through, direct = per_job(runtime, fn, jobs)
            print(f"{fn.__name__:>8}: run_sync {through * 1e6:8.1f} µs/job, direct {direct * 1e6:8.1f} µs/job, "
                  f"overhead {(through - direct) * 1e6:6.1f} µs, ratio {through / direct:6.2f}")
        for fn in (tokens, async_tokens):
            through, direct = stream(runtime, fn, args.chunks)
            print(f"{fn.__name__:>12}: {through:12,.0f} chunks/s through the runtime, {direct:12,.0f} direct, "
                  f"ratio {through / direct:5.3f}")
    finally:
        runtime.shutdown()


if __name__ == "__main__":
    main()
