"""The kernel while rp_jupyter works: ``%load_ext`` cost, and execute round trips while 64 jobs stream.

    .venv/bin/python bench/bench_kernel.py [--jobs 64] [--chunks 20000] [--probes 20]

In a real kernel (jupyter_client over ZMQ):
- ``%load_ext rp_jupyter`` in a fresh kernel, against ``%load_ext autoreload`` (a stdlib-only
  extension) in the same run — target under 0.3 s (heavy imports such as ``runpod`` are deferred);
- the round trip of an empty ``execute_request`` while 64 jobs stream (async generators yielding as
  fast as they can, and sync generators), against the same round trip with the kernel idle.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import Kernel  # the same real-kernel driver the tests use
from jupyter_client.manager import start_new_kernel

STREAMERS = '''%%rp_handler astream --concurrency {jobs}
import asyncio
async def handler(job):
    for i in range(job["input"]["n"]):
        yield "tok "
        if i % 100 == 0:
            await asyncio.sleep(0)
'''


def timed(kernel: Kernel, code: str) -> float:
    start = time.perf_counter()
    kernel.execute(code)
    return time.perf_counter() - start


def load_cost() -> tuple[float, float]:
    manager, client = start_new_kernel(kernel_name="python3")
    kernel = Kernel(manager, client)
    try:
        kernel.execute("pass")
        base = timed(kernel, "%load_ext autoreload")
        ours = timed(kernel, "%load_ext rp_jupyter")
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    return ours, base


def round_trips(kernel: Kernel, probes: int) -> list[float]:
    return [timed(kernel, "pass") for _ in range(probes)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=64)
    parser.add_argument("--chunks", type=int, default=20_000)
    parser.add_argument("--probes", type=int, default=20)
    args = parser.parse_args()
    ours, base = load_cost()
    print(f"%load_ext rp_jupyter: {ours * 1000:7.1f} ms  (%load_ext autoreload: {base * 1000:.1f} ms; target < 300 ms)")
    manager, client = start_new_kernel(kernel_name="python3")
    kernel = Kernel(manager, client)
    try:
        kernel.execute("%load_ext rp_jupyter\nimport rp_jupyter")
        kernel.execute(STREAMERS.format(jobs=args.jobs))
        kernel.execute('%%rp_handler sstream\ndef handler(job):\n    for i in range(job["input"]["n"]):\n        yield "tok "\n')
        idle = round_trips(kernel, args.probes)
        for name in ("astream", "sstream"):
            kernel.execute(f"jobs = [rp_jupyter.run({name!r}, {{'input': {{'n': {args.chunks}}}}}) for _ in range({args.jobs})]")
            busy = round_trips(kernel, args.probes)
            still = kernel.execute("", running="sum(not j.done for j in jobs)")["running"]
            status = kernel.execute("[j.wait(600) for j in jobs]", states="sorted({j.status.value for j in jobs})")
            assert status["states"] == "['COMPLETED']", status
            print(f"{name}: execute round trip p50 {statistics.median(busy) * 1000:6.1f} ms while {args.jobs} jobs "
                  f"stream (still running at the end: {still}), idle p50 {statistics.median(idle) * 1000:.1f} ms, "
                  f"ratio {statistics.median(busy) / statistics.median(idle):.1f}")
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


if __name__ == "__main__":
    main()
