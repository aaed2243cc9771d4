"""Serving an ASGI app with uvicorn on the runtime's loop (never a loop of its own, never the kernel's)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from typing import Any

from ..exceptions import ServerError
from ..runtime import Runtime

__all__ = ["HttpServer"]

log = logging.getLogger("rp_jupyter")


class HttpServer:
    """One uvicorn server for ``app`` on ``host:port`` (0 = a free port), run as a task on the runtime."""

    def __init__(self, app: Any, runtime: Runtime, host: str = "127.0.0.1", port: int = 0) -> None:
        import uvicorn

        if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
            raise ServerError(f"a port is a whole number from 0 to 65535 (0 = any free port), got {port!r}")
        config = uvicorn.Config(
            app, host=host, port=port, log_level="warning", lifespan="off", access_log=False, timeout_graceful_shutdown=2
        )
        self._server = uvicorn.Server(config)
        self._runtime = runtime
        self._task: concurrent.futures.Future[None] | None = None
        self.host, self.port = host, port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self, timeout: float = 10.0) -> HttpServer:
        """Start serving; returns once the socket listens. A busy port is a :class:`ServerError`."""
        started: concurrent.futures.Future[int] = concurrent.futures.Future()
        self._task = self._runtime.run_coroutine(self._serve(started))
        try:
            self.port = started.result(timeout)
        except concurrent.futures.TimeoutError:
            self.stop()
            raise ServerError(f"the server on {self.host}:{self.port} did not start within {timeout} s") from None
        return self

    async def _serve(self, started: concurrent.futures.Future[int]) -> None:
        watcher = asyncio.ensure_future(self._report_start(started))
        try:
            await self._server.serve()
        except (SystemExit, OSError) as exc:  # uvicorn exits on a busy port
            if not started.done():
                started.set_exception(
                    ServerError(
                        f"cannot listen on {self.host}:{self.port}: the port is in use or the address is not "
                        f"one of this machine's ({type(exc).__name__})"
                    )
                )
        finally:
            watcher.cancel()
            if not started.done():
                started.set_exception(ServerError(f"the server on {self.host}:{self.port} stopped while starting"))

    async def _report_start(self, started: concurrent.futures.Future[int]) -> None:
        while not self._server.started:
            await asyncio.sleep(0.005)
        sockets = [s for server in self._server.servers for s in server.sockets]
        if not started.done():
            started.set_result(sockets[0].getsockname()[1] if sockets else self.port)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, let open requests finish (2 s grace), then close."""
        if self._task is None:
            return
        self._server.should_exit = True
        try:
            self._task.result(timeout)
        except (concurrent.futures.TimeoutError, concurrent.futures.CancelledError):
            self._server.force_exit = True
        self._task = None
