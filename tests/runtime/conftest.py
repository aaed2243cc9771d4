"""Helpers for the runtime tests: a gate to open from the test thread, and a recorder of events.

Nothing here sleeps to wait: every wait is on an event, with a timeout.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from rp_jupyter.runtime import JobEvent, Runtime

TIMEOUT = 10.0
"""The longest any single wait in these tests may take before the test fails."""


class Gate:
    """A one-shot gate: opened from any thread, awaited by async handlers or waited on by threads."""

    def __init__(self) -> None:
        self._flag = threading.Event()
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    @property
    def is_open(self) -> bool:
        return self._flag.is_set()

    def open(self) -> None:
        with self._lock:
            self._flag.set()
            waiters, self._waiters = self._waiters, []
        for loop, future in waiters:
            if not loop.is_closed():  # a waiter cancelled with its loop gone needs nothing
                loop.call_soon_threadsafe(_resolve, future)

    def wait(self, timeout: float = TIMEOUT) -> None:
        """Block a thread until open; TimeoutError otherwise."""
        if not self._flag.wait(timeout):
            raise TimeoutError("gate not opened in time")

    async def wait_async(self, timeout: float = TIMEOUT) -> None:
        """Await on the running loop until open; TimeoutError otherwise."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if self._flag.is_set():
                return
            self._waiters.append((loop, future))
        await asyncio.wait_for(future, timeout)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class EventLog:
    """Every runtime event, as ``(kind, job_id, data)``, with a way to wait for one."""

    def __init__(self, runtime: Runtime) -> None:
        self.events: list[tuple[str, str, Any]] = []
        self._cond = threading.Condition()
        self.unsubscribe = runtime.subscribe(self._on_event)

    def _on_event(self, event: JobEvent) -> None:
        with self._cond:
            self.events.append((event.kind, event.job.id, event.data))
            self._cond.notify_all()

    def kinds(self, job_id: str) -> list[str]:
        with self._cond:
            return [kind for kind, jid, _ in self.events if jid == job_id]

    def wait_for(self, kind: str, job_id: str, count: int = 1, timeout: float = TIMEOUT) -> None:
        """Block until ``kind`` happened ``count`` times to ``job_id`` (listeners run on the loop thread)."""

        def seen() -> bool:
            return sum(k == kind and j == job_id for k, j, _ in self.events) >= count

        with self._cond:
            if not self._cond.wait_for(seen, timeout):
                raise TimeoutError(f"no {kind!r} event for job {job_id} within {timeout} s")


@pytest.fixture
def gate() -> Callable[[], Gate]:
    """A factory of gates."""
    return Gate


@pytest.fixture
def events(runtime: Runtime) -> Iterator[EventLog]:
    log = EventLog(runtime)
    yield log
    log.unsubscribe()
