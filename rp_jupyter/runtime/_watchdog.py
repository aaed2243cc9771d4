"""The runtime's timer thread, and what it tells about stuck handler code.

:class:`Timers` runs callbacks at given times (execution timeouts, the grace a stopped call gets) and a
periodic *tick* while something needs watching (the handler loops' heartbeat). It never runs user
code and never waits on it, so timeouts fire on time however stuck a handler is.

:func:`where` names the line a thread is stuck on — the user's own line (a cell, a script), not the
stdlib or library frame it is blocked in — as asyncio's debug mode names slow callbacks.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import linecache
import logging
import os
import sysconfig
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._job import Job
    from ._workers import AsyncWorker

__all__ = ["DEFAULT_STALL_THRESHOLD", "AbandonedCall", "Stall", "Timers", "is_user_file", "jobs_on_stack", "where"]

log = logging.getLogger("rp_jupyter")

DEFAULT_STALL_THRESHOLD = 0.25
"""Seconds a handler may block its loop (or ignore a stop) before the watchdog says so."""

_Entry = tuple[float, int, Callable[[], None], Callable[[], bool] | None]


class Timers:
    """Callbacks at monotonic times, plus ``tick(now) -> still_needed`` every ``interval`` s while needed.

    One daemon thread, started on first use. Adding a timer wakes it only when the new one is the
    earliest (a job's timeout rarely is), so arming one per job costs a heap push.
    """

    def __init__(self, tick: Callable[[float], bool], interval: float, name: str = "rp-jupyter-timers") -> None:
        self._tick, self.interval, self._name = tick, interval, name
        self._cond = threading.Condition()
        self._heap: list[_Entry] = []
        self._seq = itertools.count()
        self._prune_at = 256
        self._ticking = False
        self._kicked = False
        self._next_tick = 0.0
        self._stopped = False
        self._thread: threading.Thread | None = None

    def at(self, when: float, fn: Callable[[], None], alive: Callable[[], bool] | None = None) -> None:
        """Call ``fn()`` at monotonic time ``when`` (skipped if ``alive()`` is False by then)."""
        with self._cond:
            if self._stopped:
                return
            entry = (when, next(self._seq), fn, alive)
            heapq.heappush(self._heap, entry)
            if len(self._heap) > self._prune_at:
                self._prune()
            self._start()
            if self._heap[0] is entry:
                self._cond.notify()

    def busy(self) -> None:
        """Cheap :meth:`kick` for every job: a flag (a tick under way keeps going), the lock only to start."""
        self._kicked = True
        if not self._ticking:
            self.kick()

    def kick(self) -> None:
        """Something needs watching now: tick within ``interval`` s (and on until tick says no more)."""
        with self._cond:
            self._kicked = True
            if self._ticking or self._stopped:
                return
            self._ticking = True
            self._next_tick = time.monotonic() + self.interval
            self._start()
            self._cond.notify()

    def stop(self, timeout: float = 1.0) -> None:
        """Stop the thread (waiting up to ``timeout`` s for it: it never runs user code)."""
        with self._cond:
            self._stopped = True
            self._heap.clear()
            self._cond.notify()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _prune(self) -> None:
        """Drop timers nobody needs any more (the jobs ended): the heap stays the size of what is live."""
        self._heap = [entry for entry in self._heap if entry[3] is None or entry[3]()]
        heapq.heapify(self._heap)
        self._prune_at = max(256, 2 * len(self._heap))

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    def _due(self) -> tuple[list[_Entry], bool] | None:
        """Wait for the next due work; None once stopped."""
        with self._cond:
            while not self._stopped:
                now = time.monotonic()
                wake = self._heap[0][0] if self._heap else float("inf")
                if self._ticking:
                    wake = min(wake, self._next_tick)
                if wake <= now:
                    break
                self._cond.wait(None if wake == float("inf") else wake - now)
            if self._stopped:
                return None
            now = time.monotonic()
            ready = []
            while self._heap and self._heap[0][0] <= now:
                ready.append(heapq.heappop(self._heap))
            tick = self._ticking and self._next_tick <= now
            if tick:
                self._next_tick = now + self.interval
                self._kicked = False
            return ready, tick

    def _run(self) -> None:
        while (due := self._due()) is not None:
            ready, tick = due
            for _, _, fn, alive in ready:
                if alive is None or alive():
                    _safely(fn)
            if tick and not _safely(lambda: self._tick(time.monotonic())):
                with self._cond:
                    self._ticking = self._kicked  # a kick during the tick keeps it going


def _safely(fn: Callable[[], object]) -> bool:
    try:
        return bool(fn())
    except Exception:  # the timer thread must outlive any bug
        log.exception("rp_jupyter: a runtime timer failed")
        return False


# ---- naming the user's line ---------------------------------------------------------------------
_RUNTIME_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_LIBRARY_DIRS = tuple(
    sorted({os.path.abspath(path) for key in ("stdlib", "platstdlib", "purelib", "platlib")
            if (path := sysconfig.get_paths().get(key))}, key=len, reverse=True)
)


def is_user_file(filename: str) -> bool:
    """True for the user's code (cells, scripts, their modules), False for the stdlib, installed
    libraries and rp_jupyter itself."""
    if not filename or filename.startswith("<frozen") or filename.startswith("<string"):
        return False
    path = os.path.abspath(filename)
    if path.startswith(_RUNTIME_PACKAGE + os.sep) or "site-packages" in path.split(os.sep):
        return False
    return not any(path.startswith(prefix + os.sep) for prefix in _LIBRARY_DIRS)


Namer = Callable[[str, int], str]


def plain_name(filename: str, lineno: int) -> str:
    return f"{filename}, line {lineno}"


def where(frame: FrameType | None, namer: Namer = plain_name) -> str:
    """``"In[5], line 7, in handler: time.sleep(30)"`` — the innermost user frame of a stack, with the
    library function it is inside when that is not the user's own."""
    if frame is None:
        return "(the call has returned)"
    innermost, chosen = frame, None
    walker: FrameType | None = frame
    while walker is not None:
        if is_user_file(walker.f_code.co_filename):
            chosen = walker
            break
        walker = walker.f_back
    chosen = chosen or innermost
    code = chosen.f_code
    lineno = chosen.f_lineno or 0
    source = linecache.getline(code.co_filename, lineno).strip()
    text = f"{namer(code.co_filename, lineno)}, in {code.co_name}" + (f": {source}" if source else "")
    if chosen is not innermost:
        text += f" (inside {innermost.f_code.co_name}, {os.path.basename(innermost.f_code.co_filename)})"
    return text


@dataclasses.dataclass(frozen=True)
class AbandonedCall:
    """A handler call the runtime stopped waiting for; it still runs on its thread or loop."""

    handler: str
    job_id: str
    kind: str
    """``"thread"`` (a sync handler's thread), ``"loop"`` (an async handler's blocked loop), ``"task"``
    (an async task that ignored its cancellation) or ``"prestart"`` (a prestart hook; ``job_id`` is "")."""
    since: float
    """``time.time()`` when it was abandoned."""
    where: str

    def describe(self) -> str:
        at = time.strftime("%H:%M:%S", time.localtime(self.since))
        if not self.job_id:  # a prestart hook runs for no job
            return f"abandoned {self.kind} hook of handler {self.handler!r} still running since {at}: {self.where}"
        return f"abandoned call of handler {self.handler!r} (job {self.job_id}) still running since {at}: {self.where}"



# ---- a blocked handler loop ------------------------------------------------------------------------
class Stall:
    """A handler loop found blocked: the warning on its jobs, kept up to date until the loop answers."""

    def __init__(self, handler: str, jobs: list[Job], since: float, place: str) -> None:
        self.handler, self.jobs, self.since, self.place = handler, jobs, since, place
        self.text: str | None = None
        self.reported = 0.0

    def report(self, seconds: float, still: bool) -> None:
        if still:
            text = (f"handler {self.handler!r} has blocked its event loop for {seconds:.2f} s so far: {self.place}. "
                    "Other jobs of this handler wait meanwhile.")
        else:
            text = (f"handler {self.handler!r} blocked its event loop for {seconds:.2f} s: {self.place}. An async "
                    "handler must not block: await the work, or run it with `await asyncio.to_thread(...)`.")
        for job in self.jobs:
            if self.text is None:
                job._warn(text)
            else:
                job._replace_warning(self.text, text)
        self.text, self.reported = text, time.monotonic()


def jobs_on_stack(worker: AsyncWorker, frame: Any) -> list[Job]:
    """The job whose task is on the blocked loop's stack (its handler's own frames are)."""
    tasks = worker.running_task_frames()
    while frame is not None:
        run = tasks.get(frame)
        if run is not None:
            return [run.job]
        frame = frame.f_back
    return []
