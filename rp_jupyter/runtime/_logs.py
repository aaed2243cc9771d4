"""Per-job logs: what a handler prints or logs while it runs a job is kept on that job.

The job a piece of code runs for is a context variable, set around every handler call (sync calls
on their worker thread, async calls in their own task), so concurrent async jobs and sync handlers
on their threads each get their own lines. While capture is installed:

- ``sys.stdout`` / ``sys.stderr`` are proxies: a write made for a job goes to ``job.logs``; any other
  write goes to the stream that was there before (a cell's output, as without rp_jupyter);
- a ``logging`` record emitted for a job is kept once, formatted, as a ``"log"`` line; the handlers
  it would reach still run, but what they write to the proxies is not kept a second time.

Code a handler starts on threads of its own runs outside the job's context (threads do not inherit
context variables), so its output goes where it goes without rp_jupyter. :func:`install` and
:func:`uninstall` are counted: the last runtime to stop restores every patched name.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple, Protocol, TextIO

__all__ = ["LOG_LIMIT_BYTES", "LogLine", "current_job", "ensure_streams", "enter_job", "install", "job_context",
           "leave_job", "uninstall"]

LOG_LIMIT_BYTES = 1024 * 1024
"""The most text a job keeps; older lines are dropped first (``job.logs_dropped`` counts them)."""


class LogLine(NamedTuple):
    """One piece of a job's log: when, which stream (``stdout``, ``stderr``, ``log``; ``prestart``: what the
    prestart hooks of its worker wrote while the job waited for them), the text."""

    t: float
    stream: str
    text: str


class _LogSink(Protocol):
    def _log(self, stream: str, text: str) -> None: ...


_JOB: contextvars.ContextVar[_LogSink | None] = contextvars.ContextVar("rp_jupyter_job", default=None)
_IN_RECORD: contextvars.ContextVar[bool] = contextvars.ContextVar("rp_jupyter_in_log_record", default=False)


def current_job() -> Any:
    """The job the calling code runs for, or None outside any job (a prestart hook runs for none)."""
    sink = _JOB.get()
    return sink if getattr(sink, "is_job", True) else None


@contextmanager
def job_context(job: _LogSink) -> Iterator[None]:
    """Run the block as ``job``'s code: its output and log records go to the job."""
    token = _JOB.set(job)
    try:
        yield
    finally:
        _JOB.reset(token)


def enter_job(job: _LogSink) -> contextvars.Token[_LogSink | None]:
    """Make the calling code ``job``'s (in a task's own context, no :func:`leave_job` is needed)."""
    return _JOB.set(job)


def leave_job(token: contextvars.Token[_LogSink | None]) -> None:
    _JOB.reset(token)


class _JobStream:
    """A ``sys.stdout``/``sys.stderr`` stand-in: a job's writes to its log, the rest to ``target``."""

    def __init__(self, name: str, target: TextIO) -> None:
        self._name, self._target = name, target

    def write(self, text: str) -> int:
        job = _JOB.get()
        if job is None:
            return self._target.write(text)
        if not _IN_RECORD.get() and text:
            job._log(self._name, text)
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if _JOB.get() is None:
            self._target.flush()

    def __getattr__(self, name: str) -> Any:  # encoding, fileno, isatty, ipykernel's own attributes
        return getattr(self._target, name)


_lock = threading.Lock()
_users = 0
_streams: dict[str, _JobStream] = {}
_ORIGINAL_CALL_HANDLERS: Callable[[logging.Logger, logging.LogRecord], None] = logging.Logger.callHandlers
_patched = False
_FORMAT = logging.Formatter("%(levelname)s %(name)s: %(message)s")


def _call_handlers(self: logging.Logger, record: logging.LogRecord) -> None:
    """``Logger.callHandlers`` while capture is installed: a job's record is kept once, as a log line."""
    job = _JOB.get()
    if job is None:
        return _ORIGINAL_CALL_HANDLERS(self, record)
    try:
        job._log("log", _FORMAT.format(record) + "\n")
    except Exception:  # a record that cannot be formatted: logging reports it as it always does
        pass
    token = _IN_RECORD.set(True)
    try:
        _ORIGINAL_CALL_HANDLERS(self, record)
    finally:
        _IN_RECORD.reset(token)


def install() -> None:
    """Start capturing (counted: one call per runtime)."""
    global _users, _patched
    with _lock:
        _users += 1
        if not _patched:
            logging.Logger.callHandlers = _call_handlers  # type: ignore[method-assign]
            _patched = True
    ensure_streams()


def ensure_streams() -> None:
    """Put the proxies in ``sys.stdout``/``sys.stderr`` if something replaced them (a kernel, a test
    runner's capture, ``redirect_stdout``): wrap whatever is there now. Cheap when they are in place."""
    for name in ("stdout", "stderr"):
        current = getattr(sys, name)
        if _users and current is not _streams.get(name) and current is not None:
            with _lock:
                current = getattr(sys, name)
                if _users and current is not _streams.get(name):
                    _streams[name] = _JobStream(name, current)
                    setattr(sys, name, _streams[name])


def uninstall() -> None:
    """Stop capturing once the last user is gone: restore the streams and ``Logger.callHandlers``."""
    global _users, _patched
    with _lock:
        _users = max(0, _users - 1)
        if _users:
            return
        for name, stream in list(_streams.items()):
            if getattr(sys, name) is stream:
                setattr(sys, name, stream._target)
        _streams.clear()
        if _patched and logging.Logger.callHandlers is _call_handlers:
            logging.Logger.callHandlers = _ORIGINAL_CALL_HANDLERS  # type: ignore[method-assign,assignment]
        _patched = False

