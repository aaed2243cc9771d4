"""``shutdown(timeout)`` in stages: stop accepting, let short jobs finish, cancel stragglers, stop the loop."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from rp_jupyter.exceptions import RuntimeStoppedError
from rp_jupyter.runtime import JobStatus, Runtime

T = 10.0


def _loop_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "rp-jupyter-runtime"]


def test_shutdown_lets_short_jobs_finish_and_cancels_stragglers(gate) -> None:
    runtime = Runtime()
    release_all = gate()
    straggler_cancelled = threading.Event()

    def short(job: dict[str, Any]) -> str:
        time.sleep(0.05)  # simulated work, well inside the shutdown deadline
        return "short"

    async def forever(job: dict[str, Any]) -> None:
        import asyncio

        try:
            await release_all.wait_async()
        except asyncio.CancelledError:
            straggler_cancelled.set()
            raise

    runtime.register(short, "short")
    runtime.register(forever, "forever")
    short_jobs = [runtime.submit("short", {"input": {}}) for _ in range(3)]
    straggler = runtime.submit("forever", {"input": {}})
    try:
        stragglers = runtime.shutdown(timeout=3.0)  # 3 x 50 ms, with room for a loaded machine
    finally:
        release_all.open()
    assert stragglers == [straggler]
    assert straggler.status is JobStatus.CANCELLED
    assert any("shut down" in warning for warning in straggler.warnings)
    assert [job.status for job in short_jobs] == [JobStatus.COMPLETED] * 3
    assert straggler_cancelled.wait(T)
    with pytest.raises(RuntimeStoppedError):
        runtime.submit("short", {"input": {}})
    with pytest.raises(RuntimeStoppedError):
        runtime.register(short, "again")
    assert not runtime.accepting


def test_shutdown_cancels_a_blocked_sync_handler_and_queued_jobs(gate) -> None:
    runtime = Runtime()
    release = gate()
    runtime.register(lambda job: release.wait() or "late", "blocker")
    running = runtime.submit("blocker", {"input": {}})
    queued = runtime.submit("blocker", {"input": {}})
    try:
        stragglers = runtime.shutdown(timeout=0.2)
    finally:
        release.open()
    assert set(stragglers) == {running, queued}
    assert running.status is JobStatus.CANCELLED and running.result_body is None
    assert queued.status is JobStatus.CANCELLED and queued.delay_time is None


def test_the_loop_thread_is_gone_after_shutdown() -> None:
    before = len(_loop_threads())
    runtime = Runtime()
    runtime.register(lambda job: "ok", "h")
    runtime.submit("h", {"input": {}}).wait(T)
    assert len(_loop_threads()) == before + 1
    assert runtime.shutdown(timeout=1.0) == []
    assert len(_loop_threads()) == before
    assert runtime.shutdown(timeout=1.0) == []  # a second shutdown is a no-op


def test_no_worker_thread_outlives_shutdown() -> None:
    """``%unload_ext`` leaves no thread of ours: shutdown waits (within its deadline) for the threads of
    the workers it closed, instead of leaving them to end a moment later."""
    async def agen(job: dict[str, Any]) -> Any:
        yield 1

    def gen(job: dict[str, Any]) -> Any:
        yield 1

    async def coro(job: dict[str, Any]) -> Any:
        return 1

    per_thread = threading.local()

    class Client:  # a per-thread client whose close takes a moment (a session, a connection pool)
        def __del__(self) -> None:
            time.sleep(0.3)

    def sync(job: dict[str, Any]) -> Any:
        per_thread.client = Client()  # closed when the worker's thread ends
        return 1

    runtime = Runtime()
    names = {"sync-w": sync, "gen-w": gen, "async-w": coro, "agen-w": agen}
    for name, handler in names.items():
        runtime.register(handler, name)
        assert runtime.submit(name, {"input": {}}).wait(T).status is JobStatus.COMPLETED
    ours = [t for t in threading.enumerate() if t.name in {f"rp-handler-{name}" for name in names}]
    assert len(ours) == len(names)
    assert runtime.shutdown(timeout=5.0) == []
    assert not [t.name for t in ours if t.is_alive()]  # ended, its per-thread state closed too


def test_cancel_and_progress_after_shutdown_are_harmless() -> None:
    runtime = Runtime()
    runtime.register(lambda job: "ok", "h")
    job = runtime.submit("h", {"input": {}}).wait(T)
    runtime.shutdown(timeout=1.0)
    assert job.cancel() is job
    assert runtime.progress(job.id, 1) is False
    assert job.status is JobStatus.COMPLETED


def test_shutdown_closes_suspended_sync_generators_on_their_own_thread(runtime: Runtime) -> None:
    where: list[tuple[bool, str]] = []
    stepping = threading.Event()

    def handler(job: dict[str, Any]) -> Any:
        try:
            for i in range(1000):
                if job["input"]["slow"]:
                    stepping.set()
                    time.sleep(0.3)
                yield i
        finally:  # a model's cleanup: must not run beside another job's step, on another thread
            where.append((job["input"]["slow"], threading.current_thread().name))

    runtime.register(handler, "gen2", concurrency_modifier=lambda current: 2)
    runtime.submit("gen2", {"input": {"slow": True}})
    fast = runtime.submit("gen2", {"input": {"slow": False}})
    deadline = time.monotonic() + 10
    while not fast.stream:  # both generators have started; they take turns, the slow one mostly stepping
        assert time.monotonic() < deadline
        time.sleep(0.01)
    stepping.clear()
    assert stepping.wait(10)  # the slow job is in a step: the fast one is suspended, its turn queued
    runtime.shutdown(timeout=0.1)
    deadline = time.monotonic() + 10
    while len(where) < 2:
        assert time.monotonic() < deadline, where
        time.sleep(0.01)
    assert sorted(slow for slow, _ in where) == [False, True]
    assert all(name.startswith("rp-handler-gen2") for _, name in where), where
