"""``rp_jupyter.Endpoint`` against a real RunPod-API server on 127.0.0.1 (our own, which implements
RunPod's contract), and ``httpx.MockTransport`` for what a local server does not do (429, timeouts)."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from IPython.core.error import UsageError

import rp_jupyter
from rp_jupyter import EndpointError, Job, JobStatus
from rp_jupyter._remote import Endpoint, compare
from rp_jupyter.runtime import Runtime
from rp_jupyter.server import serve

T = 20.0


@pytest.fixture
def remote() -> Iterator[tuple[Runtime, str]]:
    """A 'deployed' endpoint: its own runtime (another worker) served on a free port."""
    there = Runtime()
    server = serve(there, "127.0.0.1", 0, api_key="secret")
    try:
        yield there, f"{server.url}/v2"
    finally:
        server.stop()
        there.shutdown()


def tokens(job: dict[str, Any]) -> Any:
    yield from job["input"]["text"].split()


def test_a_remote_job_is_the_same_job_as_a_local_one(remote, runtime):
    there, base = remote
    there.register(tokens, "tokens", return_aggregate_stream=True)
    endpoint = Endpoint(f"{base}/tokens", api_key="secret", runtime=runtime, poll_interval=0.02)
    job = endpoint.run({"input": {"text": "a b c"}})
    assert isinstance(job, Job) and runtime.get(job.id) is job  # tracked: %rp_jobs and views show it
    assert job.wait(T).status is JobStatus.COMPLETED
    assert job.stream == ["a", "b", "c"] and job.output == ["a", "b", "c"]
    assert job.to_status()["status"] == "COMPLETED" and isinstance(job.execution_time, int)
    body = endpoint.run_sync({"input": {"text": "x y"}})
    assert body["status"] == "COMPLETED" and body["output"] == ["x", "y"]
    assert endpoint.health()["jobs"]["completed"] == 2


def test_progress_is_seen_and_cancel_reaches_the_endpoint(remote, runtime):
    there, base = remote
    gate = threading.Event()

    def slow(job: dict[str, Any]) -> str:
        there.progress(job["id"], "half way")
        gate.wait(T)
        return "late"

    there.register(slow, "slow")
    endpoint = Endpoint(f"{base}/slow", api_key="secret", runtime=runtime, poll_interval=0.02)
    job = endpoint.run({"input": {}})
    seen = threading.Event()
    job.subscribe(lambda event: event.kind == "progress" and seen.set())
    if job.progress == "half way":  # the follower saw it before the subscription
        seen.set()
    assert seen.wait(T) and job.progress == "half way"
    job.cancel()
    assert job.wait(T).status is JobStatus.CANCELLED
    gate.set()
    assert there.get(job.id).wait(T).status is JobStatus.CANCELLED  # cancelled there, not only here


def test_wrong_key_and_unknown_endpoint_are_one_line_errors(remote, runtime):
    _, base = remote
    with pytest.raises(EndpointError) as wrong:
        Endpoint(f"{base}/tokens", api_key="nope", runtime=runtime).health()
    assert wrong.value.status == 401 and "HTTP 401" in str(wrong.value) and "API key" in str(wrong.value)
    assert isinstance(wrong.value.__cause__, httpx.HTTPStatusError)
    with pytest.raises(EndpointError) as missing:
        Endpoint(f"{base}/nothing-here", api_key="secret", runtime=runtime).run({"input": 1})
    assert missing.value.status == 404


def test_429_is_retried_with_backoff_and_timeouts_keep_their_cause(runtime):
    calls = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if len(calls) < 3:
            return httpx.Response(429, headers={"Retry-After": "0"}, json={"error": "slow down"})
        return httpx.Response(200, json={"jobs": {}, "workers": {}})

    endpoint = Endpoint("abc123", api_key="k", runtime=runtime, transport=httpx.MockTransport(answer))
    assert endpoint.client.url == "https://api.runpod.ai/v2/abc123"
    assert endpoint.health() == {"jobs": {}, "workers": {}} and len(calls) == 3

    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("read timed out", request=request)

    slow = Endpoint("abc123", api_key="k", runtime=runtime, transport=httpx.MockTransport(hang))
    with pytest.raises(EndpointError) as timed_out:
        slow.health()
    assert timed_out.value.status is None and isinstance(timed_out.value.__cause__, httpx.ReadTimeout)


def test_the_base_url_follows_runpods_variable(monkeypatch, runtime):
    monkeypatch.setenv("RUNPOD_ENDPOINT_BASE_URL", "http://127.0.0.1:9/v2/")
    assert Endpoint("abc", runtime=runtime).client.url == "http://127.0.0.1:9/v2/abc"


def test_compare_finds_no_difference_then_one(remote, runtime):
    there, base = remote
    there.register(tokens, "tokens")
    runtime.register(tokens, "tokens")
    endpoint = Endpoint(f"{base}/tokens", api_key="secret", runtime=runtime, poll_interval=0.02)
    requests = [{"input": {"text": "same words"}}]
    assert compare("tokens", endpoint, requests).differences == []
    runtime.register(lambda job: (yield from ["other"]), "tokens")  # the notebook's handler changed
    report = compare("tokens", endpoint, requests)
    assert report.differences[0]["differs"] == ["stream"] and "DIFFERS" in repr(report)


def test_rp_run_endpoint_in_a_shell(shell, remote):
    there, base = remote
    there.register(tokens, "tokens", return_aggregate_stream=True)
    os.environ["RUNPOD_API_KEY"] = "secret"
    try:
        job = shell.run('%rp_run mine {"input": {"text": "p q"}} --endpoint ' + f"{base}/tokens")
        assert job.handler == "mine" and job.wait(T).stream == ["p", "q"]
        body = shell.run(f'%rp_run mine {{"input": {{"text": "r"}}}} --endpoint {base}/tokens --sync')
        assert body["output"] == ["r"]
        assert job in rp_jupyter.jobs()
    finally:
        del os.environ["RUNPOD_API_KEY"]
    error = shell.fails(f'%rp_run mine {{"input": 1}} --endpoint {base}/tokens')  # no key now
    assert not isinstance(error, UsageError) and "HTTP 401" in str(error)


def test_the_async_face_works_from_the_callers_own_event_loop(remote, runtime):
    there, base = remote
    gate = threading.Event()

    def waits(job: dict[str, Any]) -> str:
        gate.wait(T)
        return "done"

    there.register(tokens, "tokens", return_aggregate_stream=True)
    there.register(waits, "waits")
    endpoint = Endpoint(f"{base}/tokens", api_key="secret", runtime=runtime, poll_interval=0.02)
    waiting = Endpoint(f"{base}/waits", api_key="secret", runtime=runtime, poll_interval=0.02)
    raw = httpx.post(f"{base}/tokens/run", json={"input": {"text": "s t"}}, headers={"Authorization": "secret"})
    raw_id = raw.json()["id"]  # a job nobody follows: its chunks are still there for /stream
    assert there.get(raw_id).wait(T).status is JobStatus.COMPLETED

    async def main() -> dict[str, Any]:
        job = await endpoint.arun({"input": {"text": "a b"}})
        blocked = await waiting.arun({"input": {}})  # a sync handler: the second one waits in the queue
        queued = await waiting.arun({"input": {}})
        return {
            "job": job,
            "runsync": await endpoint.arun_sync({"input": {"text": "c"}}),
            "status": await endpoint.astatus(raw_id),
            "stream": await endpoint.astream(raw_id),
            "health": await waiting.ahealth(),
            "purged": await waiting.apurge_queue(),
            "cancelled": await waiting.acancel(blocked),
            "queued": queued,
        }

    seen = asyncio.run(main())  # a loop of the caller's own, not the runtime's
    gate.set()
    assert seen["job"].wait(T).stream == ["a", "b"] and runtime.get(seen["job"].id) is seen["job"]
    assert seen["runsync"]["output"] == ["c"]
    assert seen["status"]["status"] == "COMPLETED" and seen["stream"] == ["s", "t"]
    assert seen["health"]["jobs"]["inQueue"] == 1 and seen["health"]["jobs"]["inProgress"] == 1
    assert seen["purged"]["removed"] == 1 and seen["cancelled"]["status"] == "CANCELLED"
    purged = seen["queued"].wait(T)  # gone from the endpoint: its follower says so
    assert purged.status is JobStatus.FAILED and "lost track of the remote job" in purged.error
    assert "HTTP 404" in purged.error, purged.error


def test_remote_jobs_do_not_count_in_the_local_servers_health(remote, runtime):
    there, base = remote
    there.register(tokens, "tokens", return_aggregate_stream=True)
    runtime.register(tokens, "tokens")  # the same name here, served locally
    local = serve(runtime, "127.0.0.1", 0)
    try:
        job = Endpoint(f"{base}/tokens", api_key="secret", runtime=runtime, poll_interval=0.02).run(
            {"input": {"text": "a"}}, label="tokens")
        assert job.wait(T).status is JobStatus.COMPLETED
        health = httpx.get(f"{local.url}/v2/tokens/health").json()
        assert health["jobs"]["completed"] == 0  # that job ran on the other worker
        gate = threading.Event()
        there.register(lambda job: gate.wait(T) and "late", "waits")
        runtime.register(lambda job: "here", "waits")
        waiting = Endpoint(f"{base}/waits", api_key="secret", runtime=runtime, poll_interval=0.02).run(
            {"input": {}}, label="waits")
        live = httpx.get(f"{local.url}/v2/waits/health").json()["jobs"]
        assert live["inProgress"] == live["inQueue"] == 0  # nor live ones
        gate.set()
        assert waiting.wait(T).output == "late"
    finally:
        local.stop()


def test_a_remote_jobs_view_shows_its_stream_and_the_same_request_against_the_endpoint(remote, runtime):
    from rp_jupyter.widgets import JobView

    there, base = remote
    there.register(tokens, "tokens", return_aggregate_stream=True)
    endpoint = Endpoint(f"{base}/tokens", api_key="secret", runtime=runtime, poll_interval=0.02)
    job = endpoint.run({"input": {"text": "u v w"}}).wait(T)
    view = JobView(job)
    assert view.header["status"] == "COMPLETED" and view.stats["chunks"] == 3 and view.text == "uvw"
    assert f"curl -s -X POST {base}/tokens/run" in view.snippets["curl"]
    assert f"rp_jupyter.Endpoint('{base}/tokens').run(" in view.snippets["python"]
    assert "u" in view.final_bundle()["text/html"] and ">COMPLETED<" in view.final_bundle()["text/html"]
    view.close()
