"""``/cancel`` and execution timeouts: what stops, what the handler sees, what is (not) posted."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from rp_jupyter.exceptions import RequestError
from rp_jupyter.runtime import JobStatus, Runtime

T = 10.0


def test_cancelling_an_async_handler_raises_cancelled_error_at_its_await(
    runtime: Runtime, events, gate
) -> None:
    never = gate()
    saw_cancel, awaiting = threading.Event(), threading.Event()

    async def handler(job: dict[str, Any]) -> str:
        try:
            awaiting.set()
            await never.wait_async()
        except asyncio.CancelledError:
            saw_cancel.set()
            raise
        return "never"

    runtime.register(handler, "h")
    job = runtime.submit("h", {"input": {}})
    assert awaiting.wait(T)  # (cancelled before its task's first step, the handler is never called at all)
    job.cancel()
    assert job.wait(T).status is JobStatus.CANCELLED
    assert saw_cancel.wait(T)
    assert job.result_body is None and job.output is None and job.error is None
    assert set(job.to_status()) == {"delayTime", "executionTime", "id", "status"}


def test_a_cancelled_queued_job_never_runs(runtime: Runtime, events, gate) -> None:
    release = gate()
    ran: list[str] = []

    def handler(job: dict[str, Any]) -> None:
        ran.append(job["id"])
        release.wait()

    runtime.register(handler, "h")
    first = runtime.submit("h", {"input": {}})
    queued = runtime.submit("h", {"input": {}})
    events.wait_for("submitted", queued.id)
    assert runtime.cancel(queued.id) is queued
    assert queued.wait(T).status is JobStatus.CANCELLED
    release.open()
    first.wait(T)
    assert ran == [first.id]
    assert "started" not in events.kinds(queued.id)


def test_cancelling_a_sync_handler_discards_its_late_result_and_replaces_its_thread(
    runtime: Runtime, events, gate
) -> None:
    release, entered = threading.Event(), threading.Event()  # (a plain Event: the handler's own line is named)
    calls: list[str] = []

    def handler(job: dict[str, Any]) -> dict[str, Any]:
        calls.append(job["id"])
        if len(calls) == 1:
            entered.set()
            release.wait()  # the first call hangs until the test lets it go
        return {"late": len(calls) == 1}

    runtime.register(handler, "h")
    first = runtime.submit("h", {"input": {}})
    assert entered.wait(T)
    first.cancel()
    # CANCELLED at once, although the thread cannot be interrupted and still runs the handler
    assert first.wait(T).status is JobStatus.CANCELLED
    # it does not stop within the threshold: its thread is abandoned, a new one takes the next job
    nxt = runtime.submit("h", {"input": {}})
    try:
        assert nxt.wait(T).status is JobStatus.COMPLETED and nxt.output == {"late": False}
        [call] = runtime.abandoned
        assert (call.handler, call.job_id, call.kind) == ("h", first.id, "thread")
        assert "release.wait()" in call.where and "test_cancel_timeout.py" in call.where
        assert any("did not stop within" in w and "abandoned" in w for w in first.warnings)
    finally:
        release.set()
    events.wait_for("warning", first.id, count=1)
    assert first.status is JobStatus.CANCELLED
    assert first.result_body is None and first.output is None and not first.has_output
    deadline = threading.Event()
    while runtime.abandoned and not deadline.wait(0.01):  # the abandoned call ends once released
        pass
    assert runtime.abandoned == []
    assert any("returned" in w and "discarded" in w for w in first.warnings)


def test_cancelling_a_sync_generator_stops_it_between_yields(runtime: Runtime, events, gate) -> None:
    resume = gate()
    resumed_after_cancel = threading.Event()
    closed = threading.Event()

    def handler(job: dict[str, Any]) -> Iterator[int]:
        try:
            yield 1
            resume.wait()
            yield 2
            resumed_after_cancel.set()
            yield 3
        finally:
            closed.set()

    runtime.register(handler, "gen")
    job = runtime.submit("gen", {"input": {}})
    events.wait_for("chunk", job.id)
    job.cancel()
    assert job.wait(T).status is JobStatus.CANCELLED
    resume.open()
    assert closed.wait(T)
    assert not resumed_after_cancel.is_set()
    assert job.stream == [1]
    assert job.result_body is None


def test_cancelling_an_async_generator_closes_it(runtime: Runtime, events, gate) -> None:
    never = gate()
    closed = threading.Event()

    async def handler(job: dict[str, Any]) -> Any:
        try:
            yield "a"
            await never.wait_async()
            yield "b"
        finally:
            closed.set()

    runtime.register(handler, "agen")
    job = runtime.submit("agen", {"input": {}})
    events.wait_for("chunk", job.id)
    job.cancel()
    assert job.wait(T).status is JobStatus.CANCELLED
    assert closed.wait(T)
    assert job.stream == ["a"]


def test_policy_execution_timeout_times_out_an_async_handler(runtime: Runtime, gate) -> None:
    never = gate()
    saw_cancel = threading.Event()

    async def handler(job: dict[str, Any]) -> None:
        try:
            await never.wait_async()
        except asyncio.CancelledError:
            saw_cancel.set()
            raise

    runtime.register(handler, "h")
    job = runtime.submit("h", {"input": {}, "policy": {"executionTimeout": 100}})
    assert job.execution_timeout == 0.1
    assert job.wait(T).status is JobStatus.TIMED_OUT
    assert saw_cancel.wait(T)
    assert job.result_body is None
    assert job.execution_time is not None and job.execution_time >= 100
    assert job.to_status()["status"] == "TIMED_OUT"


def test_policy_execution_timeout_times_out_a_sync_handler(runtime: Runtime, gate) -> None:
    release = gate()
    runtime.register(lambda job: release.wait() or "late", "h")
    job = runtime.submit("h", {"input": {}, "policy": {"executionTimeout": 100}})
    try:
        assert job.wait(T).status is JobStatus.TIMED_OUT
        # the stuck call is abandoned: the next job runs at once on a new thread
        after = runtime.submit("h", {"input": {}, "policy": {"executionTimeout": 5000}})
        assert after.wait(T).status is JobStatus.TIMED_OUT or after.output == "late"
    finally:
        release.open()
    assert job.status is JobStatus.TIMED_OUT and job.output is None


def test_execution_timeout_given_at_register(runtime: Runtime, gate) -> None:
    never = gate()

    async def handler(job: dict[str, Any]) -> None:
        await never.wait_async()

    runtime.register(handler, "h", execution_timeout=0.1)
    job = runtime.submit("h", {"input": {}})
    assert job.execution_timeout == 0.1
    assert job.wait(T).status is JobStatus.TIMED_OUT


def test_policy_overrides_the_registered_timeout(runtime: Runtime) -> None:
    runtime.register(lambda job: "ok", "h", execution_timeout=0.1)
    job = runtime.submit("h", {"input": {}, "policy": {"executionTimeout": 60_000}})
    assert job.execution_timeout == 60.0
    assert job.wait(T).status is JobStatus.COMPLETED


@pytest.mark.parametrize("policy", [{"executionTimeout": 0}, {"executionTimeout": "5s"}, "fast"])
def test_a_bad_execution_timeout_is_refused(runtime: Runtime, policy: Any) -> None:
    runtime.register(lambda job: "ok", "h")
    with pytest.raises(RequestError):
        runtime.submit("h", {"input": {}, "policy": policy})


def test_a_fast_job_is_not_timed_out(runtime: Runtime) -> None:
    runtime.register(lambda job: "ok", "h", execution_timeout=5)
    job = runtime.submit("h", {"input": {}}).wait(T)
    assert job.status is JobStatus.COMPLETED


def test_cancelling_a_finished_job_is_a_no_op(runtime: Runtime, events) -> None:
    runtime.register(lambda job: "ok", "h")
    job = runtime.submit("h", {"input": {}})
    events.wait_for("finished", job.id)
    assert job.cancel() is job
    assert runtime.cancel(job.id) is job
    assert job.status is JobStatus.COMPLETED and job.output == "ok"
    assert events.kinds(job.id).count("finished") == 1


def test_cancelling_an_unknown_job_returns_none(runtime: Runtime) -> None:
    assert runtime.cancel("no-such-job") is None


def test_cancelling_a_job_waiting_behind_a_running_one_abandons_nothing(runtime: Runtime, gate) -> None:
    """A sync handler at concurrency 2 takes two jobs; the second waits on the worker's thread. Cancelling
    it must not abandon the first, which is running and fine (it was, before: the check took the waiting
    job's call for a stuck one)."""
    release = gate()

    def handler(job: dict[str, Any]) -> str:
        if job["input"] == "a":
            release.wait()
        return job["input"]

    runtime.register(handler, "h", concurrency_modifier=lambda _: 2)
    first, waiting = runtime.submit("h", {"input": "a"}), runtime.submit("h", {"input": "b"})
    assert waiting.status is JobStatus.IN_PROGRESS
    waiting.cancel()
    checked = threading.Event()  # timers run in order: this one after the cancel's stall check
    runtime._scheduler.timers.at(time.monotonic() + 2 * runtime.stall_threshold, checked.set)
    assert checked.wait(T)
    assert runtime.abandoned == [] and first.warnings == []
    release.open()
    assert first.wait(T).output == "a" and waiting.wait(T).status is JobStatus.CANCELLED


def test_an_interrupt_before_run_syncs_wait_begins_cancels_the_job(runtime: Runtime, gate, monkeypatch) -> None:
    """A kernel interrupt can land after the job is queued and before ``wait`` is inside its ``try``
    (where it cancels): run_sync cancels it there too — no job left running for a cell that was stopped."""
    from rp_jupyter.runtime import Job

    held = gate()
    runtime.register(lambda job: held.wait(), "h")

    def interrupted(self: Job, timeout: float | None = None) -> Job:
        raise KeyboardInterrupt  # as the signal would, on the first line of the wait

    monkeypatch.setattr(Job, "wait", interrupted)
    with pytest.raises(KeyboardInterrupt):
        runtime.run_sync("h", {"input": 1})
    monkeypatch.undo()
    [job] = runtime.jobs
    assert job.status is JobStatus.CANCELLED
    held.open()
