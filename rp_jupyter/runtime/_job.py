"""``Job``: the handle of one job — state, output or error, stream, progress, timings.

All state changes happen on the runtime's loop thread; readers on other threads see consistent
values (each change is a single attribute store, and ``_done`` is set last).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from ..exceptions import JobWaitTimeout
from ._status import JobStatus

__all__ = ["Job", "JobEvent", "JobOwner"]


class JobOwner(Protocol):
    """Who runs a job: the local runtime, or a remote endpoint's follower. Cancels it; hears its events."""

    def cancel(self, job_id: str) -> Any: ...

    def _publish(self, event: JobEvent) -> None: ...


@dataclasses.dataclass(frozen=True)
class JobEvent:
    """Something that happened to a job. ``kind`` is one of :data:`Job.EVENT_KINDS`."""

    kind: str
    job: Job
    data: Any = None


Listener = Callable[[JobEvent], None]


class Job:
    """One job of a registered handler, local or (later) remote: what RunPod's API would show.

    ``status`` is a :class:`JobStatus`; ``output``/``error`` are the values a client gets (JSON
    round-tripped); ``stream`` lists the values the handler yielded (each posted to RunPod as
    ``{"output": v}``); ``progress`` is the last ``progress_update`` value. ``result_body`` is the
    job-done body the deployed worker would have posted (with ``stopPod`` when asked for).
    """

    EVENT_KINDS = ("submitted", "started", "progress", "chunk", "finished")

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
        self._done = threading.Event()
        self._runtime = runtime
        self._listeners: list[Listener] = []

    # ---- reading ------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self._done.is_set()

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
            finished = self._done.wait(timeout)
        except KeyboardInterrupt:
            self.cancel()
            raise
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
        self._done.clear()

    def _emit(self, kind: str, data: Any = None) -> None:
        event = JobEvent(kind, self, data)
        for listener in list(self._listeners):
            _call_listener(listener, event)
        if self._runtime is not None:
            self._runtime._publish(event)

    def _start(self) -> None:
        self._t_start = time.perf_counter()
        self.status = JobStatus.IN_PROGRESS
        self._emit("started")

    def _add_progress(self, value: Any) -> None:
        self.progress = value
        self.progress_history.append(value)
        self._emit("progress", value)

    def _add_chunks(self, values: list[Any]) -> None:
        self._t_last_chunk = time.perf_counter()
        if self._t_first_chunk is None:
            self._t_first_chunk = self._t_last_chunk
        self.stream.extend(values)
        self._emit("chunk", values)

    def _finish(self, status: JobStatus, result: dict[str, Any] | None = None) -> bool:
        """Enter a terminal state once; later calls (late results, late cancels) are ignored."""
        if self.done:
            return False
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
        self._done.set()
        self.future.set_result(self)
        self._emit("finished")
        return True


def _call_listener(listener: Listener, event: JobEvent) -> None:
    try:
        listener(event)
    except Exception:  # a broken view must never break the runtime
        import logging

        logging.getLogger("rp_jupyter").exception("job event listener failed")
