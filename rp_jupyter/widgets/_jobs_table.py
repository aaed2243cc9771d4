"""``JobsTable``: every job of the kernel, live; click a row to open its view below the table."""

from __future__ import annotations

import pathlib
from typing import Any

import anywidget
import ipywidgets
import traitlets

from ..runtime import Job, JobEvent, Runtime
from ._clock import CLOCK
from ._format import state_style, summary_text
from ._state import job_state

__all__ = ["JobsPanel", "job_row"]


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


class _Table(anywidget.AnyWidget):
    _esm = pathlib.Path(__file__).parent / "jobs_table.js"
    _css = pathlib.Path(__file__).parent / "job_view.css"
    rows: traitlets.List[dict[str, Any]] = traitlets.List().tag(sync=True)


class JobsPanel(ipywidgets.VBox):
    """The live table and, under it, the view of the job last clicked."""

    def __init__(self, runtime: Runtime, **kwargs: Any) -> None:
        self._runtime = runtime
        self.table = _Table()
        self.detail = ipywidgets.Output()
        super().__init__([self.table, self.detail], **kwargs)
        self.table.on_msg(self._on_click)
        self._unsubscribe = runtime.subscribe(self._on_event)
        self.flush()

    def _on_event(self, event: JobEvent) -> None:
        if event.kind != "chunk":  # state changes only; the table is not a stream view
            CLOCK.mark(self)

    def flush(self) -> None:
        self.table.rows = [job_row(job) for job in self._runtime.jobs]

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

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = super()._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        text = "\n\n".join(summary_text(job_state(job)) for job in self._runtime.jobs) or "no jobs yet"
        data["text/plain"] = text
        return data
