"""Running a ``%%rp_handler`` cell as ``python handler.py`` would run the worker's module.

While the cell runs, ``sys.argv`` is ``["handler.py"]`` (a worker that parses its arguments with
``argparse`` under ``if __name__ == "__main__":`` sees no flags, not the kernel's ``-f …json``), and
``sys.exit()`` / ``exit()`` / ``quit()`` — a worker's start-up failure path — end the cell, not the
kernel: one line says what happened and nothing is registered. Everything is restored afterwards.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["WorkerExit", "run_as_worker_module"]

_MISSING = object()


class WorkerExit(Exception):
    """``sys.exit(code)`` called by a handler cell (an ``Exception``: the shell must not exit)."""

    def __init__(self, code: Any = None) -> None:
        super().__init__(code)
        self.code = code

    def _render_traceback_(self) -> list[str]:
        return []  # the magic says it in one line


def _exit(code: Any = None) -> None:
    raise WorkerExit(code)


@contextmanager
def _as_worker(shell: Any) -> Iterator[None]:
    saved_argv, saved_exit = sys.argv, sys.exit
    saved_ns = {name: shell.user_ns.get(name, _MISSING) for name in ("exit", "quit")}
    original_showtraceback = shell.showtraceback

    def showtraceback(*args: Any, **kwargs: Any) -> None:
        exc_tuple = kwargs.get("exc_tuple") or (args[0] if args else None)
        value = exc_tuple[1] if exc_tuple else sys.exc_info()[1]
        if not isinstance(value, WorkerExit):  # the magic reports an exit itself, in one line
            original_showtraceback(*args, **kwargs)

    sys.argv = ["handler.py"]
    sys.exit = _exit  # type: ignore[assignment]
    shell.user_ns["exit"] = shell.user_ns["quit"] = _exit
    shell.showtraceback = showtraceback
    try:
        yield
    finally:
        sys.argv, sys.exit = saved_argv, saved_exit
        shell.showtraceback = original_showtraceback
        for name, value in saved_ns.items():
            if value is _MISSING:
                shell.user_ns.pop(name, None)
            else:
                shell.user_ns[name] = value


def run_as_worker_module(shell: Any, cell: str) -> str | None:
    """Run ``cell`` as the worker's module; None if it ran through, else why nothing can be registered."""
    with _as_worker(shell):
        result = shell.run_cell(cell, store_history=False)
    if result.success:
        return None
    error = result.error_in_exec or result.error_before_exec
    if isinstance(error, (WorkerExit, SystemExit)):
        return (f"the handler cell called sys.exit({error.code!r}): a worker exits there (a start-up failure "
                "on RunPod); the kernel goes on, and no handler was registered")
    if isinstance(error, KeyboardInterrupt):
        return "the handler cell was interrupted; no handler was registered"
    return "the handler cell raised (see above); no handler was registered"
