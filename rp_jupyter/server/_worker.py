"""The worker face: RunPod's job API as a deployed ``runpod`` SDK worker talks to it (spec §7).

``WorkerFace(jobs).app`` serves a fixed list of jobs through job-take / job-take-batch, answers
job-stop and ping, and records every request and every job-done / job-stream post, per job, in
order. Serve it with :class:`HttpServer` on 127.0.0.1; ``worker_urls(base)`` gives the
``RUNPOD_WEBHOOK_*`` templates for the worker process.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = ["WirePost", "WorkerFace"]

_ENDPOINT = "/v2/rp-jupyter-verify"


@dataclasses.dataclass(frozen=True)
class WirePost:
    """One request the worker made: ``kind`` is job-take, job-take-batch, job-done, job-stream, job-stop or ping."""

    kind: str
    job_id: str | None
    query: dict[str, str]
    body: Any = None
    at: float = dataclasses.field(default_factory=time.monotonic)  # when it arrived (cold-start rehearsal)

    @property
    def is_progress(self) -> bool:
        return self.kind == "job-done" and isinstance(self.body, dict) and self.body.get("status") == "IN_PROGRESS"


class WorkerFace:
    """Serves ``jobs`` (RunPod job dicts: ``id``, ``input``, ...) once each, and records the wire."""

    def __init__(self, jobs: list[dict[str, Any]], *, expect_progress: dict[str, int] | None = None,
                 idle_wait: float = 0.5) -> None:
        self._untaken = list(jobs)
        self._ids = [job["id"] for job in jobs]
        self._expect_progress = dict(expect_progress or {})
        self._idle_wait = idle_wait
        self._stops: list[str] = []
        self._lock = threading.Lock()
        self._settled = threading.Event()
        self.records: list[WirePost] = []
        self.app = Starlette(routes=[
            Route(_ENDPOINT + "/job-take/{worker}", self._take, methods=["GET"]),
            Route(_ENDPOINT + "/job-take-batch/{worker}", self._take, methods=["GET"]),
            Route(_ENDPOINT + "/job-stop/{worker}", self._stop, methods=["GET"]),
            Route(_ENDPOINT + "/ping/{worker}", self._ping, methods=["GET"]),
            Route(_ENDPOINT + "/job-done/{worker}/{job_id}", self._post, methods=["POST"]),
            Route(_ENDPOINT + "/job-stream/{worker}/{job_id}", self._post, methods=["POST"]),
        ])
        self._check_settled()

    # ---- for the worker process -----------------------------------------------------------
    @staticmethod
    def worker_urls(base_url: str) -> dict[str, str]:
        base = base_url.rstrip("/") + _ENDPOINT
        return {
            "RUNPOD_WEBHOOK_GET_JOB": base + "/job-take/$ID?gpu=LOCAL",
            "RUNPOD_WEBHOOK_POST_OUTPUT": base + "/job-done/$RUNPOD_POD_ID/$ID?gpu=LOCAL",
            "RUNPOD_WEBHOOK_POST_STREAM": base + "/job-stream/$RUNPOD_POD_ID/$ID?gpu=LOCAL",
            "RUNPOD_WEBHOOK_PING": base + "/ping/$RUNPOD_POD_ID?gpu=LOCAL",
        }

    # ---- reading what happened -------------------------------------------------------------
    def posts(self, job_id: str) -> list[WirePost]:
        with self._lock:
            return [r for r in self.records if r.job_id == job_id and r.kind in ("job-done", "job-stream")]

    def final(self, job_id: str) -> dict[str, Any] | None:
        """The job's final job-done body (the last one that is not a progress update)."""
        finals = [p.body for p in self.posts(job_id) if p.kind == "job-done" and not p.is_progress]
        return finals[-1] if finals else None

    def stream(self, job_id: str) -> list[Any]:
        return [p.body.get("output") if isinstance(p.body, dict) else p.body
                for p in self.posts(job_id) if p.kind == "job-stream"]

    def progress(self, job_id: str) -> list[Any]:
        return [p.body.get("output") for p in self.posts(job_id) if p.is_progress]

    @property
    def has_untaken(self) -> bool:
        with self._lock:
            return bool(self._untaken)

    def settled(self) -> bool:
        """Every job has its final result and the expected number of progress posts."""
        return self._settled.is_set()

    def wait(self, timeout: float) -> bool:
        return self._settled.wait(timeout)

    def stop_job(self, job_id: str) -> None:
        """Send ``job_id`` on the job-stop channel at the worker's next poll."""
        with self._lock:
            self._stops.append(job_id)

    # ---- the routes --------------------------------------------------------------------------
    async def _take(self, request: Request) -> Response:
        batch = "job-take-batch" in request.url.path
        size = int(request.query_params.get("batch_size", "1")) if batch else 1
        with self._lock:
            jobs, self._untaken = self._untaken[:size], self._untaken[size:]
        if not jobs:
            await asyncio.sleep(self._idle_wait)  # a short stand-in for the platform's long poll
            self._record(request, None, None)
            return Response(status_code=204)
        self._record(request, None, [job["id"] for job in jobs])
        return JSONResponse(jobs if batch else jobs[0])

    async def _stop(self, request: Request) -> Response:
        with self._lock:
            stops, self._stops = self._stops, []
        if stops:
            self._record(request, None, {"jobsToStop": stops})
            return JSONResponse({"jobsToStop": stops})
        await asyncio.sleep(self._idle_wait)
        return Response(status_code=204)

    async def _ping(self, request: Request) -> Response:
        self._record(request, None, None)
        return JSONResponse({"status": "pong"})

    async def _post(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw.decode("utf-8", "replace")
        self._record(request, request.path_params["job_id"], body)
        self._check_settled()
        return JSONResponse({})

    def _record(self, request: Request, job_id: str | None, body: Any) -> None:
        kind = request.url.path.split("/")[3]
        with self._lock:
            self.records.append(WirePost(kind, job_id, dict(request.query_params), body))

    def _check_settled(self) -> None:
        done = all(self.final(i) is not None and len(self.progress(i)) >= self._expect_progress.get(i, 0)
                   for i in self._ids)
        if done:
            self._settled.set()
