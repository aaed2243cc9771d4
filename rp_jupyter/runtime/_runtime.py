"""The embedded worker: registered handlers, their queues, concurrency, cancel and timeouts.

Each registered handler is an *endpoint* with one worker, as on RunPod: jobs queue (IN_QUEUE), the
worker takes as many as ``concurrency_modifier`` allows (IN_PROGRESS) and posts one result each.
Async handlers run as tasks on the loop and overlap; sync handlers and sync generators run one at a
time on the endpoint's own worker thread, so the loop (progress, cancel, timeouts) stays live.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import functools
import inspect
import logging
import queue
import re
import threading
import uuid
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from ..exceptions import HandlerNotFoundError, JobStateError, JobWaitTimeout, RuntimeStoppedError
from ._calls import SyncDrain, await_result, call_async, call_sync, drain_async, fatal_error
from ._job import Job, JobEvent, Listener, _call_listener
from ._loop import LoopThread
from ._shaping import RUN_LIMIT_BYTES, RUNSYNC_LIMIT_BYTES, HandlerKind, NotSerializable, check_wire
from ._spec import DEFAULT_EXECUTION_TIMEOUT, HandlerSpec, execution_timeout, make_spec, parse_request
from ._status import JobStatus

__all__ = ["DEFAULT_EXECUTION_TIMEOUT", "HandlerSpec", "Runtime"]

log = logging.getLogger("rp_jupyter")
T = TypeVar("T")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_CHUNK_LOST = (
    "On RunPod the worker would skip posting this chunk (the stream silently loses it) and, with "
    "return_aggregate_stream, the final result could not be posted: the job would stay IN_PROGRESS "
    "until its execution timeout."
)


_Call = tuple[concurrent.futures.Future[Any], Callable[..., Any], tuple[Any, ...], bool]
"""(future, function, arguments, a cleanup that shutdown keeps)"""


class _WorkerThread(concurrent.futures.Executor):
    """One daemon thread running a handler's sync calls in order.

    Not a ``ThreadPoolExecutor``: Python joins those threads when the interpreter exits, so a sync
    handler that never returns would hold the kernel's shutdown forever. A daemon thread does not; an
    idle one is joined when the endpoint closes, so unloading leaves no thread behind.
    """

    def __init__(self, name: str) -> None:
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._busy = False
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._calls.put((future, functools.partial(fn, **kwargs) if kwargs else fn, args, False))
        return future

    def cleanup(self, fn: Callable[[], Any]) -> None:
        """Run ``fn`` on the thread after what is queued; never cancelled by :meth:`shutdown` (a
        generator's ``finally`` must run on its own thread, not be left to the garbage collector)."""
        self._calls.put((concurrent.futures.Future(), fn, (), True))

    def _work(self) -> None:
        while (call := self._calls.get()) is not None:
            future, fn, args, _ = call
            if not future.set_running_or_notify_cancel():
                continue
            self._busy = True
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # the future carries it to the loop, as an executor does
                future.set_exception(exc)
            finally:
                self._busy = False
                del call, future, fn, args

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if cancel_futures:
            kept = []
            with contextlib.suppress(queue.Empty):
                while (call := self._calls.get_nowait()) is not None:
                    if call[3]:
                        kept.append(call)
                    else:
                        call[0].cancel()
            for call in kept:
                self._calls.put(call)
        self._calls.put(None)
        if wait or not self._busy:  # an idle thread ends at once; a busy one is abandoned
            self._thread.join(None if wait else 1.0)


class _Endpoint:
    """One handler name: its current spec, queue, running jobs and worker thread."""

    def __init__(self, spec: HandlerSpec) -> None:
        self.spec = spec
        self.queue: collections.deque[Job] = collections.deque()
        self.running: dict[str, asyncio.Task[None]] = {}
        self.timers: dict[str, asyncio.TimerHandle] = {}
        self.concurrency = 1
        self._executor: _WorkerThread | None = None

    @property
    def executor(self) -> _WorkerThread:
        if self._executor is None:
            self._executor = _WorkerThread(f"rp-handler-{self.spec.name}")
        return self._executor

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)


class _ChunkPipe:
    """Chunks from a worker thread to the loop, coalesced: one loop wake-up per batch."""

    def __init__(self, loop: asyncio.AbstractEventLoop, job: Job) -> None:
        self._loop, self._job = loop, job
        self._buffer: collections.deque[Any] = collections.deque()
        self._scheduled = False

    def put(self, value: Any) -> None:
        self._buffer.append(value)
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon_threadsafe(self.flush)

    def flush(self) -> None:
        self._scheduled = False
        items = []
        while self._buffer:
            items.append(self._buffer.popleft())
        if items and not self._job.done:
            self._job._add_chunks(items)


class Runtime:
    """RunPod's deployed-worker semantics in-process, driven from any thread.

    ``register`` handlers, ``submit`` requests (returns a :class:`Job` at once), ``run_sync`` for
    ``/runsync``; ``subscribe`` to events; ``shutdown`` in stages. Thread-safe.
    """

    def __init__(self, *, keep_finished: int = 1000) -> None:
        self._loop = LoopThread()
        self._endpoints: dict[str, _Endpoint] = {}
        self._jobs: dict[str, Job] = {}
        self._finished: collections.deque[str] = collections.deque()
        self._keep_finished = keep_finished
        self._listeners: list[Listener] = []
        self._tasks: dict[str, asyncio.Task[None]] = {}  # running jobs, whatever became of their endpoint
        self._accepting = True
        self._lock = threading.Lock()

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
    ) -> HandlerSpec:
        """Register (or replace) a handler; running jobs finish on the code they started with."""
        spec = make_spec(fn, name, return_aggregate_stream, concurrency_modifier, refresh_worker,
                          execution_timeout, tokenizer)
        self._check_accepting()
        self._loop.call(lambda: self._install(spec))
        return spec

    def _install(self, spec: HandlerSpec) -> None:
        endpoint = self._endpoints.get(spec.name)
        if endpoint is None:
            self._endpoints[spec.name] = _Endpoint(spec)
        else:
            endpoint.spec, endpoint.concurrency = spec, 1
            self._pump(endpoint)

    def unregister(self, name: str) -> None:
        """Forget a handler; its queued jobs are cancelled, running ones finish."""
        def _remove() -> None:
            endpoint = self._endpoint(name)
            while endpoint.queue:
                endpoint.queue.popleft()._finish(JobStatus.CANCELLED)
            del self._endpoints[name]
            if not endpoint.running:  # else the last running job closes it (it may need the thread again)
                endpoint.close()

        self._loop.call(_remove)

    @property
    def handlers(self) -> dict[str, HandlerSpec]:
        """The registered handlers by name."""
        return {name: endpoint.spec for name, endpoint in list(self._endpoints.items())}

    def handler(self, name: str) -> HandlerSpec:
        return self._endpoint(name).spec

    def _endpoint(self, name: str) -> _Endpoint:
        try:
            return self._endpoints[name]
        except KeyError:
            known = ", ".join(sorted(self._endpoints)) or "none yet"
            raise HandlerNotFoundError(
                f"no handler named {name!r} is registered (registered: {known})"
            ) from None

    # ---- jobs -------------------------------------------------------------------------------
    def submit(self, name: str, request: Any, *, sync: bool = False) -> Job:
        """Queue a job as ``POST /run`` (or ``/runsync`` with ``sync``) would; returns at once."""
        self._check_accepting()
        spec = self._endpoint(name).spec
        body = parse_request(request, RUNSYNC_LIMIT_BYTES if sync else RUN_LIMIT_BYTES,
                              "/runsync" if sync else "/run")
        job_id = f"{'sync-' if sync else ''}{uuid.uuid4()}-local"
        job_dict = {"id": job_id, "input": body["input"]}
        job_dict.update((k, v) for k, v in body.items() if k not in ("id", "input"))
        timeout = execution_timeout(body, spec.execution_timeout)
        job = Job(self, job_id, name, job_dict, body, sync=sync, execution_timeout=timeout)
        with self._lock:
            self._jobs[job_id] = job
        self._loop.call_soon(self._enqueue, name, job)
        return job

    def run_sync(self, name: str, request: Any, *, wait: float | None = 90.0) -> dict[str, Any]:
        """``POST /runsync``: wait up to ``wait`` s (RunPod's default 90), return its body."""
        job = self.submit(name, request, sync=True)
        try:
            job.wait(wait)
        except JobWaitTimeout:
            pass  # RunPod answers with the job's current status; the client polls /status
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
        """``POST /cancel``: a queued job never runs; a running one is stopped and marked CANCELLED."""
        job = self._jobs.get(job_id)
        if job is not None and job._runtime is not self and not job.done:
            job.cancel()  # a tracked remote job: its own endpoint cancels it
        elif job is not None and not job.done and self._loop.running:
            self._loop.call(lambda: self._stop_job(job, JobStatus.CANCELLED))
        return job

    def retry(self, job: Job | str) -> Job:
        """``POST /retry``: a FAILED or TIMED_OUT job goes back to IN_QUEUE under the same id."""
        self._check_accepting()
        found = self._jobs.get(job) if isinstance(job, str) else job
        if found is None:
            raise JobStateError(f"no job {job!r} is retained by this runtime")
        target = found

        def _requeue() -> None:
            if target.status not in (JobStatus.FAILED, JobStatus.TIMED_OUT):
                raise JobStateError(
                    f"job {target.id} is {target.status.value}: only FAILED or TIMED_OUT jobs can be retried"
                )
            target._requeue()
            with self._lock:
                self._jobs[target.id] = target
                if target.id in self._finished:
                    self._finished.remove(target.id)
            self._enqueue(target.handler, target)

        self._loop.call(_requeue)
        return target

    def progress(self, job_id: str, value: Any) -> bool:
        """``progress_update`` from any thread. Ignored (False) for unknown or finished jobs."""
        job = self._jobs.get(job_id)
        if job is None or job.done:
            return False
        try:
            value = check_wire(value, "progress update")
        except (NotSerializable, ValueError) as exc:
            job.warnings.append(str(exc))
            return False
        if self._loop.in_loop():  # an async handler: apply now, before its return can finish the job
            self._apply_progress(job, value)
        else:
            self._loop.call_soon(self._apply_progress, job, value)
        return True

    def run_coroutine(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run ``coro`` on the runtime's loop (servers, pollers); a Future for its result."""
        return self._loop.submit(coro)

    async def until_done(self, job: Job, timeout: float | None = None) -> bool:
        """On the runtime's loop: wait until ``job`` ends (True) or ``timeout`` s pass (False)."""
        return await self._loop.settled(job.future, timeout)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(event)`` on the runtime's thread for every job event; returns unsubscribe."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _publish(self, event: JobEvent) -> None:
        for listener in list(self._listeners):
            _call_listener(listener, event)
        if event.kind == "finished":
            self._retire(event.job)

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
        """Stop in stages: stop accepting, let jobs finish until ``timeout``, cancel the rest.

        Returns the jobs that had to be cancelled.
        """
        if not self._loop.running:
            return []
        self._accepting = False
        pending = [job for job in self.jobs if not job.done]
        done, _ = concurrent.futures.wait([job.future for job in pending], timeout=timeout)
        stragglers = [job for job in pending if job.future not in done]
        for job in stragglers:
            job.warnings.append("cancelled: the runtime shut down before the job finished")

        def _cancel_stragglers() -> None:
            # all in one loop turn: a cancelled running job's task must not start a queued straggler
            for job in stragglers:
                self._stop_job(job, JobStatus.CANCELLED)

        self._loop.call(_cancel_stragglers)
        with contextlib.suppress(concurrent.futures.TimeoutError):
            self._loop.submit(self._abandon_worker_threads()).result(2.0)
        self._loop.call(self._close_endpoints)
        self._loop.stop()
        return stragglers

    async def _abandon_worker_threads(self) -> None:
        """Stop waiting for sync calls still running after their jobs were cancelled."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=1.0)

    def _close_endpoints(self) -> None:
        for endpoint in self._endpoints.values():
            endpoint.close()

    # ---- on the loop ------------------------------------------------------------------------
    def _enqueue(self, name: str, job: Job) -> None:
        endpoint = self._endpoints.get(name)
        if job.done:
            return
        if endpoint is None:
            job._finish(JobStatus.CANCELLED)
            return
        endpoint.queue.append(job)
        job._emit("submitted")
        self._pump(endpoint)

    def _pump(self, endpoint: _Endpoint) -> None:
        """Take queued jobs while the worker has free slots (RunPod's JobScaler)."""
        while endpoint.queue and self._free_slots(endpoint) > 0:
            job = endpoint.queue.popleft()
            if not job.done:
                self._start(endpoint, job)

    def _free_slots(self, endpoint: _Endpoint) -> int:
        target = _target_concurrency(endpoint)
        if target != endpoint.concurrency:
            if endpoint.running:  # RunPod applies a new concurrency only once the worker is idle
                return 0
            endpoint.concurrency = target
        return endpoint.concurrency - len(endpoint.running)

    def _start(self, endpoint: _Endpoint, job: Job) -> None:
        spec = job.spec = endpoint.spec
        job._start()
        loop = self._loop.loop
        task = loop.create_task(self._execute(endpoint, spec, job))
        endpoint.running[job.id] = self._tasks[job.id] = task
        if job.execution_timeout:
            endpoint.timers[job.id] = loop.call_later(
                job.execution_timeout, self._stop_job, job, JobStatus.TIMED_OUT
            )

    def _stop_job(self, job: Job, status: JobStatus) -> None:
        if not job._finish(status):
            return
        endpoint = self._endpoints.get(job.handler)
        if endpoint is not None and job in endpoint.queue:
            endpoint.queue.remove(job)
        # not endpoint.running: the handler may have been unregistered (or re-registered) meanwhile
        task = self._tasks.get(job.id)
        if task is not None:
            task.cancel()

    def _apply_progress(self, job: Job, value: Any) -> None:
        if job.status is JobStatus.IN_PROGRESS:
            job._add_progress(value)

    async def _execute(self, endpoint: _Endpoint, spec: HandlerSpec, job: Job) -> None:
        try:
            result = await self._produce(endpoint, spec, job)
        except asyncio.CancelledError:
            job._finish(JobStatus.CANCELLED)
        except BaseException as exc:  # SystemExit & co. would kill a RunPod worker: fail loudly
            job._finish(JobStatus.FAILED, {"error": fatal_error(exc)})
        else:
            if result is not None:
                if spec.refresh_worker:
                    result["stopPod"] = True
                job._finish(JobStatus.FAILED if result.get("error") else JobStatus.COMPLETED, result)
        finally:
            endpoint.running.pop(job.id, None)
            self._tasks.pop(job.id, None)
            timer = endpoint.timers.pop(job.id, None)
            if timer is not None:
                timer.cancel()
            if self._endpoints.get(job.handler) is endpoint:
                self._pump(endpoint)
            elif not endpoint.running:  # unregistered (or replaced) while this job ran
                endpoint.close()

    async def _produce(self, endpoint: _Endpoint, spec: HandlerSpec, job: Job) -> dict[str, Any] | None:
        """Run the handler; return the result body the worker would post (None: nothing to post)."""
        loop = self._loop.loop
        if spec.kind is HandlerKind.ASYNC_GENERATOR:
            return await drain_async(spec, job)
        if spec.kind is HandlerKind.SYNC_GENERATOR:
            pipe = _ChunkPipe(loop, job)
            drain = SyncDrain(spec, job, pipe.put, lambda: len(endpoint.running) > 1)
            try:
                while not await self._on_worker_thread(endpoint, drain.turn):
                    pipe.flush()  # another job's turn: what this one yielded so far is seen first
                return drain.result
            finally:
                pipe.flush()
                if not drain.finished:  # cancelled while waiting for a turn: close it on its thread
                    endpoint.executor.cleanup(drain.close)
        if spec.kind is HandlerKind.ASYNC:
            return await call_async(spec.fn, job.job)
        outcome = await self._on_worker_thread(endpoint, call_sync, spec.fn, job.job)
        if inspect.isawaitable(outcome):  # a sync callable that returned an awaitable
            return await await_result(outcome)
        result: dict[str, Any] = outcome
        return result


    async def _on_worker_thread(self, endpoint: _Endpoint, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn`` on the endpoint's worker thread.

        A cancelled (or timed-out) job is finished at once, but Python cannot stop a running sync call:
        the worker stays busy until it returns, as a RunPod worker blocked in a sync handler does, so
        the endpoint's slot is held until then and the next job stays IN_QUEUE. A second cancel (at
        shutdown) stops waiting.
        """
        call = endpoint.executor.submit(fn, *args)
        try:
            await self._loop.settled(call)
        except asyncio.CancelledError:
            if self._accepting:
                await self._loop.settled(call)
            raise
        if call.cancelled():  # never started: the worker was shut down (asyncio's error, not concurrent's)
            raise asyncio.CancelledError
        return call.result()


def _target_concurrency(endpoint: _Endpoint) -> int:
    modifier = endpoint.spec.concurrency_modifier
    if modifier is None:
        return endpoint.concurrency
    try:
        target = modifier(endpoint.concurrency)
    except Exception:
        log.exception("concurrency_modifier of %r raised; keeping %d", endpoint.spec.name, endpoint.concurrency)
        return endpoint.concurrency
    if isinstance(target, bool) or not isinstance(target, int) or target < 1:
        log.warning("concurrency_modifier of %r returned %r, not an int >= 1; using 1", endpoint.spec.name, target)
        return 1
    return target
