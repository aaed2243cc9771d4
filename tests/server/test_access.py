"""Same-machine safety: foreign Host and Origin refused, CORS only for allowed origins, keys checked at start."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import httpx
import pytest

from rp_jupyter.exceptions import ServerError
from rp_jupyter.runtime import Runtime
from rp_jupyter.server import PublicServer, pod_proxy_url

from .conftest import TIMEOUT

JSON = {"content-type": "application/json"}


@pytest.fixture(autouse=True)
def _echo(runtime: Runtime) -> None:
    runtime.register(lambda job: job["input"], "echo")


@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:8000", "127.0.0.1.nip.io:8000",
                                  "192.168.1.10:8000", "0.0.0.0:8000", "[fe80::1]:8000", "localhost.attacker.example"])
def test_a_foreign_host_is_refused_on_a_loopback_bind(runtime: Runtime, http: httpx.Client, host: str) -> None:
    for method, path, kwargs in (("POST", "/echo/runsync", {"json": {"input": 1}}), ("GET", "/echo/health", {})):
        response = http.request(method, path, headers={"host": host}, **kwargs)  # type: ignore[arg-type]
        assert response.status_code == 403, response.text
        assert "is not this machine" in response.json()["error"] and "DNS rebinding" in response.json()["error"]
    assert runtime.jobs == []


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost:8000", "LOCALHOST", "127.5.6.7:1", "[::1]:8000"])
def test_loopback_hosts_are_served(http: httpx.Client, host: str) -> None:
    response = http.post("/echo/runsync", json={"input": 2}, headers={"host": host})
    assert response.status_code == 200 and response.json()["output"] == 2


@pytest.mark.parametrize("headers", [
    {"origin": "http://attacker.example"},
    {"origin": "null"},
    {"origin": "http://localhost:3000"},  # another local app's page is another origin
    {"sec-fetch-site": "cross-site"},  # a no-cors GET (an <img>, a <script>) carries no Origin
    {"sec-fetch-site": "same-site"},
])
def test_requests_from_web_pages_are_refused(runtime: Runtime, http: httpx.Client, headers: dict[str, str]) -> None:
    response = http.post("/echo/run", json={"input": 1}, headers=headers)
    assert response.status_code == 403 and "refused" in response.json()["error"], response.text
    assert "access-control-allow-origin" not in response.headers
    assert http.get("/echo/health", headers=headers).status_code == 403
    assert runtime.jobs == []


def test_a_preflight_from_an_unlisted_origin_is_refused(http: httpx.Client) -> None:
    response = http.options("/echo/run", headers={"origin": "http://attacker.example",
                                                  "access-control-request-method": "POST"})
    assert response.status_code == 403 and "access-control-allow-origin" not in response.headers
    assert "--allow-origin http://attacker.example" in response.json()["error"]


def test_an_allowed_origin_gets_a_preflight_and_cors_headers(
    runtime: Runtime, make_server: Callable[..., PublicServer]
) -> None:
    page = "http://localhost:3000"
    server = make_server(allow_origins=[page + "/"])
    with httpx.Client(base_url=server.base_url, timeout=TIMEOUT) as http:
        preflight = http.options("/echo/runsync", headers={
            "origin": page, "access-control-request-method": "POST",
            "access-control-request-headers": "content-type, authorization",
            "access-control-request-private-network": "true"})
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == page
        assert "POST" in preflight.headers["access-control-allow-methods"]
        assert preflight.headers["access-control-allow-headers"] == "content-type, authorization"
        assert preflight.headers["access-control-allow-private-network"] == "true"
        response = http.post("/echo/runsync", json={"input": 3}, headers={"origin": page, "sec-fetch-site": "same-site"})
        assert response.json()["output"] == 3
        assert response.headers["access-control-allow-origin"] == page and response.headers["vary"] == "Origin"
        other = http.post("/echo/run", json={"input": 4}, headers={"origin": "http://localhost:4000"})
        assert other.status_code == 403
    assert len(runtime.jobs) == 1


@pytest.mark.parametrize(("origins", "key", "words"), [
    (["localhost:3000"], None, "an origin like http://localhost:3000"),
    (["http://localhost:3000/app"], None, "no path"),
    (["*"], None, "every web page you visit"),
])
def test_a_bad_allowed_origin_is_refused_at_start(runtime: Runtime, origins: list[str], key: str | None,
                                                  words: str) -> None:
    with pytest.raises(ServerError, match=words):
        PublicServer(runtime, "127.0.0.1", 0, api_key=key, allow_origins=origins)


def test_any_origin_with_a_key(runtime: Runtime, make_server: Callable[..., PublicServer]) -> None:
    server = make_server(api_key="k", allow_origins=["*"])
    response = httpx.post(f"{server.base_url}/echo/runsync", json={"input": 5},
                          headers={"origin": "https://app.example", "authorization": "k"}, timeout=TIMEOUT)
    assert response.json()["output"] == 5 and response.headers["access-control-allow-origin"] == "https://app.example"


@pytest.mark.parametrize(("key", "words"), [
    ("", "empty API key"),
    ("clé", "'é'"),
    ("two words", "' '"),
    ("tab\there", "'\\\\t'"),
])
def test_an_unusable_api_key_is_refused_at_start(runtime: Runtime, key: str, words: str) -> None:
    with pytest.raises(ServerError, match=words):
        PublicServer(runtime, "127.0.0.1", 0, api_key=key)


def test_a_public_bind_without_a_key_gets_one(runtime: Runtime) -> None:
    server = PublicServer(runtime, "0.0.0.0", 0)
    assert server.generated_key and server.api_key and len(server.api_key) >= 32
    with pytest.warns(UserWarning, match="reachable from other machines, with a generated API key"):
        server.start()
    try:
        url = f"http://127.0.0.1:{server.port}/v2/echo/runsync"
        assert httpx.post(url, json={"input": 1}, timeout=TIMEOUT).status_code == 401
        assert httpx.post(url, json={"input": 1}, headers={"host": "203.0.113.9:8000"},  # public: any Host
                          timeout=TIMEOUT).status_code == 401
        answer = httpx.post(url, json={"input": 6}, headers={"authorization": f"Bearer {server.api_key}"},
                            timeout=TIMEOUT)
        assert answer.json()["output"] == 6
    finally:
        server.stop()


def test_a_public_bind_with_a_key_keeps_it(runtime: Runtime) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        server = PublicServer(runtime, "0.0.0.0", 0, api_key="mine").start()
    try:
        assert not server.generated_key and server.api_key == "mine"
    finally:
        server.stop()


def test_the_pod_proxy_url() -> None:
    assert pod_proxy_url(8000, {"RUNPOD_POD_ID": "abc123"}) == "https://abc123-8000.proxy.runpod.net/v2"
    assert pod_proxy_url(8000, {}) is None
