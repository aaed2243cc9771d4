"""Handler code cannot stall the control plane: blocked loops, hung threads, ignored cancels — detected,
timed out on time, abandoned and replaced, listed until they return."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from rp_jupyter.runtime import JobStatus, Runtime

T = 10.0


def poll(condition: Any, timeout: float = T) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


@pytest.fixture
def blocker(runtime: Runtime) -> Any:
    """An async handler that blocks its own loop with a sync wait until released."""
    entered, release = threading.Event(), threading.Event()

    async def handler(job: dict[str, Any]) -> str:
        entered.set()
        release.wait(job["input"].get("seconds", T))  # a blocking call inside async def
        return "woke"

    runtime.register(handler, "blocker")
    yield entered, release
    release.set()


def test_other_handlers_run_while_an_async_handler_blocks_its_loop(runtime: Runtime, blocker) -> None:
    entered, release = blocker

    async def echo(job: dict[str, Any]) -> Any:
        return job["input"]

    runtime.register(echo, "echo")
    runtime.register(lambda job: job["input"], "sync_echo")
    blocked = runtime.submit("blocker", {"input": {}})
    assert entered.wait(T)
    assert runtime.run_sync("echo", {"input": 1}, wait=T)["output"] == 1
    assert runtime.run_sync("sync_echo", {"input": 2}, wait=T)["output"] == 2
    runtime.register(echo, "again")  # registration does not wait on anything
    poll(lambda: blocked.warnings)
    [warning] = blocked.warnings
    assert "handler 'blocker' has blocked its event loop" in warning and "so far" in warning
    assert "test_isolation.py" in warning and 'release.wait(job["input"].get("seconds", T))' in warning
    release.set()
    assert blocked.wait(T).output == "woke"
    poll(lambda: "so far" not in blocked.warnings[0])  # the final word, once the loop answered
    assert "blocked its event loop for" in blocked.warnings[0] and "asyncio.to_thread" in blocked.warnings[0]


def test_a_blocked_handler_times_out_on_time_and_its_loop_is_replaced(runtime: Runtime, blocker) -> None:
    entered, release = blocker
    job = runtime.submit("blocker", {"input": {}, "policy": {"executionTimeout": 300}})
    assert entered.wait(T)
    assert job.wait(T).status is JobStatus.TIMED_OUT
    assert 300 <= (job.execution_time or 0) < 1500
    poll(lambda: runtime.abandoned)
    [call] = runtime.abandoned
    assert (call.handler, call.job_id, call.kind) == ("blocker", job.id, "loop")
    entered.clear()
    started = time.monotonic()
    nxt = runtime.submit("blocker", {"input": {"seconds": 0}})
    assert nxt.wait(T).output == "woke" and time.monotonic() - started < 2.0  # a new loop took it
    release.set()
    poll(lambda: not runtime.abandoned)  # the abandoned loop ended once its call returned


def test_a_task_ignoring_its_cancellation_is_left_alone_and_its_slot_freed(runtime: Runtime) -> None:
    entered, release = threading.Event(), threading.Event()

    async def stubborn(job: dict[str, Any]) -> str:
        if job["input"] == "stubborn":
            entered.set()
            while not release.is_set():
                try:
                    await asyncio.sleep(0.01)
                except asyncio.CancelledError:
                    pass  # swallowed: the task never ends
        return job["input"]

    runtime.register(stubborn, "h")
    job = runtime.submit("h", {"input": "stubborn"})
    assert entered.wait(T)
    assert job.cancel().wait(T).status is JobStatus.CANCELLED
    poll(lambda: runtime.abandoned)
    assert runtime.abandoned[0].kind == "task"
    assert runtime.run_sync("h", {"input": "next"}, wait=T)["output"] == "next"
    assert any("ignored its cancellation" in w for w in job.warnings)
    release.set()
    poll(lambda: not runtime.abandoned)


def test_re_registering_never_waits_on_a_hung_job(runtime: Runtime) -> None:
    entered, release = threading.Event(), threading.Event()

    def hung(job: dict[str, Any]) -> str:
        entered.set()
        release.wait(T)
        return "old"

    runtime.register(hung, "h")
    old = runtime.submit("h", {"input": {}})
    assert entered.wait(T)
    started = time.monotonic()
    runtime.register(lambda job: "new", "h")
    assert runtime.run_sync("h", {"input": {}}, wait=T)["output"] == "new"
    assert time.monotonic() - started < 2.0
    assert old.status is JobStatus.IN_PROGRESS  # the old version finishes its own job
    release.set()
    assert old.wait(T).output == "old"


def test_shutdown_keeps_its_deadline_and_says_what_it_abandoned(blocker) -> None:
    runtime = Runtime()
    entered, release = threading.Event(), threading.Event()
    runtime.register(lambda job: (entered.set(), release.wait(T)), "hang")
    job = runtime.submit("hang", {"input": {}})
    assert entered.wait(T)
    started = time.monotonic()
    try:
        assert runtime.shutdown(timeout=1.0) == [job]
        assert time.monotonic() - started < 2.0
        [call] = runtime.abandoned
        assert call.job_id == job.id and call.kind == "thread" and "release.wait(T)" in call.where
        assert "abandoned call of handler 'hang'" in call.describe()
    finally:
        release.set()


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), "fast", True])
def test_the_stall_threshold_is_a_positive_number(runtime: Runtime, bad: Any) -> None:
    with pytest.raises(ValueError):
        runtime.stall_threshold = bad


def test_a_lower_threshold_reports_a_shorter_block(runtime: Runtime) -> None:
    runtime.stall_threshold = 0.05

    async def short_block(job: dict[str, Any]) -> None:
        time.sleep(0.3)

    runtime.register(short_block, "h")
    job = runtime.submit("h", {"input": {}}).wait(T)
    poll(lambda: job.warnings and "so far" not in job.warnings[0])
    assert "blocked its event loop for 0." in job.warnings[0]


def test_a_cancelled_blocked_loop_is_replaced_even_before_the_watchdog_pinged_it(runtime: Runtime, blocker) -> None:
    """Whether the loop is blocked is judged by the stop itself reaching the loop, not by the
    watchdog's pings (which may come late on a loaded machine): found by the kernel test under load."""
    entered, _ = blocker
    runtime._scheduler.timers.interval = 60.0  # no ping before the grace ends
    job = runtime.submit("blocker", {"input": {}})
    assert entered.wait(T)
    job.cancel()
    entered.clear()
    nxt = runtime.submit("blocker", {"input": {"seconds": 0}})
    assert entered.wait(T) and nxt.wait(T).output == "woke"  # on a new loop: the old one still sleeps
    assert [call.kind for call in runtime.abandoned] == ["loop"]
