"""Where handler code runs: a worker per handler version, a thread or a loop of its own.

Each registered handler version gets one *worker*, as a RunPod endpoint's worker runs one image:

- :class:`SyncWorker` — sync handlers and sync generators, on one daemon thread, one step at a time
  (a sync function's call is one step; a sync generator's jobs take turns at their yields, as
  RunPod's worker interleaves them when it awaits each chunk's post).
- :class:`AsyncWorker` — async handlers and async generators, as tasks on the worker's own asyncio
  loop (stdlib asyncio on its own thread, as RunPod runs them under ``asyncio.run``).

Neither is the runtime's control plane: a handler that blocks its thread or loop stalls its own jobs
only. A worker hands every ended call to ``on_end`` (on its own thread). A stuck worker can be
*abandoned*: its jobs not begun yet move to a replacement, and the stuck call is left to end on its own.

A worker whose handler has prestart hooks (runpod 2.x) runs them once, when it takes its first job, on
its own thread's loop (:mod:`._prestart`); the jobs it takes meanwhile wait, not begun. Should the phase
fail, the control plane fails them and retires the worker.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import inspect
import queue
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from ._calls import ChunkAnnouncer, SyncDrain, await_result, call_async, call_sync, drain_async
from ._job import Job
from ._logs import enter_job, leave_job
from ._loop import LoopThread
from ._prestart import Phase, Prestart
from ._shaping import HandlerKind
from ._spec import HandlerSpec
from ._status import JobStatus

__all__ = ["AsyncWorker", "Run", "SyncWorker", "Worker", "make_worker"]


@dataclasses.dataclass(eq=False, slots=True)
class Run:
    """One job on one worker: its call, and what became of it."""

    job: Job
    spec: HandlerSpec
    worker: Worker | None = None
    began: float | None = None
    """``time.monotonic()`` when the handler's call began (None: not yet)."""
    stop_requested: float | None = None
    stop_seen: bool = False
    """The worker's loop handled the stop (so the loop answers, whatever the task does)."""
    ended: bool = False
    abandoned_at: float | None = None
    """``time.time()`` when the runtime stopped waiting for this call (None: not abandoned)."""
    where: str = ""
    """Where the call was stuck when it was abandoned."""
    task: asyncio.Task[None] | None = None
    drain: SyncDrain | None = None
    frame_key: Any = None


EndCallback = Callable[[Run, "dict[str, Any] | None", "BaseException | None"], None]


class Worker:
    """What both kinds of worker offer the runtime. Every method may be called from any thread."""

    kind = "worker"

    def __init__(self, spec: HandlerSpec, on_end: EndCallback, schedule: Callable[[Callable[[], None]], None]) -> None:
        self.spec = spec
        self._on_end, self._schedule = on_end, schedule
        self.runs: set[Run] = set()
        """Runs claimed by this worker and not ended (guarded by the runtime's lock)."""
        self.concurrency = 1
        self.abandoned_at: float | None = None
        self.retired = False
        self.prestart: Prestart | None = None
        """The prestart phase, when the handler has hooks to run (set by the control plane)."""
        self._end_lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def abandoned(self) -> bool:
        return self.abandoned_at is not None

    def launch(self, run: Run) -> None:
        raise NotImplementedError

    def stop(self, run: Run) -> None:
        """The run's job has ended (cancel, timeout): stop its call where the kind allows it."""

    def stuck(self, run: Run) -> bool:
        """True while the run's call is still running (after a stop: it did not stop)."""
        return run.began is not None and not run.ended

    def frame(self, run: Run | None) -> FrameType | None:
        """The innermost frame the run's call is executing now (None: not running)."""
        return None

    def take_pending(self) -> list[Run]:
        """Remove and return the runs handed over but not begun (to move them to a replacement)."""
        return []

    def close(self) -> None:
        """No more runs will come: end the thread or loop once idle."""

    def join(self, timeout: float) -> None:
        """Wait up to ``timeout`` s for a closed, idle worker's thread to end."""

    def _end(self, run: Run, result: dict[str, Any] | None, fatal: BaseException | None = None) -> None:
        with self._end_lock:  # a held run can be failed by the control plane as the worker reaches it
            if run.ended:
                return
            run.ended = True
        self._on_end(run, result, fatal)

    def _holds(self, run: Run) -> bool:
        """The run must wait for the prestart phase (which it starts, if it is the first)."""
        phase = self.prestart
        return phase is not None and phase.state in (Phase.WAITING, Phase.RUNNING) and not run.job._ended


class SyncWorker(Worker):
    """One daemon thread running a sync handler's jobs one step at a time.

    Not a ``ThreadPoolExecutor``: Python joins those threads when the interpreter exits, so a handler
    that never returns would hold the kernel's shutdown forever. A daemon thread does not.
    """

    kind = "thread"

    def __init__(self, spec: HandlerSpec, on_end: EndCallback, schedule: Callable[[Callable[[], None]], None]) -> None:
        super().__init__(spec, on_end, schedule)
        self._inbox: queue.SimpleQueue[Run | None] = queue.SimpleQueue()
        self._ready: collections.deque[Run] = collections.deque()
        self._ready_lock = threading.Lock()
        self.current: Run | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # for a sync callable returning an awaitable
        self._thread = threading.Thread(target=self._work, name=f"rp-handler-{spec.name}", daemon=True)
        self._thread.start()

    def launch(self, run: Run) -> None:
        run.worker = self
        if self.prestart is not None:
            self.prestart.log.attach(run.job)
        self._inbox.put(run)

    def close(self) -> None:
        self._inbox.put(None)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def frame(self, run: Run | None) -> FrameType | None:
        if self.current is not run:
            return None
        return sys._current_frames().get(self._thread.ident or -1)

    def take_pending(self) -> list[Run]:
        moved = []
        with self._ready_lock:
            while self._ready:
                moved.append(self._ready.popleft())
            try:
                while True:
                    item = self._inbox.get_nowait()
                    if item is not None:
                        moved.append(item)
            except queue.Empty:
                pass
        return [run for run in moved if run is not self.current]

    def _absorb(self) -> bool:
        """Move runs handed over meanwhile behind the ready ones (they take turns too); True on close."""
        closing = False
        while True:
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                return closing
            if item is None:
                closing = True
            else:
                with self._ready_lock:
                    self._ready.append(item)

    def _work(self) -> None:
        closing = False
        while True:
            closing = self._absorb() or closing  # runs handed over meanwhile queue behind the waiting ones
            with self._ready_lock:
                run = self._ready.popleft() if self._ready else None
            if run is None:
                if closing:
                    break
                item = self._inbox.get()
                if item is None:
                    break
                run = item
            if run.worker is not self or run.ended:
                continue
            if self._holds(run):  # back in front of the others: the control plane fails them all should it fail
                with self._ready_lock:
                    self._ready.appendleft(run)
                self._run_prestart()
                continue
            self.current = run
            try:
                finished = self._step(run)
            finally:
                self.current = None
            if self.abandoned:  # the runtime gave up on this thread while the step ran: it ends here
                if not finished:
                    if run.drain is not None:
                        run.drain.close()
                    self._end(run, None)
                break
            if not finished:  # its turn is over: behind every run waiting, new ones included
                closing = self._absorb() or closing
                with self._ready_lock:
                    self._ready.append(run)
        if self._loop is not None:
            self._loop.close()

    def _run_prestart(self) -> None:
        phase = self.prestart
        assert phase is not None
        if phase.begin():
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
            try:
                self._loop.run_until_complete(phase.run())
            except BaseException:  # cancelled after its timeout: the phase has its verdict
                pass

    def _contended(self) -> bool:
        return bool(self._ready) or not self._inbox.empty()

    def _step(self, run: Run) -> bool:
        """One step of ``run`` on this thread; True when its call has ended."""
        job, spec = run.job, run.spec
        if job._ended and run.drain is None:  # stopped before it began: the handler is never called
            self._end(run, None)
            return True
        if self.prestart is not None and self.prestart.state is Phase.FAILED:  # taken as the phase failed
            self._end(run, self.prestart.body())
            return True
        if run.began is None:
            run.began = time.monotonic()
        token = enter_job(job)  # its prints and log records go to the job
        try:
            if spec.kind is HandlerKind.SYNC_GENERATOR:
                return self._turn(run)
            outcome = call_sync(spec.fn, job.job)
            if inspect.isawaitable(outcome):  # a sync callable that returned an awaitable
                outcome = self._await(outcome)
        except BaseException as exc:  # SystemExit & co.: fail the job, keep the thread
            self._end(run, None, exc)
            return True
        finally:
            leave_job(token)
        self._end(run, outcome)
        return True

    def _turn(self, run: Run) -> bool:
        if run.drain is None:
            announcer = ChunkAnnouncer(run.job, self._schedule)
            run.drain = SyncDrain(run.spec, run.job, announcer.put, self._contended)
        if not run.drain.turn():
            return False
        self._end(run, run.drain.result)
        return True

    def _await(self, awaitable: Any) -> dict[str, Any]:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        return self._loop.run_until_complete(await_result(awaitable))


class AsyncWorker(Worker):
    """Async handlers' jobs as tasks on the worker's own loop thread."""

    kind = "loop"

    def __init__(self, spec: HandlerSpec, on_end: EndCallback, schedule: Callable[[Callable[[], None]], None]) -> None:
        super().__init__(spec, on_end, schedule)
        self.thread = LoopThread(f"rp-handler-{spec.name}")
        self._pending: set[Run] = set()
        self.ping_sent: float | None = None
        """``time.monotonic()`` of the watchdog's unanswered ping (None: answered)."""
        self.stall: Any = None
        self._held: list[Run] = []  # (loop thread) runs waiting for the prestart phase

    def launch(self, run: Run) -> None:
        run.worker = self
        self._pending.add(run)
        if self.prestart is not None:
            self.prestart.log.attach(run.job)
        self._post(self._begin, run)

    def _post(self, fn: Callable[..., Any], *args: Any) -> None:
        try:
            self.thread.call_soon(fn, *args)
        except RuntimeError:  # the loop has ended (an abandoned one that finally stopped): nothing to do
            pass

    def _begin(self, run: Run) -> None:
        if self._holds(run) and run.worker is self and not run.ended:  # it stays pending: not begun
            self._held.append(run)
            phase = self.prestart
            if phase is not None and phase.begin():
                self.thread.loop.create_task(self._prestart(phase))
            return
        self._pending.discard(run)
        if run.worker is not self or run.ended:
            return
        if run.job._ended:
            self._end(run, None)
            return
        if self.prestart is not None and self.prestart.state is Phase.FAILED:  # taken as the phase failed
            self._end(run, self.prestart.body())
            return
        run.began = time.monotonic()
        run.task = self.thread.loop.create_task(self._execute(run))

    async def _prestart(self, phase: Prestart) -> None:
        """The hooks on this loop; then the held runs begin (a failure: the control plane failed them)."""
        await phase.run()
        held, self._held = self._held, []
        for run in held:
            self._begin(run)

    async def _execute(self, run: Run) -> None:
        job, spec = run.job, run.spec
        run.frame_key = sys._getframe()
        enter_job(job)  # the task's own context: concurrent jobs keep their own logs
        try:
            if spec.kind is HandlerKind.ASYNC_GENERATOR:
                announcer = ChunkAnnouncer(job, self._schedule)
                result: dict[str, Any] | None = await drain_async(spec, job, announcer.put)
            else:
                result = await call_async(spec.fn, job.job)
        except asyncio.CancelledError:
            self._end(run, None)
        except BaseException as exc:  # SystemExit & co. would kill a RunPod worker: fail loudly
            self._end(run, None, exc)
        else:
            self._end(run, result)

    def stop(self, run: Run) -> None:
        self._post(self._cancel, run)

    def _cancel(self, run: Run) -> None:
        """(the loop) The stop reached the loop — it is not blocked — and the task is cancelled."""
        run.stop_seen = True
        if run.task is not None and not run.task.done():
            run.task.cancel()

    def frame(self, run: Run | None) -> FrameType | None:
        return sys._current_frames().get(self.thread.ident or -1)

    def take_pending(self) -> list[Run]:
        moved = [run for run in list(self._pending) if run.task is None]
        for run in moved:
            self._pending.discard(run)
        return moved

    def running_task_frames(self) -> dict[Any, Run]:
        return {run.frame_key: run for run in list(self.runs) if run.frame_key is not None}

    def close(self) -> None:
        """Stop the loop once its tasks are done (at once when idle)."""
        self._post(self._stop_when_idle)

    def join(self, timeout: float) -> None:
        self.thread.join(timeout)

    def _stop_when_idle(self) -> None:
        tasks = [task for task in asyncio.all_tasks(self.thread.loop) if not task.done()]
        if not tasks:
            self.thread.loop.stop()
            return
        waiter = asyncio.gather(*tasks, return_exceptions=True)
        waiter.add_done_callback(lambda _: self.thread.loop.stop())


def make_worker(spec: HandlerSpec, on_end: EndCallback, schedule: Callable[[Callable[[], None]], None]) -> Worker:
    if spec.kind in (HandlerKind.ASYNC, HandlerKind.ASYNC_GENERATOR):
        return AsyncWorker(spec, on_end, schedule)
    return SyncWorker(spec, on_end, schedule)


def stopped_status(job: Job) -> JobStatus:
    return job.status if job.status.is_terminal else JobStatus.CANCELLED
