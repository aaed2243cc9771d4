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
    """Monotonic seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


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
def clock() -> FakeClock:
    return FakeClock()


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
