"""What ``%rp_tests run`` and ``%rp_export --hub`` cost, each against its baseline in the same run.

    .venv/bin/python bench/bench_tests.py [--tests 50] [--chunks 200] [--rounds 7]

Replay: a sync generator handler; N kept tests (each streams ``--chunks`` chunks and reports
progress). Each round runs ``rp_jupyter.run_tests`` (submit, time each replay out, wait, compare
every result, chunk and progress update with the recording) and, adjacent in time, the baseline a
user would write by hand: submit the same N requests, wait for them, compare outputs with ``==``.
The figure is the median of the rounds' ratios (replay / by hand).

Hub: ``rp_jupyter.export(..., hub=True)`` against the same export without the Hub's files (the disk
estimate walks the requirements' installed distributions; the schemas validate both files), median
of per-round ratios. Plain Python, no kernel: what the magics add on top is one display.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import rp_jupyter
from rp_jupyter import _testing


def handler(job):
    import runpod

    runpod.serverless.progress_update(job, "started")
    for i in range(job["input"]["chunks"]):
        yield {"i": i, "word": job["input"]["word"]}


def by_hand(requests: list[dict], expected: list) -> float:
    started = time.perf_counter()
    jobs = [rp_jupyter.run("bench", request) for request in requests]
    for job, want in zip(jobs, expected, strict=True):
        assert job.wait(120).stream == want
    return time.perf_counter() - started


def replay() -> float:
    started = time.perf_counter()
    table = _testing.run_tests("bench")
    assert table.ok, repr(table)
    return time.perf_counter() - started


def export(hub: bool, out: str) -> float:
    started = time.perf_counter()
    result = rp_jupyter.export("bench", out, cells=[Path(__file__).read_text()], hub=hub)
    assert not result.hub_problems, result.hub_problems
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tests", type=int, default=50)
    parser.add_argument("--chunks", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    os.chdir(tempfile.mkdtemp())
    import runpod  # noqa: F401  (imported once, outside the timings)

    rp_jupyter.register(handler, "bench")
    requests = [{"input": {"word": f"w{n}", "chunks": args.chunks}} for n in range(args.tests)]
    jobs = [rp_jupyter.run("bench", r).wait(120) for r in requests]
    _testing.keep("bench", jobs)
    expected = [job.stream for job in jobs]
    by_hand(requests, expected), replay()  # warm-up
    replay_ratios, hub_ratios, seconds = [], [], []
    for n in range(args.rounds):
        first, second = (replay, lambda: by_hand(requests, expected)) if n % 2 else (
            lambda: by_hand(requests, expected), replay)
        a, b = first(), second()
        tested, hand = (a, b) if n % 2 else (b, a)
        replay_ratios.append(tested / hand)
        seconds.append((tested, hand))
        plain, hub = export(False, f"plain-{n}"), export(True, f"hub-{n}")
        hub_ratios.append(hub / plain)
    print(f"replay of {args.tests} kept tests x {args.chunks} chunks: "
          f"run_tests {statistics.median(s[0] for s in seconds) * 1000:.0f} ms, "
          f"by hand {statistics.median(s[1] for s in seconds) * 1000:.0f} ms (medians of {args.rounds} rounds)")
    print(f"ratio replay / by hand: x{statistics.median(replay_ratios):.2f} (median of per-round ratios; "
          f"min x{min(replay_ratios):.2f}, max x{max(replay_ratios):.2f})")
    print(f"ratio export --hub / export: x{statistics.median(hub_ratios):.2f} (median of per-round ratios)")
    rp_jupyter.shutdown()


if __name__ == "__main__":
    main()
