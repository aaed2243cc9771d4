"""The job view's log pane, fed by hand (``job.logs`` and "log" events as the runtime publishes them):
batches from a cursor, a bounded batch per update, the finished view keeping the latest entries."""

from __future__ import annotations

import dataclasses
import time

from rp_jupyter.runtime import Job, JobStatus
from rp_jupyter.widgets import _job_view
from rp_jupyter.widgets._job_view import JobView
from rp_jupyter.widgets._state import LOG_BATCH, LogState


@dataclasses.dataclass(frozen=True)
class LogLine:  # the runtime's contract: t (epoch seconds), stream, text
    t: float
    stream: str
    text: str


class HeldClock:
    """Flushes only when the test says so."""

    def __init__(self) -> None:
        self.marked: list[object] = []

    def mark(self, view: object, urgent: bool = False) -> None:
        self.marked.append(view)


def _job() -> Job:
    job = Job(None, "job-1", "h", {"id": "job-1", "input": {}}, {"input": {}})
    job.logs = []  # type: ignore[attr-defined]
    return job


def _log(job: Job, *texts: str, stream: str = "stdout") -> None:
    batch = [LogLine(time.time(), stream, text) for text in texts]
    job.logs.extend(batch)  # type: ignore[attr-defined]
    job._emit("log", batch)


def test_log_state_reads_batches_from_a_cursor():
    job = _job()
    state = LogState(job)
    assert state.take_delta() == ([], 0)
    _log(job, "one\n", "two\n")
    rows, skipped = state.take_delta()
    assert [row["x"] for row in rows] == ["one", "two"] and skipped == 0 and state.total == 2
    _log(job, "three\n", stream="stderr")
    rows, _ = state.take_delta()
    assert [row["x"] for row in rows] == ["three"] and state.stderr == 1 and state.take_delta() == ([], 0)


def test_a_flood_sends_the_latest_batch_and_says_how_many_it_skipped():
    job = _job()
    state = LogState(job)
    _log(job, *(f"line {i}" for i in range(LOG_BATCH + 250)))
    rows, skipped = state.take_delta()
    assert skipped == 250 and len(rows) == LOG_BATCH and rows[-1]["x"] == f"line {LOG_BATCH + 249}"
    assert state.total == LOG_BATCH + 250


def test_the_view_streams_log_batches_and_the_finished_view_keeps_them(monkeypatch):
    clock = HeldClock()
    monkeypatch.setattr(_job_view, "CLOCK", clock)
    job = _job()
    view = JobView(job)
    assert view.logs["seq"] == 0 and view.logs["total"] == 0
    _log(job, "loading the model\n")
    _log(job, "warming up\n")
    assert clock.marked == [view]  # one mark for two events: nothing more is done per entry
    view.flush()
    assert view.logs["seq"] == 1 and [row["x"] for row in view.logs["rows"]] == ["loading the model", "warming up"]
    _log(job, "Traceback: oops\n", stream="stderr")
    view.flush()
    assert view.logs["seq"] == 2 and [row["s"] for row in view.logs["rows"]] == ["stderr"]
    assert view.logs["total"] == 3 and view.logs["stderr"] == 1
    flushes = view.flushes
    view.flush()  # nothing new: the logs trait is not sent again
    assert view.logs["seq"] == 2 and view.flushes == flushes + 1

    job._start()
    job._finish(JobStatus.COMPLETED, {"output": "ok"})
    view.flush()
    page = view.final_bundle()["text/html"]
    assert "logs · 3 entries · 1 on stderr" in page and "loading the model" in page and "rpj-log-stderr" in page
    text = view.final_bundle()["text/plain"]
    assert "logs: 3 entries" in text and "stderr: Traceback: oops" in text
    view.close()


def test_a_view_without_logs_has_no_pane(runtime):
    runtime.register(lambda job: 1, "one")
    job = runtime.submit("one", {"input": {}}).wait(10)
    view = JobView(job)
    assert view.logs["total"] == 0 and "rpj-logs" not in view.final_bundle()["text/html"]
    view.close()


def test_the_jobs_warnings_are_shown_live_and_finished(monkeypatch):
    monkeypatch.setattr(_job_view, "CLOCK", HeldClock())
    job = _job()
    view = JobView(job)
    job._warn("the handler blocked its loop for 2.0 s at line 7: time.sleep(2)")
    view.flush()
    assert view.warnings == ["the handler blocked its loop for 2.0 s at line 7: time.sleep(2)"]
    job._start()
    job._finish(JobStatus.COMPLETED, {"output": "ok"})
    view.flush()
    bundle = view.final_bundle()
    assert 'class="rpj-warning"' in bundle["text/html"] and "blocked its loop for 2.0 s at line 7" in bundle["text/html"]
    assert "warning: the handler blocked its loop" in bundle["text/plain"]
    view.close()
