"""``policy.ttl``, result retention (fake clock), and webhooks to a receiver served by the test."""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from rp_jupyter.runtime import Job, Runtime
from rp_jupyter.server import HttpServer, PublicServer

from .conftest import TIMEOUT, FakeClock, Gate


def _wait(runtime: Runtime, job_id: str) -> Job:
    """The job, once it ended and every listener (the server's book) has heard so."""
    job = runtime.get(job_id)
    assert job is not None
    job.wait(TIMEOUT)
    runtime._loop.call(lambda: None, timeout=TIMEOUT)  # the end was announced before the waiters woke
    return job


def test_run_results_are_kept_30_minutes(runtime: Runtime, http: httpx.Client, clock: FakeClock) -> None:
    runtime.register(lambda job: 1, "one")
    job_id = http.post("/one/run", json={"input": 1}).json()["id"]
    _wait(runtime, job_id)
    clock.advance(30 * 60 - 1)
    assert http.get(f"/one/status/{job_id}").status_code == 200
    clock.advance(2)
    assert http.get(f"/one/status/{job_id}").status_code == 404


def test_runsync_results_are_kept_1_minute(runtime: Runtime, http: httpx.Client, clock: FakeClock) -> None:
    runtime.register(lambda job: 1, "one")
    job_id = http.post("/one/runsync", json={"input": 1}).json()["id"]
    clock.advance(59)
    assert http.get(f"/one/status/{job_id}").status_code == 200
    clock.advance(2)
    assert http.get(f"/one/status/{job_id}").status_code == 404


def test_retention_is_configurable(
    runtime: Runtime, make_server: Callable[..., PublicServer], clock: FakeClock
) -> None:
    runtime.register(lambda job: 1, "one")
    server = make_server(retention_run=5, retention_runsync=600)
    with httpx.Client(base_url=server.base_url, timeout=TIMEOUT) as http:
        run_id = http.post("/one/run", json={"input": 1}).json()["id"]
        sync_id = http.post("/one/runsync", json={"input": 1}).json()["id"]
        _wait(runtime, run_id)
        clock.advance(6)
        assert http.get(f"/one/status/{run_id}").status_code == 404
        assert http.get(f"/one/status/{sync_id}").status_code == 200


def test_ttl_deletes_a_queued_job_and_cancels_it(runtime: Runtime, http: httpx.Client, clock: FakeClock) -> None:
    gate = Gate()
    runtime.register(lambda job: gate.wait(), "slow")
    http.post("/slow/run", json={"input": 0})
    job_id = http.post("/slow/run", json={"input": 1, "policy": {"ttl": 10_000}}).json()["id"]
    clock.advance(11)
    assert http.get(f"/slow/status/{job_id}").status_code == 404
    assert _wait(runtime, job_id).status.value == "CANCELLED"
    gate.open()


def test_ttl_caps_the_retention(runtime: Runtime, http: httpx.Client, clock: FakeClock) -> None:
    runtime.register(lambda job: 1, "one")
    job_id = http.post("/one/run", json={"input": 1, "policy": {"ttl": 20_000}}).json()["id"]
    _wait(runtime, job_id)
    clock.advance(21)
    assert http.get(f"/one/status/{job_id}").status_code == 404


def test_an_expired_job_cannot_be_retried(runtime: Runtime, http: httpx.Client, clock: FakeClock) -> None:
    def fails(job: dict[str, Any]) -> None:
        raise ValueError("x")

    runtime.register(fails)
    job_id = http.post("/fails/runsync", json={"input": 1}).json()["id"]
    clock.advance(61)
    assert http.post(f"/fails/retry/{job_id}").status_code == 404


# ---- webhooks -----------------------------------------------------------------------------------
class Receiver:
    """A webhook receiver on 127.0.0.1, served on the same runtime; answers ``statuses`` in turn."""

    def __init__(self, runtime: Runtime, statuses: list[int]) -> None:
        self.bodies: queue.Queue[dict[str, Any]] = queue.Queue()
        self._statuses = statuses
        app = Starlette(routes=[Route("/hook", self._hook, methods=["POST"])])
        self.server = HttpServer(app, runtime).start()
        self.url = f"{self.server.url}/hook"

    async def _hook(self, request: Request) -> JSONResponse:
        self.bodies.put(json.loads(await request.body()))
        status = self._statuses.pop(0) if self._statuses else 200
        return JSONResponse({}, status_code=status)

    def next(self) -> dict[str, Any]:
        return self.bodies.get(timeout=TIMEOUT)


@pytest.fixture
def receiver(runtime: Runtime) -> Iterator[Callable[[list[int]], Receiver]]:
    made: list[Receiver] = []

    def make(statuses: list[int]) -> Receiver:
        made.append(Receiver(runtime, list(statuses)))
        return made[-1]

    yield make
    for item in made:
        item.server.stop()


def test_webhook_gets_runpods_cloud_body(
    runtime: Runtime, http: httpx.Client, receiver: Callable[[list[int]], Receiver]
) -> None:
    hook = receiver([])
    runtime.register(lambda job: {"y": job["input"]["x"]}, "echo")
    job_id = http.post("/echo/run", json={"input": {"x": 1}, "webhook": hook.url}).json()["id"]
    body = hook.next()
    assert list(body) == ["delayTime", "executionTime", "id", "input", "output", "status", "webhook"]
    assert body["id"] == job_id and body["input"] == {"x": 1} and body["output"] == {"y": 1}
    assert body["status"] == "COMPLETED" and body["webhook"] == hook.url


def test_webhook_is_retried_twice_then_given_up(
    runtime: Runtime, http: httpx.Client, receiver: Callable[[list[int]], Receiver], server: PublicServer
) -> None:
    hook = receiver([500, 503, 500, 200])
    runtime.register(lambda job: 1, "one")

    def fails(job: dict[str, Any]) -> None:
        raise ValueError("bad")

    runtime.register(fails)
    http.post("/one/run", json={"input": 1, "webhook": hook.url})
    first = [hook.next() for _ in range(3)]
    assert [b["status"] for b in first] == ["COMPLETED"] * 3  # the third attempt is the last
    http.post("/fails/run", json={"input": 1, "webhook": hook.url})
    failed = hook.next()  # a new job's delivery, answered 200
    assert failed["status"] == "FAILED" and "bad" in failed["error"]
    assert hook.bodies.empty()


def test_webhook_retry_delay_is_tens_seconds_by_default(runtime: Runtime) -> None:
    from rp_jupyter.server import PublicApi

    api = PublicApi(runtime)
    assert (api.webhooks.retry_delay, api.webhooks.attempts) == (10.0, 3)
    api.book.close()


def test_the_delivery_outcome_is_on_the_status(
    runtime: Runtime, http: httpx.Client, receiver: Callable[[list[int]], Receiver], settle: Callable[[Runtime], None]
) -> None:
    hook = receiver([503, 200])
    runtime.register(lambda job: 1, "one")
    job_id = http.post("/one/run", json={"input": 1, "webhook": hook.url}).json()["id"]
    hook.next(), hook.next()
    settle(runtime)
    status = http.get(f"/one/status/{job_id}").json()
    assert status["webhookDelivery"] == {"attempts": 2, "state": "DELIVERED", "url": hook.url}
    assert list(status) == ["delayTime", "executionTime", "id", "output", "status", "webhookDelivery"]


def test_an_undeliverable_webhook_is_a_warning_on_the_job_not_a_traceback(
    runtime: Runtime, http: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    import socket

    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/hook"
    runtime.register(lambda job: 1, "one")
    job_id = http.post("/one/run", json={"input": 1, "webhook": url}).json()["id"]
    job = runtime.get(job_id)
    assert job is not None
    deadline = time.monotonic() + TIMEOUT  # three refused connections: poll the status with a deadline
    while (delivery := http.get(f"/one/status/{job_id}").json()["webhookDelivery"])["state"] == "PENDING":
        assert time.monotonic() < deadline, delivery
        time.sleep(0.01)
    assert delivery["state"] == "FAILED" and delivery["attempts"] == 3 and "ConnectError" in delivery["error"]
    assert any("not delivered after 3 attempts" in warning for warning in job.warnings)
    assert not [r for r in caplog.records if r.exc_info or "never retrieved" in r.getMessage()], caplog.text


def test_a_malformed_webhook_never_creates_a_job(runtime: Runtime, http: httpx.Client) -> None:
    runtime.register(lambda job: 1, "one")
    for url in ("http://", "http://[::1", "http://x:9999999999", "https://:80/", "javascript:alert(1)"):
        response = http.post("/one/run", json={"input": 1, "webhook": url})
        assert response.status_code == 400 and '"webhook"' in response.json()["error"], (url, response.text)
    assert runtime.jobs == []
