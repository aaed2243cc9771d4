"""Calling handlers the way RunPod's ``run_job`` / ``run_job_generator`` / ``handle_job`` do.

These functions run the user's code; their frames live in the runtime's directory, so the
tracebacks users see start at the handler's own frame.
"""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from ._job import Job
from ._shaping import (
    RUNSYNC_LIMIT_BYTES,
    NotSerializable,
    check_wire,
    chunk_error,
    exception_error,
    generator_error,
    shape_return,
)
from ._spec import HandlerSpec

__all__ = ["ChunkAnnouncer", "SyncDrain", "await_result", "call_async", "call_sync", "drain_async", "fatal_error"]

_CHUNK_LOST = (
    "On RunPod the worker would skip posting this chunk (the stream silently loses it) and, with "
    "return_aggregate_stream, the final result could not be posted: the job would stay IN_PROGRESS "
    "until its execution timeout."
)


def _finish_normal(value: Any) -> dict[str, Any]:
    result = shape_return(value)
    try:
        for key in ("output", "error"):
            if key in result:
                limit = RUNSYNC_LIMIT_BYTES if key == "output" else None
                result[key] = check_wire(result[key], key, limit)
    except (NotSerializable, ValueError) as exc:
        return {"error": str(exc)}
    return result


def call_sync(fn: Callable[..., Any], job: dict[str, Any]) -> Any:
    try:
        value = fn(job)
    except Exception as exc:
        return {"error": exception_error(exc)}
    return value if inspect.isawaitable(value) else _finish_normal(value)


async def await_result(awaitable: Any) -> dict[str, Any]:
    try:
        value = await awaitable
    except Exception as exc:
        return {"error": exception_error(exc)}
    return _finish_normal(value)


async def call_async(fn: Callable[..., Any], job: dict[str, Any]) -> dict[str, Any]:
    try:
        value = fn(job)
        if inspect.isawaitable(value):
            value = await value
    except Exception as exc:
        return {"error": exception_error(exc)}
    return _finish_normal(value)


class ChunkAnnouncer:
    """A generator's chunks: appended to ``job.stream`` by the handler's thread at once, announced as
    "chunk" events in batches (one control-loop wake-up per batch, not per chunk)."""

    def __init__(self, job: Job, schedule: Callable[[Callable[[], None]], None]) -> None:
        self._job, self._schedule = job, schedule
        self._stream = job.stream
        self._announced = len(job.stream)
        self._scheduled = False
        self._lock = threading.Lock()
        job._flushers.append(self.flush)

    def put(self, value: Any) -> None:
        """(the handler's thread; its drain stops at a job's end, so no check here: the hot path)"""
        self._stream.append(value)
        if not self._scheduled:
            self._scheduled = True
            self._schedule(self.flush)

    def flush(self) -> None:
        with self._lock:
            self._scheduled = False
            end = len(self._stream)
            items = self._stream[self._announced:end]
            self._announced = end
            if items:
                self._job._announce_chunks(items)


class _Stream:
    """The per-chunk rules of RunPod's ``handle_job`` for generator handlers."""

    def __init__(self, spec: HandlerSpec, job: Job, sink: Callable[[Any], None]) -> None:
        self.aggregate: list[Any] | None = [] if spec.return_aggregate_stream else None
        self.job, self.sink, self.count = job, sink, 0

    def take(self, value: Any) -> dict[str, Any] | None:
        """Handle one yielded value; a result body when the stream must stop here."""
        if type(value) is not str or not value.isascii():  # an ASCII string needs no check: the hot path
            error = chunk_error(value)
            if error is not None:
                return {"error": error}
            try:
                value = check_wire(value, f"stream chunk {self.count}", consequence=_CHUNK_LOST)
            except NotSerializable as exc:
                return {"error": str(exc)}
        self.count += 1
        if not self.count & 1023:
            time.sleep(0)  # let the kernel's main thread in: a pure-Python stream would hog the GIL
        if self.aggregate is not None:
            self.aggregate.append(value)
        self.sink(value)
        return None

    def final(self) -> dict[str, Any]:
        if self.aggregate is None:
            return {"output": []}
        try:
            return {"output": check_wire(self.aggregate, "aggregated output", RUNSYNC_LIMIT_BYTES)}
        except ValueError as exc:
            return {"error": str(exc)}


class SyncDrain:
    """A sync generator's stream, run in turns on the handler's worker thread.

    RunPod's worker iterates a sync generator on its event loop and awaits the HTTP post of every
    chunk (``rp_job.handle_job``): while one job's chunk is posted, another running job takes its next
    step. So jobs of a sync generator *interleave at their yields* — one step at a time, never two at
    once. :meth:`turn` does the same: it iterates until the stream ends, or, after a chunk, while
    other jobs of the handler are running (``contended``), then gives the thread up, so the running
    jobs step in turn. A job running alone streams its whole output in one turn.
    """

    def __init__(self, spec: HandlerSpec, job: Job, sink: Callable[[Any], None], contended: Callable[[], bool]) -> None:
        self._spec, self._job, self._contended = spec, job, contended
        self._stream = _Stream(spec, job, sink)
        self._generator: Iterator[Any] | None = None
        self.finished = False
        self.result: dict[str, Any] | None = None

    def turn(self) -> bool:
        """Run until the stream ends (True; ``result`` holds the body to post) or it is another job's
        turn (False)."""
        job = self._job
        try:
            if job._ended:  # cancelled or timed out between turns: post nothing
                return self._end(None)
            if self._generator is None:
                self._generator = self._spec.fn(job.job)
            for value in self._generator:
                if job._ended:  # cancelled or timed out: stop between yields, post nothing
                    return self._end(None)
                stop = self._stream.take(value)
                if stop is not None:
                    return self._end(stop)
                if self._contended():
                    return False
        except Exception as exc:
            return self._end({"error": generator_error(exc)})
        except BaseException:
            self.close()
            raise
        return self._end(self._stream.final())

    def _end(self, result: dict[str, Any] | None) -> bool:
        self.close()
        self.result, self.finished = result, True
        return True

    def close(self) -> None:
        """Close the generator (its ``finally`` blocks run): on the worker thread, like its steps."""
        generator, self._generator = self._generator, None
        close = getattr(generator, "close", None)
        if close is not None:
            close()


async def drain_async(spec: HandlerSpec, job: Job, sink: Callable[[Any], None]) -> dict[str, Any]:
    stream = _Stream(spec, job, sink)
    generator = spec.fn(job.job)
    try:
        async for value in generator:
            if job._ended:  # cancelled or timed out: nothing more reaches the stream
                break
            stop = stream.take(value)
            if stop is not None:
                return stop
    except Exception as exc:
        return {"error": generator_error(exc)}
    finally:
        await generator.aclose()
    return stream.final()


def fatal_error(exc: BaseException) -> str:
    return (
        f"rp_jupyter: the handler raised {type(exc).__name__}({exc!s}), which is not an Exception. "
        "On RunPod this escapes the SDK and stops the worker; the job is lost and stays IN_PROGRESS "
        "until its execution timeout."
    )
