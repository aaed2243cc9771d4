"""The job lifecycle: RunPod's states, the events on the way, and the ``/status`` body in each state."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

from rp_jupyter.runtime import Job, JobStatus, Runtime

T = 10.0


def test_a_job_goes_from_in_queue_through_in_progress_to_completed(runtime: Runtime, events, settle) -> None:
    seen: list[tuple[str, JobStatus]] = []
    runtime.subscribe(lambda event: seen.append((event.kind, event.status)))  # the status when it happened
    runtime.register(lambda job: f"hello {job['input']['name']}", "hello")
    job = runtime.submit("hello", {"input": {"name": "Ada"}})
    events.wait_for("finished", job.id)
    settle(runtime)  # ``seen`` listens after the event log: it may not have been told yet
    assert seen == [
        ("submitted", JobStatus.IN_QUEUE),
        ("started", JobStatus.IN_PROGRESS),
        ("finished", JobStatus.COMPLETED),
    ]
    assert job.output == "hello Ada"
    assert job.error is None
    assert job.result_body == {"output": "hello Ada"}


def test_a_raising_handler_ends_failed_with_the_error_json_string(runtime: Runtime) -> None:
    def handler(job: dict[str, Any]) -> None:
        raise KeyError("x")

    runtime.register(handler, "boom")
    job = runtime.submit("boom", {"input": {}}).wait(T)
    assert job.status is JobStatus.FAILED
    assert isinstance(job.error, str)
    assert json.loads(job.error)["error_message"] == "'x'"
    status = job.to_status()
    assert set(status) == {"delayTime", "executionTime", "id", "status", "error"}
    assert status["status"] == "FAILED"


def test_a_returned_error_with_output_is_failed_and_keeps_both(runtime: Runtime) -> None:
    runtime.register(lambda job: {"error": "bad", "detail": 1}, "partial")
    job = runtime.submit("partial", {"input": {}}).wait(T)
    assert job.status is JobStatus.FAILED
    assert (job.output, job.error) == ({"detail": 1}, "bad")
    assert job.to_status()["output"] == {"detail": 1}


def test_a_falsy_error_is_a_success(runtime: Runtime) -> None:
    runtime.register(lambda job: {"error": None}, "ok")
    job = runtime.submit("ok", {"input": {}}).wait(T)
    assert job.status is JobStatus.COMPLETED
    assert "output" not in job.to_status() and "error" not in job.to_status()


def test_the_handler_gets_id_input_and_extra_request_keys(runtime: Runtime) -> None:
    got: list[dict[str, Any]] = []
    runtime.register(lambda job: got.append(job), "echo")
    job = runtime.submit("echo", {"input": {"a": 1}, "webhook": "http://x", "id": "ignored"}).wait(T)
    assert got[0]["id"] == job.id
    assert got[0]["input"] == {"a": 1}
    assert got[0]["webhook"] == "http://x"


def test_events_come_in_order_for_a_streaming_job(runtime: Runtime, events) -> None:
    def handler(job: dict[str, Any]) -> Iterator[int]:
        runtime.progress(job["id"], "half")
        yield 1
        yield 2

    runtime.register(handler, "gen")
    job = runtime.submit("gen", {"input": {}})
    events.wait_for("finished", job.id)
    kinds = events.kinds(job.id)
    assert kinds[:3] == ["submitted", "started", "progress"]
    assert kinds[-1] == "finished"
    assert set(kinds[3:-1]) == {"chunk"}
    chunks = [v for kind, jid, data in events.events if kind == "chunk" and jid == job.id for v in data]
    assert chunks == [1, 2] == job.stream
    assert job.output == []  # no aggregation: RunPod posts an empty list


def test_job_subscribers_get_the_same_events(runtime: Runtime, events, gate) -> None:
    release = gate()
    mine: list[str] = []
    finished = threading.Event()

    def on_event(event: Any) -> None:
        mine.append(event.kind)
        if event.kind == "finished":
            finished.set()

    def handler(job: dict[str, Any]) -> str:
        release.wait()
        runtime.progress(job["id"], 1)
        return "ok"

    runtime.register(handler, "h")
    job = runtime.submit("h", {"input": {}})
    events.wait_for("started", job.id)
    job.subscribe(on_event)
    release.open()
    assert finished.wait(T)
    assert mine == ["progress", "finished"]


def test_to_status_in_queue_has_only_id_and_status(runtime: Runtime, events, gate) -> None:
    release = gate()
    runtime.register(lambda job: release.wait(), "slow")
    first = runtime.submit("slow", {"input": {}})
    second = runtime.submit("slow", {"input": {}})
    events.wait_for("submitted", second.id)
    try:
        assert second.to_status() == {"id": second.id, "status": "IN_QUEUE"}
        assert first.status is JobStatus.IN_PROGRESS
        assert set(first.to_status()) == {"delayTime", "id", "status"}
    finally:
        release.open()
    second.wait(T)


def test_to_status_in_progress_shows_the_last_progress_as_output(runtime: Runtime, events, gate) -> None:
    release = gate()

    def handler(job: dict[str, Any]) -> str:
        runtime.progress(job["id"], {"step": 1})
        runtime.progress(job["id"], {"step": 2})
        release.wait()
        return "done"

    runtime.register(handler, "h")
    job = runtime.submit("h", {"input": {}})
    try:
        events.wait_for("progress", job.id, count=2)
        assert job.progress_history == [{"step": 1}, {"step": 2}]
        status = job.to_status()
        assert status["status"] == "IN_PROGRESS"
        assert status["output"] == {"step": 2}
        assert "executionTime" not in status
    finally:
        release.open()
    job.wait(T)
    assert job.to_status()["output"] == "done"
    assert job.to_status()["status"] == "COMPLETED"


def test_to_status_completed_has_times_output_and_status_in_runpod_order(runtime: Runtime) -> None:
    runtime.register(lambda job: {"a": (1, 2)}, "h")
    job = runtime.submit("h", {"input": {}}).wait(T)
    status = job.to_status()
    assert list(status) == ["delayTime", "executionTime", "id", "output", "status"]
    assert status["output"] == {"a": [1, 2]}  # a client gets JSON: tuples are lists


def test_to_status_cancelled_while_queued(runtime: Runtime, events, gate) -> None:
    release = gate()
    runtime.register(lambda job: release.wait(), "slow")
    runtime.submit("slow", {"input": {}})
    queued = runtime.submit("slow", {"input": {}})
    events.wait_for("submitted", queued.id)
    queued.cancel()
    release.open()
    assert queued.wait(T).to_status() == {"id": queued.id, "status": "CANCELLED"}


def test_timings_are_int_milliseconds_and_plausible(runtime: Runtime, events, gate) -> None:
    release = gate()

    def handler(job: dict[str, Any]) -> str:
        release.wait()
        time.sleep(0.2)  # simulated work
        return "ok"

    runtime.register(handler, "h")
    first = runtime.submit("h", {"input": {}})
    second = runtime.submit("h", {"input": {}})
    events.wait_for("submitted", second.id)
    release.open()
    second.wait(T)
    for job in (first, second):
        assert isinstance(job.delay_time, int) and isinstance(job.execution_time, int)
        assert 200 <= job.execution_time < 5000
    assert first.delay_time < 1000
    assert second.delay_time >= 200  # it waited in the queue for the first one


def test_a_job_can_be_awaited_on_another_loop(runtime: Runtime) -> None:
    import asyncio

    runtime.register(lambda job: "ok", "h")
    job = runtime.submit("h", {"input": {}})

    async def main() -> Job:
        return await asyncio.wait_for(job, T)

    assert asyncio.run(main()).output == "ok"


def test_unknown_handler_and_job_lookups(runtime: Runtime) -> None:
    import pytest

    from rp_jupyter.exceptions import HandlerNotFoundError

    with pytest.raises(HandlerNotFoundError, match="nope"):
        runtime.submit("nope", {"input": {}})
    assert runtime.get("no-such-job") is None


def test_wait_times_out_with_a_clear_error(runtime: Runtime, gate) -> None:
    import pytest

    from rp_jupyter.exceptions import JobWaitTimeout

    release = gate()
    runtime.register(lambda job: release.wait(), "slow")
    job = runtime.submit("slow", {"input": {}})
    with pytest.raises(JobWaitTimeout, match=job.id):
        job.wait(0.05)
    release.open()
    job.wait(T)
