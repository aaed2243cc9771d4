"""Concurrency as RunPod's JobScaler does it: async handlers overlap up to ``concurrency_modifier``,
sync handlers run one at a time, and the loop stays live while a sync handler blocks."""

from __future__ import annotations

import threading
import time
from typing import Any

from rp_jupyter.runtime import JobStatus, Runtime

T = 10.0


def test_async_jobs_overlap_up_to_the_modifier(runtime: Runtime, gate) -> None:
    all_in = gate()
    entered: list[str] = []
    lock = threading.Lock()

    async def handler(job: dict[str, Any]) -> str:
        with lock:
            entered.append(job["id"])
            if len(entered) == 4:
                all_in.open()
        await all_in.wait_async()  # opens only when all 4 are inside at once: a timeout otherwise
        return "ok"

    runtime.register(handler, "wide", concurrency_modifier=lambda current: 4)
    jobs = [runtime.submit("wide", {"input": {}}) for _ in range(4)]
    for job in jobs:
        assert job.wait(T).status is JobStatus.COMPLETED, job.error
    assert sorted(entered) == sorted(job.id for job in jobs)


def test_default_concurrency_runs_async_jobs_one_at_a_time(runtime: Runtime, events, gate, settle) -> None:
    release = gate()

    async def handler(job: dict[str, Any]) -> str:
        await release.wait_async()
        return "ok"

    runtime.register(handler, "narrow")
    first = runtime.submit("narrow", {"input": {}})
    second = runtime.submit("narrow", {"input": {}})
    events.wait_for("started", first.id)
    events.wait_for("submitted", second.id)
    assert second.status is JobStatus.IN_QUEUE
    release.open()
    second.wait(T)
    settle(runtime)
    assert events.kinds(first.id)[-1] == "finished"
    order = [(kind, jid) for kind, jid, _ in events.events if kind in ("started", "finished")]
    assert order == [
        ("started", first.id),
        ("finished", first.id),
        ("started", second.id),
        ("finished", second.id),
    ]


def test_sync_handlers_never_overlap_even_with_concurrency(runtime: Runtime) -> None:
    trace: list[str] = []

    def handler(job: dict[str, Any]) -> str:
        trace.append("enter")
        time.sleep(0.01)  # simulated work: room for an overlap, were there one
        trace.append("exit")
        return "ok"

    runtime.register(handler, "sync3", concurrency_modifier=lambda current: 3)
    jobs = [runtime.submit("sync3", {"input": {}}) for _ in range(6)]
    for job in jobs:
        job.wait(T)
    assert trace == ["enter", "exit"] * 6


def test_sync_generator_jobs_interleave_at_their_yields_one_step_at_a_time(runtime: Runtime, events, gate) -> None:
    """RunPod's worker awaits each chunk's post, so running jobs of a sync generator take turns at
    their yields (rp_job.handle_job); a step itself blocks the worker, so two never run at once."""
    release, both_running = gate(), gate()
    active, most = [0], [0]

    def handler(job: dict[str, Any]) -> Any:
        if job["input"]["blocks"]:
            # Both jobs are IN_PROGRESS before the first one's first step ends: else it is alone, and
            # a job alone streams on without giving its turn up (RunPod's worker would not have
            # fetched the second job yet either).
            both_running.wait()
        for word in ("first", "second"):
            active[0] += 1
            most[0] = max(most[0], active[0])
            if word == "second" and job["input"]["blocks"]:
                release.wait()  # the first job holds the worker mid-stream
            active[0] -= 1
            yield word

    runtime.register(handler, "gen3", concurrency_modifier=lambda current: 3)
    first = runtime.submit("gen3", {"input": {"blocks": True}})
    second = runtime.submit("gen3", {"input": {"blocks": False}})
    events.wait_for("started", second.id)
    both_running.open()
    events.wait_for("chunk", first.id)
    events.wait_for("chunk", second.id)  # the second job stepped before the first one ended
    try:
        assert first.stream == ["first"] and first.status is JobStatus.IN_PROGRESS and second.stream[0] == "first"
    finally:
        release.open()
    assert [job.wait(T).stream for job in (first, second)] == [["first", "second"]] * 2
    assert most[0] == 1  # never two steps at once


def test_a_sync_generator_alone_streams_in_one_turn(runtime: Runtime) -> None:
    runtime.register(lambda job: (yield from range(5000)), "alone")
    job = runtime.submit("alone", {"input": {}}).wait(T)
    assert job.stream == list(range(5000)) and job.status is JobStatus.COMPLETED


def test_the_loop_stays_live_while_a_sync_handler_blocks(runtime: Runtime, events, gate) -> None:
    release = gate()
    runtime.register(lambda job: release.wait(), "blocker")
    job = runtime.submit("blocker", {"input": {}})
    events.wait_for("started", job.id)
    try:
        assert runtime.progress(job.id, "from outside")
        events.wait_for("progress", job.id)
        assert job.progress == "from outside"
        job.cancel()
        assert job.wait(T).status is JobStatus.CANCELLED
    finally:
        release.open()


def test_an_async_handler_runs_while_a_sync_one_blocks(runtime: Runtime, events, gate) -> None:
    release = gate()
    runtime.register(lambda job: release.wait(), "blocker")

    async def quick(job: dict[str, Any]) -> str:
        return "quick"

    runtime.register(quick, "quick")
    blocked = runtime.submit("blocker", {"input": {}})
    events.wait_for("started", blocked.id)
    try:
        assert runtime.submit("quick", {"input": {}}).wait(T).output == "quick"
        assert blocked.status is JobStatus.IN_PROGRESS
    finally:
        release.open()
    blocked.wait(T)


def test_two_sync_handlers_run_independently(runtime: Runtime, events, gate) -> None:
    release = gate()
    runtime.register(lambda job: release.wait(), "a")
    runtime.register(lambda job: "b", "b")
    blocked = runtime.submit("a", {"input": {}})
    events.wait_for("started", blocked.id)
    try:
        assert runtime.submit("b", {"input": {}}).wait(T).output == "b"
    finally:
        release.open()
    blocked.wait(T)


def test_a_new_concurrency_applies_only_when_the_worker_is_idle(runtime: Runtime, events, gate) -> None:
    release, together = gate(), gate()
    target = [1]
    inside = [0]
    lock = threading.Lock()

    async def handler(job: dict[str, Any]) -> str:
        if job["input"] == "first":
            await release.wait_async()
            return "ok"
        with lock:
            inside[0] += 1
            if inside[0] == 3:
                together.open()
        await together.wait_async()  # three at once, or a timeout
        return "ok"

    runtime.register(handler, "h", concurrency_modifier=lambda current: target[0])
    first = runtime.submit("h", {"input": "first"})
    events.wait_for("started", first.id)
    target[0] = 3
    waiting = [runtime.submit("h", {"input": "later"}) for _ in range(3)]
    events.wait_for("submitted", waiting[-1].id)
    assert [job.status for job in waiting] == [JobStatus.IN_QUEUE] * 3  # busy: RunPod waits for idle
    release.open()
    assert [job.wait(T).status for job in waiting] == [JobStatus.COMPLETED] * 3
