"""The worker's loop: one daemon thread owning an asyncio event loop.

This module is the one bridge between the caller's threads (the kernel's main thread, a script)
and the runtime's loop. Nobody else in rp_jupyter starts loops or calls ``asyncio.run``: the
kernel's own loop is never nested, so nest-asyncio is not needed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["LoopThread"]

T = TypeVar("T")


class LoopThread:
    """An asyncio loop running forever on a daemon thread until :meth:`stop`."""

    def __init__(self, name: str = "rp-jupyter-runtime") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    @property
    def ident(self) -> int | None:
        """The loop thread's identifier (for ``sys._current_frames()``)."""
        return self._thread.ident

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and not self.loop.is_closed()

    def in_loop(self) -> bool:
        """True when called from the loop's own thread."""
        return threading.current_thread() is self._thread

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the loop, from any thread (from the loop itself, without waking it)."""
        if self.in_loop():
            self.loop.call_soon(fn, *args)
        else:
            self.loop.call_soon_threadsafe(fn, *args)

    async def settled(self, future: concurrent.futures.Future[Any], timeout: float | None = None) -> bool:
        """On the loop: wait until ``future`` (set by any thread) is done — True — or ``timeout`` s
        passed — False. One loop wake-up when it ends (``wrap_future`` + ``shield`` + ``wait_for``
        take four); cancelling the waiter leaves ``future`` alone."""
        loop = self.loop
        woken = loop.create_future()

        def wake(*_: Any) -> None:
            if not woken.done():
                woken.set_result(None)

        def on_done(_: concurrent.futures.Future[Any]) -> None:
            if self.in_loop():
                wake()
            elif not loop.is_closed():
                try:
                    loop.call_soon_threadsafe(wake)
                except RuntimeError:  # closed meanwhile: nobody is waiting any more
                    pass

        timer = loop.call_later(timeout, wake) if timeout is not None else None
        future.add_done_callback(on_done)
        try:
            await woken
        finally:
            if timer is not None:
                timer.cancel()
        return future.done()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule a coroutine on the loop from another thread; a Future for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, fn: Callable[[], T], timeout: float | None = None) -> T:
        """Run ``fn()`` on the loop and return its result (directly when already on the loop)."""
        if self.in_loop():
            return fn()

        async def _call() -> T:
            return fn()

        return self.submit(_call()).result(timeout)

    def join(self, timeout: float) -> None:
        """Wait up to ``timeout`` s for the loop's thread to end (once something stopped the loop)."""
        self._thread.join(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop and join its thread (pending tasks must have been dealt with before)."""
        if self.loop.is_closed():
            return
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout)
