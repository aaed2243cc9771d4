"""Golden differential tests: the notebook runtime against recordings of RunPod's deployed worker.

The oracle
    Each ``golden/worker/Wxx_*/`` folder was recorded by running the *real* SDK as a deployed worker
    against a mock of RunPod's job API (see ``golden/README.md``): runpod 1.12.0 in
    ``shared/spec/golden/worker/``, runpod 2.x in ``tests/golden/recorded/runpod-<version>/worker/``;
    the set of the installed SDK's line is used (``_recording.worker_root``). For every case
    folder present, this test pastes the case's ``handler.py`` unchanged into a ``%%rp_handler`` cell
    of a real IPython shell, submits the jobs the mock platform offered (``jobs_served``, as
    delivered by job-take; extra keys such as ``webhook``/``policy`` included), and compares per job
    with ``normalized/wire_summary.json``:

    * the job-stream bodies, in order       == ``[{"output": v} for v in job.stream]``
    * the job-done posts saying IN_PROGRESS == ``job.progress_history``
    * the last other job-done body          == ``job.result_body``
    * and the public ``/status`` view (spec §14) agrees with that body.

    Nothing depends on case names: how a job is judged follows from the recording alone
    (:class:`Fate`), so unseen cases of the same kinds are handled too; anything else fails.

Documented, deliberate differences (DESIGN.md §2, spec §5–§11)
    * Tracebacks in error strings show the handler's frames only: the SDK's own ``rp_job.py`` frame
      is not shown. Tracebacks are compared frame by frame after it (file, line, function, source),
      with the handler cell's file name standing for ``<CASE_DIR>/handler.py``; caret lines are
      ignored (they vary with the Python version).
    * Job ids are ours (``<uuid>-local``); they are mapped back to the recorded ids before comparing.
    * ``refresh_worker`` in the config: the recorded worker exits after its first job; jobs it never
      took still run in the notebook (the platform would give them to the next worker).
    * A result or chunk RunPod cannot serialise is never posted there (the job hangs IN_PROGRESS);
      ours fails at once with an error saying so, and streams nothing after the bad chunk.
    * A stop signal on the job-stop channel is our ``cancel``: CANCELLED, no result body.
    * A job without ``input`` is dropped by the worker; our runtime refuses it at submit.
    * ``--rp_debugger`` is not supported in the notebook: such cases are skipped.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

from rp_jupyter import RequestError, session
from rp_jupyter.runtime import Job, JobEvent, JobStatus

from ._compare import assert_same_body, normalise_ours, same_json
from ._recording import Fate, Recording, worker_cases, worker_root

CASES = worker_cases()
EMULATED: set[str] = {"RUNPOD_LOG_CAPTURE=all", "prestart hooks"}
"""runpod 2.x features the notebook emulates (``Recording.sdk_features``); the others' cases xfail."""
WAIT = 30.0
"""The longest any single wait may take (a job to start, a job to finish)."""

pytestmark = pytest.mark.skipif(
    not CASES, reason=f"no golden worker recordings at {worker_root()} (set RP_JUPYTER_GOLDEN)"
)


# ---- the notebook ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ipython() -> InteractiveShell:
    return InteractiveShell.instance()


class Notebook:
    """A shell with ``%load_ext rp_jupyter``: register a handler cell, reach its runtime."""

    def __init__(self, ip: InteractiveShell) -> None:
        self.ip = ip

    def register_cell(self, source: str) -> tuple[str, str]:
        """Run ``%%rp_handler`` + the handler.py text; the handler's name and its code's file name."""
        result = self.ip.run_cell("%%rp_handler\n" + source, store_history=False)
        error = result.error_before_exec or result.error_in_exec
        assert error is None, f"the %%rp_handler cell failed: {error!r}"
        handlers = session.get_runtime().handlers
        assert len(handlers) == 1, f"expected one registered handler, got {sorted(handlers)}"
        ((name, spec),) = handlers.items()
        code = getattr(spec.fn, "__code__", None)
        assert code is not None, f"cannot tell the cell's file name from handler {spec.fn!r}"
        return name, code.co_filename


@pytest.fixture
def notebook(ipython: InteractiveShell) -> Iterator[Notebook]:
    """A fresh runtime per case: the extension is loaded for the test and unloaded after it."""
    ipython.run_line_magic("load_ext", "rp_jupyter")
    try:
        yield Notebook(ipython)
    finally:
        ipython.run_line_magic("unload_ext", "rp_jupyter")
        ipython.user_ns.pop("handler", None)


# ---- the test ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_worker_case(
    case: Path, notebook: Notebook, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    recording = Recording.load(case)
    if recording.uses_rp_debugger:
        pytest.skip("rp_debugger is not supported in the notebook (documented)")
    missing = [feature for feature in recording.sdk_features if feature not in EMULATED]
    if missing:  # strict: the day the runtime emulates it, this marker must go
        request.applymarker(pytest.mark.xfail(strict=True, reason=f"not emulated yet: {', '.join(missing)}"))
    # exception payloads carry the first two (spec §5); the third adds the job's output (runpod 2.x)
    for var in ("RUNPOD_POD_ID", "RUNPOD_POD_HOSTNAME", "RUNPOD_LOG_CAPTURE"):
        if var in recording.worker_env:
            monkeypatch.setenv(var, recording.worker_env[var])
        else:
            monkeypatch.delenv(var, raising=False)

    fates = [recording.fate(job) for job in recording.jobs]
    unknown = [job.get("id") for job, fate in zip(recording.jobs, fates, strict=True) if fate is Fate.UNKNOWN]
    if unknown:
        pytest.fail(f"{recording.name}: job(s) {unknown} got no final post and match no documented category")

    name, handler_file = notebook.register_cell(recording.handler_source)
    runtime = session.get_runtime()

    # Submit everything first (concurrency cases take several at once), then stop, then wait.
    ours: list[tuple[dict[str, Any], Fate, Job]] = []
    for recorded_job, fate in zip(recording.jobs, fates, strict=True):
        if fate is Fate.NO_INPUT:
            with pytest.raises(RequestError):
                runtime.submit(name, request_of(recorded_job))
            continue
        ours.append((recorded_job, fate, runtime.submit(name, request_of(recorded_job))))
    for _, fate, job in ours:
        if fate is Fate.STOPPED:
            wait_started(job)
            job.cancel()
    for _, _, job in ours:
        job.wait(WAIT)

    if "prestart hooks" in recording.sdk_features:
        held_as_recorded(recording, ours[0][0]["id"], ours[0][2])
    for recorded_job, fate, job in ours:
        check = JobCheck(recording, recorded_job, job, handler_file)
        {
            Fate.POSTED: check.posted,
            Fate.AFTER_EXIT: check.after_worker_exit,
            Fate.UNSERIALISABLE: check.unserialisable,
            Fate.STOPPED: check.stopped,
        }[fate]()


def held_as_recorded(recording: Recording, recorded_id: str, job: Job) -> None:
    """The SDK takes a job while its prestart hooks run, and posts its result after them: the hooks'
    time is the job's executionTime (from take to post), not its delayTime. Ours must hold the first job
    IN_PROGRESS at least as long (a lower bound: load only makes it longer)."""
    held = recording.held_ms(recorded_id)
    assert held is not None, f"{recording.name}: no timed take and post of {recorded_id} in the recording"
    assert job.execution_time is not None and job.execution_time >= held - 150, (
        f"{recording.name} {recorded_id}: executionTime {job.execution_time} ms, but the recorded worker held it "
        f"{held:.0f} ms from take to post (delayTime {job.delay_time} ms)"
    )


def request_of(recorded_job: dict[str, Any]) -> dict[str, Any]:
    """The ``/run`` request that makes the platform deliver this job: every key but ``id``."""
    return {key: value for key, value in recorded_job.items() if key != "id"}


def wait_started(job: Job, timeout: float = WAIT) -> None:
    """Block until the job has left the queue (a worker took it), via its events."""
    started = threading.Event()

    def on_event(event: JobEvent) -> None:
        if event.kind in ("started", "finished"):
            started.set()

    unsubscribe = job.subscribe(on_event)
    try:
        if job.status is not JobStatus.IN_QUEUE:
            started.set()
        assert started.wait(timeout), f"job {job.id} was not taken within {timeout} s"
    finally:
        unsubscribe()


class JobCheck:
    """The assertions for one job, one method per :class:`Fate`."""

    def __init__(
        self, recording: Recording, recorded_job: dict[str, Any], job: Job, handler_file: str
    ) -> None:
        self.recording, self.job, self.handler_file = recording, job, handler_file
        self.recorded_id: str = recorded_job["id"]
        self.request = request_of(recorded_job)
        self.where = f"{recording.name} {self.recorded_id}"

    def ours(self, value: Any) -> Any:
        return normalise_ours(value, self.job.id, self.recorded_id, self.handler_file)

    def our_stream(self) -> list[Any]:
        return self.ours([{"output": value} for value in self.job.stream])

    # ---- per fate ------------------------------------------------------------------------------
    def posted(self, recorded_id: str | None = None) -> None:
        """The recorded worker posted a final body: stream, progress and body must all equal it."""
        recorded_id = recorded_id or self.recorded_id
        stream, recorded_stream = self.our_stream(), self.recording.stream_bodies(recorded_id)
        assert same_json(stream, recorded_stream), (
            f"{self.where}: stream {stream} != recorded {recorded_stream}"
        )
        progress = self.ours(self.job.progress_history)
        recorded_progress = self.recording.progress_values(recorded_id)
        assert same_json(progress, recorded_progress), (
            f"{self.where}: progress {progress} != recorded {recorded_progress}"
        )
        expected = self.recording.final_body(recorded_id)
        assert self.job.result_body is not None, f"{self.where}: ours is {self.job.status}, no result body"
        assert_same_body(self.ours(self.job.result_body), expected, f"{self.where}: final body")
        self.status_view()

    def after_worker_exit(self) -> None:
        """Never taken (the worker had exited): ours runs like a delivered job with the same request."""
        twins = [
            job["id"]
            for job in self.recording.jobs
            if request_of(job) == self.request and self.recording.final_body(job["id"]) is not None
        ]
        if twins:
            self.posted(twins[0])
            return
        assert self.job.status in (JobStatus.COMPLETED, JobStatus.FAILED), f"{self.where}: {self.job.status}"
        assert self.job.result_body is not None and self.job.result_body.get("stopPod") is True, (
            f"{self.where}: the worker exited by itself (refresh_worker config), so our body needs stopPod: "
            f"{self.job.result_body!r}"
        )
        self.status_view()

    def unserialisable(self) -> None:
        """RunPod could not post a chunk or the result: ours fails loudly, saying so."""
        assert self.job.status is JobStatus.FAILED, f"{self.where}: ours is {self.job.status}"
        error = self.job.error
        assert isinstance(error, str), f"{self.where}: error {error!r}"
        assert "not JSON-serialisable" in error and "IN_PROGRESS" in error, f"{self.where}: error {error!r}"
        self.stream_is_prefix()
        self.status_view()

    def stopped(self) -> None:
        """Stopped through the job-stop channel: CANCELLED, nothing posted."""
        assert self.job.status is JobStatus.CANCELLED, f"{self.where}: ours is {self.job.status}"
        assert self.job.result_body is None, (
            f"{self.where}: a cancelled job posts nothing: {self.job.result_body!r}"
        )
        assert self.recording.final_body(self.recorded_id) is None, (
            f"{self.where}: the recording posted a result"
        )
        self.stream_is_prefix()
        view = self.job.to_status()
        assert view["status"] == "CANCELLED" and "output" not in view and "error" not in view, (
            f"{self.where}: {view}"
        )

    # ---- shared --------------------------------------------------------------------------------
    def stream_is_prefix(self) -> None:
        """Ours stopped early (cancelled / failed at a bad chunk): what we streamed, RunPod streamed."""
        mine, recorded = self.our_stream(), self.recording.stream_bodies(self.recorded_id)
        assert same_json(mine, recorded[: len(mine)]), (
            f"{self.where}: stream {mine} is not a prefix of {recorded}"
        )

    def status_view(self) -> None:
        """``to_status()`` is RunPod's ``/status`` body for the finished job (spec §14)."""
        body, view = self.job.result_body, self.job.to_status()
        assert body is not None
        where = f"{self.where}: /status {view}"
        assert view["id"] == self.job.id, where
        assert view["status"] == ("FAILED" if body.get("error") else "COMPLETED") == self.job.status.value, (
            where
        )
        for key in ("output", "error"):
            if key in body:
                assert key in view and view[key] == body[key], where
            else:
                assert key not in view, where
        for key in ("delayTime", "executionTime"):
            assert isinstance(view.get(key), int) and view[key] >= 0, where
        assert "stopPod" not in view, where
