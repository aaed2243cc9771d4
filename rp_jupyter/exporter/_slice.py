"""Which statements the handler needs: follow its names through the executed cells.

A name read *now* (at module level) resolves to its latest definition before the reading statement;
a name read *later* (inside a function) to its latest definition in the whole history — the value
the kernel's handler sees when it runs — where an import binding the same name to the same thing
in an earlier cell counts as that definition (a later, unrelated cell's ``import json`` is not the
handler's). Definitions include changes to an object (``model.eval()``, ``cfg["k"] = v``), except
calls on imported modules (``time.sleep(1)`` is an action, not state). ``from m import *`` defines
the names ``m`` exports; when they cannot be read, a name it might define is reported, not guessed.
Changes to ``os.environ`` and ``sys.path`` before a needed statement are needed (an import may read them).
A store (``a[0] = 1``) that a later store to the same place overwrites is not needed, nor an import
repeating one made before it.

The chosen statements keep their execution order, except that an import moves up to just before the
first statement using it, past definitions and other imports (never past other code).
"""

from __future__ import annotations

import ast
import builtins
import collections
from collections.abc import Callable

from ..exceptions import ExportError
from ._cells import Statement

__all__ = ["Slicer"]

IPYTHON_BUILTINS = {"display", "get_ipython", "__IPYTHON__"}
"""Names IPython adds to ``builtins`` in a kernel: a worker's Python does not have them."""
_ALWAYS_DEFINED = (set(dir(builtins)) - IPYTHON_BUILTINS) | {
    "__name__", "__file__", "__doc__", "__spec__", "__loader__", "__package__", "__builtins__",
}
Exports = Callable[[str], "frozenset[str] | None"]


class Slicer:
    """Definitions by name over statements in execution order; :meth:`select` finds what is needed.
    ``exports(module)`` gives the names ``from module import *`` binds (None: unknown)."""

    def __init__(self, statements: list[Statement], exports: Exports = lambda module: None) -> None:
        self.statements = statements
        self.defs: dict[str, list[int]] = collections.defaultdict(list)
        self._unknown_stars: list[Statement] = []
        for statement in statements:
            self._add_effects(statement, exports)
            for name in statement.defines:
                self.defs[name].append(statement.position)
        self._missing: dict[str, set[str]] = {}
        self._unresolved: dict[str, tuple[set[str], set[str]]] = {}
        self._chosen: set[int] = set()
        self._users: dict[int, set[int]] = collections.defaultdict(set)  # definition -> statements using it

    def _latest(self, name: str, before: int) -> Statement | None:
        positions = [p for p in self.defs.get(name, ()) if p < before]
        return self.statements[positions[-1]] if positions else None

    def _add_effects(self, statement: Statement, exports: Exports) -> None:
        """A method call on a non-module object changes it; a call of a function with ``global``
        assignments defines those globals; a star import defines what its module exports."""
        if statement.method_on is not None:
            owner = self._latest(statement.method_on, statement.position)
            if owner is not None and not owner.is_import:
                statement.defines.add(statement.method_on)
        if statement.calls is not None:
            function = self._latest(statement.calls, statement.position)
            if function is not None:
                statement.defines.update(function.global_writes)
        if statement.star_import:
            assert isinstance(statement.node, ast.ImportFrom)
            module = "." * statement.node.level + (statement.node.module or "")
            names = exports(module) if not statement.node.level else None
            if names is None:
                self._unknown_stars.append(statement)
            else:
                statement.defines.update(names)
                statement.imports.update({name: ("from", module, name) for name in names})

    def latest_definition(self, name: str) -> Statement | None:
        return self._latest(name, len(self.statements))

    def select(self, roots: list[Statement], names_at_end: set[str]) -> list[Statement]:
        """The roots plus every statement they need, in a valid order (see the module docstring);
        :class:`ExportError` lists the names defined nowhere and the needed statements that cannot be
        exported. ``names_at_end`` are read after everything (the ``start`` call), as by the first root,
        where some cell defines them."""
        todo = [root.position for root in roots]
        for name in sorted(names_at_end):
            if self.latest_definition(name) is not None:
                todo += self._resolve(name, roots[0], len(self.statements), now=False)
        while todo:
            position = todo.pop()
            if position not in self._chosen:
                self._chosen.add(position)
                todo.extend(self._needs(self.statements[position]))
            if not todo:  # settings of os.environ / sys.path before a needed statement are needed too
                last = max(self._chosen)
                todo = [s.position for s in self.statements[:last] if s.process_setup and s.position not in self._chosen]
        chosen = self._hoist_imports(_drop_repeated_imports([self.statements[p] for p in sorted(self._chosen)]))
        _raise_problems(self._missing, self._unresolved, [s for s in chosen if s.problem])
        return chosen

    def _needs(self, statement: Statement) -> list[int]:
        found: list[int] = []
        for name in sorted(self._read_now(statement)):
            found += self._resolve(name, statement, statement.position, now=True)
        for name in sorted(statement.uses_later):
            found += self._resolve(name, statement, len(self.statements), now=False)
        return found

    def _read_now(self, statement: Statement) -> set[str]:
        """Names read when the statement runs: its own, and those read inside the functions and classes
        it uses at module level (``x = load()`` runs ``load``'s body now, with the values of that time)."""
        names, seen = set(statement.uses_now), set()
        todo = [statement.uses_now]
        while todo:
            for name in sorted(todo.pop()):
                definition = self._latest(name, statement.position)
                if definition is not None and definition.is_definition and definition.position not in seen:
                    seen.add(definition.position)
                    todo.append(definition.uses_later)
                    names |= definition.uses_later
        return names

    def _resolve(self, name: str, user: Statement, before: int, now: bool) -> list[int]:
        definition = self._latest(name, before)
        while definition is not None and now and user.store is not None and definition.store == user.store:
            definition = self._latest(name, definition.position)  # overwritten by ``user``: dead
        if definition is not None:
            if not now:
                definition = self._same_import(name, definition, user.position)
            if definition.position != user.position:
                self._users[definition.position].add(user.position)
            return [definition.position]
        if name in _ALWAYS_DEFINED or (now and name in user.defines):
            return []
        stars = [s for s in self._unknown_stars if s.position < before]
        if stars:
            users, where = self._unresolved.setdefault(name, (set(), set()))
            users.add(user.label)
            where.update(f"{ast.unparse(s.node)} ({s.label})" for s in stars)
        else:
            self._missing.setdefault(name, set()).add(user.label)
        return []

    def _same_import(self, name: str, latest: Statement, user: int) -> Statement:
        """Among the imports binding ``name`` to the same thing as ``latest`` (with no other definition
        in between), the last one before ``user``, else the first one after it."""
        binding = latest.imports.get(name)
        if binding is None:
            return latest
        run: list[Statement] = []  # latest first
        for position in reversed([p for p in self.defs[name] if p <= latest.position]):
            if self.statements[position].imports.get(name) != binding:
                break
            run.append(self.statements[position])
        before = [s for s in run if s.position < user]
        return before[0] if before else run[-1]

    def _hoist_imports(self, chosen: list[Statement]) -> list[Statement]:
        """Each import moves up towards its first user, past definitions and other imports."""
        order = list(chosen)
        for statement in [s for s in chosen if s.is_import]:
            users = self._users.get(statement.position, set())
            index = order.index(statement)
            first_user = min((i for i, s in enumerate(order) if s.position in users), default=index)
            target = index
            while target > first_user and _movable_past(order[target - 1], statement):
                target -= 1
            order.insert(target, order.pop(index))
        return order


def _drop_repeated_imports(chosen: list[Statement]) -> list[Statement]:
    """An import that binds only what is bound to the same thing already is left out."""
    kept: list[Statement] = []
    bound: dict[str, tuple[str, ...]] = {}
    for statement in chosen:
        if statement.imports and all(bound.get(n) == b for n, b in statement.imports.items()):
            continue
        for name in statement.defines:
            if name in statement.imports:
                bound[name] = statement.imports[name]
            else:
                bound.pop(name, None)
        kept.append(statement)
    return kept


def _movable_past(other: Statement, imported: Statement) -> bool:
    """An import may move above a definition or another import that does not bind the same names."""
    movable = other.is_definition or other.is_import
    return movable and not (other.defines & set(imported.imports)) and not other.problem


def _raise_problems(missing: dict[str, set[str]], unresolved: dict[str, tuple[set[str], set[str]]],
                    unexportable: list[Statement]) -> None:
    parts = []
    if missing:
        names = ", ".join(f"{name} (used in {', '.join(sorted(where))})" for name, where in sorted(missing.items()))
        parts.append(
            f"names used but defined in no executed cell (hidden notebook state: a deleted or edited "
            f"cell, another kernel, IPython's own variables, exec or globals()): {names}"
        )
    for name, (users, stars) in sorted(unresolved.items()):
        parts.append(f"{name} (used in {', '.join(sorted(users))}) is unresolved: no cell defines it, and the "
                     f"names of {', '.join(sorted(stars))} cannot be read here: import it by name")
    for statement in unexportable:
        defined = ", ".join(sorted(statement.defines)) or "state"
        parts.append(f"{statement.label} sets {defined} with {statement.problem}: rewrite it as plain Python")
    if parts:
        raise ExportError("cannot export: " + "; ".join(parts))
