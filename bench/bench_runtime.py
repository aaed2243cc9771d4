"""Per-job overhead of the runtime and streaming throughput, against baselines measured in the same run.

    .venv/bin/python bench/bench_runtime.py [--jobs 2000] [--chunks 200000] [--against REF]

Prints the **floor** — the cheapest hand-off from a thread to an asyncio loop thread and back
(``loop.call_soon_threadsafe(future.set_result, None)`` + ``concurrent.futures.Future.result()``) —
then, for a trivial sync handler, a trivial async handler and one doing 1 ms of work: ``run_sync`` per
job vs calling the function directly, as µs per job, as a ratio, and the overhead in floors (hand-offs'
worth); and chunks/second through the runtime vs iterating the generator directly.

``--against REF`` measures the runtime of git revision REF too (checked out into a temporary worktree),
in alternating rounds (A B B A: neither gets the quieter half of a noisy machine), and prints each
figure before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def trivial(job: dict[str, Any]) -> Any:
    return job["input"]


async def async_trivial(job: dict[str, Any]) -> Any:
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


def floor(rounds: int) -> float:
    """Seconds for the cheapest round trip to a loop thread: call_soon_threadsafe + Future.result()."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        times = []
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(rounds):
                future: concurrent.futures.Future[None] = concurrent.futures.Future()
                loop.call_soon_threadsafe(future.set_result, None)
                future.result()
            times.append((time.perf_counter() - start) / rounds)
        return statistics.median(times)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def _direct(fn: Callable[..., Any], i: int) -> None:
    if asyncio.iscoroutinefunction(fn):
        coro = fn({"id": "x", "input": i})
        with contextlib.suppress(StopIteration):
            coro.send(None)  # a coroutine that never awaits returns on its first step
    else:
        fn({"id": "x", "input": i})


def per_job(runtime: Any, fn: Callable[..., Any], jobs: int, rounds: int = 5) -> tuple[float, float]:
    """Median seconds per job: (through run_sync, direct call)."""
    runtime.register(fn, fn.__name__)
    for i in range(min(jobs, 200)):  # warm up: the worker's thread or loop starts with the first job
        runtime.run_sync(fn.__name__, {"input": i})
    through, direct = [], []
    for _ in range(rounds):
        start = time.perf_counter()
        for i in range(jobs):
            runtime.run_sync(fn.__name__, {"input": i})
        through.append((time.perf_counter() - start) / jobs)
        start = time.perf_counter()
        for i in range(jobs):
            _direct(fn, i)
        direct.append((time.perf_counter() - start) / jobs)
    return statistics.median(through), statistics.median(direct)


def stream(runtime: Any, fn: Callable[..., Any], chunks: int, rounds: int = 3) -> tuple[float, float]:
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


def measure(jobs: int, chunks: int) -> dict[str, float]:
    """Every figure, for the runtime importable now (this tree, or REF's with --measure)."""
    from rp_jupyter.runtime import Runtime

    figures = {"floor_us": floor(max(200, jobs)) * 1e6}
    runtime = Runtime(keep_finished=100)
    try:
        for fn in (trivial, async_trivial, one_ms):
            count = jobs if fn is not one_ms else max(1, jobs // 10)
            through, direct = per_job(runtime, fn, count)
            figures[f"{fn.__name__}_us"] = through * 1e6
            figures[f"{fn.__name__}_direct_us"] = direct * 1e6
        for fn in (tokens, async_tokens):
            through, direct = stream(runtime, fn, chunks)
            figures[f"{fn.__name__}_per_s"] = through
            figures[f"{fn.__name__}_direct_per_s"] = direct
    finally:
        runtime.shutdown()
    return figures


def report(figures: dict[str, float], label: str = "") -> None:
    head = f"[{label}] " if label else ""
    base = figures["floor_us"]
    print(f"{head}   floor: the cheapest hand-off to a loop thread and back: {base:6.1f} µs")
    for name in ("trivial", "async_trivial", "one_ms"):
        through, direct = figures[f"{name}_us"], figures[f"{name}_direct_us"]
        print(f"{head}{name:>13}: run_sync {through:8.1f} µs/job, direct {direct:8.1f} µs/job, "
              f"overhead {through - direct:6.1f} µs = {(through - direct) / base:4.1f} floors, ratio {through / direct:8.2f}")
    for name in ("tokens", "async_tokens"):
        through, direct = figures[f"{name}_per_s"], figures[f"{name}_direct_per_s"]
        print(f"{head}{name:>13}: {through:12,.0f} chunks/s through the runtime, {direct:12,.0f} direct, "
              f"ratio {through / direct:5.3f}")


@contextlib.contextmanager
def checkout(ref: str) -> Iterator[Path]:
    """REF's tree in a temporary git worktree (removed afterwards)."""
    folder = Path(tempfile.mkdtemp(prefix="rp-bench-")) / "tree"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(folder), ref], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(folder)], check=False)


def measured_in(tree: Path, jobs: int, chunks: int) -> dict[str, float]:
    """One round of :func:`measure` in a fresh interpreter importing ``rp_jupyter`` from ``tree``."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = subprocess.run([sys.executable, __file__, "--measure", "--jobs", str(jobs), "--chunks", str(chunks)],
                         env=env, capture_output=True, text=True, check=True).stdout
    figures: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return figures


def compare(ref: str, jobs: int, chunks: int, rounds: int) -> None:
    with checkout(ref) as old_tree:
        runs: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
        order = ["before", "after", "after", "before"] * rounds
        for which in order[: 2 * rounds]:
            runs[which].append(measured_in(old_tree if which == "before" else ROOT, jobs, chunks))
    medians = {which: {key: statistics.median(r[key] for r in results) for key in results[0]}
               for which, results in runs.items()}
    report(medians["before"], f"before: {ref}")
    report(medians["after"], "after: this tree")
    print("after / before (per-job time: lower is better; chunks/s: higher is better):")
    for key in ("trivial_us", "async_trivial_us", "one_ms_us", "tokens_per_s", "async_tokens_per_s"):
        print(f"  {key:>18}: {medians['after'][key] / medians['before'][key]:5.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--chunks", type=int, default=200_000)
    parser.add_argument("--against", metavar="REF", help="also measure git revision REF, in alternating rounds")
    parser.add_argument("--rounds", type=int, default=2, help="with --against: rounds of each (A B B A ...)")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)  # one round, as JSON
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.jobs, args.chunks)))
    elif args.against:
        compare(args.against, args.jobs, args.chunks, args.rounds)
    else:
        report(measure(args.jobs, args.chunks))


if __name__ == "__main__":
    main()
