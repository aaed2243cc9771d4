"""The clean room: what the image will hold, as the worker's import guard (``_boot``) needs it, and the
report of what the guard refused.

The image holds the standard library, the distributions requirements.txt lists and their dependencies
(their ``Requires-Dist``, markers evaluated, extras followed, read from the kernel's installed
metadata), what the base image provides (the torch of ``runpod/pytorch``, pip), and the files the
Dockerfile copies (that ``.dockerignore`` lets into the build context). Read from the folder as it is
on disk: hand edits to requirements.txt or the Dockerfile count.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import os
import re
import shlex
from collections.abc import Iterable
from typing import Any

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement

from ._model import Environment, canonical

__all__ = ["BOOT", "Blocked", "CleanRoom", "blocked_imports", "cell_of_line", "clean_room", "read_events"]

BOOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_boot.py")
"""The script the worker process runs (``python -u BOOT SETTINGS.json``): the guard, then handler.py."""

_CELL = re.compile(r"^# (In\[\d+\]|cell \d+)\s*$")
_IMAGE_TORCH = ("runpod/pytorch:", "pytorch/pytorch:", "nvcr.io/nvidia/pytorch:")


@dataclasses.dataclass(frozen=True)
class CleanRoom:
    """What the image of ``folder`` holds: importable top-level modules, copied files, and notes."""

    folder: str
    image: str
    distributions: frozenset[str]
    allowed_modules: frozenset[str]
    copied: frozenset[str]
    notes: tuple[str, ...] = ()

    def settings(self, events: str) -> dict[str, Any]:
        """The guard's settings (``_boot``'s JSON file)."""
        return {"folder": os.path.abspath(self.folder), "events": events,
                "allowed_modules": sorted(self.allowed_modules), "copied": sorted(self.copied)}


@dataclasses.dataclass(frozen=True)
class Blocked:
    """A module the worker imported that the image would not have: ``where`` is ``scipy (In[4], through
    sklearn)``, ``message`` the whole sentence with the remedy."""

    module: str
    where: str
    message: str

    def failed(self, text: str) -> bool:
        """Whether the worker's errors (``text``: its failure, job errors, log) show this import failing."""
        return f"No module named '{self.module}'" in text


def clean_room(folder: str, env: Environment) -> CleanRoom:
    notes: list[str] = []
    requirements = _read(os.path.join(folder, "requirements.txt"))
    docker = _read(os.path.join(folder, "Dockerfile"))
    image, copied = _dockerfile_facts(docker)
    wanted = _requirement_names(requirements, notes)
    provided = _image_distributions(image, env.python, notes)
    dists = _closure([*wanted, *provided], env)
    allowed = frozenset(module for module, owners in env.modules.items()
                        if any(canonical(owner) in dists for owner in owners))
    ignore = _read(os.path.join(folder, ".dockerignore"))
    for path in sorted(copied):
        if not os.path.exists(os.path.join(folder, path)):
            notes.append(f"the Dockerfile copies {path}, which is not in {folder}: docker build would fail")
        elif _ignored(ignore, path):
            notes.append(f"the Dockerfile copies {path} but .dockerignore leaves it out of the build context "
                         f"(docker build would fail): add a !{path} line to .dockerignore")
    return CleanRoom(folder, image, frozenset(dists), allowed, frozenset(copied), tuple(notes))


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError:
        return ""


def _requirement_names(text: str, notes: list[str]) -> list[tuple[str, frozenset[str]]]:
    found = []
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            notes.append(f"requirements.txt: {line!r} is not a requirement verify can read (left out of the clean room)")
            continue
        if requirement.marker is None or requirement.marker.evaluate():
            found.append((canonical(requirement.name), frozenset(requirement.extras)))
    return found


def _image_distributions(image: str, python: str, notes: list[str]) -> list[tuple[str, frozenset[str]]]:
    """What the base image brings: pip (and setuptools, wheel up to Python 3.11's images), torch & co."""
    names = ["pip"] + (["setuptools", "wheel"] if python in ("3.9", "3.10", "3.11") else [])
    if image.startswith(_IMAGE_TORCH):
        names += ["torch", "torchvision", "torchaudio"]
    elif not image.startswith(("python:", "runpod/base:", "nvidia/cuda:")):
        notes.append(f"base image {image or '(none)'}: assumed to provide no Python packages but pip")
    return [(name, frozenset()) for name in names]


def _closure(roots: Iterable[tuple[str, frozenset[str]]], env: Environment) -> set[str]:
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = list(roots)
    while todo:
        name, extras = todo.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        for line in env.requires.get(name, ()):
            try:
                requirement = Requirement(line)
            except InvalidRequirement:
                continue
            if _applies(requirement.marker, extras):
                todo.append((canonical(requirement.name), frozenset(requirement.extras)))
    return {name for name, _ in seen}


def _applies(marker: Marker | None, extras: frozenset[str]) -> bool:
    if marker is None:
        return True
    return any(marker.evaluate({"extra": extra}) for extra in (extras or {""}))


def _dockerfile_facts(text: str) -> tuple[str, set[str]]:
    """The (last) base image and the top-level paths COPY/ADD take from the build context."""
    image, copied = "", set[str]()
    for line in re.sub(r"\\\n", " ", text).splitlines():
        words = line.strip().split(maxsplit=1)
        if len(words) < 2 or words[0].upper() not in ("FROM", "COPY", "ADD"):
            continue
        if words[0].upper() == "FROM":
            image = words[1].split()[0]
            continue
        rest = words[1].strip()
        try:
            args = json.loads(rest) if rest.startswith("[") else shlex.split(rest)
        except ValueError:
            continue
        if any(str(a).startswith("--from") for a in args):
            continue
        sources = [str(a) for a in args if not str(a).startswith("--")][:-1]
        copied.update(os.path.normpath(s).split(os.sep)[0] for s in sources if "://" not in s)
    return image, copied


def _ignored(dockerignore: str, path: str) -> bool:
    """Whether .dockerignore keeps ``path`` out of the build context (the last matching pattern wins)."""
    ignored = False
    for raw in dockerignore.splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = os.path.normpath(pattern.lstrip("!").strip("/"))
        parts = path.split("/")
        if any(fnmatch.fnmatchcase("/".join(parts[:i]), pattern) for i in range(1, len(parts) + 1)):
            ignored = not negate
    return ignored


def read_events(path: str) -> list[dict[str, Any]]:
    """The worker's events (``_boot``), in order; a line cut short by a kill is left out."""
    events = []
    for line in _read(path).splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return events


def cell_of_line(handler_text: str, line: int | None) -> str | None:
    """The cell label (``In[4]``) of a line of handler.py, from the section comments export writes."""
    if line is None:
        return None
    labels = [m.group(1) for text in handler_text.splitlines()[:line] if (m := _CELL.match(text))]
    return labels[-1] if labels else None


def blocked_imports(events: list[dict[str, Any]], room: CleanRoom, handler_text: str, env: Environment) -> list[Blocked]:
    """One message per module the guard refused, naming the import, its cell and the remedy."""
    found: dict[str, Blocked] = {}
    for event in events:
        if event.get("event") != "blocked" or event["module"] in found:
            continue
        module = str(event["module"])
        if event.get("where") == "missing":  # not found by the worker: a difference only if the kernel has it
            event = {**event, "origin": _kernel_origin(module)}
            if event["origin"] is None:
                continue
        cell = cell_of_line(handler_text, event.get("line"))
        importer = str(event.get("importer") or "__main__").split(".")[0]
        where = ", ".join(part for part in (cell, f"through {importer}" if importer not in ("__main__", module) else "")
                          if part)
        found[module] = Blocked(module, f"{module} ({where})" if where else module, _message(module, where, event, env))
    return list(found.values())


def _kernel_origin(module: str) -> str | None:
    """Where the kernel finds a top-level module (its working directory is on its path), without importing it."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    return spec.origin or next(iter(spec.submodule_search_locations or []), None) or module


def _message(module: str, where: str, event: dict[str, Any], env: Environment) -> str:
    said = f"handler.py imports {module}" + (f" ({where})" if where else "")
    origin = str(event.get("origin") or "")
    if os.path.basename(origin) == "__init__.py":  # a package: its folder
        origin = os.path.dirname(origin)
    name = os.path.basename(origin.rstrip(os.sep)) or f"{module}.py"
    if event.get("where") == "not copied":
        return (f"{said}: local module {name} is in the folder but the Dockerfile does not copy it: add it to "
                f"the COPY line, and a !{name} line to .dockerignore")
    owners = env.modules.get(module)
    if owners:
        dists = ", ".join(f"{d} {env.version(d) or ''}".strip() for d in owners)
        return f"{said} but requirements.txt does not list it (the kernel has it from {dists})"
    return (f"{said}: it is a local module ({origin or 'not from any installed distribution'}): copy {name} "
            f"next to handler.py, add it to the Dockerfile's COPY line and a !{name} line to .dockerignore")
