"""Runs an exported handler.py as ``python -u handler.py`` would, in a clean room, timing its cold start.

Started by verification as ``python -u _boot.py SETTINGS.json`` in the export folder (a script: it
imports nothing from rp_jupyter, only the standard library). Before handler.py runs, an import guard
goes first on ``sys.meta_path``: a top-level module that is not the standard library, not from a
distribution the image will hold (requirements.txt and its dependencies, the base image's), and not a
file the Dockerfile copies is refused with the ``ModuleNotFoundError`` the image would raise, and
recorded. handler.py then runs as ``__main__``, one top-level statement at a time, each timed.

Events go to a JSON-lines file, each with ``time.monotonic()`` (one clock for every process here):
``boot``, ``statement`` (before each one runs), ``failed``, ``blocked``.
"""

import __future__

import ast
import builtins
import json
import os
import sys
import time

_STARTED = time.monotonic()

import importlib.abc  # noqa: E402  (after the first clock reading)
import types  # noqa: E402

_STDLIB = frozenset(sys.stdlib_module_names) | frozenset(sys.builtin_module_names)
_OWN = os.path.abspath(__file__)
_KEEP: list = []


class _Events:
    def __init__(self, path):
        self._file = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115  (open for the process's life)

    def emit(self, event, **fields):
        self._file.write(json.dumps({"event": event, "at": time.monotonic(), **fields}) + "\n")


class Guard(importlib.abc.MetaPathFinder):
    """Refuses, and records, top-level modules the image will not hold."""

    def __init__(self, settings, events, handler_path):
        self.allowed = frozenset(settings["allowed_modules"])
        self.copied = frozenset(settings["copied"])
        self.folder = os.path.realpath(settings["folder"])
        self.events, self.handler_path = events, handler_path

    def find_spec(self, fullname, path=None, target=None):
        if "." in fullname or fullname in _STDLIB or fullname in self.allowed:
            return None
        spec = self._find(fullname, path, target)
        if spec is None:  # not here: the usual ModuleNotFoundError (the kernel may have it: a local module)
            self._record(fullname, "missing", None)
            return None
        origin = spec.origin if spec.origin not in (None, "built-in", "frozen") else None
        if origin is None and spec.submodule_search_locations:
            origin = next(iter(spec.submodule_search_locations))
        if origin and os.path.realpath(origin).startswith(self.folder + os.sep):
            relative = os.path.relpath(os.path.realpath(origin), self.folder).split(os.sep)[0]
            if relative in self.copied:
                return spec
            self._record(fullname, "not copied", os.path.realpath(origin))
        else:
            self._record(fullname, "outside", origin)
        raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)

    def _find(self, fullname, path, target):
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                return spec
        return None

    def _record(self, module, where, origin):
        importer, line = None, None
        frame: types.FrameType | None = sys._getframe(2)
        while frame is not None:
            filename = frame.f_code.co_filename
            if importer is None and not filename.startswith("<frozen") and filename != _OWN:
                importer = frame.f_globals.get("__name__")
            if filename == self.handler_path:
                line = frame.f_lineno
            frame = frame.f_back
        self.events.emit("blocked", module=module, where=where, origin=origin, importer=importer, line=line)


def _run(path, events):
    """handler.py as ``__main__``, one top-level statement at a time."""
    with open(path, encoding="utf-8") as handle:
        source = handle.read()
    tree = ast.parse(source, path)
    module = types.ModuleType("__main__")
    module.__dict__.update(__file__=path, __builtins__=builtins, __cached__=None)
    _KEEP.append(sys.modules["__main__"])  # this script's module stays alive while handler.py is __main__
    sys.modules["__main__"] = module
    flags = 0
    for node in tree.body:
        code = compile(ast.Module([node], []), path, "exec", flags=flags, dont_inherit=True)
        events.emit("statement", line=node.lineno, end=node.end_lineno)
        try:
            exec(code, module.__dict__)
        except BaseException as exc:
            if not isinstance(exc, SystemExit) or exc.code not in (None, 0):
                events.emit("failed", line=node.lineno, error=f"{type(exc).__name__}: {exc}"[:500])
            raise
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            for alias in node.names:
                flags |= getattr(__future__, alias.name).compiler_flag


def main():
    with open(sys.argv[1], encoding="utf-8") as handle:
        settings = json.load(handle)
    events = _Events(settings["events"])
    events.emit("boot", started=_STARTED)
    path = os.path.join(os.path.realpath(settings["folder"]), "handler.py")
    sys.meta_path.insert(0, Guard(settings, events, path))
    sys.argv = ["handler.py"]
    sys.path[0] = os.path.dirname(path)
    _run(path, events)


if __name__ == "__main__":
    main()
