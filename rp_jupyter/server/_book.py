"""The jobs the public API has handed out: lookup by endpoint, stream cursors, expiry, health counts.

Everything here runs on the runtime's loop thread (route handlers and runtime events both do), so
nothing needs a lock. Time comes from an injected ``clock`` (seconds, monotonic) for the tests.

Expiry, as on RunPod: a job is deleted (``404`` afterwards) when its ``policy.ttl`` runs out (from
submission; a job still queued or running then is cancelled), or once its result has been kept for
the route's retention (``/run`` 30 min, ``/runsync`` 1 min), whichever comes first.
"""

from __future__ import annotations

import collections
import dataclasses
import heapq
from collections.abc import Callable
from typing import Any

from ..runtime import Job, JobEvent, JobStatus, Runtime

__all__ = ["DEFAULT_TTL", "Entry", "JobBook"]

DEFAULT_TTL = 24 * 3600.0
"""RunPod's default ``policy.ttl`` (86400000 ms), in seconds."""


@dataclasses.dataclass
class Entry:
    """One job handed out by the API, and what the API remembers about it."""

    job: Job
    endpoint: str
    created: float
    ttl: float
    retention: float
    generator: bool
    webhook: str | None = None
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
    """The API's jobs by id, expiring them; counts finished jobs per endpoint for ``/health``."""

    def __init__(
        self,
        runtime: Runtime,
        on_finish: Callable[[Entry], None],
        clock: Callable[[], float],
    ) -> None:
        self._runtime, self._on_finish, self._clock = runtime, on_finish, clock
        self._entries: dict[str, Entry] = {}
        self._deadlines: list[tuple[float, str]] = []
        self._counts: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
        self._unsubscribe = runtime.subscribe(self._on_event)

    def close(self) -> None:
        self._unsubscribe()

    def add(self, job: Job, ttl: float, retention: float, webhook: str | None) -> Entry:
        self.sweep()
        generator = self._runtime.handler(job.handler).kind.is_generator
        entry = Entry(job, job.handler, self._clock(), ttl, retention, generator, webhook)
        self._entries[job.id] = entry
        heapq.heappush(self._deadlines, (entry.expires_at(), job.id))
        return entry

    def get(self, endpoint: str, job_id: str) -> Entry | None:
        self.sweep()
        entry = self._entries.get(job_id)
        return entry if entry is not None and entry.endpoint == endpoint else None

    def requeued(self, entry: Entry) -> None:
        entry.requeued()
        self._counts[entry.endpoint]["retried"] += 1

    def sweep(self) -> None:
        """Delete every job past its deadline (cancelling it if it is still queued or running)."""
        now = self._clock()
        while self._deadlines and self._deadlines[0][0] <= now:
            _, job_id = heapq.heappop(self._deadlines)
            entry = self._entries.get(job_id)
            if entry is not None and entry.expires_at() <= now:
                self._delete(entry)

    def purge(self, endpoint: str) -> int:
        """``/purge-queue``: delete the endpoint's queued jobs (running ones go on)."""
        queued = [e for e in self._entries.values() if e.endpoint == endpoint and e.job.status is JobStatus.IN_QUEUE]
        for entry in queued:
            self._delete(entry)
        return len(queued)

    def _delete(self, entry: Entry) -> None:
        del self._entries[entry.job.id]
        if not entry.job.done:
            self._runtime.cancel(entry.job.id)

    def health(self, endpoint: str) -> dict[str, Any]:
        """RunPod's ``/health`` body: finished counts since the server started, live queue and workers."""
        live = collections.Counter(job.status for job in self._runtime.jobs  # this worker's jobs only
                                   if job.handler == endpoint and job._runtime is self._runtime)
        counts = self._counts[endpoint]
        running = live[JobStatus.IN_PROGRESS]
        return {
            "jobs": {
                "completed": counts["completed"],
                "failed": counts["failed"],
                "inProgress": running,
                "inQueue": live[JobStatus.IN_QUEUE],
                "retried": counts["retried"],
            },
            "workers": {"idle": 0 if running else 1, "running": 1 if running else 0},
        }

    def _on_event(self, event: JobEvent) -> None:
        job = event.job
        if event.kind != "finished" or job._runtime is not self._runtime:  # remote jobs are another worker's
            return
        if job.status is JobStatus.COMPLETED:
            self._counts[job.handler]["completed"] += 1
        elif job.status in (JobStatus.FAILED, JobStatus.TIMED_OUT):
            self._counts[job.handler]["failed"] += 1
        entry = self._entries.get(job.id)
        if entry is not None and entry.job is job:
            entry.finished_at = self._clock()
            heapq.heappush(self._deadlines, (entry.expires_at(), job.id))
            self._on_finish(entry)
