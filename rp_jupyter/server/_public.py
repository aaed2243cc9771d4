"""RunPod's public endpoint API (spec §14) for every registered handler: the endpoint id is its name.

``/v2/{endpoint}/run``, ``/runsync``, ``/status/{id}``, ``/status-sync/{id}``, ``/stream/{id}``,
``/cancel/{id}``, ``/retry/{id}``, ``/purge-queue``, ``/health``, and ``/openapi.json``. A Starlette
app whose handlers run on the runtime's loop (served by :class:`HttpServer`): route handlers never
block it. ``.app`` is wrapped in the :class:`AccessGuard` (Host, Origin, CORS).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..exceptions import (
    HandlerNotFoundError,
    JobStateError,
    PayloadTooLargeError,
    RequestError,
    RuntimeStoppedError,
    ServerError,
)
from ..runtime import RUN_LIMIT_BYTES, RUNSYNC_LIMIT_BYTES, Runtime
from ._access import AccessGuard, check_api_key, check_origins
from ._book import DEFAULT_TTL, MAX_RETAINED_BYTES, MAX_RETAINED_JOBS, Clock, Entry, JobBook, LoopClock
from ._io import (
    EMPTY_BODY_LIMIT,
    HttpError,
    JsonResponse,
    authorized,
    error_response,
    read_json,
    wait_seconds,
)
from ._openapi import openapi_document
from ._webhook import WebhookSender, check_webhook_url

__all__ = ["PublicApi"]

log = logging.getLogger("rp_jupyter")
Handler = Callable[[Request, str], Awaitable[Any]]
_WEBHOOK_STATES = ("COMPLETED", "FAILED", "TIMED_OUT")
_ERRORS: tuple[tuple[type[Exception], int], ...] = (
    (PayloadTooLargeError, 413),
    (RequestError, 400),
    (HandlerNotFoundError, 404),
    (JobStateError, 409),
    (RuntimeStoppedError, 503),
)


class PublicApi:
    """The ASGI app (``.app``) and its state. ``retention_run``/``retention_runsync`` are seconds;
    ``max_retained_jobs``/``max_retained_bytes`` cap the finished jobs kept. ``adopt``: a previous
    server's API whose jobs (and webhook deliveries) this one takes over, so a restart loses none."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        api_key: str | None = None,
        allow_origins: Iterable[str] = (),
        loopback: bool = True,
        retention_run: float = 30 * 60,
        retention_runsync: float = 60,
        max_retained_jobs: int = MAX_RETAINED_JOBS,
        max_retained_bytes: int = MAX_RETAINED_BYTES,
        webhook_retry_delay: float = 10.0,
        clock: Clock | None = None,
        adopt: PublicApi | None = None,
    ) -> None:
        check_api_key(api_key)
        _check_limits(retention_run, retention_runsync, max_retained_jobs, max_retained_bytes)
        self.runtime, self.api_key = runtime, api_key
        self.origins = check_origins(allow_origins, api_key)
        self.retention_run, self.retention_runsync = retention_run, retention_runsync
        self.webhooks: WebhookSender
        self.book: JobBook
        if adopt is not None and adopt.runtime is runtime:
            self.webhooks, self.book = adopt.webhooks, adopt.book
            self.webhooks.retry_delay = webhook_retry_delay
            self.book.on_finish, self.book.max_jobs, self.book.max_bytes = (
                self._on_finish, max_retained_jobs, max_retained_bytes)
        else:
            self.webhooks = WebhookSender(webhook_retry_delay)
            self.book = JobBook(runtime, self._on_finish, clock or LoopClock(), max_retained_jobs, max_retained_bytes)
        self.draining = False
        self._waiting: set[asyncio.Task[Any]] = set()
        starlette = Starlette(routes=self._routes(), exception_handlers={HTTPException: _http_exception})
        self.app = AccessGuard(starlette, loopback=loopback, origins=self.origins)

    def _routes(self) -> list[Route]:
        def route(path: str, handler: Handler, methods: list[str]) -> Route:
            return Route(f"/v2/{{endpoint}}{path}", self._guard(handler), methods=methods)

        return [
            route("/run", self.run, ["POST"]),
            route("/runsync", self.runsync, ["POST"]),
            route("/status/{id}", self.status, ["GET", "POST"]),
            route("/status-sync/{id}", self.status_sync, ["GET", "POST"]),
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
                if self.draining:
                    raise HttpError(503, "the server is stopping (or restarting with new settings): try again")
                if self.api_key is not None and not authorized(request.headers.get("authorization"), self.api_key):
                    raise HttpError(401, "missing or wrong API key: send Authorization: <key> or Bearer <key>")
                name = request.path_params["endpoint"]
                self.runtime.handler(name)
                body = await handler(request, name)
                return body if isinstance(body, Response) else JsonResponse(body)
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
        await self._until_done(entry.job, wait)  # else RunPod answers with the status; the client polls
        return _status(entry)

    async def status(self, request: Request, name: str) -> dict[str, Any]:
        return _status(await self._entry(request, name))

    async def status_sync(self, request: Request, name: str) -> dict[str, Any]:
        """``/status-sync/{id}?wait=ms``: the status once the job ends, or after ``wait`` (the long poll
        the JavaScript SDK's ``runSync`` and ``statusSync`` use)."""
        wait = wait_seconds(request.query_params.get("wait"))
        entry = await self._entry(request, name)
        await self._until_done(entry.job, wait)
        return _status(entry)

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
        return self.book.health(name)

    # ---- helpers -------------------------------------------------------------------------------
    async def _submit(self, request: Request, name: str, *, sync: bool) -> Entry:
        route = "/runsync" if sync else "/run"
        body = await read_json(request, RUNSYNC_LIMIT_BYTES if sync else RUN_LIMIT_BYTES, route, required=True)
        try:
            webhook = check_webhook_url(body.get("webhook") if isinstance(body, dict) else None)
        except ValueError as exc:
            raise HttpError(400, str(exc)) from None
        job = self.runtime.submit(name, body, sync=sync)  # validates the rest (policy ranges included)
        policy = job.request.get("policy") or {}
        ttl = policy["ttl"] / 1000 if policy.get("ttl") is not None else DEFAULT_TTL
        retention = self.retention_runsync if sync else self.retention_run
        declared = request.headers.get("content-length", "")
        size = int(declared) if declared.isascii() and declared.isdigit() else 0  # about what the body held
        return self.book.add(job, ttl, retention, webhook, size)

    async def _entry(self, request: Request, name: str) -> Entry:
        route = "/" + request.url.path.split("/")[3]  # /v2/{endpoint}/{route}/{id}
        await read_json(request, EMPTY_BODY_LIMIT, route, required=False)
        job_id = request.path_params["id"]
        entry = self.book.get(name, job_id)
        if entry is None:
            why = self.book.why_gone(name, job_id) or "unknown id, or expired and deleted"
            raise HttpError(404, f"no job {job_id[:100]!r} on endpoint {name!r} ({why})")
        return entry

    async def _until_done(self, job: Any, seconds: float) -> None:
        """Wait until the job ends, ``seconds`` pass, or the server drains (stop or restart): a drain
        cancels the wait (never the job), and the route answers with the job's status as it is."""
        if job.done or self.draining:
            return
        task = asyncio.current_task()
        assert task is not None
        self._waiting.add(task)
        try:
            await self.runtime.until_done(job, seconds)
        except asyncio.CancelledError:
            if not self.draining:
                raise
            if hasattr(task, "uncancel"):  # Python 3.11+: the cancel was ours, and is handled
                task.uncancel()
        finally:
            self._waiting.discard(task)

    def _on_finish(self, entry: Entry) -> None:
        if entry.delivery is not None and entry.job.status.value in _WEBHOOK_STATES:
            self.webhooks.send(entry.job, entry.delivery)

    async def drain(self) -> None:
        """Stop taking requests (503) and answer every waiting ``/runsync`` and ``/status-sync`` now,
        with the job's status (its id included): the client goes on polling ``/status``."""
        self.draining = True
        for task in list(self._waiting):
            task.cancel()

    async def aclose(self) -> None:
        """Forget runtime events and cancel pending webhook deliveries."""
        self.book.close()
        await self.webhooks.aclose()


def _status(entry: Entry) -> dict[str, Any]:
    """RunPod's ``/status`` body, plus ``webhookDelivery`` when the request had a webhook."""
    body = entry.job.to_status()
    if entry.delivery is not None:
        body["webhookDelivery"] = entry.delivery.to_json()
    return body


def _check_limits(*values: float) -> None:
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1e12:
            raise ServerError(f"retention and retention caps are positive numbers, got {value!r}")


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
    return JsonResponse(openapi_document())
