"""Re-registering a name (re-running a handler cell): running jobs keep their code, new jobs get the new."""

from __future__ import annotations

from typing import Any

from rp_jupyter.runtime import HandlerKind, JobStatus, Runtime

T = 10.0


def test_a_running_sync_job_finishes_on_the_old_code(runtime: Runtime, events, gate) -> None:
    release = gate()

    def old(job: dict[str, Any]) -> str:
        release.wait()
        return "old"

    runtime.register(old, "h")
    running = runtime.submit("h", {"input": {}})
    events.wait_for("started", running.id)
    runtime.register(lambda job: "new", "h")
    queued_after = runtime.submit("h", {"input": {}})
    release.open()
    assert running.wait(T).output == "old"
    assert queued_after.wait(T).output == "new"


def test_a_running_async_job_finishes_on_the_old_code_while_new_jobs_use_the_new(
    runtime: Runtime, events, gate
) -> None:
    release = gate()

    async def old(job: dict[str, Any]) -> str:
        await release.wait_async()
        return "old"

    async def new(job: dict[str, Any]) -> str:
        return "new"

    runtime.register(old, "h")
    running = runtime.submit("h", {"input": {}})
    events.wait_for("started", running.id)
    runtime.register(new, "h")
    assert runtime.handler("h").fn is new
    # the new registration starts at concurrency 1 like a fresh worker: it waits for the old job
    fresh = runtime.submit("h", {"input": {}})
    release.open()
    assert running.wait(T).output == "old"
    assert fresh.wait(T).output == "new"


def test_re_registering_can_change_the_kind(runtime: Runtime) -> None:
    runtime.register(lambda job: "plain", "h")
    assert runtime.submit("h", {"input": {}}).wait(T).output == "plain"

    def streaming(job: dict[str, Any]) -> Any:
        yield "a"
        yield "b"

    spec = runtime.register(streaming, "h", return_aggregate_stream=True)
    assert spec.kind is HandlerKind.SYNC_GENERATOR
    job = runtime.submit("h", {"input": {}}).wait(T)
    assert (job.status, job.output, job.stream) == (JobStatus.COMPLETED, ["a", "b"], ["a", "b"])


def test_queued_jobs_run_on_the_code_registered_when_they_start(runtime: Runtime, events, gate) -> None:
    release = gate()
    runtime.register(lambda job: release.wait() or "v1", "h")
    first = runtime.submit("h", {"input": {}})
    queued = runtime.submit("h", {"input": {}})
    events.wait_for("submitted", queued.id)
    runtime.register(lambda job: "v2", "h")
    release.open()
    assert (first.wait(T).output, queued.wait(T).output) == ("v1", "v2")


def test_cancelling_a_job_whose_handler_was_unregistered_still_stops_it(
    runtime: Runtime, events, gate
) -> None:
    import asyncio
    import threading

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
    assert awaiting.wait(T)
    runtime.unregister("h")
    runtime.register(lambda job: "other", "h")  # a new endpoint under the same name
    job.cancel()
    assert job.wait(T).status is JobStatus.CANCELLED
    assert saw_cancel.wait(T)
    assert runtime.submit("h", {"input": {}}).wait(T).output == "other"


def test_unregistering_cancels_queued_jobs_and_lets_the_running_one_finish(
    runtime: Runtime, events, gate
) -> None:
    release = gate()
    runtime.register(lambda job: release.wait() or "done", "h")
    running = runtime.submit("h", {"input": {}})
    queued = runtime.submit("h", {"input": {}})
    events.wait_for("submitted", queued.id)
    runtime.unregister("h")
    assert queued.wait(T).status is JobStatus.CANCELLED
    release.open()
    assert running.wait(T).output == "done"
