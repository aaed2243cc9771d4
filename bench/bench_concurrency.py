"""1,000 I/O-bound async jobs at concurrency 1, 8 and 64: wall time against the ideal.

    .venv/bin/python bench/bench_concurrency.py [--jobs 1000] [--io-ms 10] [--levels 1,8,64]

Each job awaits ``asyncio.sleep(io_ms)`` (I/O, or a batched GPU call). The ideal wall time at
concurrency c is ``jobs * io_ms / c``; the ratio wall / ideal is the runtime's cost of scheduling.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from rp_jupyter.runtime import Runtime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--io-ms", type=float, default=10.0)
    parser.add_argument("--levels", default="1,8,64")
    args = parser.parse_args()
    pause = args.io_ms / 1000

    async def io_bound(job: dict[str, Any]) -> Any:
        await asyncio.sleep(pause)
        return job["input"]

    runtime = Runtime(keep_finished=args.jobs)
    try:
        for level in (int(x) for x in args.levels.split(",")):
            runtime.register(io_bound, f"io{level}", concurrency_modifier=lambda _c, n=level: n)
            start = time.perf_counter()
            jobs = [runtime.submit(f"io{level}", {"input": i}) for i in range(args.jobs)]
            for job in jobs:
                job.wait(600)
            wall = time.perf_counter() - start
            ideal = args.jobs * pause / level
            assert all(job.status.value == "COMPLETED" for job in jobs)
            print(f"concurrency {level:>3}: {args.jobs} jobs in {wall:7.3f} s, ideal {ideal:7.3f} s, "
                  f"ratio {wall / ideal:5.2f}")
    finally:
        runtime.shutdown()


if __name__ == "__main__":
    main()
