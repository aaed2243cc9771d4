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
import dataclasses
import inspect
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

from ..exceptions import (
    HandlerNotFoundError,
    JobStateError,
    JobWaitTimeout,
    PayloadTooLargeError,
    RegistrationError,
    RequestError,
    RuntimeStoppedError,
)
from ._job import Job, JobEvent, Listener, _call_listener
from ._loop import LoopThread
from ._shaping import (
    RUN_LIMIT_BYTES,
    RUNSYNC_LIMIT_BYTES,
    HandlerKind,
    NotSerializable,
    check_wire,
    chunk_error,
    classify,
    exception_error,
    generator_error,
    shape_return,
)
from ._status import JobStatus

__all__ = ["DEFAULT_EXECUTION_TIMEOUT", "HandlerSpec", "Runtime"]

log = logging.getLogger("rp_jupyter")
T = TypeVar("T")

DEFAULT_EXECUTION_TIMEOUT = 600.0
"""RunPod's default execution timeout (``policy.executionTimeout`` 600000 ms), in seconds."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_CHUNK_LOST = (
    "On RunPod the worker would skip posting this chunk (the stream silently loses it) and, with "
    "return_aggregate_stream, the final result could not be posted: the job would stay IN_PROGRESS "
    "until its execution timeout."
)


@dataclasses.dataclass(frozen=True)
class HandlerSpec:
    """A registered handler and the ``runpod.serverless.start`` config it runs with."""

    name: str
    fn: Callable[..., Any]
    kind: HandlerKind
    return_aggregate_stream: bool = False
    concurrency_modifier: Callable[[int], int] | None = None
    refresh_worker: bool = False
    execution_timeout: float | None = DEFAULT_EXECUTION_TIMEOUT

    def describe(self) -> str:
        parts = [str(self.kind)]
        if self.kind.is_generator:
            parts.append(f"aggregate={'yes' if self.return_aggregate_stream else 'no'}")
        if self.concurrency_modifier is not None:
            parts.append("concurrency_modifier")
        if self.refresh_worker:
            parts.append("refresh_worker")
        return ", ".join(parts)


class _Endpoint:
    """One handler name: its current spec, queue, running jobs and worker thread."""

    def __init__(self, spec: HandlerSpec) -> None:
        self.spec = spec
        self.queue: collections.deque[Job] = collections.deque()
        self.running: dict[str, asyncio.Task[None]] = {}
        self.timers: dict[str, asyncio.TimerHandle] = {}
        self.concurrency = 1
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None

    @property
    def executor(self) -> concurrent.futures.ThreadPoolExecutor:
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                1, thread_name_prefix=f"rp-handler-{self.spec.name}"
            )
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
    ) -> HandlerSpec:
        """Register (or replace) a handler; running jobs finish on the code they started with."""
        spec = _make_spec(fn, name, return_aggregate_stream, concurrency_modifier, refresh_worker,
                          execution_timeout)
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
        body = _parse_request(request, RUNSYNC_LIMIT_BYTES if sync else RUN_LIMIT_BYTES,
                              "/runsync" if sync else "/run")
        job_id = f"{'sync-' if sync else ''}{uuid.uuid4()}-local"
        job_dict = {"id": job_id, "input": body["input"]}
        job_dict.update((k, v) for k, v in body.items() if k not in ("id", "input"))
        timeout = _execution_timeout(body, spec.execution_timeout)
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
        if job is not None and not job.done and self._loop.running:
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
            job._finish(JobStatus.FAILED, {"error": _fatal_error(exc)})
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

    async def _produce(self, endpoint: _Endpoint, spec: HandlerSpec, job: Job) -> dict[str, Any] | None:
        """Run the handler; return the result body the worker would post (None: nothing to post)."""
        loop = self._loop.loop
        if spec.kind is HandlerKind.ASYNC_GENERATOR:
            return await _drain_async(spec, job)
        if spec.kind is HandlerKind.SYNC_GENERATOR:
            pipe = _ChunkPipe(loop, job)
            try:
                return await self._on_worker_thread(endpoint, _drain_sync, spec, job, pipe.put)
            finally:
                pipe.flush()
        if spec.kind is HandlerKind.ASYNC:
            return await _call_async(spec.fn, job.job)
        outcome = await self._on_worker_thread(endpoint, _call_sync, spec.fn, job.job)
        if inspect.isawaitable(outcome):  # a sync callable that returned an awaitable
            return await _await_result(outcome)
        result: dict[str, Any] = outcome
        return result


    async def _on_worker_thread(self, endpoint: _Endpoint, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn`` on the endpoint's worker thread.

        A cancelled (or timed-out) job is finished at once, but Python cannot stop a running sync call:
        the worker stays busy until it returns, as a RunPod worker blocked in a sync handler does, so
        the endpoint's slot is held until then and the next job stays IN_QUEUE. A second cancel (at
        shutdown) stops waiting.
        """
        future = self._loop.loop.run_in_executor(endpoint.executor, fn, *args)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            if self._accepting:
                await future
            raise


# ---- handler calls (their frames are left out of the tracebacks users see) -------------------
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


def _call_sync(fn: Callable[..., Any], job: dict[str, Any]) -> Any:
    try:
        value = fn(job)
    except Exception as exc:
        return {"error": exception_error(exc)}
    return value if inspect.isawaitable(value) else _finish_normal(value)


async def _await_result(awaitable: Any) -> dict[str, Any]:
    try:
        value = await awaitable
    except Exception as exc:
        return {"error": exception_error(exc)}
    return _finish_normal(value)


async def _call_async(fn: Callable[..., Any], job: dict[str, Any]) -> dict[str, Any]:
    try:
        value = fn(job)
        if inspect.isawaitable(value):
            value = await value
    except Exception as exc:
        return {"error": exception_error(exc)}
    return _finish_normal(value)


class _Stream:
    """The per-chunk rules of RunPod's ``handle_job`` for generator handlers."""

    def __init__(self, spec: HandlerSpec, job: Job, sink: Callable[[Any], None]) -> None:
        self.aggregate: list[Any] | None = [] if spec.return_aggregate_stream else None
        self.job, self.sink, self.count = job, sink, 0

    def take(self, value: Any) -> dict[str, Any] | None:
        """Handle one yielded value; a result body when the stream must stop here."""
        error = chunk_error(value)
        if error is not None:
            return {"error": error}
        if type(value) is not str:
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


def _drain_sync(spec: HandlerSpec, job: Job, sink: Callable[[Any], None]) -> dict[str, Any] | None:
    stream = _Stream(spec, job, sink)
    generator: Iterator[Any] | None = None
    try:
        generator = spec.fn(job.job)
        for value in generator:
            if job.done:  # cancelled or timed out: stop between yields, post nothing
                return None
            stop = stream.take(value)
            if stop is not None:
                return stop
    except Exception as exc:
        return {"error": generator_error(exc)}
    finally:
        close = getattr(generator, "close", None)
        if close is not None:
            close()
    return stream.final()


async def _drain_async(spec: HandlerSpec, job: Job) -> dict[str, Any]:
    stream = _Stream(spec, job, lambda value: job._add_chunks([value]))
    generator = spec.fn(job.job)
    try:
        async for value in generator:
            stop = stream.take(value)
            if stop is not None:
                return stop
    except Exception as exc:
        return {"error": generator_error(exc)}
    finally:
        await generator.aclose()
    return stream.final()


def _fatal_error(exc: BaseException) -> str:
    return (
        f"rp_jupyter: the handler raised {type(exc).__name__}({exc!s}), which is not an Exception. "
        "On RunPod this escapes the SDK and stops the worker; the job is lost and stays IN_PROGRESS "
        "until its execution timeout."
    )


# ---- validation -------------------------------------------------------------------------------
def _make_spec(
    fn: Any,
    name: str | None,
    aggregate: bool,
    modifier: Any,
    refresh: bool,
    timeout: float | None,
) -> HandlerSpec:
    if not callable(fn):
        raise RegistrationError(f"a handler must be callable, got {type(fn).__name__}")
    name = name or getattr(fn, "__name__", None)
    if not isinstance(name, str) or not _NAME.match(name):
        raise RegistrationError(
            f"invalid handler name {name!r}: use letters, digits, '_', '-' or '.' (it becomes the endpoint id)"
        )
    if modifier is not None and not callable(modifier):
        raise RegistrationError(
            f"concurrency_modifier must be a function of the current concurrency, got {type(modifier).__name__}"
        )
    if timeout is not None and (not isinstance(timeout, (int, float)) or timeout < 0):
        raise RegistrationError(f"execution timeout must be a number of seconds >= 0, got {timeout!r}")
    return HandlerSpec(name, fn, classify(fn), bool(aggregate), modifier, bool(refresh), timeout or None)


def _parse_request(request: Any, limit: int, route: str) -> dict[str, Any]:
    """Validate a request body as RunPod's API would; returns a private JSON copy of it."""
    if isinstance(request, (str, bytes)):
        try:
            request = json.loads(request)
        except json.JSONDecodeError as exc:
            raise RequestError(f"the request is not valid JSON: {exc}") from None
    if not isinstance(request, dict):
        raise RequestError(
            f'a request is a JSON object like {{"input": {{...}}}}, got {type(request).__name__}'
        )
    if request.get("input") is None:
        raise RequestError('the request has no "input" (RunPod requires {"input": ...})')
    try:
        text = json.dumps(request, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise RequestError(f"the request is not JSON-serialisable: {exc}") from None
    size = len(text.encode())
    if size > limit:
        raise PayloadTooLargeError(
            f"the request is {size / 1e6:.1f} MB, over RunPod's {limit // (1024 * 1024)} MB limit for {route}"
        )
    body: dict[str, Any] = json.loads(text)
    return body


def _execution_timeout(body: dict[str, Any], default: float | None) -> float | None:
    policy = body.get("policy")
    if policy is None:
        return default
    if not isinstance(policy, dict):
        raise RequestError(f'"policy" must be an object, got {type(policy).__name__}')
    value = policy.get("executionTimeout")
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise RequestError(f'"policy.executionTimeout" must be a positive number of ms, got {value!r}')
    return value / 1000


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
