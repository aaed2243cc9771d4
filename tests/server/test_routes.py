"""Every route of the public API over real HTTP, in every job state (spec §14)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import pytest

from rp_jupyter.runtime import Job, Runtime

from .conftest import TIMEOUT, Gate


def _job(runtime: Runtime, job_id: str) -> Job:
    job = runtime.get(job_id)
    assert job is not None
    return job


def _blocking(runtime: Runtime, name: str = "slow") -> tuple[Gate, threading.Event]:
    """A sync handler that signals it started, then waits for the gate."""
    gate, entered = Gate(), threading.Event()

    def handler(job: dict[str, Any]) -> Any:
        entered.set()
        gate.wait()
        return {"done": job["input"]}

    runtime.register(handler, name)
    return gate, entered


def test_run_then_status_completed(runtime: Runtime, http: httpx.Client) -> None:
    runtime.register(lambda job: {"echo": job["input"]}, "echo")
    response = http.post("/echo/run", json={"input": {"x": 1}})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "IN_QUEUE" and body["id"].endswith("-local") and set(body) == {"id", "status"}
    _job(runtime, body["id"]).wait(TIMEOUT)
    status = http.get(f"/echo/status/{body['id']}").json()
    assert status["status"] == "COMPLETED" and status["output"] == {"echo": {"x": 1}}
    assert list(status) == ["delayTime", "executionTime", "id", "output", "status"]
    assert http.post(f"/echo/status/{body['id']}").json() == status  # RunPod accepts POST too


def test_runsync_returns_the_finished_body(runtime: Runtime, http: httpx.Client) -> None:
    runtime.register(lambda job: job["input"] * 2, "double")
    body = http.post("/double/runsync", json={"input": 21}).json()
    assert body["status"] == "COMPLETED" and body["output"] == 42 and body["id"].startswith("sync-")
    assert list(body) == ["delayTime", "executionTime", "id", "output", "status"]


def test_runsync_failure_carries_runpods_error_string(runtime: Runtime, http: httpx.Client) -> None:
    def boom(job: dict[str, Any]) -> None:
        raise ValueError("nope")

    runtime.register(boom)
    body = http.post("/boom/runsync", json={"input": {}}).json()
    assert body["status"] == "FAILED" and "output" not in body
    error = json.loads(body["error"])
    assert error["error_type"] == "<class 'ValueError'>" and error["error_message"] == "nope"


def test_runsync_past_its_wait_returns_the_status(runtime: Runtime, http: httpx.Client) -> None:
    gate, _ = _blocking(runtime)
    body = http.post("/slow/runsync?wait=1", json={"input": 1}).json()  # clamped to RunPod's 1000 ms
    assert body["status"] == "IN_PROGRESS" and "output" not in body
    gate.open()
    _job(runtime, body["id"]).wait(TIMEOUT)
    assert http.get(f"/slow/status/{body['id']}").json()["output"] == {"done": 1}


def test_status_in_queue_and_in_progress_with_progress(runtime: Runtime, http: httpx.Client) -> None:
    gate, entered = _blocking(runtime)
    first = http.post("/slow/run", json={"input": 1}).json()["id"]
    second = http.post("/slow/run", json={"input": 2}).json()["id"]
    assert entered.wait(TIMEOUT)
    assert http.get(f"/slow/status/{first}").json()["status"] == "IN_PROGRESS"
    assert http.get(f"/slow/status/{second}").json() == {"id": second, "status": "IN_QUEUE"}
    runtime.progress(first, {"pct": 50})
    assert _wait_status(http, f"/slow/status/{first}", lambda b: "output" in b)["output"] == {"pct": 50}
    gate.open()


def _wait_status(http: httpx.Client, path: str, ready: Any, attempts: int = 500) -> Any:
    """Poll a route until ``ready(body)`` (each poll is a real request: no sleeping)."""
    for _ in range(attempts):
        body = http.get(path).json()
        if ready(body):
            return body
    raise AssertionError(f"{path} never got ready: {body}")


def test_stream_is_incremental_with_a_cursor(runtime: Runtime, http: httpx.Client) -> None:
    step, yielded = threading.Semaphore(0), threading.Semaphore(0)

    def tokens(job: dict[str, Any]) -> Any:
        for i in range(3):
            if not step.acquire(timeout=TIMEOUT):
                raise TimeoutError("step")
            yield f"t{i}"
            yielded.release()

    runtime.register(tokens)
    job_id = http.post("/tokens/run", json={"input": {}}).json()["id"]
    seen: list[Any] = []
    for _ in range(3):
        step.release()
        assert yielded.acquire(timeout=TIMEOUT)
        body = _wait_status(http, f"/tokens/stream/{job_id}", lambda b: b["stream"] or b["status"] == "COMPLETED")
        seen += [chunk["output"] for chunk in body["stream"]]
    _job(runtime, job_id).wait(TIMEOUT)
    last = http.post(f"/tokens/stream/{job_id}").json()
    seen += [chunk["output"] for chunk in last["stream"]]
    assert seen == ["t0", "t1", "t2"] and last["status"] == "COMPLETED"
    assert http.get(f"/tokens/stream/{job_id}").json() == {"status": "COMPLETED", "stream": []}
    assert http.get(f"/tokens/status/{job_id}").json()["output"] == []  # no aggregation: RunPod's []


def test_stream_of_a_plain_handler_gives_its_output_once(runtime: Runtime, http: httpx.Client) -> None:
    runtime.register(lambda job: "whole", "plain")
    job_id = http.post("/plain/run", json={"input": 1}).json()["id"]
    _job(runtime, job_id).wait(TIMEOUT)
    assert http.get(f"/plain/stream/{job_id}").json() == {"status": "COMPLETED", "stream": [{"output": "whole"}]}
    assert http.get(f"/plain/stream/{job_id}").json() == {"status": "COMPLETED", "stream": []}


def test_stream_of_a_failed_generator_carries_the_error(runtime: Runtime, http: httpx.Client) -> None:
    def bad(job: dict[str, Any]) -> Any:
        yield 1
        raise RuntimeError("mid-stream")

    runtime.register(bad)
    job_id = http.post("/bad/run", json={"input": 1}).json()["id"]
    _job(runtime, job_id).wait(TIMEOUT)
    body = http.get(f"/bad/stream/{job_id}").json()
    assert body["status"] == "FAILED" and body["stream"] == [{"output": 1}]
    assert body["error"].startswith("handler: mid-stream")


def test_cancel_queued_and_running_and_finished(runtime: Runtime, http: httpx.Client) -> None:
    gate, entered = _blocking(runtime)
    running = http.post("/slow/run", json={"input": 1}).json()["id"]
    queued = http.post("/slow/run", json={"input": 2}).json()["id"]
    assert entered.wait(TIMEOUT)
    assert http.post(f"/slow/cancel/{queued}").json() == {"id": queued, "status": "CANCELLED"}
    assert http.post(f"/slow/cancel/{running}").json() == {"id": running, "status": "CANCELLED"}
    gate.open()
    assert http.get(f"/slow/status/{running}").json()["status"] == "CANCELLED"
    runtime.register(lambda job: 1, "quick")
    done = http.post("/quick/runsync", json={"input": 1}).json()["id"]
    assert http.post(f"/quick/cancel/{done}").json() == {"id": done, "status": "COMPLETED"}


def test_retry_requeues_a_failed_job_under_the_same_id(runtime: Runtime, http: httpx.Client) -> None:
    attempts: list[int] = []

    def flaky(job: dict[str, Any]) -> Any:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("first time")
        return "second time"

    runtime.register(flaky)
    job_id = http.post("/flaky/runsync", json={"input": 1}).json()["id"]
    assert http.get(f"/flaky/status/{job_id}").json()["status"] == "FAILED"
    assert http.post(f"/flaky/retry/{job_id}").json() == {"id": job_id, "status": "IN_QUEUE"}
    _job(runtime, job_id).wait(TIMEOUT)
    status = http.get(f"/flaky/status/{job_id}").json()
    assert status["status"] == "COMPLETED" and status["output"] == "second time" and "error" not in status
    assert http.get("/flaky/health").json()["jobs"]["retried"] == 1
    refused = http.post(f"/flaky/retry/{job_id}")
    assert refused.status_code == 409 and "only FAILED or TIMED_OUT" in refused.json()["error"]


def test_purge_queue_removes_only_queued_jobs(runtime: Runtime, http: httpx.Client) -> None:
    gate, entered = _blocking(runtime)
    running = http.post("/slow/run", json={"input": 0}).json()["id"]
    queued = [http.post("/slow/run", json={"input": i}).json()["id"] for i in range(3)]
    assert entered.wait(TIMEOUT)
    assert http.post("/slow/purge-queue").json() == {"removed": 3, "status": "completed"}
    assert all(http.get(f"/slow/status/{job_id}").status_code == 404 for job_id in queued)
    gate.open()
    _job(runtime, running).wait(TIMEOUT)
    assert http.get(f"/slow/status/{running}").json()["status"] == "COMPLETED"


def test_health_counts_and_workers(runtime: Runtime, http: httpx.Client) -> None:
    gate, entered = _blocking(runtime)
    ids = [http.post("/slow/run", json={"input": i}).json()["id"] for i in range(3)]
    assert entered.wait(TIMEOUT)
    assert http.get("/slow/health").json() == {
        "jobs": {"completed": 0, "failed": 0, "inProgress": 1, "inQueue": 2, "retried": 0},
        "workers": {"idle": 0, "running": 1},
    }
    gate.open()
    for job_id in ids:
        _job(runtime, job_id).wait(TIMEOUT)
    assert http.get("/slow/health").json()["jobs"] == {
        "completed": 3, "failed": 0, "inProgress": 0, "inQueue": 0, "retried": 0
    }


def test_health_shows_a_call_abandoned_after_its_timeout(runtime: Runtime, http: httpx.Client) -> None:
    gate, _ = _blocking(runtime)
    try:
        body = http.post("/slow/runsync?wait=5000", json={"input": 1, "policy": {"executionTimeout": 1000}}).json()
        assert body["status"] == "TIMED_OUT"
        deadline = time.monotonic() + TIMEOUT
        while "abandoned" not in (health := http.get("/slow/health").json()):
            assert time.monotonic() < deadline, health
            time.sleep(0.02)
        assert health["workers"]["unhealthy"] == 1
        [call] = health["abandoned"]
        assert call["jobId"] == body["id"] and call["kind"] == "thread"
        assert "abandoned call of handler 'slow'" in call["description"]
        assert http.get("/slow/health").json()["jobs"]["inProgress"] == 0  # the next job can run at once
    finally:
        gate.open()


def test_a_job_is_only_visible_under_its_own_endpoint(runtime: Runtime, http: httpx.Client) -> None:
    runtime.register(lambda job: 1, "a")
    runtime.register(lambda job: 2, "b")
    job_id = http.post("/a/runsync", json={"input": 1}).json()["id"]
    response = http.get(f"/b/status/{job_id}")
    assert response.status_code == 404 and job_id in response.json()["error"]


@pytest.mark.parametrize("policy", [{"executionTimeout": 1000}])
def test_execution_timeout_policy_times_out(runtime: Runtime, http: httpx.Client, policy: Any) -> None:
    gate, _ = _blocking(runtime)
    body = http.post("/slow/runsync?wait=5000", json={"input": 1, "policy": policy}).json()
    gate.open()
    assert body["status"] == "TIMED_OUT"
    assert http.get("/slow/health").json()["jobs"]["failed"] == 1
