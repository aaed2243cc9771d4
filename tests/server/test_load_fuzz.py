"""Under load nothing is lost; under malformed input nothing breaks (every answer a JSON < 500)."""

from __future__ import annotations

import collections
import concurrent.futures
import json
import logging
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rp_jupyter.runtime import Runtime
from rp_jupyter.server import PublicServer

from .conftest import TIMEOUT

CLIENTS, REQUESTS = 100, 5000


def _client_work(base_url: str, start: int, count: int) -> list[tuple[str, str, int, Any]]:
    """One client's share: alternate /run and /runsync; (route, id, n sent, output or None) for each."""
    done = []
    with httpx.Client(base_url=base_url, timeout=60) as client:
        for n in range(start, start + count):
            route = "runsync" if n % 2 else "run"
            response = client.post(f"/echo/{route}", json={"input": {"n": n}})
            response.raise_for_status()
            body = response.json()
            done.append((route, body["id"], n, body.get("output")))
    return done


def test_5000_requests_from_100_clients_lose_nothing(runtime: Runtime, server: PublicServer) -> None:
    runtime.register(lambda job: job["input"]["n"], "echo")
    share = REQUESTS // CLIENTS
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
        futures = [pool.submit(_client_work, server.base_url, i * share, share) for i in range(CLIENTS)]
        results = [item for future in futures for item in future.result(timeout=300)]
    took = time.perf_counter() - started
    print(f"load: {REQUESTS} requests from {CLIENTS} clients in {took:.1f} s ({REQUESTS / took:.0f}/s), none lost")
    assert len(results) == REQUESTS and len({job_id for _, job_id, _, _ in results}) == REQUESTS
    with httpx.Client(base_url=server.base_url, timeout=TIMEOUT) as http:
        for route, job_id, sent, output in results:
            job = runtime.get(job_id)  # None once the runtime retired it (it keeps 1000 finished jobs)
            if route == "run":
                if job is not None:
                    job.wait(TIMEOUT)
                status = http.get(f"/echo/status/{job_id}").json()
                assert status["status"] == "COMPLETED", status
                output = status["output"]
            assert output == sent, (route, job_id, sent, output)  # each job's own result, none mixed up
        health = http.get("/echo/health").json()
    assert health["jobs"] == {"completed": REQUESTS, "failed": 0, "inProgress": 0, "inQueue": 0, "retried": 0}


# ---- fuzz -----------------------------------------------------------------------------------------
_ROUTES = ["run", "runsync?wait=1000", "status/x", "stream/x", "cancel/x", "retry/x", "purge-queue", "health",
           "status", "", "run/extra", "status/JOB", "stream/JOB", "cancel/JOB", "retry/JOB"]
"""``JOB`` stands for a real job's id (one submitted by the fixture), so routes go past the id lookup."""
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)
_bodies = st.one_of(
    st.binary(max_size=200),
    _json.map(lambda value: json.dumps(value).encode()),
    st.dictionaries(st.sampled_from(["input", "policy", "webhook", "id"]), _json, max_size=4).map(
        lambda value: json.dumps(value).encode()
    ),
)
class _Tracebacks(logging.Handler):
    """Every log record with a traceback, or at ERROR, from any logger (uvicorn's, starlette's, ours)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or record.levelno >= logging.ERROR:
            self.records.append(record)


@pytest.fixture(scope="module")
def fuzz_client() -> Iterator[httpx.Client]:
    """One server for the whole fuzz run (and the check that it still serves afterwards, with nothing
    in the log that has a traceback)."""
    runtime = Runtime()
    runtime.register(lambda job: job["input"], "echo")
    server = PublicServer(runtime, "127.0.0.1", 0, api_key="k", allow_origins=["http://localhost:3000"]).start()
    watch = _Tracebacks()
    logging.getLogger().addHandler(watch)
    try:
        with httpx.Client(base_url=server.base_url, timeout=TIMEOUT) as client:
            job = client.post("/echo/run", json={"input": 1}, headers={"authorization": "k"}).json()["id"]
            client.headers["x-job"] = job
            yield client
    finally:
        logging.getLogger().removeHandler(watch)
        server.stop()
        runtime.shutdown(timeout=2.0)
    assert not watch.records, [watch.format(r) for r in watch.records]


_segments = st.one_of(st.just("echo"), st.just("echo"), st.just("echo"), st.text(min_size=1, max_size=12))


_header_text = st.text(st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f"), max_size=30)
_extra_headers = st.dictionaries(
    st.sampled_from(["host", "origin", "sec-fetch-site", "access-control-request-method",
                     "access-control-request-headers"]),
    st.one_of(st.sampled_from(["127.0.0.1", "localhost:1", "[::1]", "[::1", "attacker.example", "null",
                               "http://localhost:3000", "cross-site", "same-origin", "POST", "", "a:b:c"]), _header_text),
    max_size=3,
)
FUZZ = {"examples": 0, "statuses": collections.Counter()}


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]),
    endpoint=_segments,
    route=st.one_of(st.sampled_from(_ROUTES), st.text(max_size=12)),
    body=_bodies,
    content_type=st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded", "", "a/b+json"]),
    authorization=st.one_of(st.sampled_from(["k", "Bearer k"]), st.sampled_from(["k", "Bearer k"]),
                            st.sampled_from(["k", "Bearer k"]), st.none(),
                            st.from_regex(r"(Bearer )?[!-~]{1,10}", fullmatch=True)),  # mostly the right key
    extra=st.one_of(st.just({}), st.just({}), _extra_headers),
)
def test_malformed_requests_get_json_4xx(
    fuzz_client: httpx.Client, method: str, endpoint: str, route: str, body: bytes, content_type: str,
    authorization: str | None, extra: dict[str, str],
) -> None:
    route = route.replace("JOB", fuzz_client.headers["x-job"]) if route in _ROUTES else urllib.parse.quote(route)
    path = f"/{urllib.parse.quote(endpoint, safe='')}/{route}"
    headers = {"content-type": content_type} if content_type else {}
    if authorization is not None:
        headers["authorization"] = authorization
    headers.update(extra)  # sent as latin-1 bytes: a Host or Origin need not be ASCII on the wire
    raw = {name: value.strip(" \t").encode("latin-1") for name, value in headers.items()}  # h11 sends no edge spaces
    response = fuzz_client.request(method, path, content=body, headers=raw)
    FUZZ["examples"] += 1
    FUZZ["statuses"][response.status_code] += 1
    assert response.status_code < 500, response.text
    if response.status_code != 204:  # a preflight's answer has no body
        assert response.headers["content-type"] == "application/json"
    if response.status_code >= 400:
        assert isinstance(response.json()["error"], str)


_nasty = st.sampled_from([
    b'{"input": NaN}', b'{"input": -Infinity}', b'{"input": "\\ud800"}', b'{"input": "\\udfff\\ud800"}',
    b'{"input": ' + b"9" * 5000 + b"}", b'{"input": ' + b"[" * 3000 + b"]" * 3000 + b"}",
    b'{"input": 1, "policy": {"executionTimeout": 1' + b"0" * 400 + b"}}", b'{"input": 1, "policy": {"ttl": -1}}',
    b'{"input": 1, "webhook": "http://[::1"}', b'{"input": 1, "webhook": "http://x:99999999"}', b"\xff\xfe{",
    b'{"input": 1e999}', b'{"input": 1, "policy": {"executionTimeout": 1e3}}', b'\xef\xbb\xbf{"input": 1}',
])
_json_bodies = st.one_of(_nasty, _bodies, st.builds(lambda a, b: a[: len(a) // 2] + b, _nasty, _bodies))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from(["run", "runsync?wait=1000"]), body=_json_bodies)
def test_fuzzed_json_bodies_on_run_get_json_4xx(fuzz_client: httpx.Client, route: str, body: bytes) -> None:
    response = fuzz_client.post(f"/echo/{route}", content=body,
                                headers={"authorization": "k", "content-type": "application/json"})
    FUZZ["examples"] += 1
    FUZZ["statuses"][response.status_code] += 1
    assert response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/json"
    if response.status_code >= 400:
        error = response.json()["error"]
        assert isinstance(error, str) and "\n" not in error and len(error) < 600, error


def test_the_server_still_serves_after_the_fuzz(fuzz_client: httpx.Client) -> None:
    response = fuzz_client.post("/echo/runsync", json={"input": 7}, headers={"Authorization": "k"})
    assert response.json()["output"] == 7
    fives = sum(n for status, n in FUZZ["statuses"].items() if status >= 500)
    print(f"fuzz: {FUZZ['examples']} examples tried, 500s: {fives}, statuses: {dict(sorted(FUZZ['statuses'].items()))}")
    assert fives == 0
