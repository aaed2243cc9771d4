"""``progress_update``: values reach the job in order, and never after it finished (runpod-python#250)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from rp_jupyter.runtime import JobStatus, Runtime

T = 10.0


def test_progress_from_a_sync_handler_thread_arrives_in_order(runtime: Runtime, events) -> None:
    def handler(job: dict[str, Any]) -> str:
        for step in range(50):
            runtime.progress(job["id"], {"step": step})
        return "done"

    runtime.register(handler, "h")
    job = runtime.submit("h", {"input": {}})
    events.wait_for("finished", job.id)
    assert job.progress_history == [{"step": step} for step in range(50)]
    assert job.progress == {"step": 49}
    assert events.kinds(job.id).count("progress") == 50
    assert job.status is JobStatus.COMPLETED and job.output == "done"


def test_progress_from_an_async_handler_arrives_in_order(runtime: Runtime, events) -> None:
    async def handler(job: dict[str, Any]) -> str:
        for step in range(5):
            runtime.progress(job["id"], step)
            await asyncio.sleep(0)
        return "done"

    runtime.register(handler, "h")
    job = runtime.submit("h", {"input": {}})
    events.wait_for("finished", job.id)
    assert job.progress_history == [0, 1, 2, 3, 4]


def test_progress_sent_just_before_an_async_handler_returns_is_kept(runtime: Runtime, events) -> None:
    async def handler(job: dict[str, Any]) -> str:
        runtime.progress(job["id"], "last words")  # no await between this and the return
        return "done"

    runtime.register(handler, "h")
    job = runtime.submit("h", {"input": {}})
    events.wait_for("finished", job.id)
    assert job.progress_history == ["last words"]
    assert job.status is JobStatus.COMPLETED and job.output == "done"


def test_progress_after_the_job_finished_changes_nothing(runtime: Runtime, events) -> None:
    runtime.register(lambda job: "done", "h")
    job = runtime.submit("h", {"input": {}})
    events.wait_for("finished", job.id)
    before = job.to_status()
    assert runtime.progress(job.id, "too late") is False
    assert job.to_status() == before
    assert job.progress_history == []
    assert "progress" not in events.kinds(job.id)


def test_a_progress_thread_firing_after_return_does_not_revive_the_job(
    runtime: Runtime, events, gate
) -> None:
    fire = gate()
    fired: list[bool] = []
    thread_done = threading.Event()

    def late_sender(job_id: str) -> None:
        fire.wait()
        fired.append(runtime.progress(job_id, "late"))
        thread_done.set()

    def handler(job: dict[str, Any]) -> str:
        runtime.progress(job["id"], "early")
        threading.Thread(target=late_sender, args=(job["id"],), daemon=True).start()
        return "done"

    runtime.register(handler, "h")
    job = runtime.submit("h", {"input": {}})
    events.wait_for("finished", job.id)
    fire.open()
    assert thread_done.wait(T)
    assert fired == [False]
    assert job.status is JobStatus.COMPLETED
    assert job.to_status()["output"] == "done"
    assert job.progress_history == ["early"]


def test_progress_racing_the_return_never_leaves_the_job_in_progress(runtime: Runtime) -> None:
    """The race of runpod-python#250, many times over: a thread sends progress while the handler returns."""
    go = threading.Barrier(2, timeout=T)

    def sender(job_id: str) -> None:
        go.wait()
        for _ in range(20):
            runtime.progress(job_id, "racing")

    def handler(job: dict[str, Any]) -> str:
        threading.Thread(target=sender, args=(job["id"],), daemon=True).start()
        go.wait()
        return "done"

    runtime.register(handler, "h")
    jobs = [runtime.submit("h", {"input": {}}) for _ in range(20)]
    for job in jobs:
        job.wait(T)
        assert job.status is JobStatus.COMPLETED
        assert job.to_status()["output"] == "done"


def test_a_non_serialisable_progress_value_is_refused_with_a_warning(runtime: Runtime, events) -> None:
    results: list[bool] = []

    def handler(job: dict[str, Any]) -> str:
        results.append(runtime.progress(job["id"], {1, 2}))
        return "done"

    runtime.register(handler, "h")
    job = runtime.submit("h", {"input": {}}).wait(T)
    assert results == [False]
    assert job.status is JobStatus.COMPLETED
    assert any("set" in warning for warning in job.warnings)


def test_progress_for_an_unknown_job_is_false(runtime: Runtime) -> None:
    assert runtime.progress("no-such-job", 1) is False


def test_progress_for_a_queued_job_is_not_recorded(runtime: Runtime, events, gate) -> None:
    release = gate()
    runtime.register(lambda job: release.wait(), "h")
    first = runtime.submit("h", {"input": {}})
    queued = runtime.submit("h", {"input": {}})
    events.wait_for("submitted", queued.id)
    runtime.progress(queued.id, "too early")
    release.open()
    queued.wait(T)
    first.wait(T)
    assert queued.progress_history == []
