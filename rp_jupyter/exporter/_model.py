"""The plain data an export is made from: the handler's config and the kernel's environment.

The session builds these from the runtime and the kernel; the exporter never sees runtime types.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.metadata
import importlib.util
import os
import re
import sys
from collections.abc import Mapping

__all__ = ["Environment", "HandlerConfig", "canonical", "module_exports", "probe_environment"]


@dataclasses.dataclass(frozen=True)
class HandlerConfig:
    """A registered handler as ``runpod.serverless.start`` would get it, by names and sources.

    ``function`` is the handler's ``def`` name and ``source`` its source (to pick the registered
    definition among several); ``concurrency_modifier`` names a ``def`` in the cells, or
    ``fixed_concurrency`` is the N of ``%%rp_handler --concurrency N``. ``prestart_hooks`` (runpod 2.x)
    are ``(def name, source)`` in registration order, registered before ``start()`` with
    ``prestart_timeout`` in its config.
    """

    name: str
    function: str
    source: str | None = None
    kind: str = "sync"
    return_aggregate_stream: bool = False
    refresh_worker: bool = False
    concurrency_modifier: str | None = None
    concurrency_modifier_source: str | None = None
    fixed_concurrency: int | None = None
    execution_timeout: float | None = 600.0
    prestart_hooks: tuple[tuple[str, str | None], ...] = ()
    prestart_timeout: float | None = None


@dataclasses.dataclass(frozen=True)
class Environment:
    """What the kernel runs: Python, installed distributions, CUDA build. ``versions`` is keyed by
    canonical distribution name and holds ``(name as published, version)``; ``requires`` holds each
    distribution's ``Requires-Dist`` lines (the clean room follows them)."""

    python: str
    rp_jupyter: str
    modules: Mapping[str, tuple[str, ...]]
    versions: Mapping[str, tuple[str, str]]
    cuda: str | None = None
    requires: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)

    def version(self, distribution: str) -> str | None:
        found = self.versions.get(canonical(distribution))
        return found[1] if found else None


def canonical(name: str) -> str:
    """PEP 503 name: ``PyYAML`` → ``pyyaml``, ``python_dateutil`` → ``python-dateutil``."""
    return re.sub(r"[-_.]+", "-", name).lower()


_PROBED: list[tuple[tuple[tuple[str, int], ...], Environment]] = []


def probe_environment() -> Environment:
    """The kernel's own environment (importlib.metadata only: nothing is imported). Remembered while
    no folder on ``sys.path`` changes (installing or removing a distribution changes its folder)."""
    key = tuple((path, os.stat(path).st_mtime_ns) for path in sys.path if path and os.path.isdir(path))
    if _PROBED and _PROBED[0][0] == key:
        return _PROBED[0][1]
    env = _probe()
    _PROBED[:] = [(key, env)]
    return env


def _probe() -> Environment:
    versions: dict[str, tuple[str, str]] = {}
    requires: dict[str, tuple[str, ...]] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name and canonical(name) not in versions:
            versions[canonical(name)] = (name, dist.version)
            requires[canonical(name)] = tuple(dist.requires or ())
    modules = {module: tuple(sorted(set(dists))) for module, dists in _packages_distributions().items()}
    own = versions.get("rp-jupyter", ("rp-jupyter", "unknown"))[1]
    return Environment(f"{sys.version_info.major}.{sys.version_info.minor}", own, modules, versions, _cuda(versions),
                       requires)


def _packages_distributions() -> dict[str, list[str]]:
    """Top-level module → distributions, as ``importlib.metadata.packages_distributions`` of Python 3.11+
    gives it: ``top_level.txt`` where a distribution has one, else the top-level names its RECORD lists.
    Python 3.10's reads only ``top_level.txt``, which wheels built by hatchling or flit lack (``attrs``
    gives ``attr`` and ``attrs`` that way)."""
    found: dict[str, list[str]] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if not name:
            continue
        for module in _top_level(dist):
            found.setdefault(module, []).append(name)
    return found


def _top_level(dist: importlib.metadata.Distribution) -> set[str]:
    listed = dist.read_text("top_level.txt")
    if listed:
        return {line.strip().split("/")[0] for line in listed.splitlines() if line.strip()}
    modules = set()
    for path in dist.files or ():
        parts = path.parts
        if not parts or parts[0] == ".." or parts[0].endswith((".dist-info", ".egg-info", ".data")):
            continue
        if len(parts) > 1:
            if parts[0] != "__pycache__" and parts[0].isidentifier():
                modules.add(parts[0])
        elif path.suffix in (".py", ".so", ".pyd"):
            stem = path.name.split(".")[0]
            if stem.isidentifier():
                modules.add(stem)
    return modules


def _cuda(versions: Mapping[str, tuple[str, str]]) -> str | None:
    """``12.8`` from ``torch 2.8.0+cu128`` or from ``nvidia-cuda-runtime-cu12 12.8.90``."""
    torch = versions.get("torch")
    if torch is not None and "+" in torch[1]:
        local = torch[1].split("+", 1)[1]
        match = re.fullmatch(r"cu(\d+)(\d)", local)
        return f"{match.group(1)}.{match.group(2)}" if match else None
    for key, (_, version) in sorted(versions.items()):
        if re.fullmatch(r"nvidia-cuda-runtime(-cu\d+)?", key):
            return ".".join(version.split(".")[:2])
    return None


def module_exports(module: str) -> frozenset[str] | None:
    """The names ``from module import *`` binds: its ``__all__``, else its public names. Read from the
    module the kernel imported, else from its source without importing it; None when neither works."""
    loaded = sys.modules.get(module)
    if loaded is not None:
        names = getattr(loaded, "__all__", None)
        if names is None:
            names = [n for n in vars(loaded) if not n.startswith("_")]
        return frozenset(str(n) for n in names)
    try:
        spec = importlib.util.find_spec(module) if "." not in module else None
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    try:
        with open(spec.origin, encoding="utf-8") as handle:
            return _static_exports(ast.parse(handle.read()))
    except (OSError, SyntaxError, ValueError):
        return None


def _static_exports(tree: ast.Module) -> frozenset[str] | None:
    """A literal ``__all__``, else the public top-level bindings; None when ``__all__`` is computed."""
    names: set[str] = set()
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            try:
                return frozenset(ast.literal_eval(node.value))  # type: ignore[attr-defined]
            except ValueError:
                return None
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            if any(a.name == "*" for a in node.names):
                return None
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        for target in targets:
            names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return frozenset(n for n in names if not n.startswith("_"))
