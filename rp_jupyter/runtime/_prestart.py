"""runpod 2.x's prestart hooks: run once by each worker before its first call; jobs taken meanwhile wait.

As the SDK's ``rp_prestart`` does: hooks run in registration order under one deadline for the whole
phase (``prestart_timeout``, none by default); a sync hook on a daemon thread of its own (its context
copied), an async hook — or what a sync hook returns that is awaitable — on the worker's loop. A hook
that raises, or a phase past its deadline, fails every job the worker holds with the SDK's
``prestart_failed`` body, and the worker takes no more jobs (a deployed worker exits and the platform
starts a new one, which runs the hooks again).

The deadline is kept by the runtime's timer thread, not by the worker's loop: a hook that blocks its
loop or never returns cannot hold the verdict back. It is left to end on its own, listed in
``runtime.abandoned`` until it does.

What the hooks print goes to the jobs held meanwhile (``job.logs``, stream ``"prestart"``) and, as the
SDK captures it, into the failure body's ``logs`` (the last 16 KiB of stdout and stderr).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import enum
import functools
import inspect
import json
import math
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

from ..exceptions import RegistrationError
from ._logs import enter_job
from ._shaping import LOG_CAPTURE_CHARS, handler_traceback, runpod_version
from ._watchdog import Namer, plain_name, where

__all__ = ["PRESTART_FAILED", "Phase", "Prestart", "check_hooks", "hook_name"]

PRESTART_FAILED = "prestart_failed"
_TIMEOUT_CLASS = "runpod.serverless.modules.rp_prestart.PrestartTimeout"
_RUNTIME_DIR = os.path.dirname(os.path.abspath(__file__))

Arm = Callable[[float, Callable[[], None], Callable[[], bool]], None]


class Phase(str, enum.Enum):
    WAITING = "waiting"
    """No job has come yet: the hooks run when the worker takes its first one."""
    RUNNING = "running"
    READY = "ready"
    FAILED = "failed"


def hook_name(hook: Any) -> str:
    """The name the SDK gives a hook (``__name__``, else its type's name)."""
    if hook is None:
        return "unknown"
    return str(getattr(hook, "__name__", type(hook).__name__))


def check_hooks(hooks: Any, timeout: Any) -> tuple[tuple[Callable[[], Any], ...], float | None]:
    """Hooks and ``prestart_timeout`` as the runtime takes them; one-line :class:`RegistrationError` otherwise."""
    if hooks is None:
        hooks = ()
    if callable(hooks) or isinstance(hooks, (str, bytes)) or not isinstance(hooks, (list, tuple)):
        raise RegistrationError(f"prestart_hooks must be a list of functions, got {type(hooks).__name__}")
    for hook in hooks:
        if not callable(hook):
            raise RegistrationError(f"a prestart hook must be a function taking no arguments, got {type(hook).__name__}")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or not math.isfinite(timeout) or timeout <= 0):
        raise RegistrationError(
            f"prestart_timeout must be a number of seconds > 0 (leave it out for no timeout), got {timeout!r}"
        )
    return tuple(hooks), timeout


@functools.lru_cache(maxsize=1)
def _process_worker_id() -> str:
    return str(uuid.uuid4())


def _worker_id() -> str:
    """``RUNPOD_POD_ID``, else an id of this process (the SDK's ``WORKER_ID``: a uuid4 when unset)."""
    return os.environ.get("RUNPOD_POD_ID") or _process_worker_id()


def _capture_on() -> bool:
    """The SDK captures the hooks' output unless ``RUNPOD_LOG_CAPTURE=off`` (its default ``auto`` does)."""
    return os.environ.get("RUNPOD_LOG_CAPTURE", "auto").strip().lower() != "off"


def _clip(text: str, limit: int = LOG_CAPTURE_CHARS) -> str:
    """The SDK's ``clip``: an over-long text keeps its head and tail."""
    if len(text) <= limit:
        return text
    keep = limit // 2
    return f"{text[:keep]}\n...[{len(text) - 2 * keep} characters truncated]...\n{text[-keep:]}"


class PhaseLog:
    """Where the hooks' output goes (a ``_logs`` sink): the last 16 KiB of stdout and stderr for the
    failure body, and every line to each job held meanwhile."""

    is_job = False

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._captured = ""
        self._jobs: list[Any] = []
        self.open = True

    def _log(self, stream: str, text: str) -> None:
        with self._lock:
            if stream != "log":
                self._captured = (self._captured + text)[-LOG_CAPTURE_CHARS:]
            jobs = list(self._jobs) if self.open else []
        for job in jobs:
            job._log("prestart", text)

    def attach(self, job: Any) -> None:
        """A job held by the phase: what the hooks wrote so far, then the rest as it comes."""
        with self._lock:
            if not self.open or job in self._jobs:
                return
            self._jobs.append(job)
            so_far = self._captured
        if so_far:
            job._log("prestart", so_far)

    @property
    def captured(self) -> str:
        with self._lock:
            return self._captured


class Prestart:
    """One worker's prestart phase. ``arm(when, fn, alive)`` sets a timer (the runtime's timer thread);
    ``on_fail()`` tells the control plane the phase failed (called once, by whoever decided it)."""

    def __init__(self, name: str, hooks: Sequence[Callable[[], Any]], timeout: float | None,
                 arm: Arm, on_fail: Callable[[], None], on_ready: Callable[[], None] = lambda: None) -> None:
        self.name, self.hooks, self.timeout = name, tuple(hooks), timeout
        self._arm, self._on_fail, self._on_ready = arm, on_fail, on_ready
        self.state = Phase.WAITING
        self.log = PhaseLog()
        self.payload: dict[str, Any] | None = None
        self.current: Callable[[], Any] | None = None
        self.since = 0.0
        """``time.time()`` when the phase began."""
        self._returned = threading.Event()  # the phase's coroutine has returned
        self.left_running = False
        """True when the verdict came while a hook still ran (it is left to end on its own)."""
        self._lock = threading.Lock()
        self._task: asyncio.Task[bool] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._hook_thread: threading.Thread | None = None
        self._coroutine: Any = None

    # ---- state ----------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.state is Phase.RUNNING

    @property
    def finished(self) -> bool:
        """No hook's code runs any more (a timed-out sync hook may run on, on its thread, long after the verdict)."""
        thread = self._hook_thread
        return self._returned.is_set() and not (thread is not None and thread.is_alive())

    @property
    def hook(self) -> str:
        """The name of the hook running (or the last one run)."""
        return hook_name(self.current)

    def body(self) -> dict[str, Any]:
        """The job-done body the SDK posts for a job held when the phase failed."""
        return {"error": json.dumps(self.payload)}

    def begin(self) -> bool:
        """WAITING → RUNNING (False when it had begun); arms ``prestart_timeout``."""
        with self._lock:
            if self.state is not Phase.WAITING:
                return False
            self.state, self.since = Phase.RUNNING, time.time()
        if self.timeout is not None:
            self._arm(time.monotonic() + self.timeout, self.time_out, lambda: self.running)
        return True

    def _decide(self, state: Phase, payload: dict[str, Any] | None = None) -> bool:
        with self._lock:
            if self.state is not Phase.RUNNING:
                return False
            self.state, self.payload = state, payload
            self.left_running = not self.finished
        self.log.open = False
        return True

    # ---- running the hooks (on the worker's loop) ------------------------------------------------
    async def run(self) -> bool:
        """The hooks, in order; True when every one returned. Decides the phase unless a timeout did."""
        self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
        enter_job(self.log)  # this task's own context: the hooks' output goes to the phase's log
        try:
            for hook in self.hooks:
                self.current = hook
                await self._invoke(hook)
        except BaseException as exc:  # every failure of a hook is the phase's failure
            self._returned.set()
            if self._decide(Phase.FAILED, self._failure(exc)):
                self._on_fail()
            return False
        self._returned.set()
        if self._decide(Phase.READY):
            self._on_ready()
            return True
        return False

    async def _invoke(self, hook: Callable[[], Any]) -> None:
        self._hook_thread = self._coroutine = None
        if inspect.iscoroutinefunction(hook) or inspect.iscoroutinefunction(type(hook).__call__):
            result = hook()
        else:
            result = await self._in_daemon(hook)
        if inspect.isawaitable(result):
            self._coroutine = result
            await result

    async def _in_daemon(self, hook: Callable[[], Any]) -> Any:
        """A sync hook on a daemon thread of its own (never an executor: it could hold the interpreter's exit)."""
        loop, done = asyncio.get_running_loop(), asyncio.Event()
        outcome: list[Any] = []
        context = contextvars.copy_context()

        def work() -> None:
            try:
                outcome.append((True, context.run(hook)))
            except BaseException as exc:  # handed to the loop
                outcome.append((False, exc))
            finally:
                with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
                    loop.call_soon_threadsafe(done.set)

        self._hook_thread = threading.Thread(target=work, name=f"rp-prestart-{self.name}", daemon=True)
        self._hook_thread.start()
        await done.wait()
        ok, value = outcome[0]
        if not ok:
            raise value
        return value

    # ---- the deadline (timer thread) ------------------------------------------------------------
    def time_out(self) -> None:
        """``prestart_timeout`` has passed: the phase fails now, whatever its hook is doing."""
        hook = self.current
        message = f"prestart hook '{hook_name(hook)}' exceeded prestart_timeout of {self.timeout}s"
        stack = _format_frames(self.frames())
        text = (f"Where the prestart hook was when prestart_timeout passed (most recent call last):\n{stack}"
                f"{_TIMEOUT_CLASS}: {message}\n")
        if not self._decide(Phase.FAILED, self._payload("PrestartTimeout", message, text, hook)):
            return
        self._on_fail()  # the held jobs fail first: the worker must not reach them once its phase is cancelled
        task, loop = self._task, self._loop
        if task is not None and loop is not None:  # an async hook gets its CancelledError, as under wait_for
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(task.cancel)

    def frames(self) -> list[FrameType]:
        """The running hook's frames, outermost first (empty when none runs)."""
        if self.finished:
            return []
        thread = self._hook_thread
        if thread is not None and thread.is_alive() and self._coroutine is None:
            return _thread_frames(thread.ident)
        frames: list[FrameType] = []
        coroutine = self._coroutine
        while coroutine is not None and getattr(coroutine, "cr_frame", None) is not None:
            frames.append(coroutine.cr_frame)
            coroutine = getattr(coroutine, "cr_await", None)
        return frames

    def where(self, namer: Namer = plain_name) -> str:
        frames = self.frames()
        return where(frames[-1], namer) if frames else f"(prestart hook {hook_name(self.current)!r})"

    # ---- the body -------------------------------------------------------------------------------
    def _failure(self, exc: BaseException) -> dict[str, Any]:
        return self._payload(type(exc).__name__, str(exc), handler_traceback(exc), self.current)

    def _payload(self, error_type: str, message: str, text: str, hook: Any) -> dict[str, Any]:
        """The SDK's ``build_prestart_failed_payload``, key for key."""
        payload: dict[str, Any] = {
            "event": PRESTART_FAILED,
            "error_type": error_type,
            "error_message": _clip(message),
            "error_traceback": _clip(text),
            "worker_id": _worker_id(),
            "runpod_version": runpod_version(),
            "hook": hook_name(hook),
        }
        logs = self.log.captured
        if logs and _capture_on():
            payload["logs"] = logs
        return payload


def _thread_frames(ident: int | None) -> list[FrameType]:
    """A thread's frames from its hook down (outermost first): the runtime's own frames are left out."""
    frame = sys._current_frames().get(ident or -1)
    frames: list[FrameType] = []
    while frame is not None and os.path.dirname(os.path.abspath(frame.f_code.co_filename)) != _RUNTIME_DIR:
        frames.append(frame)
        frame = frame.f_back
    return frames[::-1]


def _format_frames(frames: list[FrameType]) -> str:
    return "".join(traceback.format_list(traceback.StackSummary.extract((f, f.f_lineno) for f in frames)))

