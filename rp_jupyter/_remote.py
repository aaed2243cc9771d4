"""``Endpoint``: a RunPod endpoint (deployed, or ``%rp_serve``'s) with the same ``Job`` as local runs.

The httpx client (``rp_jupyter.client``) is async; every call here runs it on the runtime's loop, so a
cell's ``run()`` and a coroutine's ``arun()`` share one implementation. A remote job is followed by a
poller on the loop — ``/stream`` for new chunks, ``/status`` for state, progress and the result — with
a growing interval, and is tracked by the runtime so job views and ``%rp_jobs`` show it like any other.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import weakref
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from .client import EndpointClient
from .exceptions import EndpointError
from .runtime import Job, JobEvent, JobStatus, Runtime

__all__ = ["Comparison", "Endpoint", "close_all", "compare", "endpoint_for"]

T = TypeVar("T")
_TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"}


class Endpoint:
    """``Endpoint("abc123")`` (RunPod's API, key from ``RUNPOD_API_KEY``) or ``Endpoint("http://.../v2/name")``."""

    def __init__(self, endpoint_id_or_url: str, api_key: str | None = None, *, poll_interval: float = 0.25,
                 max_poll_interval: float = 2.0, timeout: float = 30.0, runtime: Runtime | None = None,
                 **client_options: Any) -> None:
        from .session import get_runtime

        self._runtime = runtime or get_runtime()
        self.client = EndpointClient(endpoint_id_or_url, api_key, timeout=timeout, **client_options)
        self.name = self.client.url.rsplit("/", 1)[-1]
        self.poll_interval, self.max_poll_interval, self.timeout = poll_interval, max_poll_interval, timeout
        self._followers: set[asyncio.Future[None]] = set()
        _open.add(self)

    def __repr__(self) -> str:
        return f"<Endpoint {self.client.url}>"

    def close(self) -> None:
        """Stop following its jobs and close its connections (also done by ``rp_jupyter.shutdown()``)."""
        _open.discard(self)
        if self._runtime._loop.running:
            self._call(self._aclose())

    async def _aclose(self) -> None:
        for follower in list(self._followers):
            follower.cancel()
        await self.client.aclose()

    def __enter__(self) -> Endpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run one of the loop-side coroutines below from a thread (a cell, a script)."""
        return self._runtime.run_coroutine(coro).result(self.timeout * (self.client.retries + 2))

    async def _acall(self, coro: Coroutine[Any, Any, T]) -> T:
        """The same from any event loop: the client's connections live on the runtime's loop."""
        if self._runtime._loop.in_loop():
            return await coro
        return await asyncio.wrap_future(self._runtime.run_coroutine(coro))

    # ---- the sync face (from cells and scripts) ---------------------------------------------
    def run(self, request: Any, label: str | None = None) -> Job:
        """``POST /run``: a ``Job`` followed live (state, progress, stream, result), returned at once."""
        return self._call(self._run(request, label))

    def run_sync(self, request: Any, wait_ms: int | None = None) -> dict[str, Any]:
        """``POST /runsync``: the endpoint's body."""
        return self._call(self.client.runsync(request, wait_ms))

    def status(self, job_or_id: Job | str) -> dict[str, Any]:
        return self._call(self.client.status(_id(job_or_id)))

    def stream(self, job_or_id: Job | str) -> list[Any]:
        """One ``/stream`` call: the chunks produced since the previous call."""
        return self._call(self._stream(_id(job_or_id)))

    def cancel(self, job_or_id: Job | str) -> dict[str, Any]:
        return self._call(self.client.cancel(_id(job_or_id)))

    def health(self) -> dict[str, Any]:
        return self._call(self.client.health())

    def purge_queue(self) -> dict[str, Any]:
        return self._call(self.client.purge_queue())

    # ---- the async face (``await`` from a cell or any event loop): the same coroutines ------
    async def arun(self, request: Any, label: str | None = None) -> Job:
        return await self._acall(self._run(request, label))

    async def arun_sync(self, request: Any, wait_ms: int | None = None) -> dict[str, Any]:
        return await self._acall(self.client.runsync(request, wait_ms))

    async def astatus(self, job_or_id: Job | str) -> dict[str, Any]:
        return await self._acall(self.client.status(_id(job_or_id)))

    async def astream(self, job_or_id: Job | str) -> list[Any]:
        return await self._acall(self._stream(_id(job_or_id)))

    async def acancel(self, job_or_id: Job | str) -> dict[str, Any]:
        return await self._acall(self.client.cancel(_id(job_or_id)))

    async def ahealth(self) -> dict[str, Any]:
        return await self._acall(self.client.health())

    async def apurge_queue(self) -> dict[str, Any]:
        return await self._acall(self.client.purge_queue())

    # ---- on the runtime's loop ---------------------------------------------------------------
    async def _stream(self, job_id: str) -> list[Any]:
        body = await self.client.stream(job_id)
        return [chunk.get("output") for chunk in body.get("stream", [])]

    async def _run(self, request: Any, label: str | None) -> Job:
        if not isinstance(request, dict) or request.get("input") is None:
            from .exceptions import RequestError

            raise RequestError('a request is a JSON object with an "input", e.g. {"input": {...}}')
        body = await self.client.run(request)
        job_id = str(body.get("id") or "")
        if not job_id:
            raise EndpointError(f"POST {self.client.url}/run answered without a job id: {body}")
        owner = _RemoteOwner(self)
        job = Job(owner, job_id, label or self.name, {"id": job_id, **request}, request)
        self._runtime.track(job)
        follower = asyncio.ensure_future(self._follow(job))
        self._followers.add(follower)
        follower.add_done_callback(self._followers.discard)
        return job

    async def _follow(self, job: Job) -> None:
        interval = self.poll_interval
        try:
            while not job.done:
                status = await self.client.status(job.id)
                chunks = (await self.client.stream(job.id)).get("stream", [])
                self._apply(job, status, [chunk.get("output") for chunk in chunks])
                if job.done:
                    return
                await asyncio.sleep(interval)
                interval = min(self.max_poll_interval, interval * 1.5)
        except EndpointError as exc:
            job.warnings.append(f"lost track of the remote job: {exc}")
            job._finish(JobStatus.FAILED, {"error": f"rp_jupyter: lost track of the remote job: {exc}"})

    @staticmethod
    def _apply(job: Job, status: dict[str, Any], chunks: list[Any]) -> None:
        state = str(status.get("status", "IN_QUEUE"))
        if state != "IN_QUEUE" and job.status is JobStatus.IN_QUEUE:
            job._start()
        if chunks:
            job._add_chunks(chunks)
        if state == "IN_PROGRESS" and "output" in status and status["output"] != job.progress:
            job._add_progress(status["output"])
        if state in _TERMINAL:
            job.reported_times = (status.get("delayTime"), status.get("executionTime"))
            result: dict[str, Any] = {key: status[key] for key in ("output", "error") if key in status}
            job._finish(JobStatus(state), result)


class _RemoteOwner:
    """A remote job's owner: cancel goes to the endpoint; events go to the runtime's listeners."""

    def __init__(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint

    @property
    def endpoint_url(self) -> str:
        """Where the job runs (views show the same request against it)."""
        return self._endpoint.client.url

    def cancel(self, job_id: str) -> Any:
        if self._endpoint._runtime._loop.in_loop():  # never block the loop on its own work
            return asyncio.ensure_future(self._endpoint.client.cancel(job_id))
        return self._endpoint.cancel(job_id)

    def _publish(self, event: JobEvent) -> None:
        self._endpoint._runtime._publish(event)


_open: weakref.WeakSet[Endpoint] = weakref.WeakSet()
_cache: dict[tuple[str, str | None], Endpoint] = {}


def endpoint_for(endpoint_id_or_url: str, api_key: str | None = None) -> Endpoint:
    """One ``Endpoint`` per (endpoint, key) for the magics, reused across cells."""
    key = (endpoint_id_or_url, api_key if api_key is not None else os.environ.get("RUNPOD_API_KEY"))
    found = _cache.get(key)
    if found is None or found not in _open:
        found = _cache[key] = Endpoint(endpoint_id_or_url, api_key)
    return found


def close_all() -> None:
    """Close every open endpoint (before the runtime's loop stops)."""
    _cache.clear()
    for endpoint in list(_open):
        endpoint.close()


def _id(job_or_id: Job | str) -> str:
    return job_or_id.id if isinstance(job_or_id, Job) else str(job_or_id)


@dataclasses.dataclass
class Comparison:
    """The same requests, run locally and on an endpoint, side by side."""

    handler: str
    endpoint: str
    rows: list[dict[str, Any]]

    @property
    def differences(self) -> list[dict[str, Any]]:
        return [row for row in self.rows if row["differs"]]

    def __repr__(self) -> str:
        lines = [f"local {self.handler!r} vs {self.endpoint}: {len(self.rows)} request(s), "
                 f"{len(self.differences)} with differences"]
        for row in self.rows:
            mark = "DIFFERS" if row["differs"] else "same"
            lines.append(f"  #{row['index']} {mark:7} status {row['local']['status']} / {row['remote']['status']}"
                         f" · executionTime {row['local'].get('executionTime')} / {row['remote'].get('executionTime')} ms"
                         f" · chunks {row['local_chunks']} / {row['remote_chunks']}")
            for field in row["differs"]:
                lines.append(f"      {field}: local {_short(row['local'].get(field))} | remote {_short(row['remote'].get(field))}")
        return "\n".join(lines)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


def compare(handler: str, endpoint: Endpoint | str, requests: Sequence[Any], timeout: float = 120.0) -> Comparison:
    """Run each request on the local handler and on the endpoint; compare status, output, error, stream."""
    remote = endpoint if isinstance(endpoint, Endpoint) else Endpoint(endpoint)
    rows = []
    for index, request in enumerate(requests):
        local = remote._runtime.submit(handler, request).wait(timeout)
        there = remote.run(request, label=f"{handler}@remote").wait(timeout)
        a, b = local.to_status(), there.to_status()
        differs = [field for field in ("status", "output", "error") if a.get(field) != b.get(field)]
        if local.stream != there.stream:
            differs.append("stream")
            a["stream"], b["stream"] = local.stream, there.stream
        rows.append({"index": index, "local": a, "remote": b, "differs": differs,
                     "local_chunks": len(local.stream), "remote_chunks": len(there.stream)})
    return Comparison(handler, remote.client.url, rows)


def _short(value: Any, limit: int = 120) -> str:
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) <= limit else text[: limit - 1] + "…"
