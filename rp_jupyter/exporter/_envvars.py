"""The environment variables handler.py reads, found in its AST; and which of them look secret.

Three access forms, through any alias of ``os`` (``import os as o``) or of its names
(``from os import environ, getenv``): ``os.environ["X"]``, ``os.environ.get("X", default)`` (and
``setdefault``), ``os.getenv("X", default)``. A literal default is kept; ``int(...)`` / ``float(...)``
around the read makes the variable a number. Names computed at run time cannot be listed: they are
reported with their line instead.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from collections.abc import Iterator

__all__ = ["EnvRead", "env_reads", "looks_secret", "platform_variable", "secret_literals"]

_SECRET_PART = re.compile(r"(KEYS?|TOKEN|SECRETS?|PASSWORDS?|PASSWD|CREDENTIALS?|AUTH)$", re.I)
_SECRET_VALUE = re.compile(r"^(sk-|hf_|ghp_|gho_|github_pat_|xox[abps]-|AKIA|glpat-)|://[^/@\s]+:[^/@\s]+@")
_PLATFORM = frozenset({
    "PATH", "HOME", "PWD", "USER", "HOSTNAME", "LANG", "TMPDIR", "PYTHONPATH", "CUDA_VISIBLE_DEVICES",
})


@dataclasses.dataclass(frozen=True)
class EnvRead:
    """One variable handler.py reads: its name, the literal default in the code, the value's kind
    (``"string"`` or ``"number"``), and the first line reading it. ``name`` is None for a name
    computed at run time."""

    name: str | None
    default: str | int | float | None
    kind: str
    line: int


def looks_secret(name: str, value: str | None = None) -> bool:
    """A name with a part ending in KEY(S), TOKEN, SECRET(S), PASSWORD(S), PASSWD, CREDENTIAL(S) or AUTH
    (``HF_TOKEN``, ``OPENAI_API_KEY``, ``DB_PASSWORD``; not ``TOKENIZER_NAME`` nor ``MAX_TOKENS``), or a
    value shaped like a credential (``hf_…``, ``sk-…``, ``ghp_…``, a URL with a password)."""
    if any(_SECRET_PART.search(part) for part in name.split("_") if part):
        return True
    return bool(value and _SECRET_VALUE.search(value))


def platform_variable(name: str) -> bool:
    """Set by RunPod or the container (``RUNPOD_*``, ``PATH``, ...): not the deployer's to choose."""
    return name.startswith("RUNPOD_") or name in _PLATFORM


def env_reads(source: str) -> list[EnvRead]:
    """Every environment variable ``source`` reads, one entry a name (its first read; a default or a
    number conversion seen at any read counts), then the reads of computed names, in line order."""
    tree = ast.parse(source)
    aliases = _Aliases.of(tree)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    reads = sorted((r for r in (_read(n, aliases, parents) for n in ast.walk(tree)) if r is not None),
                   key=lambda r: r.line)
    named: dict[str, EnvRead] = {}
    for read in (r for r in reads if r.name is not None):
        seen = named.setdefault(read.name, read)  # type: ignore[arg-type]
        named[seen.name] = dataclasses.replace(  # type: ignore[index]
            seen, default=seen.default if seen.default is not None else read.default,
            kind="number" if "number" in (seen.kind, read.kind) else "string")
    return [*named.values(), *(r for r in reads if r.name is None)]


def secret_literals(source: str) -> list[tuple[int, str]]:
    """Where ``source`` spells out what looks like a secret, as ``(line, what)``, the value never shown: a
    non-empty string literal given to a secret-looking name (``HF_TOKEN = "…"``, ``os.environ["API_KEY"] =
    "…"``, ``login(token="…")``, a read's default ``os.getenv("HF_TOKEN", "…")``), or any string literal shaped
    like a credential (``"hf_…"``, ``"sk-…"``, a URL with a password). Written into handler.py, it ends up
    in the image and in every copy of the worker's repository."""
    tree = ast.parse(source)
    aliases = _Aliases.of(tree)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found: dict[int, str] = {}

    def note(node: ast.AST, what: str) -> None:
        found.setdefault(getattr(node, "lineno", 0), what)

    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and _nonempty_str(node.value):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                name = _target_name(target, aliases)
                if name is not None and looks_secret(name):
                    note(node, f"{name} is set to a string literal")
        elif isinstance(node, ast.keyword) and node.arg and looks_secret(node.arg) and _nonempty_str(node.value):
            note(node.value, f"{node.arg}= is given a string literal")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _SECRET_VALUE.search(node.value):
            note(node, "a string literal is shaped like a credential")  # after its statement (walked first)
        read = _read(node, aliases, parents)
        if read is not None and read.name and looks_secret(read.name) and isinstance(read.default, str) and read.default:
            note(node, f"{read.name}'s default is a string literal")
    return sorted(found.items())


def _nonempty_str(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and bool(node.value.strip())


def _target_name(target: ast.expr, aliases: _Aliases) -> str | None:
    """``NAME``, ``obj.NAME``, or the key of ``os.environ["NAME"]`` being assigned."""
    if isinstance(target, ast.Name):
        return target.id
    if isinstance(target, ast.Attribute):
        return target.attr
    if (isinstance(target, ast.Subscript) and aliases.is_environ(target.value)
            and isinstance(target.slice, ast.Constant) and isinstance(target.slice.value, str)):
        return target.slice.value
    return None


@dataclasses.dataclass
class _Aliases:
    os: set[str]
    environ: set[str]
    getenv: set[str]

    @classmethod
    def of(cls, tree: ast.AST) -> _Aliases:
        aliases = cls({"os"}, set(), set())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                aliases.os.update(a.asname for a in node.names if a.name == "os" and a.asname)
            elif isinstance(node, ast.ImportFrom) and node.module == "os":
                for alias in node.names:
                    if alias.name in ("environ", "getenv"):
                        getattr(aliases, alias.name).add(alias.asname or alias.name)
        return aliases

    def is_environ(self, node: ast.expr) -> bool:
        """``os.environ`` (any alias of os) or a name bound to it by ``from os import environ``."""
        if isinstance(node, ast.Name):
            return node.id in self.environ
        return (isinstance(node, ast.Attribute) and node.attr == "environ"
                and isinstance(node.value, ast.Name) and node.value.id in self.os)

    def is_getenv(self, node: ast.expr) -> bool:
        if isinstance(node, ast.Name):
            return node.id in self.getenv
        return (isinstance(node, ast.Attribute) and node.attr == "getenv"
                and isinstance(node.value, ast.Name) and node.value.id in self.os)


def _read(node: ast.AST, aliases: _Aliases, parents: dict[ast.AST, ast.AST]) -> EnvRead | None:
    """The read at ``node``, if it is one: ``environ[...]``, ``environ.get/setdefault(...)``, ``getenv(...)``."""
    if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and aliases.is_environ(node.value):
        return _entry(node.slice, None, node, parents)
    if not isinstance(node, ast.Call) or not node.args:
        return None
    func = node.func
    method = (isinstance(func, ast.Attribute) and func.attr in ("get", "setdefault")
              and aliases.is_environ(func.value))
    if method or aliases.is_getenv(func):
        default = node.args[1] if len(node.args) > 1 else next(
            (k.value for k in node.keywords if k.arg in ("default", "value")), None)
        return _entry(node.args[0], default, node, parents)
    return None


def _entry(key: ast.expr, default: ast.expr | None, node: ast.AST, parents: dict[ast.AST, ast.AST]) -> EnvRead:
    name = key.value if isinstance(key, ast.Constant) and isinstance(key.value, str) else None
    value = default.value if isinstance(default, ast.Constant) else None
    literal = value if isinstance(value, (str, int, float)) and not isinstance(value, bool) else None
    return EnvRead(name, literal, _kind(node, parents, literal), getattr(node, "lineno", 0))


def _kind(node: ast.AST, parents: dict[ast.AST, ast.AST], default: object) -> str:
    """``number`` when the value is converted with ``int(...)``/``float(...)`` or defaults to a number."""
    for outer in _ancestors(node, parents, 2):
        if isinstance(outer, ast.Call) and isinstance(outer.func, ast.Name) and outer.func.id in ("int", "float"):
            return "number"
    return "number" if isinstance(default, (int, float)) else "string"


def _ancestors(node: ast.AST, parents: dict[ast.AST, ast.AST], depth: int) -> Iterator[ast.AST]:
    for _ in range(depth):
        node = parents.get(node)  # type: ignore[assignment]
        if node is None:
            return
        yield node
