"""``%rp_jobs``: every job of the kernel, live, in a table that scrolls within a fixed height; a click
opens the job's view under it. A concurrency-lab run (``%rp_bench``) is one line, its jobs hidden
unless asked for. A static copy of the table sits beside the widget for saved notebooks (:mod:`._live`).
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable
from typing import Any

import anywidget
import ipywidgets
import traitlets

from ..runtime import Job, JobEvent, JobStatus, Runtime
from ._clock import CLOCK, keep_page_shell
from ._format import state_style, summary_text
from ._live import LiveOutput
from ._state import job_state
from ._static import jobs_table_html
from ._styles import stylesheet

__all__ = ["JobsPanel", "abandoned_lines", "job_row", "lab_runs", "table_rows", "use_job_groups"]

GroupOf = Callable[[str], "tuple[int, str, int] | None"]
"""A handler name → ``(run, handler, level)`` when it is a concurrency-lab run's probe, else None."""

_group_of: list[GroupOf] = []


def use_job_groups(group_of: GroupOf | None) -> None:
    """How jobs group into lab runs (``rp_jupyter.lab.lab_run_of``, set by the magics); None forgets it."""
    _group_of[:] = [group_of] if group_of is not None else []


def group_of(handler: str) -> tuple[int, str, int] | None:
    return _group_of[0](handler) if _group_of else None


def job_row(job: Job) -> dict[str, Any]:
    """One row of the table, as plain data."""
    style = state_style(job.status.value)
    return {
        "id": job.id,
        "handler": job.handler,
        "status": job.status.value,
        "colour": style["colour"],
        "delayTime": job.delay_time,
        "executionTime": job.execution_time,
        "chunks": len(job.stream),
    }


def lab_runs(jobs: list[Job]) -> tuple[list[Job], list[dict[str, Any]]]:
    """The jobs that are not a lab run's, and one summary a lab run (oldest first): its handler, job
    count, levels, state counts and an overall state (live while any job is; FAILED if any failed)."""
    plain: list[Job] = []
    runs: dict[int, dict[str, Any]] = {}
    for job in jobs:
        tag = group_of(job.handler)
        if tag is None:
            plain.append(job)
            continue
        run = runs.setdefault(tag[0], {"run": tag[0], "handler": tag[1], "jobs": 0, "levels": [], "counts": {},
                                       "chunks": 0, "submitted_at": job.submitted_at})
        run["jobs"] += 1
        run["chunks"] += len(job.stream)
        if tag[2] not in run["levels"]:
            run["levels"].append(tag[2])
        run["counts"][job.status.value] = run["counts"].get(job.status.value, 0) + 1
    for run in runs.values():
        counts = run["counts"]
        run["status"] = next((s.value for s in (JobStatus.IN_PROGRESS, JobStatus.IN_QUEUE, JobStatus.FAILED,
                                                  JobStatus.TIMED_OUT, JobStatus.CANCELLED) if counts.get(s.value)),
                             JobStatus.COMPLETED.value)
    return plain, sorted(runs.values(), key=lambda r: r["run"])


def abandoned_lines(runtime: Runtime) -> list[str]:
    """"1 abandoned call of handler 'slow' still running since 12:03:04: In[3], line 5 (job …)" — one line
    each, oldest first: calls the runtime stopped waiting for (a timeout or cancel they ignored) that
    have not returned yet. They hold a thread (or a loop) until they do."""
    try:
        calls = runtime.abandoned
    except Exception:  # a remote endpoint's runtime, or one shutting down: nothing to say
        return []
    return [call.describe() for call in calls]


def table_rows(jobs: list[Job], show_lab: bool = False) -> list[dict[str, Any]]:
    """The table's rows, oldest first: every job, with a lab run's jobs replaced by one line for the run
    (placed where its first job was) unless ``show_lab``."""
    if show_lab or not _group_of:
        return [job_row(job) for job in jobs]
    plain, runs = lab_runs(jobs)
    rows = [(job.submitted_at, job_row(job)) for job in plain]
    rows += [(run["submitted_at"], _lab_row(run)) for run in runs]
    return [row for _, row in sorted(rows, key=lambda pair: pair[0])]


def _lab_row(run: dict[str, Any]) -> dict[str, Any]:
    levels = ", ".join(str(level) for level in run["levels"])
    return {"id": f"lab run {run['run']}", "handler": run["handler"], "status": run["status"],
            "colour": state_style(run["status"])["colour"], "delayTime": None, "executionTime": None,
            "chunks": run["chunks"], "lab": f"%rp_bench run {run['run']}: {run['jobs']} jobs at concurrency {levels}"}


class _Table(anywidget.AnyWidget):
    _esm = pathlib.Path(__file__).parent / "jobs_table.js"
    _css = stylesheet()
    rows: traitlets.List[dict[str, Any]] = traitlets.List().tag(sync=True)
    show_lab = traitlets.Bool(False).tag(sync=True)
    lab_jobs = traitlets.Int(0).tag(sync=True)
    abandoned: traitlets.List[str] = traitlets.List().tag(sync=True)
    """The runtime's abandoned calls still running, one line each (the table's footer)."""


class JobsPanel(ipywidgets.VBox):
    """The live table and, under it, the view of the job last clicked."""

    def __init__(self, runtime: Runtime, **kwargs: Any) -> None:
        self._runtime = runtime
        self.table = _Table()
        self.detail = ipywidgets.Output()
        super().__init__([self.table, self.detail], **kwargs)
        self.add_class("rpj-live")
        self.live = LiveOutput("jobs", self._static_html, summary=self._text)
        self.table.on_msg(self._on_click)
        keep_page_shell(self)
        self.table.observe(lambda _change: self.flush(), names="show_lab")
        self._unsubscribe = runtime.subscribe(self._on_event)
        self.flush()

    def _on_event(self, event: JobEvent) -> None:
        if event.kind in ("submitted", "started", "finished", "warning"):  # not a stream view: states, and
            # warnings (a call abandoned, or returning at last: the footer's lines)
            CLOCK.mark(self, urgent=event.kind == "finished")

    def flush(self) -> None:
        jobs = self._runtime.jobs
        self.table.rows = table_rows(jobs, self.table.show_lab)
        self.table.lab_jobs = sum(group_of(job.handler) is not None for job in jobs) if _group_of else 0
        self.table.abandoned = abandoned_lines(self._runtime)
        self.live.refresh()

    def _static_html(self) -> str:
        note = "" if not self.table.lab_jobs or self.table.show_lab else \
            f"{self.table.lab_jobs} jobs of %rp_bench runs are one line a run (%rp_jobs lists them when asked)"
        return jobs_table_html(self.table.rows, note, self.table.abandoned)

    def _text(self) -> str:
        text = "\n\n".join(summary_text(job_state(job)) for job in self._runtime.jobs) or "no jobs yet"
        return "\n\n".join([text, *abandoned_lines(self._runtime)])

    def _on_click(self, _widget: Any, content: Any, _buffers: Any) -> None:
        job = self._runtime.get(content.get("id", "")) if isinstance(content, dict) else None
        if job is None:
            return
        from ._job_view import JobView

        self.detail.clear_output()
        with self.detail:
            JobView(job).show()

    def close(self) -> None:
        self._unsubscribe()
        super().close()

    def _ipython_display_(self) -> None:
        self.live.display(self)
