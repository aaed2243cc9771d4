"""A public API server on 127.0.0.1 (a free port) over a fresh runtime, a fake clock, an httpx client."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from rp_jupyter.runtime import Runtime
from rp_jupyter.server import PublicServer

TIMEOUT = 10.0
"""The longest any single wait in these tests may take."""


class FakeClock:
    """Monotonic seconds that move only when the test says so, and timers that fire, on the runtime's
    loop, when :meth:`advance` passes them (as the loop's own timers would)."""

    def __init__(self, runtime: Runtime) -> None:
        self.now = 1000.0
        self._runtime = runtime
        self._timers: list[_Timer] = []

    def __call__(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Callable[[], None]) -> _Timer:
        timer = _Timer(self.now + delay, callback)
        self._timers.append(timer)
        return timer

    def advance(self, seconds: float) -> None:
        """Move time on, then run every timer now due on the runtime's loop; returns once they ran."""
        self.now += seconds

        async def fire() -> None:
            while due := sorted((t for t in self._timers if t.at <= self.now and not t.cancelled),
                                key=lambda t: t.at):
                for timer in due:
                    self._timers.remove(timer)
                    timer.callback()
            self._timers = [t for t in self._timers if not t.cancelled]

        self._runtime.run_coroutine(fire()).result(TIMEOUT)


class _Timer:
    def __init__(self, at: float, callback: Callable[[], None]) -> None:
        self.at, self.callback, self.cancelled = at, callback, False

    def cancel(self) -> None:
        self.cancelled = True


class Gate:
    """Opened by the test; sync handlers wait on it (with a timeout), so jobs stay IN_PROGRESS meanwhile."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def open(self) -> None:
        self._event.set()

    def wait(self) -> None:
        if not self._event.wait(TIMEOUT):
            raise TimeoutError("gate not opened in time")


@pytest.fixture
def clock(runtime: Runtime) -> FakeClock:
    return FakeClock(runtime)


@pytest.fixture
def make_server(runtime: Runtime, clock: FakeClock) -> Iterator[Callable[..., PublicServer]]:
    servers: list[PublicServer] = []

    def make(**options: Any) -> PublicServer:
        options = {"clock": clock, "webhook_retry_delay": 0.0, **options}
        server = PublicServer(runtime, "127.0.0.1", 0, **options).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def server(make_server: Callable[..., PublicServer]) -> PublicServer:
    return make_server()


@pytest.fixture
def http(server: PublicServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=TIMEOUT) as client:
        yield client
