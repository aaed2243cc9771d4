"""Many jobs and long streams: everything completes, threads and memory stay bounded."""

from __future__ import annotations

import gc
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

from rp_jupyter.runtime import Job, JobStatus, Runtime

T = 30.0


def _run_batch(runtime: Runtime, name: str, count: int, settle: Callable[[Runtime], None]) -> list[Job]:
    """Submit ``count`` jobs; return once every one's "finished" event has been delivered and the last
    one retired (``settle``: it is retired after its listeners ran)."""
    all_finished = threading.Event()
    finished = [0]

    def on_event(event: Any) -> None:  # runs on the loop thread only: no lock needed
        if event.kind == "finished" and event.job.handler == name:
            finished[0] += 1
            if finished[0] == count:
                all_finished.set()

    unsubscribe = runtime.subscribe(on_event)
    try:
        jobs = [runtime.submit(name, {"input": {"n": n}}) for n in range(count)]
        assert all_finished.wait(T), f"{finished[0]} of {count} jobs finished"
        settle(runtime)
    finally:
        unsubscribe()
    return jobs


def test_a_thousand_jobs_complete_with_bounded_threads_and_memory(runtime: Runtime, settle) -> None:
    baseline_threads = threading.active_count()  # the fixture's loop thread is already running
    runtime.register(lambda job: job["input"]["n"] * 2, "double")

    jobs = _run_batch(runtime, "double", 1000, settle)
    assert [job.status for job in jobs] == [JobStatus.COMPLETED] * 1000
    assert [job.output for job in jobs] == [n * 2 for n in range(1000)]
    # one worker thread for the one handler, and the runtime's timer thread (timeouts, watchdog)
    assert threading.active_count() <= baseline_threads + 2

    del jobs
    gc.collect()
    tracemalloc.start()
    try:
        _run_batch(runtime, "double", 1000, settle)  # traced, and retained: the 1000 kept jobs are now traced
        gc.collect()
        retained = tracemalloc.get_traced_memory()[0]
        _run_batch(runtime, "double", 1000, settle)  # replaces them
        gc.collect()
        growth = tracemalloc.get_traced_memory()[0] - retained
    finally:
        tracemalloc.stop()
    print(f"1000 retained jobs: {retained / 1e6:.2f} MB; growth over another 1000: {growth / 1e6:.2f} MB")
    assert growth < 1e6
    assert len(runtime.jobs) <= 1000
    assert threading.active_count() <= baseline_threads + 2


def test_the_runtime_keeps_at_most_keep_finished_jobs(settle) -> None:
    runtime = Runtime(keep_finished=10)
    try:
        runtime.register(lambda job: "ok", "h")
        jobs = _run_batch(runtime, "h", 50, settle)
        kept = runtime.jobs
        assert kept == jobs[-10:]
        assert runtime.get(jobs[0].id) is None
        assert jobs[0].status is JobStatus.COMPLETED  # the handle the caller holds still works
    finally:
        runtime.shutdown(timeout=2.0)


def test_a_generator_streams_a_hundred_thousand_chunks_in_order(runtime: Runtime) -> None:
    expected = [f"t{i}" for i in range(100_000)]

    def handler(job: dict[str, Any]) -> Iterator[str]:
        yield from expected

    runtime.register(handler, "tokens")
    start = time.perf_counter()
    job = runtime.submit("tokens", {"input": {}}).wait(T)
    seconds = time.perf_counter() - start
    assert job.status is JobStatus.COMPLETED
    assert job.stream == expected
    assert job.output == []
    print(f"sync generator: {len(expected) / seconds:,.0f} chunks/s ({seconds:.2f} s for 100,000)")


def test_an_async_generator_streams_ten_thousand_chunks_in_order(runtime: Runtime) -> None:
    expected = list(range(10_000))

    async def handler(job: dict[str, Any]) -> Any:
        for value in expected:
            yield value

    runtime.register(handler, "atokens", return_aggregate_stream=True)
    start = time.perf_counter()
    job = runtime.submit("atokens", {"input": {}}).wait(T)
    seconds = time.perf_counter() - start
    assert job.stream == expected and job.output == expected
    print(f"async generator: {len(expected) / seconds:,.0f} chunks/s")
