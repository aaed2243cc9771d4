"""The pipeline: cells + handler config + environment → ``{path: text}``; one writer; drift check."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from ..exceptions import ExportError
from ._cells import Cell, parse_cells
from ._docker import choose_base_image, dockerfile, dockerignore, readme, test_input
from ._envvars import secret_literals
from ._handler import render_handler, select_statements
from ._hub import HubFacts, hub_files, publishing_readme
from ._model import Environment, HandlerConfig
from ._requirements import imported_modules, pip_installs, requirements
from ._schema import hub_problems as check_hub_files
from ._writer import Written, diff_text, read_manifest, sha256, write_files

__all__ = ["Drift", "Export", "build_export", "drift", "write_export"]


@dataclasses.dataclass
class Export:
    """The files of an exported worker (``files``: path → text), and what was noticed on the way."""

    name: str
    files: dict[str, str]
    cells: list[str]
    notes: list[str]
    directory: str | None = None
    report: Any = None  # the VerifyReport when verified
    version: str = ""  # the rp_jupyter that made it (recorded in the folder's manifest)
    written: Written | None = None  # what writing it did, file by file
    hub_problems: list[str] = dataclasses.field(default_factory=list)  # .runpod/*.json against the schemas

    def __repr__(self) -> str:
        where = f" to {self.directory}" if self.directory else ""
        lines = [f"exported handler {self.name!r}{where}: {', '.join(sorted(self.files))}",
                 f"from cells {', '.join(self.cells)}"]
        lines += self.written.lines() if self.written is not None else []
        lines += [f"note: {note}" for note in self.notes]
        if self.report is not None:
            lines.append(repr(self.report))
        return "\n".join(lines)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    def _repr_html_(self) -> str | None:
        """With a verification: its report, the cold start as a table with bars; else the text."""
        if self.report is None:
            return None
        import html

        head = repr(self).split(repr(self.report))[0].rstrip()
        return f"<pre>{html.escape(head)}</pre>{self.report._repr_html_()}"


def build_export(
    config: HandlerConfig,
    cells: list[Cell],
    env: Environment,
    *,
    request: dict[str, Any] | None = None,
    notebook: str | None = None,
    base_image: str | None = None,
    hub: HubFacts | None = None,
) -> Export:
    """Everything a RunPod worker repository needs, as text. Pure: the same inputs give the same bytes.
    With ``hub``, also the RunPod Hub's ``.runpod/hub.json`` and ``.runpod/tests.json``, checked."""
    _check_prestart_sdk(config, env)
    statements = parse_cells(cells)
    chosen, add_runpod = select_statements(statements, config)
    labels = list(dict.fromkeys(s.label for s in chosen))
    source = f"notebook {notebook}" if notebook else "a notebook"
    header = _header(config, env, source, None)
    modules = imported_modules(chosen)
    base = choose_base_image(env, modules, base_image)
    reqs = requirements(modules, pip_installs(statements), env, base.torch, header)
    files = {
        ".dockerignore": dockerignore(),
        "Dockerfile": dockerfile(base, header),
        "README.md": readme(config, base, source, request is not None) + "\n" + publishing_readme(config.name, hub is not None),
        "handler.py": render_handler(config, chosen, add_runpod, _header(config, env, source, labels)),
        "requirements.txt": reqs.text,
        "test_input.json": test_input(request),
    }
    notes = [f"module {m!r} is not from an installed distribution: copy it next to handler.py" for m in reqs.unknown_modules]
    if request is None:
        notes.append("no successful job of this handler yet: test_input.json holds an empty input")
    notes += [f"handler.py line {line}: {what} that looks like a secret: it would be baked into the image; read it "
              "with os.environ[...] and set it as a secret in the endpoint's environment variables"
              for line, what in secret_literals(files["handler.py"])]
    problems: list[str] = []
    if hub is not None:  # the RunPod Hub's files (issue 14): generated, then checked against the schemas
        hub_texts, hub_notes = hub_files(config, cells, statements, modules, env, base, files, hub)
        files.update(hub_texts)
        problems = check_hub_files(files)
        notes += [f"hub: {note}" for note in hub_notes] + [f"hub problem: {problem}" for problem in problems]
    return Export(config.name, files, labels, notes, version=env.rp_jupyter, hub_problems=problems)


def _check_prestart_sdk(config: HandlerConfig, env: Environment) -> None:
    """Prestart hooks need runpod 2.x, and requirements.txt pins the kernel's runpod."""
    version = env.version("runpod")
    if config.prestart_hooks and version is not None and version.split(".")[0] in ("0", "1"):
        names = ", ".join(name for name, _ in config.prestart_hooks)
        raise ExportError(
            f"handler {config.name!r} has prestart hooks ({names}), which need runpod 2.x; this kernel has runpod "
            f"{version}, which requirements.txt would pin: install runpod>=2 in the kernel, then export"
        )


def _header(config: HandlerConfig, env: Environment, source: str, labels: list[str] | None) -> list[str]:
    """Where a file came from; only handler.py names the cells (so re-running one does not touch the rest)."""
    cells = f", cells {', '.join(labels) or 'none'}" if labels is not None else ""
    return [
        f'RunPod worker "{config.name}", generated by rp_jupyter {env.rp_jupyter} from {source}{cells}.',
        f"Generated file: edit the notebook, then run %rp_export {config.name} again.",
    ]


def write_export(export: Export, directory: str, force: bool = False) -> Export:
    """Write the files under ``directory`` without destroying anything: files export did not write
    stop it (``force`` replaces them, keeping a ``.bak``), generated files edited by hand are kept and
    shown as a diff (``force``: replaced, with a ``.bak``). ``export.written`` says what happened."""
    export.written = write_files(export.files, directory, export.name, export.version, force)
    export.directory = directory
    return export


@dataclasses.dataclass
class Drift:
    """How ``directory`` differs from what export would write now (files of the user's own are ignored).
    ``reasons``: per changed file, ``missing``, ``edited by hand`` (since the last export), ``out of
    date`` (the notebook changed) or ``not written by export``."""

    directory: str
    changed: dict[str, str]  # path -> short unified diff ("" for a missing file)
    reasons: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.changed

    def __repr__(self) -> str:
        if self.ok:
            return f"{self.directory}: up to date with the notebook"
        lines = [f"{self.directory}: {len(self.changed)} file(s) differ from what export writes now: "
                 + ", ".join(f"{path} ({self.reasons.get(path, 'changed')})" for path in sorted(self.changed))]
        lines += [diff or f"{path}: missing" for path, diff in sorted(self.changed.items())]
        return "\n".join(lines)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


def drift(export: Export, directory: str, max_lines: int = 40) -> Drift:
    if not os.path.isdir(directory):
        what = "is a file, not a folder" if os.path.exists(directory) else "does not exist"
        raise ExportError(f"{directory} {what}: nothing to check (export it first: %rp_export {export.name} "
                          f"--out {directory})")
    recorded = read_manifest(directory).get("files", {})
    changed: dict[str, str] = {}
    reasons: dict[str, str] = {}
    for path, text in sorted(export.files.items()):
        full = os.path.join(directory, path)
        if not os.path.isfile(full):
            changed[path], reasons[path] = "", "missing"
            continue
        with open(full, encoding="utf-8", errors="surrogateescape", newline="") as handle:
            current = handle.read()
        if current != text:
            changed[path] = diff_text(current, text, path, "on disk", "export now", max_lines)
            reasons[path] = ("not written by export" if path not in recorded
                             else "out of date" if recorded[path] == sha256(current) else "edited by hand")
    return Drift(directory, changed, reasons)
