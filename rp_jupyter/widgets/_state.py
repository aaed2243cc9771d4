"""A job view's state, kept from runtime events: small, cheap to update, rendered elsewhere."""

from __future__ import annotations

import collections
import json
import time
from collections.abc import Callable
from typing import Any

from ..runtime import Job, JobEvent
from ._format import final_progress, log_rows, parse_error, progress_label, progress_view

__all__ = ["LogState", "StreamState", "job_state"]

HISTORY = 5
WARNINGS = 5
"""The latest warnings a view shows (the watchdog's "blocked at line …", a dropped progress value…)."""
LOG_BATCH = 1_000
"""Log entries one update carries at most (a handler logging in a hot loop: the latest are sent, and
how many were skipped); the browser keeps the latest 2,000."""


class StreamState:
    """The stream as running text: string chunks joined, other chunks as JSON lines; counters.

    Reads the job's own ``stream`` list from a cursor, in bulk at flush time: the per-chunk cost on
    the runtime's side is nothing but the list append the runtime does anyway.
    """

    def __init__(self, chunks: list[Any], tokenizer: Callable[[str], int] | None = None) -> None:
        self._source = chunks
        self._count_tokens = tokenizer or _count_tokens
        self._cursor = 0
        self.parts: list[str] = []
        self.chunks = self.chars = self.tokens = 0
        self.first_at: float | None = None
        self.last_at: float | None = None
        self._ends_with_newline = True
        self._mid_word = False

    def saw_chunks(self) -> None:
        """Called on a chunk event: only the time of the first one is taken there."""
        if self.first_at is None:
            self.first_at = time.perf_counter()

    def take_delta(self) -> str:
        """The text of the chunks that arrived since the last call (kept in the full text too)."""
        end = len(self._source)
        if end == self._cursor:
            return ""
        new = self._source[self._cursor:end]
        self._cursor = end
        delta, self._ends_with_newline = _render(new, self._ends_with_newline)
        self.parts.append(delta)
        self.chunks += len(new)
        self.chars += len(delta)
        self.tokens += self._count_tokens(delta)
        if self._count_tokens is _count_tokens and delta:  # a word split across two deltas is one token
            if self._mid_word and not delta[0].isspace():
                self.tokens -= 1
            self._mid_word = not delta[-1].isspace()
        self.last_at = time.perf_counter()
        if self.first_at is None:
            self.first_at = self.last_at
        return delta

    @property
    def sent_text(self) -> str:
        """The text handed out by :meth:`take_delta` so far."""
        if len(self.parts) > 1:
            self.parts[:] = ["".join(self.parts)]
        return self.parts[0] if self.parts else ""

    def full_text(self) -> str:
        """Everything so far, without taking a delta (for summaries and snapshots)."""
        unsent, _ = _render(self._source[self._cursor:], self._ends_with_newline)
        return self.sent_text + unsent

    def rates(self, started_at: float | None, first_at: float | None = None,
              last_at: float | None = None) -> dict[str, Any]:
        """Time to first chunk (ms, from the job's start), chunks/s and tokens/s over the stream.

        ``first_at`` / ``last_at``: when the job itself saw its first and latest chunks, if it knows
        (a view opened after the job ran has seen them only now)."""
        first_at = first_at if first_at is not None else self.first_at
        last_at = last_at if last_at is not None else self.last_at
        span = (last_at - first_at) if first_at is not None and last_at is not None else 0
        ttfc = None if first_at is None or started_at is None else round((first_at - started_at) * 1000)
        return {
            "chunks": self.chunks,
            "chars": self.chars,
            "tokens": self.tokens,
            "ttfc_ms": ttfc,
            "chunks_per_s": round(self.chunks / span, 1) if span > 0 else None,
            "tokens_per_s": round(self.tokens / span, 1) if span > 0 else None,
        }


def _render(values: list[Any], ends_with_newline: bool) -> tuple[str, bool]:
    """Chunks → text: strings as they are, anything else as a JSON line of its own."""
    try:
        text = "".join(values)
    except TypeError:
        out = []
        for value in values:
            piece = value if type(value) is str else json.dumps(value, ensure_ascii=False) + "\n"
            if type(value) is not str and not ends_with_newline:
                piece = "\n" + piece
            if piece:
                ends_with_newline = piece.endswith("\n")
            out.append(piece)
        return "".join(out), ends_with_newline
    return text, (text.endswith("\n") if text else ends_with_newline)


_EXACT_TOKENS_UP_TO = 65_536


def _count_tokens(text: str) -> int:
    """Whitespace tokens. Exact for deltas up to 64 K characters (over 1 M chars/s at 20 Hz); above
    that, separators are counted instead (no list of words is built), which is exact for text with
    single separators and close otherwise — this keeps a synthetic flood from paying for ``split``."""
    if len(text) <= _EXACT_TOKENS_UP_TO:
        return len(text.split())
    separators = text.count(" ") + text.count("\n") + text.count("\t")
    return separators + (0 if text[-1].isspace() else 1)


class LogState:
    """The job's log entries (``job.logs``: ``LogLine`` with ``t``, ``stream``, ``text``) read from a
    cursor at flush time, as rows a view shows; keeps the latest :data:`LOG_BATCH` rows for a view that
    asks again (a reload) and for the finished view. Nothing is done per entry on the runtime's side.

    The cursor counts the job's entries from its start: the runtime drops the oldest entries of a job
    that logs more than its limit (``job.logs_dropped`` counts them); entries dropped before the view
    read them count as skipped."""

    def __init__(self, job: Job) -> None:
        self._job = job
        self._source: list[Any] | None = None
        self._cursor = 0
        self.total = 0
        self.stderr = 0
        self.latest: collections.deque[dict[str, str]] = collections.deque(maxlen=LOG_BATCH)

    def take_delta(self) -> tuple[list[dict[str, str]], int]:
        """The rows that arrived since the last call, and how many new entries were skipped."""
        source = getattr(self._job, "logs", None) or []
        if source is not self._source:  # a first look, or the job was retried: its log starts again
            self._source, self._cursor, self.total, self.stderr = source, 0, 0, 0
            self.latest.clear()
        dropped, fresh = self._read(source)
        skipped = max(0, dropped - self._cursor)
        if not fresh and not skipped:
            return [], 0
        self._cursor = max(self._cursor, dropped) + len(fresh)
        self.total += skipped + len(fresh)
        shown = fresh[-LOG_BATCH:]
        skipped += len(fresh) - len(shown)
        rows = log_rows(shown)
        self.stderr += sum(row["s"] == "stderr" for row in rows)
        self.latest.extend(rows)
        return rows, skipped

    def _read(self, source: list[Any]) -> tuple[int, list[Any]]:
        """How many entries the job dropped so far, and the entries from the cursor on — read again when
        entries were dropped meanwhile (the count and the list must agree)."""
        for _ in range(5):
            dropped = self._dropped()
            fresh = source[max(0, self._cursor - dropped):]
            if self._dropped() == dropped:
                return dropped, fresh
        return self._cursor, []  # dropping as fast as we read: the next flush

    def _dropped(self) -> int:
        return int(getattr(self._job, "logs_dropped", 0) or 0)


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
        "warnings": list(getattr(job, "warnings", None) or [])[-WARNINGS:],
    }


def progress_state(job: Job, event: JobEvent | None = None) -> dict[str, Any] | None:
    """The progress bar or text, the last few updates as they were sent (``17/40 › 18/40``, no JSON
    quotes), and a completed job's bar full (:func:`~._format.final_progress`)."""
    view = final_progress(progress_view(job.progress), job.status.value)
    if view is None:
        return None
    view["history"] = [progress_label(v) for v in job.progress_history[-HISTORY:]]
    return view


def error_state(job: Job) -> dict[str, Any] | None:
    return parse_error(job.error)
