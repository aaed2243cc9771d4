"""In a real Chromium: a page served from another origin cannot run jobs on the local endpoint.

The page tries what a hostile site would — ``fetch`` in ``no-cors`` mode with a Blob body and with a
text body, a ``<form>`` POST (``text/plain``, into a hidden iframe), and a JSON ``fetch`` that needs
a preflight — and the runtime's job list stays empty. With the page's origin allowed
(``allow_origins``), its JSON ``fetch`` goes through the preflight and reads the result.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from rp_jupyter.runtime import Runtime
from rp_jupyter.server import HttpServer, PublicApi

ATTACKS = """
async (target) => {
  const run = target + "/v2/echo/run";
  const outcomes = {};
  const attempt = async (name, call) => {
    try { const r = await call(); outcomes[name] = r.type + ":" + r.status; }
    catch (e) { outcomes[name] = "error:" + e.name; }
  };
  await attempt("blob", () => fetch(run, {method: "POST", mode: "no-cors", body: new Blob(['{"input": "blob"}'])}));
  await attempt("text", () => fetch(run, {method: "POST", mode: "no-cors", body: '{"input": "text"}'}));
  await attempt("json", () => fetch(run, {method: "POST", headers: {"content-type": "application/json"},
                                          body: '{"input": "json"}'}));
  await new Promise((resolve) => {
    const frame = document.createElement("iframe");
    frame.name = "sink";
    document.body.appendChild(frame);  // its about:blank loads at once; the next load is the form's answer
    frame.onload = () => resolve();
    const form = document.createElement("form");
    form.method = "POST"; form.action = run; form.target = "sink"; form.enctype = "text/plain";
    const field = document.createElement("input");
    field.name = '{"input": "form", "pad": "'; field.value = '"}';
    form.appendChild(field);
    document.body.appendChild(form);
    form.submit();
  });
  outcomes.form = "submitted";
  return outcomes;
}
"""

ALLOWED = """
async (target) => {
  const r = await fetch(target + "/v2/echo/runsync", {method: "POST", headers: {"content-type": "application/json"},
                                                      body: '{"input": "from the page"}'});
  return {status: r.status, body: await r.json()};
}
"""


class _Recorder:
    """Wraps the API's app: records each request's method, path and Origin as it arrives."""

    def __init__(self, app: Any) -> None:
        self.app, self.seen = app, []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            self.seen.append((scope["method"], scope["path"], headers.get(b"origin", b"").decode()))
        await self.app(scope, receive, send)


@pytest.fixture
def page_site(runtime: Runtime) -> Iterator[str]:
    """Another origin (``localhost``, another port) serving an empty page."""

    async def index(request: Request) -> HTMLResponse:
        return HTMLResponse("<!doctype html><title>another site</title><body></body>")

    server = HttpServer(Starlette(routes=[Route("/", index)]), runtime).start()
    yield f"http://localhost:{server.port}"
    server.stop()


def _endpoint(runtime: Runtime, **options: Any) -> tuple[HttpServer, _Recorder, PublicApi]:
    api = PublicApi(runtime, **options)
    recorder = _Recorder(api.app)
    return HttpServer(recorder, runtime).start(), recorder, api


def test_a_page_from_another_origin_cannot_run_jobs(runtime: Runtime, page_site: str, page: Any) -> None:
    runtime.register(lambda job: job["input"], "echo")
    server, recorder, api = _endpoint(runtime)
    try:
        page.goto(page_site + "/")
        outcomes = page.evaluate(ATTACKS, server.url)
        assert outcomes["json"] == "error:TypeError"  # the preflight was refused: the page learns nothing
        assert outcomes["blob"] == outcomes["text"] == "opaque:0"
        arrived = [(method, origin) for method, path, origin in recorder.seen if path == "/v2/echo/run"]
        assert ("POST", page_site) in arrived and ("OPTIONS", page_site) in arrived and len(arrived) >= 4
        assert runtime.jobs == []  # none of them ran
    finally:
        server.stop()
        runtime.run_coroutine(api.aclose()).result(10)


def test_an_allowed_origin_works_with_a_preflight(runtime: Runtime, page_site: str, page: Any) -> None:
    runtime.register(lambda job: job["input"], "echo")
    server, recorder, api = _endpoint(runtime, allow_origins=[page_site])
    try:
        page.goto(page_site + "/")
        answer = page.evaluate(ALLOWED, server.url)
        assert answer["status"] == 200 and answer["body"]["output"] == "from the page"
        assert [m for m, p, o in recorder.seen if p == "/v2/echo/runsync"] == ["OPTIONS", "POST"]
        assert [job.request["input"] for job in runtime.jobs] == ["from the page"]
    finally:
        server.stop()
        runtime.run_coroutine(api.aclose()).result(10)
