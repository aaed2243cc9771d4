"""The one writer: never destroys a file. A manifest records what export wrote (content hashes), so a
file export did not write is never replaced (export stops and lists them; ``force`` replaces them,
keeping a ``.bak``), and a generated file edited by hand is shown as a diff and kept.

Every file is written to a temporary file beside it and renamed over the old one: an interrupted
export leaves each file either as it was or as it is now, never half written.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Mapping
from typing import Any

from ..exceptions import ExportError

__all__ = ["MANIFEST", "Written", "diff_text", "expand_path", "read_manifest", "sha256", "write_files"]

MANIFEST = ".rp_jupyter.json"
"""The manifest's name in an export folder (hidden; ``.dockerignore`` keeps it out of the image)."""

_UNSET = re.compile(r"\$(\w+|\{[^}]*\})")


@dataclasses.dataclass
class Written:
    """What one export did to its folder, file by file."""

    created: list[str] = dataclasses.field(default_factory=list)
    updated: list[str] = dataclasses.field(default_factory=list)
    unchanged: list[str] = dataclasses.field(default_factory=list)
    kept: dict[str, str] = dataclasses.field(default_factory=dict)  # edited by hand -> diff (on disk vs now)
    backups: dict[str, str] = dataclasses.field(default_factory=dict)  # replaced with force -> its .bak

    def lines(self) -> list[str]:
        out = [f"{what}: {', '.join(paths)}" for what, paths in (
            ("created", self.created), ("updated", self.updated), ("unchanged", self.unchanged)) if paths]
        out += [f"replaced {path} (--force), the old one kept as {backup}" for path, backup in self.backups.items()]
        for path, diff in self.kept.items():
            out += [f"kept {path}: edited by hand since the last export (--force replaces it, keeping a .bak); "
                    "what export would write now:", diff]
        return out


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def expand_path(path: str) -> str:
    """``~`` and ``$VARS`` expanded, as a shell would; a variable that is not set is an error (not a
    folder literally named ``$OUT``)."""
    expanded = os.path.expanduser(os.path.expandvars(path))
    unset = _UNSET.search(expanded)
    if unset:
        raise ExportError(f"{path!r} names the environment variable {unset.group(0)}, which is not set")
    return expanded


def read_manifest(directory: str) -> dict[str, Any]:
    """The folder's manifest (``{"handler": ..., "files": {path: sha256}}``), ``{}`` when there is none
    or it cannot be read (then no file counts as written by export)."""
    try:
        with open(os.path.join(directory, MANIFEST), encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return {}
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict):
        return {}
    return {"handler": data.get("handler"), "files": {str(k): str(v) for k, v in files.items()}}


def diff_text(old: str, new: str, path: str, old_label: str, new_label: str, max_lines: int = 40) -> str:
    lines = list(difflib.unified_diff(old.splitlines(), new.splitlines(), f"{path} ({old_label})",
                                      f"{path} ({new_label})", lineterm=""))
    return "\n".join(lines[:max_lines] + (["..."] if len(lines) > max_lines else []))


def write_files(files: Mapping[str, str], directory: str, handler: str, version: str, force: bool = False) -> Written:
    """Write ``files`` under ``directory`` without destroying anything (see the module docstring)."""
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise ExportError(f"cannot write the worker to {directory!r}: it is a file, not a folder")
    manifest = read_manifest(directory)
    recorded: dict[str, str] = manifest.get("files", {})
    _refuse_foreign(files, directory, manifest, handler, force)
    written, hashes = Written(), {}
    try:
        os.makedirs(directory, exist_ok=True)
        for path, text in sorted(files.items()):
            hashes[path] = _write_one(path, text, directory, recorded.get(path), force, written)
        _atomic_write(os.path.join(directory, MANIFEST), _manifest_text(handler, version, hashes))
    except OSError as exc:
        raise ExportError(f"cannot write the worker to {directory!r}: {exc.strerror or exc}") from None
    return written


def _refuse_foreign(files: Mapping[str, str], directory: str, manifest: dict[str, Any], handler: str,
                    force: bool) -> None:
    """Stop before writing anything when a file export did not write would be replaced."""
    blocking = [path for path in sorted(files) if os.path.lexists(os.path.join(directory, path))
                and not os.path.isfile(os.path.join(directory, path))]
    if blocking:
        raise ExportError(f"{directory} has folders (or other non-files) where export writes files: "
                          f"{', '.join(blocking)}; nothing was written. Export to another folder (--out DIR)")
    if force:
        return
    recorded = manifest.get("files", {})
    foreign = [path for path, text in sorted(files.items())
               if path not in recorded and (current := _read(os.path.join(directory, path))) is not None
               and current != text]
    if foreign:
        raise ExportError(
            f"{directory} already has files that rp_jupyter's export did not write: {', '.join(foreign)}; "
            "nothing was written. Export to another folder (--out DIR), or pass --force to replace them "
            "(each one kept as NAME.bak)")
    other = manifest.get("handler")
    if recorded and other not in (None, handler):
        raise ExportError(f"{directory} holds the export of handler {other!r}; nothing was written. Export "
                          f"{handler!r} to another folder (--out DIR), or pass --force to replace it")


def _write_one(path: str, text: str, directory: str, recorded: str | None, force: bool, written: Written) -> str:
    """Write one file (or keep it); the hash the manifest records for it."""
    full = os.path.join(directory, path)
    current = _read(full)
    if current is None:
        _atomic_write(full, text)
        written.created.append(path)
    elif current == text:
        written.unchanged.append(path)
    elif recorded == sha256(current):
        _atomic_write(full, text)
        written.updated.append(path)
    elif recorded is not None and not force:  # generated, then edited by hand
        written.kept[path] = diff_text(current, text, path, "on disk", "export now")
        return recorded
    else:  # the user's own file (or edited by hand), with force
        written.backups[path] = _backup(full, current)
        _atomic_write(full, text)
        written.updated.append(path)
    return sha256(text)


def _read(path: str) -> str | None:
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as handle:
        return handle.read()


def _backup(full: str, current: str) -> str:
    """``NAME.bak`` (or ``NAME.bak.1``, ... when that exists: an older backup is never replaced either)."""
    candidate, number = full + ".bak", 0
    while os.path.exists(candidate):
        number += 1
        candidate = f"{full}.bak.{number}"
    _atomic_write(candidate, current)
    return os.path.basename(candidate)


def _atomic_write(full: str, text: str) -> None:
    directory = os.path.dirname(full) or "."
    os.makedirs(directory, exist_ok=True)  # files in subfolders (``.runpod/hub.json``)
    handle, temporary = tempfile.mkstemp(prefix=".rp_jupyter-", dir=directory)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", errors="surrogateescape", newline="") as out:
            out.write(text)
        if os.path.exists(full):
            os.chmod(temporary, os.stat(full).st_mode & 0o7777)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, full)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def _manifest_text(handler: str, version: str, hashes: Mapping[str, str]) -> str:
    body = {"generator": f"rp_jupyter {version}", "handler": handler,
            "note": "what rp_jupyter's export wrote here (sha256): files not listed, or changed since, are "
                    "never replaced without --force",
            "files": dict(sorted(hashes.items()))}
    return json.dumps(body, indent=2) + "\n"
