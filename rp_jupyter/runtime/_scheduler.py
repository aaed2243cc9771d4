"""The control plane: endpoints, their queues and workers, timeouts, stops, and abandoning stuck calls.

Everything here runs on whichever thread calls it (the caller's for ``submit``/``cancel``, a worker's
when a call ends, the timer thread for timeouts) under one lock that is never held while user code
runs, so nothing a handler does can stall it. A job submitted while its worker has a free slot goes
straight to the worker; its end is posted by the worker's thread: one hand-off each way.
"""

from __future__ import annotations

import collections
import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from ..exceptions import HandlerNotFoundError
from ._calls import fatal_error
from ._job import Job
from ._prestart import Prestart
from ._spec import HandlerSpec
from ._status import JobStatus
from ._watchdog import (
    DEFAULT_STALL_THRESHOLD,
    AbandonedCall,
    Namer,
    Stall,
    Timers,
    jobs_on_stack,
    plain_name,
    where,
)
from ._workers import AsyncWorker, Run, Worker, make_worker

__all__ = ["Scheduler"]

log = logging.getLogger("rp_jupyter")


class _Endpoint:
    """One handler name: its current spec, queue, and the worker that takes its jobs."""

    def __init__(self, spec: HandlerSpec) -> None:
        self.spec = spec
        self.queue: collections.deque[Job] = collections.deque()
        self.worker: Worker | None = None


class Scheduler:
    """Endpoints and their workers; see the module docstring. Thread-safe."""

    def __init__(self, schedule: Callable[[Callable[[], None]], None],
                 after_job: Callable[[], None] | None = None,
                 stall_threshold: float = DEFAULT_STALL_THRESHOLD) -> None:
        self._schedule, self._after_job = schedule, after_job
        self.stall_threshold = stall_threshold
        self.namer: Namer = plain_name
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self.endpoints: dict[str, _Endpoint] = {}
        self._runs: dict[str, Run] = {}
        self._abandoned: set[Run] = set()
        self._phases: set[Prestart] = set()  # prestart phases given up on while a hook still ran
        self._loops: set[AsyncWorker] = set()
        self.timers = Timers(self._watch, max(0.01, stall_threshold / 4))

    # ---- endpoints ----------------------------------------------------------------------------
    def endpoint(self, name: str) -> _Endpoint:
        try:
            return self.endpoints[name]
        except KeyError:
            known = ", ".join(sorted(self.endpoints)) or "none yet"
            raise HandlerNotFoundError(f"no handler named {name!r} is registered (registered: {known})") from None

    def install(self, spec: HandlerSpec) -> None:
        """Register or replace: a new version gets a new worker; the old one finishes its running jobs
        (as a RunPod release rolls out to new workers while old ones finish theirs)."""
        with self._lock:
            endpoint = self.endpoints.get(spec.name)
            if endpoint is None:
                endpoint = self.endpoints[spec.name] = _Endpoint(spec)
            endpoint.spec = spec
            old, endpoint.worker = endpoint.worker, None
            idle = old is not None and self._retire(old)
        if idle and old is not None:
            old.close()
        self.pump(endpoint)

    def remove(self, name: str) -> None:
        with self._lock:
            endpoint = self.endpoint(name)
            del self.endpoints[name]
            queued, worker = list(endpoint.queue), endpoint.worker
            endpoint.queue.clear()
            idle = worker is not None and self._retire(worker)
        for job in queued:
            job._finish(JobStatus.CANCELLED)
        if idle and worker is not None:
            worker.close()

    def _retire(self, worker: Worker) -> bool:
        """(lock held) The worker takes no more jobs; True when it is idle and can close now."""
        worker.retired = True
        return not worker.runs

    # ---- jobs ---------------------------------------------------------------------------------
    def enqueue(self, job: Job) -> None:
        with self._lock:
            endpoint = self.endpoints.get(job.handler)
            if endpoint is not None and not job._ended:
                job._emit("submitted", status=JobStatus.IN_QUEUE)  # before another thread can start it
                endpoint.queue.append(job)
        if endpoint is None:
            job._finish(JobStatus.CANCELLED)
            return
        self.pump(endpoint)

    def pump(self, endpoint: _Endpoint) -> None:
        """Take queued jobs while the endpoint's worker has free slots (RunPod's JobScaler)."""
        if not endpoint.queue:
            return
        worker = endpoint.worker  # the user's concurrency_modifier: never called under the lock
        target = endpoint.spec.target_concurrency(worker.concurrency if worker is not None else 1)
        with self._lock:
            if self.endpoints.get(endpoint.spec.name) is not endpoint:
                return
            worker = endpoint.worker
            if worker is None:
                worker = endpoint.worker = self._new_worker(endpoint.spec)
            if target != worker.concurrency and not worker.runs:
                worker.concurrency = target  # RunPod applies a new concurrency once the worker is idle
            runs = []
            while endpoint.queue and len(worker.runs) < worker.concurrency and target == worker.concurrency:
                job = endpoint.queue.popleft()
                if job._ended:
                    continue
                run = Run(job, worker.spec, worker)
                worker.runs.add(run)
                self._runs[job.id] = run
                runs.append(run)
        for run in runs:
            self._launch(worker, run)

    def _launch(self, worker: Worker, run: Run) -> None:
        job = run.job
        job.spec = run.spec
        if job._start() and job.execution_timeout:
            self.timers.at(time.monotonic() + job.execution_timeout,
                           functools.partial(self.stop, job, JobStatus.TIMED_OUT), lambda: not job._ended)
        if isinstance(worker, AsyncWorker):
            self.timers.busy()  # the watchdog pings loops while they have jobs
        worker.launch(run)

    def _new_worker(self, spec: HandlerSpec) -> Worker:
        """(lock held) A worker for ``spec``; a loop is watched from now on."""
        worker = make_worker(spec, self._ended, self._schedule)
        if spec.prestart_hooks:
            worker.prestart = Prestart(spec.name, spec.prestart_hooks, spec.prestart_timeout, self.timers.at,
                                       functools.partial(self._prestart_failed, worker), spec.prestart_done.set)
        if isinstance(worker, AsyncWorker):
            self._loops.add(worker)
        return worker

    def _prestart_failed(self, worker: Worker) -> None:
        """(any thread) A hook failed or the phase passed ``prestart_timeout``: every job the worker holds
        FAILS with the SDK's body and the worker takes no more (a deployed worker exits; the next job gets
        a new worker, which runs the hooks again)."""
        phase = worker.prestart
        assert phase is not None
        with self._lock:
            worker.retired = True
            endpoint = self.endpoints.get(worker.spec.name)
            if endpoint is not None and endpoint.worker is worker:
                endpoint.worker = None
            held = [run for run in worker.take_pending() if not run.ended]
            if phase.left_running:
                self._phases.add(phase)
        for run in held:
            if phase.left_running:
                run.job._warn(f"prestart hook {phase.hook!r} was still running at {phase.where(self.namer)}: it "
                              "is left to end on its own (runtime.abandoned lists it)")
            worker._end(run, phase.body())
        if not held and not worker.runs:
            worker.close()
        if endpoint is not None:
            self.pump(endpoint)

    def stop(self, job: Job, status: JobStatus) -> None:
        """Cancel or time out ``job`` now (any thread); its call gets ``stall_threshold`` s to stop."""
        if not job._finish(status):
            return
        with self._lock:
            endpoint = self.endpoints.get(job.handler)
            if endpoint is not None and job in endpoint.queue:
                endpoint.queue.remove(job)
            run = self._runs.get(job.id)
        if run is None or run.worker is None or run.ended:
            return
        phase = run.worker.prestart
        if run.began is None and phase is not None and phase.running and status is JobStatus.CANCELLED:
            run.worker._end(run, None)  # held by a running prestart phase: nothing to stop, its slot is free now
            return
        run.stop_requested = time.monotonic()
        run.worker.stop(run)
        self.timers.at(run.stop_requested + self.stall_threshold, functools.partial(self._check_stopped, run),
                       lambda: not run.ended)

    def _ended(self, run: Run, result: dict[str, Any] | None, fatal: BaseException | None) -> None:
        """A worker's call ended (on the worker's thread): the job's end, then the next job."""
        job = run.job
        abandoned = run.abandoned_at is not None
        if self._after_job is not None and not abandoned:
            try:
                self._after_job()
            except Exception:
                log.exception("rp_jupyter: the after-job hook failed")
        if fatal is not None:
            job._finish(JobStatus.FAILED, {"error": fatal_error(fatal)})
        elif result is not None:
            if run.spec.refresh_worker and run.began is not None:  # not for a job failed by the prestart phase
                result["stopPod"] = True
            job._finish(JobStatus.FAILED if result.get("error") else JobStatus.COMPLETED, result)
        else:
            job._finish(JobStatus.CANCELLED)
        worker = run.worker
        assert worker is not None
        with self._lock:
            worker.runs.discard(run)
            if self._runs.get(job.id) is run:
                del self._runs[job.id]
            self._abandoned.discard(run)
            endpoint = self.endpoints.get(run.spec.name)
            active = endpoint is not None and endpoint.worker is worker
            close = (worker.retired or worker.abandoned) and not worker.runs
            if close and isinstance(worker, AsyncWorker):
                self._loops.discard(worker)
            self._idle.notify_all()
        if abandoned and run.abandoned_at is not None:
            job.warnings.append(f"the abandoned call returned {time.time() - run.abandoned_at:.1f} s after it was "
                                "abandoned; what it returned was discarded")
        if close:
            worker.close()
        if active and endpoint is not None:
            self.pump(endpoint)

    # ---- stuck calls ----------------------------------------------------------------------------
    def _check_stopped(self, run: Run) -> None:
        """(timer thread) A stopped job's call did not end within the threshold: abandon it."""
        worker = run.worker
        if worker is None or run.ended:
            return
        if run.began is None:  # never begun: it ends when its worker reaches it, unless a hook is what hangs
            phase = worker.prestart
            if phase is not None and phase.running and run.job.status is JobStatus.TIMED_OUT:
                run.job._warn(f"the job timed out while the prestart hooks of handler {run.spec.name!r} ran "
                              f"({phase.where(self.namer)}): the worker is replaced, as RunPod replaces it")
                self.abandon(worker)
            return
        place = where(worker.frame(run), self.namer)
        loop_answers = isinstance(worker, AsyncWorker) and run.stop_seen  # the loop handled the stop
        what = "task" if loop_answers else worker.kind
        run.where = place
        status = run.job.status.value.lower().replace("_", " ")
        consequence = {
            "task": "it ignored its cancellation; the task is left to end on its own",
            "loop": "its event loop is blocked; the loop is abandoned and a new one takes the next jobs",
            "thread": "the thread is abandoned and a new one takes the next jobs",
        }[what]
        if what == "task":
            with self._lock:
                run.abandoned_at = time.time()
                worker.runs.discard(run)
                self._abandoned.add(run)
                endpoint = self.endpoints.get(run.spec.name)
            if endpoint is not None:
                self.pump(endpoint)
        else:
            self.abandon(worker)
        # after the call is listed as abandoned: the warning's event makes the views read that list
        run.job._warn(f"handler {run.spec.name!r} did not stop within {self.stall_threshold:g} s of its job "
                      f"being {status}: {place}. {consequence.capitalize()}.")

    def abandon(self, worker: Worker) -> list[Run]:
        """Stop waiting for ``worker``: its runs not begun move to a replacement; the stuck ones stay."""
        now = time.time()
        with self._lock:
            if worker.abandoned:
                return []
            worker.abandoned_at = now
            if worker.prestart is not None and worker.prestart.running:
                self._phases.add(worker.prestart)
            pending = worker.take_pending()
            stuck = [run for run in worker.runs if run not in pending]
            for run in stuck:
                run.abandoned_at = now
                self._abandoned.add(run)
            worker.runs.difference_update(pending)
            endpoint = self.endpoints.get(worker.spec.name)
            replacement = None
            if pending or (endpoint is not None and endpoint.worker is worker):
                replacement = self._new_worker(worker.spec)
                replacement.concurrency, replacement.retired = worker.concurrency, worker.retired
                replacement.runs.update(pending)
                if endpoint is not None and endpoint.worker is worker:
                    endpoint.worker = replacement
            self._idle.notify_all()
        for run in pending:
            assert replacement is not None
            replacement.launch(run)
        if isinstance(replacement, AsyncWorker) and pending:
            self.timers.busy()
        if not stuck:
            worker.close()
        if endpoint is not None:
            self.pump(endpoint)
        return stuck

    @property
    def abandoned(self) -> list[AbandonedCall]:
        with self._lock:
            runs = sorted(self._abandoned, key=lambda run: run.abandoned_at or 0.0)
            self._phases = {phase for phase in self._phases if not phase.finished}
            phases = list(self._phases)
        calls = [AbandonedCall(run.spec.name, run.job.id, _abandoned_kind(run), run.abandoned_at or 0.0,
                               run.where or where(run.worker.frame(run) if run.worker else None, self.namer))
                 for run in runs if not run.ended]
        calls += [AbandonedCall(phase.name, "", "prestart", phase.since, phase.where(self.namer)) for phase in phases]
        return sorted(calls, key=lambda call: call.since)

    # ---- the watchdog of handler loops ---------------------------------------------------------------
    def _blocked(self, worker: AsyncWorker, now: float) -> bool:
        return worker.ping_sent is not None and now - worker.ping_sent >= self.stall_threshold

    def _watch(self, now: float) -> bool:
        """(timer thread, every threshold/4 s while a handler loop has jobs) ping each busy loop; one
        that has not answered for the threshold is blocked: say where, on its jobs."""
        with self._lock:
            self._loops = {worker for worker in self._loops if worker.thread.running}
            loops = [worker for worker in self._loops if worker.runs or worker.stall is not None]
        for worker in loops:
            if worker.ping_sent is None:
                worker.ping_sent = now
                try:
                    worker.thread.call_soon(functools.partial(self._pong, worker))
                except RuntimeError:  # its loop is closed
                    worker.ping_sent = None
            elif self._blocked(worker, now):
                self._stalled(worker, now)
        return bool(loops)

    def _stalled(self, worker: AsyncWorker, now: float) -> None:
        stall, sent = worker.stall, worker.ping_sent
        if sent is None:  # it answered meanwhile
            return
        blocked = now - sent
        if stall is None:
            frame = worker.frame(None)
            jobs = jobs_on_stack(worker, frame) or [run.job for run in list(worker.runs)]
            stall = worker.stall = Stall(worker.spec.name, jobs, sent, where(frame, self.namer))
            stall.report(blocked, still=True)
        elif now - stall.reported >= 1.0:
            stall.report(blocked, still=True)

    def _pong(self, worker: AsyncWorker) -> None:
        """(the handler's loop) it answered the watchdog's ping."""
        stall, worker.stall = worker.stall, None
        if stall is not None:
            stall.report(time.monotonic() - stall.since, still=False)
        worker.ping_sent = None

    # ---- shutdown -------------------------------------------------------------------------------
    def wait_idle(self, deadline: float) -> None:
        """Until no call runs (abandoned ones aside) or ``deadline`` (monotonic) passes."""
        with self._idle:
            while any(run not in self._abandoned for run in self._runs.values()):
                left = deadline - time.monotonic()
                if left <= 0 or not self._idle.wait(left):
                    break

    def close(self, deadline: float | None = None) -> list[AbandonedCall]:
        """Abandon what still runs, close every worker, stop the timers; until ``deadline`` (monotonic),
        wait for the closed workers' threads to end (a clean unload leaves none). Returns what was abandoned."""
        closed: list[Worker] = []
        with self._lock:
            workers = {run.worker for run in self._runs.values() if run.worker is not None}
            workers.update(endpoint.worker for endpoint in self.endpoints.values() if endpoint.worker is not None)
            self.endpoints.clear()
            for worker in workers:
                worker.retired = True
        for worker in workers:
            if worker.prestart is not None and worker.prestart.running:
                self._phases.add(worker.prestart)  # its hook is still running: say so
            if worker.runs:
                self.abandon(worker)
            else:
                worker.close()
                if worker.prestart is None or not worker.prestart.running:  # a hook still running: abandoned
                    closed.append(worker)
        self.timers.stop()
        if deadline is not None:
            for worker in closed:
                worker.join(max(0.0, deadline - time.monotonic()))
        return self.abandoned


def _abandoned_kind(run: Run) -> str:
    worker = run.worker
    if isinstance(worker, AsyncWorker):
        return "loop" if worker.abandoned else "task"
    return "thread"

