"""The embedded worker: registered handlers, their jobs, events, and the runtime's stages.

Three kinds of threads, so that no handler can stall the rest:

- the **control plane** (:mod:`._scheduler`): queues, concurrency, cancel, timeouts, registration —
  driven from whichever thread asks, under a lock never held while user code runs, with a timer
  thread for timeouts and the watchdog;
- the **workers** (:mod:`._workers`): one per handler version — a thread for sync handlers, an asyncio
  loop of its own for async ones;
- the **control loop** (``self._loop``): delivers job events to listeners in order, and runs the
  HTTP server and remote-endpoint pollers. Never user code (listeners must be quick).
"""

from __future__ import annotations

import collections
import concurrent.futures
import logging
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

from ..exceptions import JobStateError, JobWaitTimeout, RuntimeStoppedError
from . import _logs
from ._job import Job, JobEvent, Listener, _call_listener
from ._loop import LoopThread
from ._scheduler import Scheduler
from ._shaping import RUN_LIMIT_BYTES, RUNSYNC_LIMIT_BYTES, NotSerializable, check_wire
from ._spec import DEFAULT_EXECUTION_TIMEOUT, HandlerSpec, execution_timeout, make_spec, parse_request
from ._status import JobStatus
from ._watchdog import DEFAULT_STALL_THRESHOLD, AbandonedCall, Namer

__all__ = ["DEFAULT_EXECUTION_TIMEOUT", "HandlerSpec", "Runtime"]

log = logging.getLogger("rp_jupyter")
T = TypeVar("T")


class Runtime:
    """RunPod's deployed-worker semantics in-process, driven from any thread.

    ``register`` handlers, ``submit`` requests (returns a :class:`Job` at once), ``run_sync`` for
    ``/runsync``; ``subscribe`` to events; ``shutdown`` in stages. Thread-safe; no call waits on
    handler code.

    ``stall_threshold``: seconds a handler may block its loop (or ignore a cancel or timeout) before
    the job's warnings say where, and a stopped call is abandoned. ``after_job``: called on the
    worker's thread after every job (the SDK bridge clears the debugger's checkpoints there).
    """

    def __init__(
        self,
        *,
        keep_finished: int = 1000,
        stall_threshold: float = DEFAULT_STALL_THRESHOLD,
        after_job: Callable[[], None] | None = None,
    ) -> None:
        self._loop = LoopThread()
        self._scheduler = Scheduler(self._call_soon, after_job, stall_threshold)
        self._jobs: dict[str, Job] = {}
        self._finished: collections.deque[str] = collections.deque()
        self._keep_finished = keep_finished
        self._listeners: list[Listener] = []
        self._outbox: collections.deque[JobEvent] = collections.deque()
        self._outbox_scheduled = False
        self._accepting = True
        self._lock = threading.Lock()
        _logs.install()

    # ---- settings -----------------------------------------------------------------------------
    @property
    def stall_threshold(self) -> float:
        return self._scheduler.stall_threshold

    @stall_threshold.setter
    def stall_threshold(self, seconds: float) -> None:
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 < seconds < float("inf"):
            raise ValueError(f"the stall threshold is a positive number of seconds, got {seconds!r}")
        self._scheduler.stall_threshold = float(seconds)
        self._scheduler.timers.interval = max(0.01, seconds / 4)

    def name_locations(self, namer: Namer) -> None:
        """How warnings name a place in code: ``namer(filename, lineno)`` (a notebook names its cells)."""
        self._scheduler.namer = namer

    # ---- handlers ---------------------------------------------------------------------------
    def register(
        self,
        fn: Callable[..., Any],
        name: str | None = None,
        *,
        return_aggregate_stream: bool = False,
        concurrency_modifier: Callable[[int], int] | None = None,
        refresh_worker: bool = False,
        execution_timeout: float | None = DEFAULT_EXECUTION_TIMEOUT,
        tokenizer: Callable[[str], int] | None = None,
        prestart_hooks: Sequence[Callable[[], Any]] = (),
        prestart_timeout: float | None = None,
        prestart_kept: Sequence[Callable[[], Any]] = (),
    ) -> HandlerSpec:
        """Register (or replace) a handler; running jobs finish on the code they started with, new ones
        run on a new worker at once.

        ``prestart_hooks`` (runpod 2.x's ``register_prestart_hook``): each worker of this version runs them
        once, in order, before its first call, within ``prestart_timeout`` s (None: no limit); jobs it
        takes meanwhile wait, and fail with the SDK's ``prestart_failed`` body should a hook fail.
        ``prestart_kept``: hooks that belong to the handler but already ran in this kernel (not run)."""
        spec = make_spec(fn, name, return_aggregate_stream, concurrency_modifier, refresh_worker,
                          execution_timeout, tokenizer, prestart_hooks, prestart_timeout, prestart_kept)
        self._check_accepting()
        self._scheduler.install(spec)
        return spec

    def unregister(self, name: str) -> None:
        """Forget a handler; its queued jobs are cancelled, running ones finish."""
        self._scheduler.remove(name)

    @property
    def handlers(self) -> dict[str, HandlerSpec]:
        """The registered handlers by name."""
        return {name: endpoint.spec for name, endpoint in list(self._scheduler.endpoints.items())}

    def handler(self, name: str) -> HandlerSpec:
        return self._scheduler.endpoint(name).spec

    @property
    def abandoned(self) -> list[AbandonedCall]:
        """Handler calls the runtime stopped waiting for that still run (oldest first)."""
        return self._scheduler.abandoned

    # ---- jobs -------------------------------------------------------------------------------
    def submit(self, name: str, request: Any, *, sync: bool = False) -> Job:
        """Queue a job as ``POST /run`` (or ``/runsync`` with ``sync``) would; returns at once."""
        self._check_accepting()
        spec = self._scheduler.endpoint(name).spec
        body = parse_request(request, RUNSYNC_LIMIT_BYTES if sync else RUN_LIMIT_BYTES,
                              "/runsync" if sync else "/run")
        job_id = f"{'sync-' if sync else ''}{uuid.uuid4()}-local"
        job_dict = {"id": job_id, "input": body["input"]}
        job_dict.update((k, v) for k, v in body.items() if k not in ("id", "input"))
        timeout = execution_timeout(body, spec.execution_timeout)
        job = Job(self, job_id, name, job_dict, body, sync=sync, execution_timeout=timeout)
        with self._lock:
            self._jobs[job_id] = job
        _logs.ensure_streams()
        self._scheduler.enqueue(job)
        return job

    def run_sync(self, name: str, request: Any, *, wait: float | None = 90.0) -> dict[str, Any]:
        """``POST /runsync``: wait up to ``wait`` s (RunPod's default 90), return its body."""
        job = self.submit(name, request, sync=True)
        try:
            job.wait(wait)
        except JobWaitTimeout:
            pass  # RunPod answers with the job's current status; the client polls /status
        except KeyboardInterrupt:  # also one that came before the wait began: the job is cancelled
            job.cancel()
            raise
        return job.to_status()

    def track(self, job: Job) -> Job:
        """Keep an outside job (a remote endpoint's) among this runtime's jobs; its events reach listeners
        when its owner publishes them here."""
        with self._lock:
            self._jobs[job.id] = job
        return job

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    @property
    def jobs(self) -> list[Job]:
        """All retained jobs, oldest first (finished ones beyond ``keep_finished`` are dropped)."""
        with self._lock:
            return list(self._jobs.values())

    def cancel(self, job_id: str) -> Job | None:
        """``POST /cancel``: a queued job never runs; a running one is stopped and marked CANCELLED at
        once (never waits on the handler)."""
        job = self._jobs.get(job_id)
        if job is not None and job._runtime is not self and not job.done:
            job.cancel()  # a tracked remote job: its own endpoint cancels it
        elif job is not None and not job._ended:
            self._scheduler.stop(job, JobStatus.CANCELLED)
        return job

    def retry(self, job: Job | str) -> Job:
        """``POST /retry``: a FAILED or TIMED_OUT job goes back to IN_QUEUE under the same id."""
        self._check_accepting()
        found = self._jobs.get(job) if isinstance(job, str) else job
        if found is None:
            raise JobStateError(f"no job {job!r} is retained by this runtime")
        with self._lock:
            if found.status not in (JobStatus.FAILED, JobStatus.TIMED_OUT):
                raise JobStateError(
                    f"job {found.id} is {found.status.value}: only FAILED or TIMED_OUT jobs can be retried"
                )
            found._requeue()
            self._jobs[found.id] = found
            if found.id in self._finished:
                self._finished.remove(found.id)
        self._scheduler.enqueue(found)
        return found

    def progress(self, job_id: str, value: Any) -> bool:
        """``progress_update`` from any thread. Ignored (False) for unknown or finished jobs."""
        job = self._jobs.get(job_id)
        if job is None or job._ended:
            return False
        try:
            value = check_wire(value, "progress update")
        except (NotSerializable, ValueError) as exc:
            job._warn(str(exc))
            return False
        return job._add_progress(value)

    def run_coroutine(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run ``coro`` on the runtime's control loop (servers, pollers); a Future for its result."""
        return self._loop.submit(coro)

    async def until_done(self, job: Job, timeout: float | None = None) -> bool:
        """On the control loop: wait until ``job`` ends (True) or ``timeout`` s pass (False)."""
        return await self._loop.settled(job.future, timeout)

    # ---- events -----------------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(event)`` on the control loop for every job event; returns unsubscribe."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _publish(self, event: JobEvent) -> None:
        """(any thread) Deliver ``event`` on the control loop, after every event published before it."""
        if event.kind == "finished":
            self._retire(event.job)
        if not self._listeners and not event.job._listeners:
            return
        self._outbox.append(event)
        if not self._outbox_scheduled:
            self._outbox_scheduled = True
            self._call_soon(self._deliver)

    def _deliver(self) -> None:
        self._outbox_scheduled = False
        while True:
            try:
                event = self._outbox.popleft()
            except IndexError:
                return
            event.job._deliver(event)
            for listener in list(self._listeners):
                _call_listener(listener, event)

    def _call_soon(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the control loop soon (at once, here, once the loop has stopped)."""
        if self._loop.running:
            try:
                self._loop.call_soon(fn)
                return
            except RuntimeError:  # closed meanwhile
                pass
        fn()

    def _retire(self, job: Job) -> None:
        with self._lock:
            self._finished.append(job.id)
            while len(self._finished) > self._keep_finished:
                self._jobs.pop(self._finished.popleft(), None)

    # ---- shutdown ---------------------------------------------------------------------------
    @property
    def accepting(self) -> bool:
        return self._accepting

    def _check_accepting(self) -> None:
        if not self._accepting:
            raise RuntimeStoppedError("the rp_jupyter runtime has been shut down; reload the extension")

    def shutdown(self, timeout: float = 5.0) -> list[Job]:
        """Stop in stages within ``timeout`` s: stop accepting, let jobs finish for most of it, cancel
        the rest, give their calls until the deadline to stop, abandon what still runs (see
        :attr:`abandoned`). Returns the jobs that had to be cancelled."""
        if not self._accepting or not self._loop.running:
            return []
        self._accepting = False
        start = time.monotonic()
        deadline = start + timeout
        pending = [job for job in self.jobs if not job.done and job._runtime is self]
        concurrent.futures.wait([job.future for job in pending],
                                timeout=max(0.0, timeout - min(1.0, timeout / 2)))
        stragglers = [job for job in pending if not job.done]
        for job in stragglers:
            job.warnings.append("cancelled: the runtime shut down before the job finished")
            self._scheduler.stop(job, JobStatus.CANCELLED)
        self._scheduler.wait_idle(deadline)
        for call in self._scheduler.close(deadline):
            log.info("rp_jupyter: shut down with an %s", call.describe())
        self._loop.call_soon(self._deliver)
        self._loop.stop(max(0.2, deadline - time.monotonic()))
        _logs.uninstall()
        return stragglers
