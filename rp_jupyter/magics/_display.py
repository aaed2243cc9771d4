"""Plain text/HTML renderings of jobs (the live widgets are a separate layer)."""

from __future__ import annotations

import html
from typing import Any

from ..runtime import Job

__all__ = ["JobsTable"]

_COLUMNS = ("id", "handler", "status", "delayTime", "executionTime", "chunks")


def _row(job: Job) -> tuple[str, ...]:
    def ms(value: int | None) -> str:
        return "" if value is None else f"{value} ms"

    return (job.id, job.handler, job.status.value, ms(job.delay_time), ms(job.execution_time), str(len(job.stream)))


class JobsTable:
    """What ``%rp_jobs`` shows: one row a job, oldest first."""

    def __init__(self, jobs: list[Job]) -> None:
        self.jobs = jobs

    def __repr__(self) -> str:
        if not self.jobs:
            return "no jobs yet"
        rows = [_COLUMNS, *(_row(job) for job in self.jobs)]
        widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
        return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    def _repr_html_(self) -> str:
        if not self.jobs:
            return "<i>no jobs yet</i>"
        head = "".join(f"<th>{c}</th>" for c in _COLUMNS)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in _row(job)) + "</tr>" for job in self.jobs
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
