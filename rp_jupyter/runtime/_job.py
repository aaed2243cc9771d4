"""``Job``: the handle of one job — state, output or error, stream, progress, timings, logs.

State changes happen on whichever thread does the work (the handler's worker thread or loop, the
caller's thread for a cancel, the runtime's timer thread for a timeout); entering a terminal state is
atomic (first one wins) and ``future`` is resolved last, so a reader that sees a job done sees all of it.
Events about the changes are delivered in order on the runtime's control loop, a moment later.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from ..exceptions import JobWaitTimeout
from ._logs import LOG_LIMIT_BYTES, LogLine
from ._status import JobStatus

__all__ = ["Job", "JobEvent", "JobOwner"]

_PARTIAL_LIMIT = 4096
"""A line without its newline yet is kept apart until it ends, the job ends, or it grows this long."""
_OUTPUT = ("stdout", "stderr")  # what the job's own code wrote; not "log" records, nor "prestart" (its worker's hooks)


class JobOwner(Protocol):
    """Who runs a job: the local runtime, or a remote endpoint's follower. Cancels it; hears its events."""

    def cancel(self, job_id: str) -> Any: ...

    def _publish(self, event: JobEvent) -> None:
        """Deliver ``event`` to the job's and the owner's listeners (in order, on the owner's thread).
        An owner may also offer ``_call_soon(fn)``: run ``fn`` on that thread, after what came before."""


@dataclasses.dataclass(frozen=True)
class JobEvent:
    """Something that happened to a job. ``kind`` is one of :data:`Job.EVENT_KINDS`.

    Events reach listeners a moment after they happened (in order, on the control loop): ``status``
    is the job's status when it happened; ``job.status`` is its status now, which may be later.
    """

    kind: str
    job: Job
    data: Any = None
    status: JobStatus | None = None


Listener = Callable[[JobEvent], None]


class Job:
    """One job of a registered handler, local or (later) remote: what RunPod's API would show.

    ``status`` is a :class:`JobStatus`; ``output``/``error`` are the values a client gets (JSON
    round-tripped); ``stream`` lists the values the handler yielded (each posted to RunPod as
    ``{"output": v}``); ``progress`` is the last ``progress_update`` value. ``result_body`` is the
    job-done body the deployed worker would have posted (with ``stopPod`` when asked for).
    """

    EVENT_KINDS = ("submitted", "started", "progress", "chunk", "log", "warning", "finished")

    def __init__(
        self,
        runtime: JobOwner | None,
        job_id: str,
        handler: str,
        job: dict[str, Any],
        request: dict[str, Any],
        *,
        sync: bool = False,
        execution_timeout: float | None = None,
    ) -> None:
        self.id = job_id
        self.handler = handler
        self.job = job
        self.request = request
        self.sync = sync
        self.execution_timeout = execution_timeout
        self.status = JobStatus.IN_QUEUE
        self.output: Any = None
        self.error: Any = None
        self.has_output = False
        self.stream: list[Any] = []
        self.progress: Any = None
        self.progress_history: list[Any] = []
        self.stop_pod = False
        self.result_body: dict[str, Any] | None = None
        self.warnings: list[str] = []
        """What went wrong around the job without failing it: a blocked loop, a dropped progress value."""
        self.logs: list[LogLine] = []
        """What the handler printed or logged while it ran this job (``LogLine(t, stream, text)``)."""
        self.logs_dropped = 0
        """Lines dropped from the front of ``logs`` to keep it under ``LOG_LIMIT_BYTES``."""
        self.reported_times: tuple[int | None, int | None] | None = None
        """(delayTime, executionTime) as a remote endpoint reported them; None for local jobs."""
        self.spec: Any = None
        """The ``HandlerSpec`` the job ran with (set when it starts): which version of the handler."""
        self.submitted_at = time.time()
        self._t_submit = time.perf_counter()
        self._t_start: float | None = None
        self._t_end: float | None = None
        self._t_first_chunk: float | None = None  # when the first and latest chunks arrived
        self._t_last_chunk: float | None = None
        self.future: concurrent.futures.Future[Job] = concurrent.futures.Future()
        self._runtime = runtime
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()
        self._partial: dict[str, tuple[float, str]] = {}
        self._log_bytes = 0
        self._log_published = 0  # lines (dropped ones included) already announced in "log" events
        self._log_flush_pending = False
        self._ended = False
        self._flushers: list[Callable[[], None]] = []  # announce what the handler's thread produced

    # ---- reading ------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self.future.done()

    @property
    def delay_time(self) -> int | None:
        """RunPod's ``delayTime``: ms from submission until a worker picked the job up."""
        if self.reported_times is not None:
            return self.reported_times[0]
        if self._t_start is None:
            return None
        return round((self._t_start - self._t_submit) * 1000)

    @property
    def execution_time(self) -> int | None:
        """RunPod's ``executionTime``: ms the worker spent on the job."""
        if self.reported_times is not None:
            return self.reported_times[1]
        if self._t_start is None or self._t_end is None:
            return None
        return round((self._t_end - self._t_start) * 1000)

    @property
    def elapsed(self) -> float:
        """Seconds since submission (until the end, for finished jobs)."""
        end = self._t_end if self._t_end is not None else time.perf_counter()
        return end - self._t_submit

    def to_status(self) -> dict[str, Any]:
        """The exact ``GET /status/{id}`` body RunPod would return for this job now."""
        body: dict[str, Any] = {}
        if self.delay_time is not None:
            body["delayTime"] = self.delay_time
        if self.execution_time is not None:
            body["executionTime"] = self.execution_time
        body["id"] = self.id
        if self.status is JobStatus.IN_PROGRESS and self.progress is not None:
            body["output"] = self.progress
        elif self.has_output:
            body["output"] = self.output
        if self.error is not None:
            body["error"] = self.error
        body["status"] = self.status.value
        return body

    # ---- waiting and acting ---------------------------------------------------------------
    def wait(self, timeout: float | None = None) -> Job:
        """Block until the job ends (or ``timeout`` s pass: :class:`JobWaitTimeout`).

        Interrupting the wait (Ctrl-C, the kernel's interrupt) cancels the job, then re-raises.
        """
        try:
            self.future.result(timeout)
            finished = True
        except concurrent.futures.TimeoutError:
            finished = False
        except KeyboardInterrupt:
            self.cancel()
            raise KeyboardInterrupt(f"job {self.id} of handler {self.handler!r} was cancelled") from None
        if not finished:
            raise JobWaitTimeout(
                f"job {self.id} of handler {self.handler!r} is still {self.status.value} "
                f"after {timeout} s (it goes on; wait again or cancel it)"
            )
        return self

    def cancel(self) -> Job:
        """Cancel as RunPod's ``/cancel`` does; a no-op for a finished job. Returns the job."""
        if self._runtime is not None and not self.done:
            self._runtime.cancel(self.id)
        return self

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(event)`` on the runtime's thread for each event of this job.

        Returns a function that unsubscribes. Listeners must be quick and must not block.
        """
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def __await__(self) -> Any:
        import asyncio

        return asyncio.wrap_future(self.future).__await__()

    # ---- display --------------------------------------------------------------------------
    def __repr__(self) -> str:
        return f"<Job {self.id} handler={self.handler!r} status={self.status.value}>"

    # ---- changes (runtime thread only) -----------------------------------------------------
    def _requeue(self) -> None:
        """Back to IN_QUEUE for RunPod's ``/retry``: same id; result, stream and timings cleared."""
        self.future = concurrent.futures.Future()
        self.status = JobStatus.IN_QUEUE
        self.output = self.error = self.progress = self.result_body = None
        self.has_output = self.stop_pod = False
        self.stream, self.progress_history = [], []
        self._t_submit, self._t_start, self._t_end = time.perf_counter(), None, None
        self._t_first_chunk = self._t_last_chunk = None
        self.logs, self.logs_dropped, self._log_bytes, self._log_published = [], 0, 0, 0
        self._ended = False
        self._flushers = []

    def _emit(self, kind: str, data: Any = None, status: JobStatus | None = None) -> None:
        owner = self._runtime
        if not self._listeners and kind != "finished" and not getattr(owner, "_listeners", True):
            return  # nobody listens: no event to make (a job's hot path)
        event = JobEvent(kind, self, data, status or self.status)
        if self._runtime is None:
            self._deliver(event)
        else:
            self._runtime._publish(event)

    def _deliver(self, event: JobEvent) -> None:
        """Call this job's listeners (the owner calls this on its event thread, then its own)."""
        for listener in list(self._listeners):
            _call_listener(listener, event)

    def _warn(self, text: str) -> None:
        """Add a warning (any thread) and announce it."""
        self.warnings.append(text)
        self._emit("warning", text)

    def _replace_warning(self, old: str, new: str) -> None:
        """Update a warning in place (a stall that went on, then ended) and announce the new text."""
        with self._lock:
            for index, text in enumerate(self.warnings):
                if text == old:
                    self.warnings[index] = new
                    break
            else:
                self.warnings.append(new)
        self._emit("warning", new)

    # ---- logs (any thread) ------------------------------------------------------------------
    def _log(self, stream: str, text: str) -> None:
        """Keep ``text`` written by the job's code; whole lines at once, a partial line until its end."""
        now = time.time()
        with self._lock:
            started, pending = self._partial.pop(stream, (now, ""))
            pending += text
            head, newline, rest = pending.rpartition("\n")
            if newline:
                self._append_log(LogLine(started, stream, head + newline))
            if rest:
                self._partial[stream] = (started if not newline else now, rest)
            schedule = not self._log_flush_pending
            self._log_flush_pending = True
        if schedule:
            self._schedule(self._flush_logs)

    def captured_output(self, limit: int) -> str:
        """The last ``limit`` characters the job's code wrote to stdout and stderr so far, partial lines
        included (what runpod 2.x's ``RUNPOD_LOG_CAPTURE=all`` attaches to an error)."""
        with self._lock:
            pieces = [(line.t, line.text) for line in self.logs if line.stream in _OUTPUT]
            pieces += [(started, rest) for stream, (started, rest) in self._partial.items() if stream in _OUTPUT]
        return "".join(text for _, text in sorted(pieces, key=lambda piece: piece[0]))[-limit:]

    def _append_log(self, line: LogLine) -> None:
        self.logs.append(line)
        self._log_bytes += len(line.text)
        if self._log_bytes > LOG_LIMIT_BYTES:
            cut = 0
            while self._log_bytes > LOG_LIMIT_BYTES // 2 and cut < len(self.logs):
                self._log_bytes -= len(self.logs[cut].text)
                cut += 1
            del self.logs[:cut]
            self.logs_dropped += cut

    def _flush_logs(self, final: bool = False) -> None:
        """Announce the lines not announced yet (one "log" event); at the end, partial lines too."""
        with self._lock:
            for stream, (started, rest) in sorted(self._partial.items()):
                if final or len(rest) > _PARTIAL_LIMIT:
                    self._append_log(LogLine(started, stream, rest))
                    del self._partial[stream]
            self._log_flush_pending = False
            first = max(0, self._log_published - self.logs_dropped)
            new = self.logs[first:]
            self._log_published = self.logs_dropped + len(self.logs)
        if new:
            self._emit("log", new)

    def _schedule(self, fn: Callable[[], None]) -> None:
        call_soon = getattr(self._runtime, "_call_soon", None)
        if call_soon is None:
            fn()
        else:
            call_soon(fn)

    def _start(self) -> bool:
        """IN_QUEUE → IN_PROGRESS (False when the job ended meanwhile: a cancel won the race)."""
        with self._lock:
            if self.done or self.status is not JobStatus.IN_QUEUE:
                return False
            self._t_start = time.perf_counter()
            self.status = JobStatus.IN_PROGRESS
        self._emit("started", status=JobStatus.IN_PROGRESS)
        return True

    def _add_progress(self, value: Any) -> bool:
        with self._lock:
            if self.status is not JobStatus.IN_PROGRESS or self.done:
                return False
            self.progress = value
            self.progress_history.append(value)
        self._emit("progress", value, JobStatus.IN_PROGRESS)
        return True

    def _add_chunks(self, values: list[Any]) -> None:
        """New chunks (a remote job's, read by its follower): into ``stream``, and announced."""
        self.stream.extend(values)
        self._announce_chunks(values)

    def _announce_chunks(self, values: list[Any]) -> None:
        """Chunks already in ``stream`` (appended by the handler's thread as it yields) are announced."""
        self._t_last_chunk = time.perf_counter()
        if self._t_first_chunk is None:
            self._t_first_chunk = self._t_last_chunk
        self._emit("chunk", values)

    def _finish(self, status: JobStatus, result: dict[str, Any] | None = None) -> bool:
        """Enter a terminal state once (any thread); later calls (late results, late cancels) are ignored."""
        with self._lock:
            if self._ended:
                return False
            self._ended = True
            now = time.perf_counter()
            if self._t_start is None and status is not JobStatus.CANCELLED:
                self._t_start = now
            self._t_end = now if self._t_start is not None else None
            if result is not None:
                self.result_body = result
                self.stop_pod = bool(result.get("stopPod"))
                if "output" in result:
                    self.output, self.has_output = result["output"], True
                if result.get("error") is not None:
                    self.error = result["error"]
            self.status = status
            flush_logs = bool(self._partial) or self._log_flush_pending
        for flush in self._flushers:  # chunks yielded before the end are announced before it
            flush()
        if flush_logs:
            self._flush_logs(final=True)
        self._emit("finished")  # scheduled before the waiters wake: listeners hear it first on the loop
        self.future.set_result(self)
        return True


def _call_listener(listener: Listener, event: JobEvent) -> None:
    try:
        listener(event)
    except Exception:  # a broken view must never break the runtime
        logging.getLogger("rp_jupyter").exception("job event listener failed")
