"""Jobs kept as regression tests (``%rp_tests``), as the session offers them.

A handler's tests live in ``runpod-tests/<handler>.json`` in the notebook's folder (the kernel's
working directory; ``directory=`` elsewhere): the request as sent (without ``webhook``: a replay
must not call it again), a timeout from the job's measured execution time, and everything the job
showed. :func:`run_tests` replays them against the handler registered now and gives a
:class:`~rp_jupyter.exporter.TestTable`: pass, changed (with a diff), failed.
"""

from __future__ import annotations

import heapq
import itertools
import json
import os
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from .exceptions import JobWaitTimeout, RecordedTestsError, RequestError
from .runtime import Job, JobEvent, JobStatus, Runtime

__all__ = [
    "DEFAULT_DIRECTORY", "TestsSummary", "WorkerReplay", "describe", "forget", "keep", "kept_tests", "run_tests",
    "set_directory", "tests_file", "worker_replay",
]

DEFAULT_DIRECTORY = "runpod-tests"
_directory = DEFAULT_DIRECTORY  # where tests live unless a call says otherwise (%config TestsMagics.tests_dir)
_SLACK = 30.0  # s a whole run may take beyond the sum of its tests' timeouts (queueing, start-up)


def get_runtime() -> Runtime:
    from .session import get_runtime as current

    return current()


def set_directory(directory: str | None) -> None:
    """Where every call keeps tests by default (``None``: ``runpod-tests``); the magics' setting."""
    global _directory
    _directory = directory or DEFAULT_DIRECTORY


def tests_file(name: str, directory: str | None = None) -> str:
    return os.path.join(directory or _directory, f"{name}.json")


def kept_tests(name: str, directory: str | None = None) -> list[Any]:
    """The tests kept for handler ``name`` (``RecordedTest`` objects, oldest first)."""
    from .exporter import read_tests

    return read_tests(tests_file(name, directory))


class TestsSummary:
    """What ``%rp_tests add`` did, or which tests are kept: a line a test."""

    def __init__(self, path: str, lines: list[str], tests: list[Any]) -> None:
        self.path, self.lines, self.tests = path, lines, tests

    def __repr__(self) -> str:
        return "\n".join(self.lines)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


def keep(name: str, jobs: list[Any] | None = None, *, directory: str | None = None,
         test_name: str | None = None) -> TestsSummary:
    """Keep jobs of handler ``name`` (Job objects or ids; default: its last successful job) as tests.
    A job whose request is already a test replaces that test's expectation."""
    from .exporter import valid_name, write_tests

    runtime = get_runtime()
    runtime.handler(name)
    chosen = _jobs_to_keep(runtime, name, jobs or [])
    if test_name is not None and len(chosen) != 1:
        raise RecordedTestsError("--as names one test: keep one job at a time with it")
    if test_name is not None and not valid_name(test_name):
        raise RecordedTestsError(f"invalid test name {test_name!r}: use 1-100 printable characters, no leading or trailing space")
    path = tests_file(name, directory)
    tests = kept_tests(name, directory)
    lines = [_keep_one(tests, job, name, test_name, path) for job in chosen]
    write_tests(path, name, tests)
    return TestsSummary(path, lines, tests)


def _keep_one(tests: list[Any], job: Job, name: str, test_name: str | None, path: str) -> str:
    from .exporter import RecordedTest, timeout_for

    request = {k: v for k, v in job.request.items() if k not in ("webhook", "id")}
    key = json.dumps(request, sort_keys=True)
    same = next((t for t in tests if (test_name is not None and t.name == test_name)
                 or (test_name is None and json.dumps(t.request, sort_keys=True) == key)), None)
    label = same.name if same is not None else test_name or _free_name(tests, name)
    test = RecordedTest(label, request, timeout_for(job.execution_time), job.status.value, job.result_body,
                        list(job.stream), list(job.progress_history), job.id, job.execution_time, job.to_status())
    if same is not None:
        tests[tests.index(same)] = test
    else:
        tests.append(test)
    verb = "updated" if same is not None else "kept"
    return (f"{verb} test {label!r} ({path}) from job {job.id}: {job.status.value}, "
            f"{len(test.stream)} chunk(s), timeout {test.timeout_ms // 1000} s")


def _free_name(tests: list[Any], name: str) -> str:
    taken = {t.name for t in tests}
    return next(f"{name}_{n}" for n in range(1, len(taken) + 2) if f"{name}_{n}" not in taken)


def _jobs_to_keep(runtime: Runtime, name: str, wanted: list[Any]) -> list[Job]:
    if not wanted:
        done = [j for j in runtime.jobs if j.handler == name and j.status is JobStatus.COMPLETED and j._runtime is runtime]
        if not done:
            raise RecordedTestsError(f"handler {name!r} has no successful job to keep: run one first (%rp_run {name} ...)")
        return [done[-1]]
    return [_keepable(runtime, name, _find_job(runtime, item)) for item in wanted]


def _find_job(runtime: Runtime, item: Any) -> Job:
    if isinstance(item, Job):
        return item
    ident = str(item)
    matches = [j for j in runtime.jobs if j.id == ident] or [j for j in runtime.jobs if len(ident) >= 6 and j.id.startswith(ident)]
    if len(matches) != 1:
        problem = "is not among this kernel's jobs" if not matches else f"starts {len(matches)} jobs' ids: give more of it"
        raise RecordedTestsError(f"job {ident!r} {problem}")
    return matches[0]


def _keepable(runtime: Runtime, name: str, job: Job) -> Job:
    if job.handler != name:
        raise RecordedTestsError(f"job {job.id} ran handler {job.handler!r}, not {name!r}")
    if job._runtime is not runtime:
        raise RecordedTestsError(f"job {job.id} ran on a remote endpoint: only this kernel's jobs can be kept")
    if not job.done:
        raise RecordedTestsError(f"job {job.id} is {job.status.value}: keep it once it has ended")
    if job.result_body is None:
        raise RecordedTestsError(f"job {job.id} ended {job.status.value} without a result: only jobs with a result can be tests")
    if str(job.error or "").startswith("rp_jupyter:"):
        raise RecordedTestsError(f"job {job.id} failed on purpose in rp_jupyter (RunPod would post nothing): not a test")
    return job


def describe(name: str, directory: str | None = None) -> TestsSummary:
    """The tests kept for handler ``name``, a line each (``%rp_tests list``)."""
    path = tests_file(name, directory)
    tests = kept_tests(name, directory)
    lines = [f"{len(tests)} test(s) of {name!r} in {path}" if tests else
             f"no tests kept for {name!r} yet ({path}): %rp_tests add {name} [JOB_ID ...]"]
    for test in tests:
        request = json.dumps(test.request["input"], ensure_ascii=False)
        lines.append(f"  {test.name}: {test.status}, {len(test.stream)} chunk(s), timeout {test.timeout_ms // 1000} s, "
                     f"input {request if len(request) <= 80 else request[:79] + '…'}")
    return TestsSummary(path, lines, tests)


def forget(name: str, test_names: list[str], directory: str | None = None) -> list[str]:
    """Remove tests by name; the names removed."""
    from .exporter import write_tests

    path = tests_file(name, directory)
    tests = kept_tests(name, directory)
    unknown = sorted(set(test_names) - {t.name for t in tests})
    if unknown:
        raise RecordedTestsError(f"no test named {', '.join(map(repr, unknown))} in {path} "
                                 f"(tests: {', '.join(t.name for t in tests) or 'none'})")
    write_tests(path, name, [t for t in tests if t.name not in test_names])
    return list(test_names)


def run_tests(name: str, *, directory: str | None = None, on_change: Callable[[Any], None] | None = None) -> Any:
    """Replay handler ``name``'s kept tests against its current code; a ``TestTable``. Each replay is
    cancelled at its test's timeout; ``on_change(table)`` after each verdict (the magics' live view).
    Interrupting the wait cancels the replays not finished yet."""
    from .exporter import TestRow, TestTable, check

    runtime = get_runtime()
    runtime.handler(name)
    path = tests_file(name, directory)
    tests = kept_tests(name, directory)
    if not tests:
        raise RecordedTestsError(f"handler {name!r} has no kept tests ({path}): keep jobs first (%rp_tests add {name})")
    table = TestTable(name, [TestRow(t.name, {"notebook": None}) for t in tests], ("notebook",), path)
    notify = on_change or (lambda _table: None)
    notify(table)
    deadlines = _Deadlines()
    replays = [_Replay(runtime, name, test, deadlines) for test in tests]
    deadline = time.monotonic() + sum(t.timeout_ms for t in tests) / 1000 + _SLACK
    try:
        for replay in replays:
            table.set(replay.test.name, "notebook", check(replay.test, replay.outcome(deadline)))
            notify(table)
    finally:
        deadlines.close()
        for replay in replays:
            replay.close()
    return table


class _Deadlines:
    """One thread that calls each function at its time (a run's test timeouts): a heap and a
    condition, so arming a timeout from the runtime's thread costs a push, not a thread."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="rp-tests-deadlines", daemon=True)
        self._thread.start()

    def add(self, seconds: float, fn: Callable[[], None]) -> None:
        with self._wake:
            heapq.heappush(self._heap, (time.monotonic() + seconds, next(self._order), fn))
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._closed and (not self._heap or self._heap[0][0] > time.monotonic()):
                    self._wake.wait(self._heap[0][0] - time.monotonic() if self._heap else None)
                if self._closed:
                    return
                _, _, fn = heapq.heappop(self._heap)
            fn()

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join(5)


class _Replay:
    """One test's job: submitted at once, cancelled at the test's timeout counted from its start."""

    def __init__(self, runtime: Runtime, name: str, test: Any, deadlines: _Deadlines) -> None:
        self.test = test
        self.timed_out = False
        self.refused = ""
        self.job: Job | None = None
        self._deadlines = deadlines
        self._armed = False
        self._lock = threading.Lock()
        self._unsubscribe: Callable[[], None] = lambda: None
        try:
            self.job = runtime.submit(name, test.request)
        except RequestError as exc:
            self.refused = str(exc)
            return
        self._unsubscribe = self.job.subscribe(self._on_event)
        if self.job.status is not JobStatus.IN_QUEUE:  # it started before we listened
            self._arm()

    def _on_event(self, event: JobEvent) -> None:
        if event.kind == "started":
            self._arm()

    def _arm(self) -> None:
        with self._lock:
            if not self._armed and self.job is not None and not self.job.done:
                self._armed = True
                self._deadlines.add(self.test.timeout_ms / 1000, self._expire)

    def _expire(self) -> None:
        if self.job is not None and not self.job.done:
            self.timed_out = True
            self.job.cancel()

    def outcome(self, deadline: float) -> Any:
        from .exporter import Outcome

        job = self.job
        if job is None:
            return Outcome("", "REFUSED", None, [], [], note=f"the request was refused: {self.refused}")
        note = ""
        try:
            job.wait(max(0.0, deadline - time.monotonic()))  # an interrupt cancels the job and re-raises
        except JobWaitTimeout:
            job.cancel()
            note = "did not finish before the run's deadline (queued behind a stuck job?): cancelled"
        if self.timed_out:
            note = f"timed out: cancelled after {self.test.timeout_ms / 1000:g} s (the test's timeout)"
        seconds = job.execution_time / 1000 if job.execution_time is not None else None
        return Outcome(job.id, job.status.value, job.result_body, list(job.stream), list(job.progress_history),
                       seconds, note)

    def close(self) -> None:
        self._unsubscribe()
        if self.job is not None and not self.job.done:  # an interrupted run leaves no replay behind
            self.job.cancel()


class WorkerReplay:
    """The kept tests as jobs for the exported worker under the real SDK (``%rp_export --verify``):
    their job dicts for the worker face, then :meth:`record` fills the table's ``worker`` column."""

    def __init__(self, tests: list[Any], table: Any) -> None:
        self.tests, self.table = tests, table
        self.ids = {test.name: f"rp-test-{uuid.uuid4()}" for test in tests}

    @property
    def jobs(self) -> list[dict[str, Any]]:
        return [{**{k: v for k, v in t.request.items() if k != "input"}, "id": self.ids[t.name], "input": t.request["input"]}
                for t in self.tests]

    @property
    def expect_progress(self) -> dict[str, int]:
        return {self.ids[t.name]: len(t.progress) for t in self.tests}

    def record(self, face: Any) -> Any:
        """Each test's verdict from what the worker posted; the table."""
        from .exporter import Outcome, check

        for test in self.tests:
            job_id = self.ids[test.name]
            final = face.final(job_id)
            status = "FAILED" if isinstance(final, dict) and final.get("error") is not None else "COMPLETED"
            outcome = Outcome(job_id, status if final is not None else "NO RESULT", final, face.stream(job_id),
                              face.progress(job_id), note="the worker posted no final result")
            self.table.set(test.name, "worker", check(test, outcome, ("recorded", "exported worker")))
        return self.table


def worker_replay(name: str, directory: str | None = None) -> WorkerReplay | None:
    """For verification: replay the kept tests in the notebook now (the table's first column) and
    prepare them for the worker (its second); None when the handler has no kept tests."""
    tests = kept_tests(name, directory)
    if not tests:
        return None
    table = run_tests(name, directory=directory)
    table.columns = ("notebook", "worker")
    for row in table.rows:
        row.results["worker"] = None
    return WorkerReplay(tests, table)
