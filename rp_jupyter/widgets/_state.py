"""A job view's state, kept from runtime events: small, cheap to update, rendered elsewhere."""

from __future__ import annotations

import json
import time
from typing import Any

from ..runtime import Job, JobEvent
from ._format import parse_error, progress_view

__all__ = ["StreamState", "job_state"]

HISTORY = 5


class StreamState:
    """The stream as running text: string chunks joined, other chunks as JSON lines; counters."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.pending: list[str] = []
        self.chunks = self.chars = self.tokens = 0
        self.first_at: float | None = None
        self.last_at: float | None = None
        self._ends_with_newline = True

    def add(self, values: list[Any]) -> None:
        now = time.perf_counter()
        if self.first_at is None:
            self.first_at = now
        self.last_at = now
        for value in values:
            text = value if type(value) is str else self._json_line(value)
            self.pending.append(text)
            self.chars += len(text)
            self.tokens += len(text.split())
            if text:
                self._ends_with_newline = text.endswith("\n")
        self.chunks += len(values)

    def _json_line(self, value: Any) -> str:
        line = json.dumps(value, ensure_ascii=False) + "\n"
        return line if self._ends_with_newline else "\n" + line

    def take_delta(self) -> str:
        """What is new since the last call (and keep it in the full text)."""
        delta = "".join(self.pending)
        self.pending.clear()
        if delta:
            self.parts.append(delta)
        return delta

    @property
    def text(self) -> str:
        if self.pending:
            self.take_delta()
        if len(self.parts) > 1:
            self.parts[:] = ["".join(self.parts)]
        return self.parts[0] if self.parts else ""

    def rates(self, started_at: float | None) -> dict[str, Any]:
        """Time to first chunk (ms, from the job's start), chunks/s and tokens/s over the stream."""
        span = (self.last_at - self.first_at) if self.first_at is not None and self.last_at is not None else 0
        ttfc = None if self.first_at is None or started_at is None else round((self.first_at - started_at) * 1000)
        return {
            "chunks": self.chunks,
            "chars": self.chars,
            "tokens": self.tokens,
            "ttfc_ms": ttfc,
            "chunks_per_s": round(self.chunks / span, 1) if span > 0 else None,
            "tokens_per_s": round(self.tokens / span, 1) if span > 0 else None,
        }


def job_state(job: Job) -> dict[str, Any]:
    """The job's header and result as plain data (what summaries and views render)."""
    return {
        "id": job.id,
        "handler": job.handler,
        "status": job.status.value,
        "delayTime": job.delay_time,
        "executionTime": job.execution_time,
        "elapsed": round(job.elapsed, 3),
        "progress": job.progress,
        "has_output": job.has_output,
        "output": job.output,
        "error": job.error,
        "chunks": len(job.stream),
    }


def progress_state(job: Job, event: JobEvent | None = None) -> dict[str, Any] | None:
    view = progress_view(job.progress)
    if view is None:
        return None
    view["history"] = [json.dumps(v, ensure_ascii=False)[:200] for v in job.progress_history[-HISTORY:]]
    return view


def error_state(job: Job) -> dict[str, Any] | None:
    return parse_error(job.error)
