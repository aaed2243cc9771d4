"""Recorded jobs as regression tests: the store's format, and a replay's verdict.

A handler's tests live in one JSON file (``runpod-tests/<handler>.json`` next to the notebook): each
test holds the request as it was sent, a timeout, and everything the job showed — its final status,
the job-done body (output or error), every stream chunk and progress update. One file a handler,
request and expectation side by side, so a test cannot lose its expectation; the Hub's
``.runpod/tests.json`` (requests only, one worker) is derived from it at export.

A replay passes when it shows the same (error payloads compared as verification compares them: the
handler's frames and message, not paths or hosts), *changed* with a diff when it finished otherwise,
*failed* when it raised where the recording did not, timed out, or ended without a result. The job's
own id is not compared: a handler that echoes ``job["id"]`` is fine.
"""

from __future__ import annotations

import dataclasses
import html
import json
import math
import re
from typing import Any

from ..exceptions import RecordedTestsError
from ._verify import JobWire, _compare, _error
from ._writer import _atomic_write

__all__ = [
    "Outcome", "RecordedTest", "TestResult", "TestRow", "TestTable", "check", "dumps", "loads", "read_tests",
    "timeout_for", "valid_name", "write_tests",
]

FORMAT = "rp_jupyter recorded tests v1"
VERDICTS = ("pass", "changed", "failed")
DIFF_LINES = 60


def timeout_for(execution_ms: int | None) -> int:
    """A test's timeout (ms): three times the recorded execution time plus 10 s, in whole seconds."""
    return math.ceil((3 * (execution_ms or 0) + 10_000) / 1000) * 1000


@dataclasses.dataclass
class RecordedTest:
    name: str
    request: dict[str, Any]
    timeout_ms: int
    status: str
    result: dict[str, Any] | None
    stream: list[Any]
    progress: list[Any]
    job_id: str = ""
    execution_ms: int | None = None
    status_body: dict[str, Any] | None = None  # the job's final /status body, as recorded (not compared: ids, times)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "request": self.request, "timeout": self.timeout_ms,
                "expected": {"status": self.status, "result": self.result, "stream": self.stream,
                             "progress": self.progress},
                "recorded": {"job_id": self.job_id, "execution_ms": self.execution_ms, "status_body": self.status_body}}

    @classmethod
    def from_json(cls, data: Any) -> RecordedTest:
        """A test from its JSON; a ``ValueError`` naming the test and the field that is wrong."""
        expected, recorded = data["expected"], data.get("recorded") or {}
        test = cls(data["name"], data["request"], data["timeout"], expected["status"], expected.get("result"),
                   expected.get("stream", []), expected.get("progress", []), str(recorded.get("job_id", "")),
                   recorded.get("execution_ms"), recorded.get("status_body"))
        problem = test.problem()
        if problem:
            raise ValueError(f"test {test.name!r}: {problem}")
        return test

    def problem(self) -> str | None:
        """What makes this test unusable (a hand-edited file), or None."""
        checks = [
            (isinstance(self.name, str) and valid_name(self.name), "its name must be 1-100 printable characters"),
            (isinstance(self.request, dict) and "input" in self.request, '"request" must be an object with an "input"'),
            (isinstance(self.timeout_ms, int) and not isinstance(self.timeout_ms, bool) and self.timeout_ms > 0,
             '"timeout" must be a whole number of milliseconds > 0'),
            (self.status in ("COMPLETED", "FAILED"), '"expected.status" must be COMPLETED or FAILED'),
            (self.result is None or isinstance(self.result, dict), '"expected.result" must be an object'),
            (isinstance(self.stream, list) and isinstance(self.progress, list),
             '"expected.stream" and "expected.progress" must be lists'),
        ]
        return next((message for ok, message in checks if not ok), None)


def valid_name(name: str) -> bool:
    return 0 < len(name) <= 100 and name.isprintable() and name.strip() == name


def dumps(handler: str, tests: list[RecordedTest]) -> str:
    body = {"format": FORMAT, "handler": handler, "tests": [t.to_json() for t in tests]}
    return json.dumps(body, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def loads(text: str) -> tuple[str, list[RecordedTest]]:
    """``(handler, tests)``; a file that is not a recorded-tests file is a ``ValueError`` saying where."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"not JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f'not rp_jupyter\'s tests file (no "format": "{FORMAT}")')
    try:
        tests = [RecordedTest.from_json(item) for item in data["tests"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"a test is malformed: {exc}") from None
    return str(data.get("handler", "")), tests


def read_tests(path: str) -> list[RecordedTest]:
    """The tests kept in ``path`` (none when it does not exist); a file that is not a tests file is one
    :class:`RecordedTestsError` line (it is never overwritten)."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordedTestsError(f"cannot read the tests in {path}: {exc}") from None
    try:
        return loads(text)[1]
    except ValueError as exc:
        raise RecordedTestsError(f"{path}: {exc}; nothing was changed") from None


def write_tests(path: str, handler: str, tests: list[RecordedTest]) -> None:
    """Replace ``path`` with ``tests`` in one step (an interrupted write leaves the old file)."""
    try:
        _atomic_write(path, dumps(handler, tests))
    except OSError as exc:
        raise RecordedTestsError(f"cannot write the tests to {path}: {exc.strerror or exc}") from None


@dataclasses.dataclass(frozen=True)
class Outcome:
    """How a replay ended: its job's id and status, the job-done body, chunks, progress updates."""

    job_id: str
    status: str
    result: dict[str, Any] | None
    stream: list[Any]
    progress: list[Any]
    seconds: float | None = None
    note: str = ""


@dataclasses.dataclass(frozen=True)
class TestResult:
    verdict: str  # pass, changed, failed
    what: str = ""
    diff: str = ""
    seconds: float | None = None


def check(test: RecordedTest, outcome: Outcome, labels: tuple[str, str] = ("recorded", "now")) -> TestResult:
    """The replay's verdict against the recording."""
    if outcome.result is None:
        return TestResult("failed", outcome.note or f"ended {outcome.status} without a result", "", outcome.seconds)
    actual = _same_id(outcome, test.job_id)
    found = _compare(JobWire(test.name, test.result, test.stream, test.progress), actual, labels)
    if found.ok:
        return TestResult("pass", seconds=outcome.seconds)
    raised = test.status == "COMPLETED" and isinstance(outcome.result, dict) and outcome.result.get("error") is not None
    if raised:
        return TestResult("failed", f"the handler raised: {_message(outcome.result['error'])}", _cap(found.diff), outcome.seconds)
    return TestResult("changed", found.what, _cap(found.diff), outcome.seconds)


def _cap(diff: str, lines: int = DIFF_LINES) -> str:
    """A diff short enough to show in a notebook (a changed 10 MB output must not flood it)."""
    parts = diff.splitlines()
    return diff if len(parts) <= lines else "\n".join([*parts[:lines], f"... ({len(parts) - lines} more diff lines)"])


def _same_id(outcome: Outcome, recorded_id: str) -> JobWire:
    """The replay's wire with its own job id written as the recorded job's (ids never match)."""
    if not recorded_id or not outcome.job_id:
        return JobWire(outcome.job_id, outcome.result, outcome.stream, outcome.progress)
    text = json.dumps([outcome.result, outcome.stream, outcome.progress], ensure_ascii=False)
    if outcome.job_id not in text:
        return JobWire(outcome.job_id, outcome.result, outcome.stream, outcome.progress)
    result, stream, progress = json.loads(text.replace(outcome.job_id, recorded_id))
    return JobWire(outcome.job_id, result, stream, progress)


def _message(error: Any) -> str:
    parts = _error(error) if isinstance(error, str) else error
    if isinstance(parts, dict):
        kind = re.search(r"'([\w.]+)'", str(parts.get("error_type", "")))
        message = parts.get("error_message", parts.get("handler", ""))
        text = f"{kind.group(1).split('.')[-1]}: {message}" if kind else str(message)
    else:
        text = str(parts)
    return text if len(text) <= 200 else text[:199] + "…"


@dataclasses.dataclass
class TestRow:
    name: str
    results: dict[str, TestResult | None]  # column -> verdict (None: still running)


@dataclasses.dataclass
class TestTable:
    """The tests of a handler, one row a test, one column a place they ran (the notebook; the
    exported worker under the real SDK). ``ok`` when every cell passed."""

    handler: str
    rows: list[TestRow]
    columns: tuple[str, ...] = ("notebook",)
    source: str = ""

    def set(self, name: str, column: str, result: TestResult | None) -> None:
        for row in self.rows:
            if row.name == name:
                row.results[column] = result

    def results(self) -> list[TestResult | None]:
        return [row.results.get(column) for row in self.rows for column in self.columns]

    @property
    def done(self) -> bool:
        return all(result is not None for result in self.results())

    @property
    def ok(self) -> bool:
        return self.done and all(r is not None and r.verdict == "pass" for r in self.results())

    def counts(self, column: str | None = None) -> dict[str, int]:
        """Verdicts counted over every cell, or one column's."""
        columns = self.columns if column is None else (column,)
        found = [r.verdict for row in self.rows for c in columns if (r := row.results.get(c)) is not None]
        return {verdict: found.count(verdict) for verdict in VERDICTS}

    def headline(self) -> str:
        def counted(column: str | None) -> str:
            return ", ".join(f"{n} {verdict}" for verdict, n in self.counts(column).items())

        counts = counted(None) if len(self.columns) == 1 else "; ".join(f"{c}: {counted(c)}" for c in self.columns)
        running = sum(r is None for r in self.results())
        where = f" ({self.source})" if self.source else ""
        return f"tests of {self.handler!r}{where}: {counts}" + (f", {running} running" if running else "")

    def __repr__(self) -> str:
        header = ["test", *self.columns, "detail"]
        lines = [[row.name, *(_cell(row.results.get(c)) for c in self.columns), _detail(row, self.columns)]
                 for row in self.rows]
        widths = [max(len(line[i]) for line in [header, *lines]) for i in range(len(header) - 1)]
        table = ["  ".join(cell.ljust(w) for cell, w in zip(line[:-1], widths, strict=True)) + "  " + line[-1]
                 for line in [header, *lines]]
        diffs = [f"--- {row.name} ({column}): {result.what}\n{result.diff}"
                 for row in self.rows for column in self.columns
                 if (result := row.results.get(column)) is not None and result.diff and result.verdict != "pass"]
        return "\n".join([self.headline(), *(line.rstrip() for line in table), *diffs])

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in ("test", *self.columns, "detail"))
        body = "".join(
            f"<tr data-test='{html.escape(row.name)}'><td>{html.escape(row.name)}</td>"
            + "".join(_html_cell(row.results.get(c)) for c in self.columns)
            + f"<td>{_html_detail(row, self.columns)}</td></tr>" for row in self.rows)
        return (f"<div class='rpj-tests'><div><b>{html.escape(self.headline())}</b></div>"
                f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>")


_COLOURS = {"pass": "#2e7d32", "changed": "#ef6c00", "failed": "#c62828", None: "#757575"}


def _cell(result: TestResult | None) -> str:
    if result is None:
        return "running"
    if result.seconds is None:
        return result.verdict
    took = f"{result.seconds * 1000:.0f} ms" if result.seconds < 10 else f"{result.seconds:.1f} s"
    return f"{result.verdict} ({took})"


def _detail(row: TestRow, columns: tuple[str, ...]) -> str:
    seen = [f"{c}: {r.what}" if len(columns) > 1 else r.what
            for c in columns if (r := row.results.get(c)) is not None and r.what]
    return "; ".join(seen)


def _html_cell(result: TestResult | None) -> str:
    verdict = None if result is None else result.verdict
    label = html.escape(_cell(result))
    return (f"<td data-verdict='{verdict or 'running'}'><span style='background:{_COLOURS[verdict]};color:#fff;"
            f"border-radius:3px;padding:0 6px'>{label}</span></td>")


def _html_detail(row: TestRow, columns: tuple[str, ...]) -> str:
    parts = []
    for column in columns:
        result = row.results.get(column)
        if result is None or not result.what:
            continue
        prefix = f"{column}: " if len(columns) > 1 else ""
        text = html.escape(prefix + result.what)
        parts.append(f"<details><summary>{text}</summary><pre>{html.escape(result.diff)}</pre></details>"
                     if result.diff else text)
    return "".join(parts)
