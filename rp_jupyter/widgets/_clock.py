"""The clock that decides when views redraw: one daemon thread, at most ``hz`` flushes a second a
view and ``budget`` messages a second in all.

Views mark themselves dirty from the runtime's thread (cheap: an attribute and a set); the clock
flushes dirty views on its own thread, so a fast stream never waits on the front end. With many
views streaming at once, each is flushed less often, so the browser never gets more than ``budget``
updates a second whatever the number of views (a job's end is flushed at once). The thread starts with
the first mark and stops with :meth:`Clock.stop` (``%unload_ext``), after flushing what is dirty.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

__all__ = ["Clock", "Flushable", "keep_page_shell"]


class Flushable(Protocol):
    def flush(self) -> None: ...


class Clock:
    """Flushes dirty views at most ``hz`` times a second, ``budget`` flushes a second in all;
    ``mark(view, urgent=True)`` flushes at once."""

    def __init__(self, hz: float = 20.0, budget: float = 30.0) -> None:
        self.period = 1.0 / hz
        self.budget = budget
        self._dirty: set[Flushable] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._urgent = threading.Event()
        self._thread: threading.Thread | None = None
        self._stop: threading.Event | None = None

    def mark(self, view: Flushable, urgent: bool = False) -> None:
        with self._lock:
            self._dirty.add(view)
            if self._thread is None or not self._thread.is_alive():
                self._stop = threading.Event()
                self._thread = threading.Thread(target=self._run, args=(self._stop,), name="rp-jupyter-views",
                                                daemon=True)
                self._thread.start()
        self._wake.set()
        if urgent:
            self._urgent.set()

    def stop(self, timeout: float = 2.0) -> None:
        """Flush what is dirty and end the thread (a later mark starts a new one)."""
        with self._lock:
            thread, stop = self._thread, self._stop
            self._thread = self._stop = None
        if thread is None or stop is None:
            return
        stop.set()
        self._wake.set()
        self._urgent.set()
        thread.join(timeout)

    def _run(self, stop: threading.Event) -> None:
        while True:
            self._wake.wait()  # idle until a view is dirty
            self._wake.clear()
            with self._lock:
                views, self._dirty = self._dirty, set()
            for view in views:
                try:
                    view.flush()
                except Exception:  # a broken view must not stop the others
                    import logging

                    logging.getLogger("rp_jupyter").exception("job view flush failed")
            if stop.is_set():
                return
            # at most `hz` flushes a second a view and `budget` in all, unless a job just ended
            self._urgent.wait(max(self.period, len(views) / self.budget))
            self._urgent.clear()


CLOCK = Clock()


def keep_page_shell(*targets: Any) -> None:
    """Route what pages send to these comms, or widgets and their children, to the shell the page chose.

    ipykernel 7.4 routes a comm's incoming messages to the subshell of the request that was current when
    the comm last sent. Ours send from the clock's thread (and the runtime's), where "current" is whatever
    any shell handled last: a page's per-comm-target widget subshell, which JupyterLab deletes when that
    target's last comm closes — after which the comm was deaf (``Unknown subshell_id``: commands dropped,
    a reloaded page's ``request_state`` unanswered). A message's own header is what the page meant.
    Nothing to do on an ipykernel without the routing."""
    for target in targets:
        comm = getattr(target, "comm", target)
        if comm is not None:
            comm._reply_subshell_for = _by_header
        parts = [*getattr(target, "children", ()), getattr(target, "layout", None), getattr(target, "style", None)]
        keep_page_shell(*(part for part in parts if getattr(part, "comm", None) is not None))


def _by_header(data: Any, default: Any) -> Any:
    return default
