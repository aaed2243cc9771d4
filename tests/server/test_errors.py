"""Refusals: every one a clear 4xx JSON error; limits, auth, the OpenAPI document."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx
import jsonschema
import openapi_spec_validator
import pytest

from rp_jupyter.runtime import Runtime
from rp_jupyter.server import PublicServer

from .conftest import TIMEOUT

JSON = {"content-type": "application/json"}


@pytest.fixture(autouse=True)
def _echo(runtime: Runtime) -> None:
    runtime.register(lambda job: job["input"], "echo")


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "words"),
    [
        ("POST", "/echo/run", {"content": b"{nope", "headers": {"content-type": "application/json"}}, 400, "not valid JSON"),
        ("POST", "/echo/run", {"content": b'{"input": 1', "headers": {"content-type": "application/json"}}, 400,
         "the text ends before the JSON does"),
        ("POST", "/echo/run", {"content": b'{"input": "\xff"}', "headers": {"content-type": "application/json"}}, 400,
         "not UTF-8 JSON: invalid start byte at byte 11"),
        ("POST", "/echo/run", {"content": b""}, 400, "needs a JSON body"),
        ("POST", "/echo/run", {"json": {"inputs": 1}}, 400, 'no "input"'),
        ("POST", "/echo/run", {"json": {"input": None}}, 400, 'no "input"'),
        ("POST", "/echo/run", {"json": [1, 2]}, 400, "JSON object"),
        ("POST", "/echo/run", {"data": {"input": "x"}}, 415, "Content-Type: application/json"),
        ("POST", "/echo/run", {"json": {"input": 1, "webhook": "ftp://x"}}, 400, "http:// or https:// URL"),
        ("POST", "/echo/run", {"json": {"input": 1, "webhook": "http://"}}, 400, '"webhook" has no host'),
        ("POST", "/echo/run", {"json": {"input": 1, "webhook": "http://[::1"}}, 400, "not a valid URL"),
        ("POST", "/echo/run", {"json": {"input": 1, "webhook": "http://x:9999999999/"}}, 400, "Port out of range"),
        ("POST", "/echo/run", {"json": {"input": 1, "webhook": "http://x:0/"}}, 400, "port 0"),
        ("POST", "/echo/run", {"json": {"input": 1, "webhook": "http://a b/"}}, 400, "spaces or control"),
        ("POST", "/echo/run", {"json": {"input": 1, "webhook": 5}}, 400, "must be a URL string"),
        ("POST", "/echo/run", {"json": {"input": 1, "webhook": "http://x/" + "a" * 3000}}, 400, "at most 2048"),
        ("POST", "/echo/run", {"content": b'{"input": "\\ud800"}', "headers": JSON}, 400, "lone surrogate"),
        ("POST", "/echo/run", {"content": b'{"input": ' + b"1" * 5000 + b"}", "headers": JSON}, 400, "4300 digits"),
        ("POST", "/echo/runsync", {"content": b'{"input": NaN}', "headers": JSON}, 400, "holds NaN"),
        ("POST", "/echo/run", {"content": b'{"input": [Infinity]}', "headers": JSON}, 400, "holds Infinity"),
        ("POST", "/echo/run", {"content": b'{"input": ' + b"[" * 990 + b"]" * 990 + b"}", "headers": JSON}, 400,
         "nests deeper than 256 levels"),
        ("POST", "/echo/run", {"content": b'{"input": ' + b"[" * 99999 + b"]" * 99999 + b"}", "headers": JSON}, 400,
         "nests deeper than 256 levels"),
        ("POST", "/echo/run", {"json": {"input": 1, "policy": {"executionTimeout": 10**400}}}, 400,
         '"policy.executionTimeout" must be whole ms from 1 to 604800000'),
        ("POST", "/echo/run", {"json": {"input": 1, "policy": {"ttl": 10**20}}}, 400, '"policy.ttl" must be whole ms'),
        ("POST", "/echo/run", {"content": b'{"input": 1}', "headers": {"content-type": "text/plain"}}, 415,
         "Content-Type: application/json"),
        ("POST", "/echo/run", {"content": b'{"input": 1}'}, 415, "got none"),
        ("POST", "/echo/purge-queue", {"headers": {"content-type": "text/plain"}}, 415, "/purge-queue takes JSON"),
        ("POST", "/echo/cancel/x", {"content": b"{}"}, 415, "/cancel takes JSON"),
        ("POST", "/echo/run", {"json": {"input": 1, "policy": {"ttl": 5}}}, 400, "policy.ttl"),
        ("POST", "/echo/run", {"json": {"input": 1, "policy": {"executionTimeout": -1}}}, 400, "executionTimeout"),
        ("POST", "/echo/run", {"json": {"input": 1, "policy": "x"}}, 400, "policy"),
        ("POST", "/echo/runsync?wait=soon", {"json": {"input": 1}}, 400, "milliseconds"),
        ("POST", "/nobody/run", {"json": {"input": 1}}, 404, "no handler named 'nobody'"),
        ("GET", "/echo/status/no-such-id", {}, 404, "no job 'no-such-id'"),
        ("POST", "/echo/cancel/no-such-id", {}, 404, "no job"),
        ("POST", "/echo/retry/no-such-id", {}, 404, "no job"),
        ("GET", "/echo/stream/no-such-id", {}, 404, "no job"),
        ("GET", "/echo/run", {}, 405, "use POST"),
        ("DELETE", "/echo/status/x", {}, 405, "not allowed"),
        ("GET", "/echo/nothing-here", {}, 404, "no route"),
        ("GET", "/", {}, 404, "no route"),
    ],
)
def test_refusals_are_json(
    http: httpx.Client, method: str, path: str, kwargs: dict[str, object], status: int, words: str
) -> None:
    response = http.request(method, path, **kwargs)  # type: ignore[arg-type]
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert words in response.json()["error"]


def test_payload_limits_are_runpods(http: httpx.Client) -> None:
    big = {"input": "x" * (10 * 1024 * 1024)}
    response = http.post("/echo/run", json=big)
    assert response.status_code == 413
    assert "RunPod's 10 MB payload limit for /run" in response.json()["error"]
    assert http.post("/echo/runsync", json=big).json()["status"] == "COMPLETED"  # /runsync allows 20 MB
    huge = b'{"input": "' + b"x" * (20 * 1024 * 1024) + b'"}'
    response = http.post("/echo/runsync", content=huge, headers={"content-type": "application/json"})
    assert response.status_code == 413 and "20 MB" in response.json()["error"]


def test_a_body_on_a_bodyless_route_is_bounded(http: httpx.Client) -> None:
    response = http.post("/echo/purge-queue", content=b"x" * (65 * 1024), headers={"content-type": "application/json"})
    assert response.status_code == 413 and "purge-queue" in response.json()["error"]


def test_api_key_is_required_when_set(make_server: Callable[..., PublicServer]) -> None:
    server = make_server(api_key="s3cret")
    with httpx.Client(base_url=server.base_url, timeout=TIMEOUT) as client:
        for headers in ({}, {"Authorization": "wrong"}, {"Authorization": "Bearer wrong"}, {"Authorization": ""}):
            response = client.get("/echo/health", headers=headers)
            assert response.status_code == 401 and "API key" in response.json()["error"]
        assert client.get("/nobody/health").status_code == 401  # no hint about which endpoints exist
        for value in ("s3cret", "Bearer s3cret", "bearer  s3cret"):
            assert client.get("/echo/health", headers={"Authorization": value}).status_code == 200
        assert client.get(f"{server.url}/openapi.json").status_code == 200


def test_openapi_document_lists_every_route(http: httpx.Client, server: PublicServer) -> None:
    document = http.get(f"{server.url}/openapi.json").json()
    assert document["openapi"].startswith("3.")
    routes = {(path, method) for path, item in document["paths"].items() for method in item}
    assert routes == {
        ("/v2/{endpoint}/run", "post"),
        ("/v2/{endpoint}/runsync", "post"),
        ("/v2/{endpoint}/status/{id}", "get"),
        ("/v2/{endpoint}/status/{id}", "post"),
        ("/v2/{endpoint}/status-sync/{id}", "get"),
        ("/v2/{endpoint}/status-sync/{id}", "post"),
        ("/v2/{endpoint}/stream/{id}", "get"),
        ("/v2/{endpoint}/stream/{id}", "post"),
        ("/v2/{endpoint}/cancel/{id}", "post"),
        ("/v2/{endpoint}/retry/{id}", "post"),
        ("/v2/{endpoint}/purge-queue", "post"),
        ("/v2/{endpoint}/health", "get"),
    }
    openapi_spec_validator.validate(document)  # a valid OpenAPI 3 document, not just a dict


def test_responses_match_the_openapi_schemas(runtime: Runtime, http: httpx.Client, server: PublicServer) -> None:
    document = http.get(f"{server.url}/openapi.json").json()

    def check(response: httpx.Response, path: str, method: str) -> None:
        declared = document["paths"][path][method]["responses"][str(response.status_code)]  # the code is declared
        schema = declared["content"]["application/json"]["schema"]
        jsonschema.validate(response.json(), {**schema, "components": document["components"]})

    runtime.register(lambda job: (yield from job["input"]), "chunks")
    job_id = http.post("/chunks/run", json={"input": [1, 2]}).json()["id"]
    runtime.get(job_id).wait(TIMEOUT)
    check(http.post("/chunks/run", json={"input": []}), "/v2/{endpoint}/run", "post")
    check(http.post("/chunks/runsync", json={"input": [3]}), "/v2/{endpoint}/runsync", "post")
    check(http.get(f"/chunks/status/{job_id}"), "/v2/{endpoint}/status/{id}", "get")
    check(http.get(f"/chunks/status-sync/{job_id}?wait=1000"), "/v2/{endpoint}/status-sync/{id}", "get")
    check(http.get(f"/chunks/stream/{job_id}"), "/v2/{endpoint}/stream/{id}", "get")
    check(http.post(f"/chunks/cancel/{job_id}"), "/v2/{endpoint}/cancel/{id}", "post")
    check(http.post(f"/chunks/retry/{job_id}"), "/v2/{endpoint}/retry/{id}", "post")  # 409: COMPLETED
    check(http.post("/chunks/purge-queue"), "/v2/{endpoint}/purge-queue", "post")
    check(http.get("/chunks/health"), "/v2/{endpoint}/health", "get")
    check(http.get("/chunks/status/nope"), "/v2/{endpoint}/status/{id}", "get")  # 404
    check(http.post("/chunks/run", content=b"{"), "/v2/{endpoint}/run", "post")  # 400


def test_a_runtime_shutting_down_refuses_new_jobs_with_503(
    runtime: Runtime, http: httpx.Client, server: PublicServer
) -> None:
    gate = threading.Event()
    runtime.register(lambda job: gate.wait(TIMEOUT), "busy")
    runtime.submit("busy", {"input": {}})
    stopping = threading.Thread(target=runtime.shutdown, kwargs={"timeout": TIMEOUT})
    stopping.start()  # waits for the busy job: the loop (and the server) still run
    try:
        deadline = time.monotonic() + TIMEOUT
        while (response := http.post("/busy/run", json={"input": {}})).status_code != 503:
            assert time.monotonic() < deadline, response.text
        assert "shut" in response.json()["error"], response.text
    finally:
        http.close()
        server.stop()  # while the loop still runs (the shutdown waits for the busy job)
        gate.set()
        stopping.join(TIMEOUT)


def test_a_busy_port_is_a_clear_error(runtime: Runtime, server: PublicServer) -> None:
    from rp_jupyter.exceptions import ServerError

    port = int(server.url.rsplit(":", 1)[1])
    with pytest.raises(ServerError, match="in use"):
        PublicServer(runtime, "127.0.0.1", port).start()


def test_a_handler_registered_after_start_is_served(runtime: Runtime, http: httpx.Client) -> None:
    runtime.register(lambda job: "late", "late")
    assert http.post("/late/runsync", json={"input": 1}).json()["output"] == "late"


@pytest.mark.parametrize("port", [99999, -1, "8000"])
def test_a_port_out_of_range_is_a_clear_error(runtime: Runtime, port: object) -> None:
    from rp_jupyter.exceptions import ServerError

    with pytest.raises(ServerError, match="from 0 to 65535"):
        PublicServer(runtime, "127.0.0.1", port).start()


def test_a_string_chunk_with_a_lone_surrogate_is_still_a_json_answer(runtime: Runtime, http: httpx.Client) -> None:
    """The runtime passes string chunks through unchecked (its fast path); the answer escapes what UTF-8
    cannot carry instead of failing with a 500."""

    def tokens(job: dict[str, object]) -> object:
        yield "ok \ud800"

    runtime.register(tokens)
    job_id = http.post("/tokens/run", json={"input": 1}).json()["id"]
    job = runtime.get(job_id)
    assert job is not None
    job.wait(TIMEOUT)
    response = http.get(f"/tokens/stream/{job_id}")
    assert response.status_code == 200 and b"\\ud800" in response.content
