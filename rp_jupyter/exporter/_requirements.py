"""requirements.txt: the distributions that provide what handler.py imports, pinned to the kernel's versions."""

from __future__ import annotations

import ast
import dataclasses
import re
import shlex
import sys

from ._cells import Statement
from ._model import Environment, canonical

__all__ = ["JUPYTER_STACK", "Requirements", "imported_modules", "pip_installs", "requirements"]

JUPYTER_STACK = frozenset({
    "anywidget", "comm", "debugpy", "ipykernel", "ipython", "ipython-pygments-lexers", "ipywidgets",
    "jupyter", "jupyter-client", "jupyter-core", "jupyter-server", "jupyterlab", "jupyterlab-widgets",
    "matplotlib-inline", "nbclient", "nbformat", "nest-asyncio", "nest-asyncio2", "notebook",
    "rp-jupyter", "traitlets", "widgetsnbextension",
})
TORCH_INDEX = "https://download.pytorch.org/whl"
_PIP = re.compile(r"(?:^|\s)(?:-m\s+)?pip3?\s+install\s+(.*)$")
_OPTIONS_WITH_VALUE = {
    "-r", "--requirement", "-e", "--editable", "-i", "--index-url", "--extra-index-url", "-f",
    "--find-links", "-c", "--constraint", "-t", "--target", "--prefix",
}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._-]+\])?")


@dataclasses.dataclass(frozen=True)
class Requirements:
    text: str
    unknown_modules: tuple[str, ...]


def imported_modules(statements: list[Statement]) -> set[str]:
    """Top-level names of the modules the statements import (function bodies included)."""
    found: set[str] = set()
    for statement in statements:
        for node in ast.walk(statement.node):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"__future__"}


def pip_installs(statements: list[Statement]) -> list[str]:
    """Requirement names from ``!pip install`` / ``%pip install`` lines, in order (with extras)."""
    names: list[str] = []
    for statement in statements:
        for command in _ipython_commands(statement.node):
            match = _PIP.search(command)
            if match:
                names += [n for n in _requirement_names(match.group(1)) if n not in names]
    return names


def _ipython_commands(node: ast.stmt) -> list[str]:
    """``get_ipython().system('pip install x')`` → ``pip install x``; ``run_line_magic('pip', 'install x')`` too."""
    commands = []
    for call in (n for n in ast.walk(node) if isinstance(n, ast.Call)):
        func, args = call.func, [a.value for a in call.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        if not isinstance(func, ast.Attribute) or len(args) != len(call.args):
            continue
        if func.attr == "system" and len(args) == 1:
            commands.append(args[0])
        elif func.attr == "run_line_magic" and len(args) == 2 and args[0] in ("pip", "uv"):
            commands.append(f"{args[0]} {args[1]}")
    return commands


def _requirement_names(arguments: str) -> list[str]:
    try:
        tokens = shlex.split(arguments)
    except ValueError:
        return []
    names, skip = [], False
    for token in tokens:
        if skip or token.startswith("-"):
            skip = not skip and token in _OPTIONS_WITH_VALUE
            continue
        match = _NAME.match(token)
        if match and not token.startswith((".", "/")) and "://" not in token:
            names.append(match.group(0))
    return names


def requirements(
    modules: set[str], pip_names: list[str], env: Environment, torch_in_image: str | None, header: list[str]
) -> Requirements:
    """Pinned lines for the distributions behind ``modules`` and ``!pip install``-ed names."""
    wanted: dict[str, str] = {}  # canonical name -> requirement name (with extras)
    unknown: list[str] = []
    for module in sorted(modules):
        dists = env.modules.get(module)
        if not dists:
            unknown.append(module)
        for dist in dists or ():
            wanted.setdefault(canonical(dist), dist)
    for name in pip_names:
        wanted[canonical(name.split("[")[0])] = name
    wanted["runpod"] = "runpod"
    lines = [f"# {line}" for line in header]
    for key in sorted(k for k in wanted if k not in JUPYTER_STACK):
        line, note = _pin(key, wanted[key], env, torch_in_image)
        lines += [f"# {note}"] if note else []
        lines += [part for part in (line or "").split("\n") if part and part not in lines]  # one index line each
    if unknown:
        lines.append(f"# not provided by any installed distribution (copy them next to handler.py): {', '.join(unknown)}")
    return Requirements("\n".join(lines) + "\n", tuple(unknown))


def _pin(key: str, name: str, env: Environment, torch_in_image: str | None) -> tuple[str | None, str | None]:
    published = env.versions.get(key, (name.split("[")[0], ""))[0]
    extras = name[len(name.split("[")[0]):]
    version = env.version(key)
    if version is None:
        return f"{published}{extras}", f"{published}: not installed in the kernel, so not pinned"
    public = version.split("+")[0]
    if key == "torch" and torch_in_image is not None and public.startswith(torch_in_image + "."):
        return None, f"torch=={public} comes with the base image (the kernel runs {version})"
    if "+" in version:  # a build from PyTorch's own index (torch, torchvision, torchaudio: +cu128, +cpu)
        build = version.split("+", 1)[1]
        return (f"--extra-index-url {TORCH_INDEX}/{build}\n{published}{extras}=={version}",
                f"the kernel's {published} is the {build} build, from PyTorch's index")
    if key == "torch":
        return f"torch=={version}", f"the kernel's torch is PyPI's build{f' (CUDA {env.cuda})' if env.cuda else ''}"
    return f"{published}{extras}=={version}", None
