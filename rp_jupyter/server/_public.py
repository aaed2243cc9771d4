"""RunPod's public endpoint API (spec §14) for every registered handler: the endpoint id is its name.

``/v2/{endpoint}/run``, ``/runsync``, ``/status/{id}``, ``/stream/{id}``, ``/cancel/{id}``,
``/retry/{id}``, ``/purge-queue``, ``/health``, and ``/openapi.json``. A Starlette app whose handlers
run on the runtime's loop (served by :class:`HttpServer`): route handlers never block it.
"""

from __future__ import annotations

import functools
import logging
import time
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..exceptions import (
    HandlerNotFoundError,
    JobStateError,
    PayloadTooLargeError,
    RequestError,
    RuntimeStoppedError,
)
from ..runtime import RUN_LIMIT_BYTES, RUNSYNC_LIMIT_BYTES, Runtime
from ._book import DEFAULT_TTL, Entry, JobBook
from ._http import HttpServer
from ._io import EMPTY_BODY_LIMIT, HttpError, authorized, error_response, read_json, wait_seconds
from ._openapi import openapi_document
from ._webhook import WebhookSender, webhook_body

__all__ = ["PublicApi", "PublicServer"]

log = logging.getLogger("rp_jupyter")
Handler = Callable[[Request, str], Awaitable[Any]]
TTL_MIN_MS, TTL_MAX_MS = 10_000, 7 * 24 * 3600 * 1000
_WEBHOOK_STATES = ("COMPLETED", "FAILED", "TIMED_OUT")
_ERRORS: tuple[tuple[type[Exception], int], ...] = (
    (PayloadTooLargeError, 413),
    (RequestError, 400),
    (HandlerNotFoundError, 404),
    (JobStateError, 409),
    (RuntimeStoppedError, 503),
)


class PublicApi:
    """The ASGI app (``.app``) and its state. ``retention_run``/``retention_runsync`` are seconds."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        api_key: str | None = None,
        retention_run: float = 30 * 60,
        retention_runsync: float = 60,
        webhook_retry_delay: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.runtime, self.api_key = runtime, api_key
        self.retention_run, self.retention_runsync = retention_run, retention_runsync
        self.webhooks = WebhookSender(webhook_retry_delay)
        self.book = JobBook(runtime, self._on_finish, clock)
        self.app = Starlette(routes=self._routes(), exception_handlers={HTTPException: _http_exception})

    def _routes(self) -> list[Route]:
        def route(path: str, handler: Handler, methods: list[str]) -> Route:
            return Route(f"/v2/{{endpoint}}{path}", self._guard(handler), methods=methods)

        return [
            route("/run", self.run, ["POST"]),
            route("/runsync", self.runsync, ["POST"]),
            route("/status/{id}", self.status, ["GET", "POST"]),
            route("/stream/{id}", self.stream, ["GET", "POST"]),
            route("/cancel/{id}", self.cancel, ["POST"]),
            route("/retry/{id}", self.retry, ["POST"]),
            route("/purge-queue", self.purge_queue, ["POST"]),
            route("/health", self.health, ["GET"]),
            Route("/openapi.json", _openapi, methods=["GET"]),
        ]

    def _guard(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """Auth, endpoint lookup and error translation around one route: nothing escapes as a 500 page."""

        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            try:
                if self.api_key is not None and not authorized(request.headers.get("authorization"), self.api_key):
                    raise HttpError(401, "missing or wrong API key: send Authorization: <key> or Bearer <key>")
                name = request.path_params["endpoint"]
                self.runtime.handler(name)
                body = await handler(request, name)
                return body if isinstance(body, Response) else JSONResponse(body)
            except HttpError as exc:
                return error_response(exc.status, str(exc))
            except Exception as exc:
                return _translate(exc, request)

        return endpoint

    # ---- routes --------------------------------------------------------------------------------
    async def run(self, request: Request, name: str) -> dict[str, Any]:
        entry = await self._submit(request, name, sync=False)
        return {"id": entry.job.id, "status": "IN_QUEUE"}

    async def runsync(self, request: Request, name: str) -> dict[str, Any]:
        wait = wait_seconds(request.query_params.get("wait"))
        entry = await self._submit(request, name, sync=True)
        await self.runtime.until_done(entry.job, wait)  # else RunPod answers with the status; the client polls
        return entry.job.to_status()

    async def status(self, request: Request, name: str) -> dict[str, Any]:
        return (await self._entry(request, name)).job.to_status()

    async def stream(self, request: Request, name: str) -> dict[str, Any]:
        entry = await self._entry(request, name)
        job = entry.job
        body: dict[str, Any] = {"status": job.status.value, "stream": [{"output": v} for v in entry.take_stream()]}
        if job.error is not None:
            body["error"] = job.error
        return body

    async def cancel(self, request: Request, name: str) -> dict[str, Any]:
        job = (await self._entry(request, name)).job
        self.runtime.cancel(job.id)
        return {"id": job.id, "status": job.status.value}

    async def retry(self, request: Request, name: str) -> dict[str, Any]:
        entry = await self._entry(request, name)
        self.runtime.retry(entry.job)
        self.book.requeued(entry)
        return {"id": entry.job.id, "status": "IN_QUEUE"}

    async def purge_queue(self, request: Request, name: str) -> dict[str, Any]:
        await read_json(request, EMPTY_BODY_LIMIT, "/purge-queue", required=False)
        return {"removed": self.book.purge(name), "status": "completed"}

    async def health(self, request: Request, name: str) -> dict[str, Any]:
        self.book.sweep()
        return self.book.health(name)

    # ---- helpers -------------------------------------------------------------------------------
    async def _submit(self, request: Request, name: str, *, sync: bool) -> Entry:
        route = "/runsync" if sync else "/run"
        body = await read_json(request, RUNSYNC_LIMIT_BYTES if sync else RUN_LIMIT_BYTES, route, required=True)
        ttl, webhook = _ttl(body), _webhook(body)
        job = self.runtime.submit(name, body, sync=sync)
        retention = self.retention_runsync if sync else self.retention_run
        return self.book.add(job, ttl, retention, webhook)

    async def _entry(self, request: Request, name: str) -> Entry:
        route = "/" + request.url.path.split("/")[3]  # /v2/{endpoint}/{route}/{id}
        await read_json(request, EMPTY_BODY_LIMIT, route, required=False)
        job_id = request.path_params["id"]
        entry = self.book.get(name, job_id)
        if entry is None:
            raise HttpError(404, f"no job {job_id!r} on endpoint {name!r} (unknown id, or expired and deleted)")
        return entry

    def _on_finish(self, entry: Entry) -> None:
        if entry.webhook and entry.job.status.value in _WEBHOOK_STATES:
            self.webhooks.send(entry.webhook, webhook_body(entry.job, entry.webhook))

    async def aclose(self) -> None:
        """Forget runtime events and cancel pending webhook deliveries."""
        self.book.close()
        await self.webhooks.aclose()


def _ttl(body: Any) -> float:
    policy = body.get("policy") if isinstance(body, dict) else None
    value = policy.get("ttl") if isinstance(policy, dict) else None
    if value is None:
        return DEFAULT_TTL
    if isinstance(value, bool) or not isinstance(value, int) or not TTL_MIN_MS <= value <= TTL_MAX_MS:
        raise HttpError(400, f'"policy.ttl" must be whole ms from {TTL_MIN_MS} to {TTL_MAX_MS} (7 days), got {value!r}')
    return value / 1000


def _webhook(body: Any) -> str | None:
    value = body.get("webhook") if isinstance(body, dict) else None
    if value is None:
        return None
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise HttpError(400, f'"webhook" must be an http(s) URL, got {value!r}')
    return value


def _translate(exc: Exception, request: Request) -> Response:
    for kind, status in _ERRORS:
        if isinstance(exc, kind):
            return error_response(status, str(exc))
    log.exception("rp_jupyter server: %s %s failed", request.method, request.url.path)
    return error_response(500, f"internal error: {type(exc).__name__}: {exc}")


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_response(404, f"no route {request.url.path} (see /openapi.json)")
    if exc.status_code == 405:
        allowed = exc.headers.get("Allow", "") if exc.headers else ""
        return error_response(405, f"{request.method} is not allowed on {request.url.path} (use {allowed})",
                              headers=dict(exc.headers or {}))
    return error_response(exc.status_code, str(exc.detail))


async def _openapi(request: Request) -> Response:
    return JSONResponse(openapi_document())


class PublicServer:
    """:class:`PublicApi` served on ``host:port`` (127.0.0.1 by default; other hosts warn)."""

    def __init__(self, runtime: Runtime, host: str = "127.0.0.1", port: int = 8000, **options: Any) -> None:
        self.api = PublicApi(runtime, **options)
        self.runtime = runtime
        self._http = HttpServer(self.api.app, runtime, host, port)

    @property
    def url(self) -> str:
        return self._http.url

    @property
    def base_url(self) -> str:
        """What ``RUNPOD_ENDPOINT_BASE_URL`` should be for the official client."""
        return f"{self._http.url}/v2"

    @property
    def running(self) -> bool:
        return self._http.running

    def start(self) -> PublicServer:
        host = self._http.host
        if host not in ("127.0.0.1", "localhost", "::1"):
            warnings.warn(
                f"rp_jupyter is serving the notebook's handlers on {host}, reachable from other machines"
                + ("" if self.api.api_key else " without an API key (use api_key=...)"),
                UserWarning,
                stacklevel=2,
            )
        self._http.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._http.stop(timeout)
        if self.runtime.accepting:  # else the runtime's loop is gone, and the deliveries with it
            self.runtime.run_coroutine(self.api.aclose()).result(timeout)
        else:
            self.api.book.close()
