"""Which prestart hooks a registration gets: runpod 2.x's ``register_prestart_hook`` in a notebook.

A worker module registers its hooks, then calls ``start()``; a notebook has cells, handlers and versions:

- A hook registered in a ``%%rp_handler`` cell before its ``start()`` belongs to that cell's handler. A
  cell that registers nothing drops its hooks (its next run registers them again); a hook registered
  after ``start()`` is ignored, with a warning: ``start()`` never returns on a worker, so the SDK never
  sees it.
- A hook registered anywhere else (a plain cell, a script) waits for the next registration, whatever
  its name; registered again under the same name (a re-run cell), it replaces the waiting one.
- Those outside hooks stay with the handler's later versions. A new version runs them again unless an
  earlier version ran its hooks to the end: then what they warmed is in the kernel already, as a model
  loaded in a plain cell is, and they are kept for export only (``HandlerSpec.prestart_kept``). Hooks
  of the cell itself run for every version, as the rest of the cell does.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

from .exceptions import RegistrationError
from .runtime import HandlerSpec, hook_name

__all__ = ["CellCapture", "HookBook"]

Hook = Callable[[], Any]


class StartConfig(dict[str, Any]):
    """A ``start()`` config captured in a handler cell, with the cell's hooks registered before it."""

    prestart_hooks: tuple[Hook, ...] = ()


class CellCapture(list[Any]):
    """The ``start()`` configs of a ``%%rp_handler`` cell (a list), and the hooks it registered."""

    def __init__(self) -> None:
        super().__init__()
        self.hooks: list[Hook] = []
        self.seen_by_start = 0  # hooks registered before the last start()

    def handler_config(self, handler: Any) -> StartConfig:
        """The config of a cell that defined ``handler`` without calling ``start()``: all its hooks."""
        config = StartConfig(handler=handler)
        config.prestart_hooks = tuple(self.hooks)
        self.seen_by_start = len(self.hooks)
        return config


class HookBook:
    """Hooks waiting for a registration, and those that came from outside a cell, per handler name."""

    def __init__(self) -> None:
        self._pending: list[Hook] = []
        self._outside: dict[str, tuple[Hook, ...]] = {}
        self._proposal: tuple[Hook, ...] = ()

    def reset(self) -> None:
        """The runtime stopped (``%unload_ext``): nothing waits, nothing is remembered."""
        self.__init__()  # type: ignore[misc]

    # ---- registering a hook -------------------------------------------------------------------
    def registered(self, hook: Any, cell: CellCapture | None) -> None:
        if not callable(hook):
            raise RegistrationError(
                f"register_prestart_hook takes a function of no arguments, got {type(hook).__name__}"
            )
        if cell is not None:
            cell.hooks.append(hook)
            return
        name = hook_name(hook)
        self._pending = [h for h in self._pending if hook_name(h) != name] + [hook]
        print(f"rp_jupyter: prestart hook {name!r} will run before the first job of the next handler registered")

    def started(self, cell: CellCapture, config: Any) -> Any:
        """``start(config)`` in a handler cell: the config, with the cell's hooks registered so far."""
        if not isinstance(config, dict):
            return config
        captured = StartConfig(config)
        captured.prestart_hooks = tuple(cell.hooks)
        cell.seen_by_start = len(cell.hooks)
        return captured

    @staticmethod
    def cell_ended(cell: CellCapture) -> None:
        late = cell.hooks[cell.seen_by_start:] if len(cell) else []
        if late:
            names = ", ".join(repr(hook_name(h)) for h in late)
            print(f"rp_jupyter: warning: ignoring prestart hook(s) {names} registered after runpod.serverless.start(): "
                  "start() never returns on a worker, so the SDK never sees them", file=sys.stderr)

    # ---- a registration -----------------------------------------------------------------------
    @staticmethod
    def of_config(config: Any) -> tuple[Hook, ...]:
        return tuple(getattr(config, "prestart_hooks", ()))

    def for_registration(self, old: HandlerSpec | None, own: Sequence[Hook]) -> tuple[tuple[Hook, ...], tuple[Hook, ...]]:
        """(hooks to run, hooks kept from earlier versions) for a registration replacing ``old``."""
        pending = tuple(self._pending)
        replaced = {hook_name(h) for h in pending}
        before = [h for h in (self._outside.get(old.name, ()) if old is not None else ()) if hook_name(h) not in replaced]
        kept: tuple[Hook, ...]
        again: tuple[Hook, ...]
        if old is not None and old.prestart_done.is_set():
            kept, again = tuple(before), ()
        else:
            kept = tuple(h for h in before if old is not None and h in old.prestart_kept)
            again = tuple(h for h in before if h not in kept)
        self._proposal = kept + again + pending
        return again + pending + tuple(own or ()), kept

    def registered_as(self, spec: HandlerSpec) -> None:
        """The registration went through: the waiting hooks are its, and stay with its later versions."""
        self._outside[spec.name] = self._proposal
        self._pending.clear()
