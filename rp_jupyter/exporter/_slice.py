"""Which statements the handler needs: follow its names through the executed cells.

A name read *now* (at module level) resolves to its latest definition before the reading statement;
a name read *later* (inside a function) to its latest definition in the whole history — the value
the kernel's handler sees when it runs. Definitions include changes to an object (``model.eval()``,
``cfg["k"] = v``), except calls on imported modules (``time.sleep(1)`` is an action, not state).
"""

from __future__ import annotations

import builtins
import collections

from ..exceptions import ExportError
from ._cells import Statement

__all__ = ["Slicer"]

IPYTHON_BUILTINS = {"display", "get_ipython", "__IPYTHON__"}
"""Names IPython adds to ``builtins`` in a kernel: a worker's Python does not have them."""
_ALWAYS_DEFINED = (set(dir(builtins)) - IPYTHON_BUILTINS) | {
    "__name__", "__file__", "__doc__", "__spec__", "__loader__", "__package__", "__builtins__",
}


class Slicer:
    """Definitions by name over statements in execution order; :meth:`select` finds what is needed."""

    def __init__(self, statements: list[Statement]) -> None:
        self.statements = statements
        self.defs: dict[str, list[int]] = collections.defaultdict(list)
        for statement in statements:
            self._add_effects(statement)
            for name in statement.defines:
                self.defs[name].append(statement.position)
        self._missing: dict[str, set[str]] = {}
        self._chosen: set[int] = set()

    def _latest(self, name: str, before: int) -> Statement | None:
        positions = [p for p in self.defs.get(name, ()) if p < before]
        return self.statements[positions[-1]] if positions else None

    def _add_effects(self, statement: Statement) -> None:
        """A method call on a non-module object changes it; a call of a function with ``global``
        assignments defines those globals."""
        if statement.method_on is not None:
            owner = self._latest(statement.method_on, statement.position)
            if owner is not None and not owner.is_import:
                statement.defines.add(statement.method_on)
        if statement.calls is not None:
            function = self._latest(statement.calls, statement.position)
            if function is not None:
                statement.defines.update(function.global_writes)

    def latest_definition(self, name: str) -> Statement | None:
        return self._latest(name, len(self.statements))

    def select(self, roots: list[Statement], names_at_end: set[str]) -> list[Statement]:
        """The roots plus every statement they need, in execution order; :class:`ExportError` lists
        the names defined nowhere and the needed statements that cannot be exported."""
        todo = [root.position for root in roots]
        for name in sorted(names_at_end):
            found = self.latest_definition(name)
            if found is not None:
                todo.append(found.position)
        while todo:
            position = todo.pop()
            if position not in self._chosen:
                self._chosen.add(position)
                todo.extend(self._needs(self.statements[position]))
        chosen = [self.statements[p] for p in sorted(self._chosen)]
        _raise_problems(self._missing, [s for s in chosen if s.problem])
        return chosen

    def _needs(self, statement: Statement) -> list[int]:
        found: list[int] = []
        for name in sorted(statement.uses_now):
            found += self._resolve(name, statement, statement.position, now=True)
        for name in sorted(statement.uses_later):
            found += self._resolve(name, statement, len(self.statements), now=False)
        return found

    def _resolve(self, name: str, user: Statement, before: int, now: bool) -> list[int]:
        definition = self._latest(name, before)
        if definition is not None:
            return [definition.position]
        if name in _ALWAYS_DEFINED or (now and name in user.defines):
            return []
        stars = [s.position for s in self.statements[:before] if s.star_import]
        if stars:
            return stars
        self._missing.setdefault(name, set()).add(user.label)
        return []


def _raise_problems(missing: dict[str, set[str]], unexportable: list[Statement]) -> None:
    parts = []
    if missing:
        names = ", ".join(f"{name} (used in {', '.join(sorted(where))})" for name, where in sorted(missing.items()))
        parts.append(
            f"names used but defined in no executed cell (hidden notebook state: a deleted or edited "
            f"cell, another kernel, IPython's own variables): {names}"
        )
    for statement in unexportable:
        defined = ", ".join(sorted(statement.defines)) or "state"
        parts.append(f"{statement.label} sets {defined} with {statement.problem}: rewrite it as plain Python")
    if parts:
        raise ExportError("cannot export: " + "; ".join(parts))
