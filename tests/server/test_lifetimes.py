"""Lifetimes on time (the loop's own timers, no traffic needed), retention caps, draining restarts, /status-sync."""

from __future__ import annotations

import concurrent.futures
import gc
import logging
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

import rp_jupyter
from rp_jupyter import session
from rp_jupyter.runtime import Job, JobStatus, Runtime
from rp_jupyter.server import PublicServer
from rp_jupyter.server._book import DEFAULT_TTL

from .conftest import TIMEOUT, FakeClock, Gate


def _job(runtime: Runtime, job_id: str) -> Job:
    job = runtime.get(job_id)
    assert job is not None
    return job


def _until(condition: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    """Poll ``condition`` with a deadline (for state another thread changes, with no event to wait on)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.01)


# ---- expiry without traffic --------------------------------------------------------------------
def test_ttl_cancels_a_queued_job_with_no_request_arriving(
    runtime: Runtime, server: PublicServer, http: httpx.Client, clock: FakeClock
) -> None:
    gate = Gate()
    runtime.register(lambda job: gate.wait(), "slow")
    http.post("/slow/run", json={"input": 0})
    job_id = http.post("/slow/run", json={"input": 1, "policy": {"ttl": 10_000}}).json()["id"]
    clock.advance(9.9)
    assert _job(runtime, job_id).status is JobStatus.IN_QUEUE
    clock.advance(0.2)  # no request: the book's timer fires on the loop
    assert _job(runtime, job_id).wait(TIMEOUT).status is JobStatus.CANCELLED
    assert len(server.api.book) == 1  # only the running job is left
    gate.open()
    response = http.get(f"/slow/status/{job_id}")
    assert response.status_code == 404 and "policy.ttl of 10 s ran out" in response.json()["error"]


def test_retention_runs_on_the_loops_own_timer(runtime: Runtime, make_server: Callable[..., PublicServer]) -> None:
    from rp_jupyter.server._book import LoopClock

    runtime.register(lambda job: 1, "one")
    server = make_server(clock=LoopClock(), retention_run=0.2)
    with httpx.Client(base_url=server.base_url, timeout=TIMEOUT) as http:
        job_id = http.post("/one/run", json={"input": 1}).json()["id"]
        _until(lambda: len(server.api.book) == 0, "the finished job deleted by its retention timer")
        response = http.get(f"/one/status/{job_id}")
    assert response.status_code == 404 and "kept 0.2 s after it finished" in response.json()["error"]


def test_the_deadline_heap_is_pruned_as_jobs_leave(runtime: Runtime, server: PublicServer, http: httpx.Client,
                                                   clock: FakeClock) -> None:
    runtime.register(lambda job: 1, "one")
    for _ in range(300):
        http.post("/one/runsync", json={"input": 1})  # each pushes a 24 h deadline, then a 1 min one
    clock.advance(61)
    book = server.api.book
    assert len(book) == 0 and len(book._deadlines) <= 64 + 2 * len(book)


# ---- retention caps -----------------------------------------------------------------------------
def _book_runs(server: PublicServer, count: int) -> None:
    """``count`` jobs submitted and booked as ``/run`` books them (on the loop), without the HTTP cost:
    the load test covers HTTP; this is about what the book keeps."""
    api, runtime = server.api, server.runtime

    async def submit() -> None:
        for n in range(count):
            job = runtime.submit("one", {"input": {"n": n, "pad": "x" * 200}})
            api.book.add(job, DEFAULT_TTL, api.retention_run, None, 240)
            if n % 50 == 49:
                await runtime.until_done(job, TIMEOUT)  # let the worker keep up

    runtime.run_coroutine(submit()).result(120)
    _until(lambda: all(job.done for job in runtime.jobs), "every job finished", 60)
    runtime.run_coroutine(_noop()).result(TIMEOUT)  # the loop has booked the last finish


async def _noop() -> None:
    return None


def test_retention_cap_keeps_memory_flat_over_10000_jobs() -> None:
    runtime = Runtime(keep_finished=100)
    runtime.register(lambda job: {"out": "y" * 200}, "one")
    server = PublicServer(runtime, "127.0.0.1", 0, max_retained_jobs=1000).start()
    try:
        _book_runs(server, 2000)  # past the cap, everything warmed up
        tracemalloc.start()
        try:
            _book_runs(server, 2000)  # what is kept now was all allocated while traced
            gc.collect()
            before = tracemalloc.get_traced_memory()[0]
            _book_runs(server, 6000)
            gc.collect()
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        book = server.api.book
        assert len(book) == 1000 and len(book._finished) == 1000 and len(book._deadlines) <= 2 * 1000 + 64
        print(f"retention cap: memory grew {grown / 1e3:.0f} KB over 6,000 jobs past the cap of 1,000")
        assert grown < 512 * 1024, f"memory grew {grown / 1e6:.2f} MB over 6,000 jobs past the cap"
        with httpx.Client(base_url=server.base_url, timeout=TIMEOUT) as http:
            oldest = http.get(f"/one/status/{next(iter(book._gone))}")
            newest = http.get(f"/one/status/{next(reversed(book._finished))}")
        assert oldest.status_code == 404 and "retention cap of 1000 jobs" in oldest.json()["error"]
        assert newest.json()["output"] == {"out": "y" * 200}
    finally:
        server.stop()
        runtime.shutdown(timeout=2.0)


def test_retention_cap_in_bytes(runtime: Runtime, make_server: Callable[..., PublicServer]) -> None:
    runtime.register(lambda job: "z" * 100_000, "big")
    server = make_server(max_retained_bytes=1024 * 1024)
    with httpx.Client(base_url=server.base_url, timeout=TIMEOUT) as http:
        ids = [http.post("/big/runsync", json={"input": i}).json()["id"] for i in range(15)]
        book = server.api.book
        assert book.retained_bytes <= 1024 * 1024 and len(book) == 10
        assert http.get(f"/big/status/{ids[0]}").status_code == 404  # oldest first
        assert http.get(f"/big/status/{ids[-1]}").json()["output"] == "z" * 100_000


# ---- /status-sync ---------------------------------------------------------------------------------
def test_status_sync_waits_for_the_end(runtime: Runtime, http: httpx.Client) -> None:
    gate, entered = Gate(), threading.Event()
    runtime.register(lambda job: entered.set() or gate.wait() or {"done": True}, "slow")
    job_id = http.post("/slow/run", json={"input": 1}).json()["id"]
    assert entered.wait(TIMEOUT)
    early = http.get(f"/slow/status-sync/{job_id}?wait=1")  # clamped to RunPod's 1000 ms
    assert early.json() == {"delayTime": early.json()["delayTime"], "id": job_id, "status": "IN_PROGRESS"}
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(http.get, f"/slow/status-sync/{job_id}?wait=60000")
        gate.open()
        body = waiting.result(TIMEOUT).json()
    assert body["status"] == "COMPLETED" and body["output"] == {"done": True}
    assert http.post(f"/slow/status-sync/{job_id}").json() == http.get(f"/slow/status/{job_id}").json()
    assert http.get("/slow/status-sync/nope").status_code == 404
    assert http.get(f"/slow/status-sync/{job_id}?wait=later").status_code == 400


# ---- draining stops and restarts --------------------------------------------------------------
@pytest.fixture
def errors(caplog: pytest.LogCaptureFixture) -> Iterator[list[logging.LogRecord]]:
    caplog.set_level(logging.WARNING)
    records: list[logging.LogRecord] = []
    yield records
    records += [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def test_stopping_answers_a_waiting_runsync_with_the_jobs_status(
    runtime: Runtime, make_server: Callable[..., PublicServer], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    gate, entered = Gate(), threading.Event()
    runtime.register(lambda job: entered.set() or gate.wait() or 1, "slow")
    server = make_server()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(httpx.post, f"{server.base_url}/slow/runsync?wait=120000", json={"input": 1},
                              timeout=TIMEOUT)
        assert entered.wait(TIMEOUT)
        server.stop()
        response = waiting.result(TIMEOUT)
    gate.open()
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["status"] == "IN_PROGRESS" and body["id"].startswith("sync-")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info], caplog.text


@pytest.fixture
def served() -> Iterator[None]:
    yield
    rp_jupyter.shutdown(timeout=2.0)


def test_a_restart_during_runsync_drains_and_the_new_server_knows_the_job(
    served: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    gate, entered = Gate(), threading.Event()
    rp_jupyter.register(lambda job: entered.set() or gate.wait() or {"n": job["input"]}, "slow")
    first = rp_jupyter.serve(port=0)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(httpx.post, f"{first.base_url}/slow/runsync", json={"input": 7}, timeout=TIMEOUT)
        assert entered.wait(TIMEOUT)
        second = rp_jupyter.serve(port=0, api_key="new")  # re-run with other settings
        body = waiting.result(TIMEOUT).json()
    assert body["status"] == "IN_PROGRESS" and body["id"].startswith("sync-") and not first.running
    gate.open()
    job = session.get_runtime().get(body["id"])
    assert job is not None and job.wait(TIMEOUT).status is JobStatus.COMPLETED
    status = httpx.get(f"{second.base_url}/slow/status/{body['id']}", headers={"authorization": "new"},
                       timeout=TIMEOUT).json()
    assert status["status"] == "COMPLETED" and status["output"] == {"n": 7}
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info], caplog.text


def test_stop_then_serve_again_keeps_the_jobs(served: None) -> None:
    rp_jupyter.register(lambda job: job["input"], "echo")
    server = rp_jupyter.serve(port=0)
    job_id = httpx.post(f"{server.base_url}/echo/run", json={"input": 3}, timeout=TIMEOUT).json()["id"]
    assert rp_jupyter.stop_serving() and not rp_jupyter.stop_serving()
    again = rp_jupyter.serve(port=0)
    assert httpx.get(f"{again.base_url}/echo/status/{job_id}", timeout=TIMEOUT).json()["output"] == 3


def test_a_request_while_draining_is_503(runtime: Runtime, server: PublicServer, http: httpx.Client) -> None:
    runtime.run_coroutine(server.api.drain()).result(TIMEOUT)
    response = http.get("/echo/health")
    assert response.status_code == 503 and "stopping" in response.json()["error"]


def _unused(*_: Any) -> None:
    return None
