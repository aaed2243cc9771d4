"""Comparing the exported worker's wire posts with the notebook's jobs, job by job.

Exception payloads differ where the platform differs (docs/differences.md #5): the traceback's file
paths, line numbers and the SDK's own frame, and ``hostname``/``worker_id``. Those are compared as
the handler's frames (function and source line) and the exception lines; everything else exactly.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
from collections.abc import Iterable
from typing import Any

__all__ = ["JobCheck", "JobWire", "VerifyReport", "compare_jobs"]

_FRAME = re.compile(r'^\s*File "(?P<path>[^"]*)", line \d+, in (?P<function>.*)$')
_FOREIGN = ("/runpod/", "/rp_jupyter/", "/asyncio/", "/concurrent/")
_GENERATOR_ERROR = re.compile(r"^handler: (?P<message>.*?) \ntraceback: (?P<traceback>.*)$", re.S)


@dataclasses.dataclass(frozen=True)
class JobWire:
    """What one job put on the wire: its final job-done body, stream chunk values, progress values."""

    id: str
    final: dict[str, Any] | None
    stream: list[Any]
    progress: list[Any]


@dataclasses.dataclass(frozen=True)
class JobCheck:
    id: str
    ok: bool
    what: str = ""
    diff: str = ""


@dataclasses.dataclass
class VerifyReport:
    """The result of running the exported worker under the real SDK against the notebook's jobs."""

    handler: str
    directory: str
    checks: list[JobCheck]
    seconds: float = 0.0
    worker_starts: int = 0
    runpod_version: str = ""
    log_tail: str = ""
    skipped: list[str] = dataclasses.field(default_factory=list)
    blocked: list[Any] = dataclasses.field(default_factory=list)  # clean room: imports the image lacks, that failed it
    caught: list[Any] = dataclasses.field(default_factory=list)  # ... refused, and caught by the code (optional)
    clean_room_notes: list[str] = dataclasses.field(default_factory=list)  # Dockerfile / requirements problems
    cold_start: Any = None  # the ColdStart rehearsal of the first start
    tests: Any = None  # the kept tests (a TestTable: notebook and worker columns), when there are some

    @property
    def ok(self) -> bool:
        tests_ok = self.tests is None or self.tests.ok
        return bool(self.checks or self.tests) and all(check.ok for check in self.checks) and tests_ok

    @property
    def problems(self) -> list[str]:
        """What the image would get wrong, first: imports it lacks that made the worker fail, then the
        folder's own problems (a COPY of a file .dockerignore leaves out, ...)."""
        return [b.message for b in self.blocked] + list(self.clean_room_notes)

    @property
    def first_divergence(self) -> JobCheck | None:
        return next((check for check in self.checks if not check.ok), None)

    def __repr__(self) -> str:
        tests = f" and {len(self.tests.rows)} kept test(s)" if self.tests is not None else ""
        head = (f"verify {self.handler!r} ({self.directory}): {len(self.checks)} job(s){tests} under the real runpod "
                f"{self.runpod_version} worker, {self.worker_starts} start(s), {self.seconds:.1f} s")
        lines = [head + (": all match the notebook" if self.ok else "")]
        lines += [f"clean room: {problem}" for problem in self.problems]
        if self.caught and not self.ok:  # context for a failure; optional imports are noise otherwise
            lines.append("clean room: optional imports the image lacks, caught by the code (as they would be there): "
                         + ", ".join(b.where for b in self.caught))
        lines += [f"skipped {item}" for item in self.skipped]
        first = self.first_divergence
        if first is not None:
            diverged = sum(not check.ok for check in self.checks)
            lines.append(f"{diverged} job(s) diverge; first: job {first.id}: {first.what}")
            lines.append(first.diff)
        if self.tests is not None:
            lines.append(repr(self.tests))
        if not self.ok and self.log_tail:
            lines += ["worker log (tail):", self.log_tail]
        if self.cold_start is not None:
            lines.append(repr(self.cold_start))
        return "\n".join(line for line in lines if line)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    def _repr_html_(self) -> str:
        """The report as text, with the kept tests and the cold start as tables (static: saved notebooks keep them)."""
        import html

        text = repr(self)
        tables = [part for part in (self.tests, self.cold_start) if part is not None]  # the kept tests, the cold start
        for part in tables:
            text = text.replace(repr(part), "")
        text = "\n".join(line for line in text.splitlines() if line).rstrip()
        return f"<pre>{html.escape(text)}</pre>" + "".join(part._repr_html_() for part in tables)


def compare_jobs(notebook: Iterable[JobWire], worker: dict[str, JobWire]) -> list[JobCheck]:
    return [_compare(expected, worker.get(expected.id)) for expected in notebook]


def _compare(expected: JobWire, actual: JobWire | None, labels: tuple[str, str] = ("notebook", "exported worker")) -> JobCheck:
    """Final result, then stream chunks, then progress updates; the first difference as a diff between
    ``labels`` (also used by the recorded tests, which compare a replay with its recording)."""
    if actual is None or actual.final is None:
        return JobCheck(expected.id, False, "the worker posted no final result", _diff(_final(expected.final), None, labels))
    for what, want, got in (
        ("final result", _final(expected.final), _final(actual.final)),
        ("stream chunks", expected.stream, actual.stream),
        ("progress updates (any order)", _sorted(expected.progress), _sorted(actual.progress)),
    ):
        if want != got:
            return JobCheck(expected.id, False, what, _diff(want, got, labels))
    return JobCheck(expected.id, True)


def _sorted(values: list[Any]) -> list[Any]:
    return sorted(values, key=lambda v: json.dumps(v, sort_keys=True))


def _final(body: dict[str, Any] | None) -> Any:
    if body is None:
        return None
    body = dict(body)
    if isinstance(body.get("error"), str):
        body["error"] = _error(body["error"])
    return body


def _error(error: str) -> Any:
    """An exception payload or generator error as its comparable parts; other strings as they are."""
    match = _GENERATOR_ERROR.match(error)
    if match:
        return {"handler": match.group("message"), "traceback": _frames(match.group("traceback"))}
    try:
        info = json.loads(error)
    except ValueError:
        return error
    if not isinstance(info, dict) or "error_traceback" not in info:
        return error
    info = {k: v for k, v in info.items() if k not in ("hostname", "worker_id")}
    info["error_traceback"] = _frames(str(info["error_traceback"]))
    return info


def _frames(traceback_text: str) -> list[str]:
    """The handler's frames as ``in function: source line``, and the exception lines."""
    out: list[str] = []
    state = "outside"  # or "foreign" (an SDK/runtime frame), "own" (source line pending), "done"
    for line in traceback_text.splitlines():
        frame = _FRAME.match(line)
        if frame:
            state = "foreign" if any(p in frame.group("path").replace("\\", "/") for p in _FOREIGN) else "own"
            if state == "own":
                out.append(f"in {frame.group('function')}:")
        elif line.startswith("    ") and state != "outside":
            if state == "own" and not set(line.strip()) <= set("^~ "):
                out[-1] += " " + line.strip()
                state = "done"
        elif line.strip() and not line.startswith("Traceback (most recent call last)"):
            state = "outside"
            out.append(line.strip())
    return out


def _diff(want: Any, got: Any, labels: tuple[str, str] = ("notebook", "exported worker")) -> str:
    a = json.dumps(want, indent=2, sort_keys=True, ensure_ascii=False).splitlines()
    b = json.dumps(got, indent=2, sort_keys=True, ensure_ascii=False).splitlines()
    return "\n".join(difflib.unified_diff(a, b, *labels, lineterm="", n=2))
