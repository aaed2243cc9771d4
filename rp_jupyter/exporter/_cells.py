"""Executed cells → top-level statements, each with the names it defines and the names it uses.

Cells arrive as plain Python: the magic layer has already turned IPython syntax into calls
(``!pip install x`` → ``get_ipython().system('pip install x')``). ``symtable`` tells when a name is
read: *now* (module level, class bodies, decorators, defaults) or *later* (inside a function, when
the handler runs, so it sees the name's latest value in the kernel).
"""

from __future__ import annotations

import ast
import dataclasses
import symtable

__all__ = ["Cell", "Statement", "parse_cells"]

_COMPREHENSIONS = {"listcomp", "setcomp", "dictcomp", "genexpr"}


@dataclasses.dataclass(frozen=True)
class Cell:
    """One executed cell: a label (``In[3]``) and its source as plain Python."""

    label: str
    source: str


@dataclasses.dataclass
class Statement:
    """One top-level statement of a cell, in execution order."""

    position: int
    cell: int
    label: str
    node: ast.stmt
    text: str
    first_line: int
    last_line: int
    defines: set[str]
    uses_now: set[str]
    uses_later: set[str]
    global_writes: set[str]
    problem: str | None = None
    method_on: str | None = None
    calls: str | None = None
    store: str | None = None
    """``a[0]`` for ``a[0] = 1`` (a constant key or an attribute, a value that calls nothing and does not
    read ``a``): a later store to the same place makes this one dead."""
    process_setup: bool = False
    """Changes ``os.environ`` or ``sys.path``: what follows it (imports above all) may depend on it."""
    imports: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    """For an import: each name it binds → what it binds it to (two imports binding a name to the same
    thing are interchangeable: ``import json`` in a later cell does not replace the handler's own)."""

    @property
    def is_definition(self) -> bool:
        return isinstance(self.node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))

    @property
    def is_import(self) -> bool:
        return isinstance(self.node, (ast.Import, ast.ImportFrom))

    @property
    def star_import(self) -> bool:
        return isinstance(self.node, ast.ImportFrom) and any(a.name == "*" for a in self.node.names)


def parse_cells(cells: list[Cell]) -> list[Statement]:
    """Every top-level statement of every cell that parses (a cell that does not never ran)."""
    trees = [_parse(cell.source) for cell in cells]
    ours = _rp_jupyter_names(trees)
    own_display = _defines(trees, "display")
    statements: list[Statement] = []
    for index, (cell, tree) in enumerate(zip(cells, trees, strict=True)):
        if tree is None:
            continue
        lines = cell.source.splitlines()
        for node in tree.body:
            statements.append(_statement(len(statements), index, cell.label, node, lines, ours, own_display))
    return statements


def _parse(source: str) -> ast.Module | None:
    try:
        return ast.parse(source)
    except SyntaxError:
        return None


def _rp_jupyter_names(trees: list[ast.Module | None]) -> set[str]:
    """Names bound to rp_jupyter itself (its decorators are dropped from exported code)."""
    names = {"rp_jupyter"}
    for tree in trees:
        for node in tree.body if tree else []:
            if isinstance(node, ast.Import):
                names.update(a.asname for a in node.names if a.name == "rp_jupyter" and a.asname)
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "rp_jupyter":
                names.update(a.asname or a.name for a in node.names)
    return names


def _statement(
    position: int, cell: int, label: str, node: ast.stmt, lines: list[str], ours: set[str], own_display: bool
) -> Statement:
    first, last, text = _text(node, lines, ours, own_display)
    statement = Statement(position, cell, label, node, text, first, last, set(), set(), set(), set())
    if _uses_ipython(node):
        statement.problem = "IPython syntax (a magic or a ! command)"
    try:
        table = symtable.symtable(text, label, "exec")
    except SyntaxError:
        statement.problem = statement.problem or "top-level await (not valid in handler.py)"
        return statement
    _module_names(table, statement)
    _scopes(table, statement, later=False)
    _mutation(node, statement)
    statement.imports = import_bindings(node)
    statement.process_setup = _process_setup(node)
    statement.store = _store(node)
    return statement


def _store(node: ast.stmt) -> str | None:
    if not (isinstance(node, ast.Assign) and len(node.targets) == 1):
        return None
    target = node.targets[0]
    if not ((isinstance(target, ast.Subscript) and isinstance(target.slice, ast.Constant))
            or isinstance(target, ast.Attribute)):
        return None
    base = target.value
    if not isinstance(base, ast.Name) or any(
            isinstance(n, ast.Call) or (isinstance(n, ast.Name) and n.id == base.id) for n in ast.walk(node.value)):
        return None
    return ast.unparse(target)


_SETUP_TARGETS = {"os.environ", "environ", "sys.path"}


def _process_setup(node: ast.stmt) -> bool:
    """``os.environ["HF_HOME"] = ...``, ``os.environ.update(...)``, ``os.putenv``, ``sys.path.insert(...)``."""
    targets: list[ast.expr] = []
    if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        targets = [t.value for t in targets if isinstance(t, ast.Subscript)]
    elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Attribute):
        targets = [node.value.func.value]
        if ast.unparse(node.value.func) in ("os.putenv", "os.unsetenv"):
            return True
    return any(ast.unparse(t) in _SETUP_TARGETS for t in targets)


def import_bindings(node: ast.stmt) -> dict[str, tuple[str, ...]]:
    """``import a.b as c`` → ``{"c": ("import", "a.b")}``; ``from .m import x`` → ``{"x": ("from", ".m", "x")}``."""
    if isinstance(node, ast.Import):
        return {(a.asname or a.name.split(".")[0]): ("import as" if a.asname else "import", a.name)
                for a in node.names}
    if isinstance(node, ast.ImportFrom):
        module = "." * node.level + (node.module or "")
        return {(a.asname or a.name): ("from", module, a.name) for a in node.names if a.name != "*"}
    return {}


def _text(node: ast.stmt, lines: list[str], ours: set[str], own_display: bool = False) -> tuple[int, int, str]:
    """The statement's source lines, with comments right above it, without rp_jupyter decorators."""
    decorators = getattr(node, "decorator_list", [])
    first = min([node.lineno, *(d.lineno for d in decorators)])
    last = node.end_lineno or node.lineno
    while first > 1 and lines[first - 2].lstrip().startswith("#"):
        first -= 1
    dropped = {n for d in decorators if _root(d) in ours for n in range(d.lineno, (d.end_lineno or d.lineno) + 1)}
    replaced = {} if own_display else _displays(node, lines)
    kept = [replaced.get(n, lines[n - 1]) for n in range(first, last + 1) if n not in dropped]
    return first, last, "\n".join(line for line in kept if line is not None)


def _displays(node: ast.stmt, lines: list[str]) -> dict[int, str | None]:
    """``display(...)`` statements inside functions become ``pass``: a worker has no IPython.
    (Top-level ones define nothing, so the slicer leaves them out.) Only statements alone on their
    lines are rewritten; one sharing a line stays, and ``display`` is then reported as undefined."""
    replaced: dict[int, str | None] = {}
    for inner in ast.walk(node):
        if inner is node or not (isinstance(inner, ast.Expr) and isinstance(inner.value, ast.Call)
                                 and isinstance(inner.value.func, ast.Name) and inner.value.func.id == "display"):
            continue
        start, end = inner.lineno, inner.end_lineno or inner.lineno
        indent = lines[start - 1].encode()[: inner.col_offset].decode()  # ast's columns count UTF-8 bytes
        after = lines[end - 1].encode()[inner.end_col_offset or 0 :].decode()
        if indent.strip() or after.split("#")[0].strip():
            continue
        replaced[start] = indent + "pass  # display(...) left out by rp_jupyter: IPython only"
        replaced.update(dict.fromkeys(range(start + 1, end + 1)))
    return replaced


def _defines(trees: list[ast.Module | None], name: str) -> bool:
    """Whether some cell binds ``name`` at top level (a def, a class, an assignment, an import)."""
    for tree in trees:
        for node in tree.body if tree else []:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
                return True
            if isinstance(node, (ast.Import, ast.ImportFrom)) and any(
                    (alias.asname or alias.name.split(".")[0]) == name for alias in node.names):
                return True
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and any(
                    isinstance(t, ast.Name) and t.id == name
                    for t in (node.targets if isinstance(node, ast.Assign) else [node.target])):
                return True
    return False


def _root(node: ast.expr) -> str | None:
    """``a`` for ``a``, ``a.b.c``, ``a.b(...)``."""
    while isinstance(node, (ast.Attribute, ast.Call)):
        node = node.value if isinstance(node, ast.Attribute) else node.func
    return node.id if isinstance(node, ast.Name) else None


def _uses_ipython(node: ast.stmt) -> bool:
    return any(isinstance(n, ast.Name) and n.id == "get_ipython" for n in ast.walk(node))


def _module_names(table: symtable.SymbolTable, statement: Statement) -> None:
    for symbol in table.get_symbols():
        name = symbol.get_name()
        if symbol.is_assigned() or symbol.is_imported():
            statement.defines.add(name)
        if symbol.is_referenced():
            statement.uses_now.add(name)


def _scopes(table: symtable.SymbolTable, statement: Statement, later: bool) -> None:
    """Globals read in nested scopes: functions and lambdas run later; classes and comprehensions now."""
    for child in table.get_children():
        deferred = later or (child.get_type() == "function" and child.get_name() not in _COMPREHENSIONS)
        for symbol in child.get_symbols():
            if not symbol.is_global():
                continue
            if symbol.is_referenced():
                (statement.uses_later if deferred else statement.uses_now).add(symbol.get_name())
            if symbol.is_declared_global() and symbol.is_assigned():
                statement.global_writes.add(symbol.get_name())
        _scopes(child, statement, deferred)


def _mutation(node: ast.stmt, statement: Statement) -> None:
    """``model.x = ...``, ``cache[k] = ...`` and ``model.eval()`` change an object: they count as
    (re)definitions of its name. Calls on imported modules are decided later, in the slicer."""
    targets: list[ast.expr] = []
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
        targets = [node.target]
    for target in targets:
        if isinstance(target, (ast.Attribute, ast.Subscript)):
            root = _root(target.value)
            if root is not None:
                statement.defines.add(root)
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        func = node.value.func
        if isinstance(func, ast.Name):
            statement.calls = func.id
        elif isinstance(func, ast.Attribute):
            statement.method_on = _root(func.value)
