"""The jobs the public API has handed out: lookup by endpoint, stream cursors, expiry, caps, health counts.

Everything here runs on the runtime's loop thread (route handlers, runtime events and the loop's own
timers all do), so nothing needs a lock. Time comes from a :class:`Clock` (``LoopClock``: monotonic
seconds and the loop's timers; the tests inject a fake one).

Expiry, as on RunPod: a job is deleted (``404`` afterwards) when its ``policy.ttl`` runs out (from
submission; a job still queued or running then is cancelled), or once its result has been kept for
the route's retention (``/run`` 30 min, ``/runsync`` 1 min), whichever comes first — on a timer of the
loop, whether or not requests arrive. Finished jobs are also capped in number and in bytes (oldest
finished first), so a busy server's memory stays flat.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import heapq
import json
import math
import time
from collections.abc import Callable
from typing import Any, Protocol

from ..runtime import Job, JobEvent, JobStatus, Runtime
from ._webhook import Delivery

__all__ = ["DEFAULT_TTL", "MAX_RETAINED_BYTES", "MAX_RETAINED_JOBS", "Clock", "Entry", "JobBook", "LoopClock"]

DEFAULT_TTL = 24 * 3600.0
"""RunPod's default ``policy.ttl`` (86400000 ms), in seconds."""
MAX_RETAINED_JOBS = 10_000
"""Finished jobs kept at most (oldest finished deleted first); RunPod sets no count, a kernel must."""
MAX_RETAINED_BYTES = 512 * 1024 * 1024
"""Bytes of finished jobs (request + result as JSON) kept at most."""
_GONE_KEPT = 1024  # ids of deleted jobs remembered, to say why a /status is 404


class Cancellable(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    """Seconds (monotonic), and timers that call back on the runtime's loop thread."""

    def __call__(self) -> float: ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> Cancellable: ...


class LoopClock:
    """``time.monotonic`` and the running loop's ``call_later`` (used on the loop thread only)."""

    def __call__(self) -> float:
        return time.monotonic()

    def call_later(self, delay: float, callback: Callable[[], None]) -> Cancellable:
        return asyncio.get_running_loop().call_later(delay, callback)


@dataclasses.dataclass
class Entry:
    """One job handed out by the API, and what the API remembers about it."""

    job: Job
    endpoint: str
    created: float
    ttl: float
    retention: float
    generator: bool
    delivery: Delivery | None = None
    request_bytes: int = 0
    size: int = 0
    finished_at: float | None = None
    cursor: int = 0
    final_streamed: bool = False

    def expires_at(self) -> float:
        deadline = self.created + self.ttl
        if self.finished_at is not None:
            deadline = min(deadline, self.finished_at + self.retention)
        return deadline

    def take_stream(self) -> list[Any]:
        """The values produced since the previous call (a non-generator's output once, when done)."""
        job = self.job
        if self.generator:
            values = job.stream[self.cursor :]
            self.cursor += len(values)
            return values
        if job.status is JobStatus.COMPLETED and job.has_output and not self.final_streamed:
            self.final_streamed = True
            return [job.output]
        return []

    def requeued(self) -> None:
        self.finished_at, self.cursor, self.final_streamed = None, 0, False


class JobBook:
    """The API's jobs by id, expiring them on time; counts finished jobs per endpoint for ``/health``."""

    def __init__(self, runtime: Runtime, on_finish: Callable[[Entry], None], clock: Clock,
                 max_jobs: int = MAX_RETAINED_JOBS, max_bytes: int = MAX_RETAINED_BYTES) -> None:
        self._runtime, self.on_finish, self._clock = runtime, on_finish, clock
        self.max_jobs, self.max_bytes = max_jobs, max_bytes
        self._entries: dict[str, Entry] = {}
        self._finished: collections.OrderedDict[str, Entry] = collections.OrderedDict()  # oldest first
        self._finished_bytes = 0
        self._gone: collections.OrderedDict[str, tuple[str, str]] = collections.OrderedDict()
        self._last_cap_reason = ""
        self._deadlines: list[tuple[float, str]] = []
        self._timer: Cancellable | None = None
        self._timer_at = math.inf
        self._counts: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
        self._unsubscribe = runtime.subscribe(self._on_event)

    def close(self) -> None:
        self._unsubscribe()
        if self._timer is not None:
            self._timer.cancel()
            self._timer, self._timer_at = None, math.inf

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def retained_bytes(self) -> int:
        return self._finished_bytes

    def add(self, job: Job, ttl: float, retention: float, webhook: str | None, request_bytes: int = 0) -> Entry:
        generator = self._runtime.handler(job.handler).kind.is_generator
        delivery = Delivery(webhook) if webhook else None
        entry = Entry(job, job.handler, self._clock(), ttl, retention, generator, delivery, request_bytes)
        self._entries[job.id] = entry
        self._push(entry)
        if job.done:  # finished before it was booked (a quick job on a busy loop)
            self._finished_now(entry)
        return entry

    def get(self, endpoint: str, job_id: str) -> Entry | None:
        entry = self._entries.get(job_id)
        return entry if entry is not None and entry.endpoint == endpoint else None

    def why_gone(self, endpoint: str, job_id: str) -> str | None:
        """Why a job this server handed out is no longer there (None: never seen, or long ago)."""
        gone = self._gone.get(job_id)
        return gone[1] if gone is not None and gone[0] == endpoint else None

    def requeued(self, entry: Entry) -> None:
        self._forget_finished(entry)
        entry.requeued()
        self._counts[entry.endpoint]["retried"] += 1

    def sweep(self) -> None:
        """Delete every job past its deadline (cancelling it if it is still queued or running)."""
        now = self._clock()
        while self._deadlines and self._deadlines[0][0] <= now:
            _, job_id = heapq.heappop(self._deadlines)
            entry = self._entries.get(job_id)
            if entry is not None and entry.expires_at() <= now:
                self._delete(entry, _expiry_reason(entry, now))
        self._compact()
        self._arm()

    def purge(self, endpoint: str) -> int:
        """``/purge-queue``: delete the endpoint's queued jobs (running ones go on)."""
        queued = [e for e in self._entries.values() if e.endpoint == endpoint and e.job.status is JobStatus.IN_QUEUE]
        for entry in queued:
            self._delete(entry, "removed from the queue by /purge-queue")
        return len(queued)

    def health(self, endpoint: str) -> dict[str, Any]:
        """RunPod's ``/health`` body: finished counts since the server started, live queue and workers."""
        live = collections.Counter(job.status for job in self._runtime.jobs  # this worker's jobs only
                                   if job.handler == endpoint and job._runtime is self._runtime)
        counts = self._counts[endpoint]
        running = live[JobStatus.IN_PROGRESS]
        body: dict[str, Any] = {
            "jobs": {
                "completed": counts["completed"],
                "failed": counts["failed"],
                "inProgress": running,
                "inQueue": live[JobStatus.IN_QUEUE],
                "retried": counts["retried"],
            },
            "workers": {"idle": 0 if running else 1, "running": 1 if running else 0},
        }
        abandoned = [call for call in self._runtime.abandoned if call.handler == endpoint]
        if abandoned:  # calls the runtime stopped waiting for (stuck past a cancel or timeout), still running
            body["workers"]["unhealthy"] = len(abandoned)
            body["abandoned"] = [{"jobId": call.job_id, "kind": call.kind, "since": round(call.since, 3),
                                  "where": call.where, "description": call.describe()} for call in abandoned]
        return body

    # ---- inside ---------------------------------------------------------------------------------
    def _push(self, entry: Entry) -> None:
        heapq.heappush(self._deadlines, (entry.expires_at(), entry.job.id))
        self._compact()
        self._arm()

    def _compact(self) -> None:
        """Drop the stale deadlines (of jobs gone, or finished since) once they outnumber the live ones."""
        if len(self._deadlines) > 2 * len(self._entries) + 64:
            self._deadlines = [(e.expires_at(), i) for i, e in self._entries.items()]
            heapq.heapify(self._deadlines)

    def _arm(self) -> None:
        """One loop timer, for the earliest deadline."""
        head = self._deadlines[0][0] if self._deadlines else math.inf
        if head >= self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = head
        self._timer = self._clock.call_later(max(0.0, head - self._clock()), self._on_timer)

    def _on_timer(self) -> None:
        self._timer, self._timer_at = None, math.inf
        self.sweep()

    def _delete(self, entry: Entry, reason: str) -> None:
        del self._entries[entry.job.id]
        self._forget_finished(entry)
        self._gone[entry.job.id] = (entry.endpoint, reason)
        while len(self._gone) > _GONE_KEPT:
            self._gone.popitem(last=False)
        if not entry.job.done:
            self._runtime.cancel(entry.job.id)
        self._compact()

    def _forget_finished(self, entry: Entry) -> None:
        if self._finished.pop(entry.job.id, None) is not None:
            self._finished_bytes -= entry.size

    def _finished_now(self, entry: Entry) -> None:
        entry.finished_at = self._clock()
        entry.size = entry.request_bytes + _result_bytes(entry.job)
        self._finished[entry.job.id] = entry
        self._finished_bytes += entry.size
        self._push(entry)
        while self._finished and (len(self._finished) > self.max_jobs or self._finished_bytes > self.max_bytes):
            self._delete(next(iter(self._finished.values())), self._cap_reason())

    def _cap_reason(self) -> str:
        reason = (f"deleted early, oldest finished first, to keep this server within its retention cap of "
                  f"{self.max_jobs} jobs and {self.max_bytes // (1024 * 1024)} MB")
        if reason != self._last_cap_reason:  # one string for all of them
            self._last_cap_reason = reason
        return self._last_cap_reason

    def _on_event(self, event: JobEvent) -> None:
        job = event.job
        if event.kind != "finished" or job._runtime is not self._runtime:  # remote jobs are another worker's
            return
        if job.status is JobStatus.COMPLETED:
            self._counts[job.handler]["completed"] += 1
        elif job.status in (JobStatus.FAILED, JobStatus.TIMED_OUT):
            self._counts[job.handler]["failed"] += 1
        entry = self._entries.get(job.id)
        if entry is not None and entry.job is job and entry.finished_at is None:
            self._finished_now(entry)
            self.on_finish(entry)


def _result_bytes(job: Job) -> int:
    """About what the finished job holds, as JSON: its output, error and stream."""
    try:
        return len(json.dumps([job.output, job.error, job.stream], separators=(",", ":")))
    except (TypeError, ValueError, RecursionError):
        return 0


def _expiry_reason(entry: Entry, now: float) -> str:
    if entry.finished_at is not None and entry.finished_at + entry.retention <= entry.created + entry.ttl:
        return f"its result was kept {entry.retention:g} s after it finished (the route's retention) and deleted"
    return f"its policy.ttl of {entry.ttl:g} s ran out and it was deleted"
