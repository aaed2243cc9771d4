"""Plain text/HTML renderings of jobs (the live widgets are a separate layer)."""

from __future__ import annotations

import html
from typing import Any

from ..runtime import Job
from ..widgets._jobs_table import table_rows

__all__ = ["JobsTable"]

_COLUMNS = ("id", "handler", "status", "delayTime", "executionTime", "chunks")


def _cells(row: dict[str, Any]) -> tuple[str, ...]:
    def ms(value: int | None) -> str:
        return "" if value is None else f"{value} ms"

    if row.get("lab"):  # a %rp_bench run: one line for its jobs
        return (row["id"], row["handler"], row["status"], row["lab"], "", str(row["chunks"]))
    return (row["id"], row["handler"], row["status"], ms(row["delayTime"]), ms(row["executionTime"]),
            str(row["chunks"]))


class JobsTable:
    """What ``%rp_jobs`` shows in a terminal: one row a job, oldest first; a concurrency-lab run is one row."""

    def __init__(self, jobs: list[Job]) -> None:
        self.jobs = jobs
        self.rows = [_cells(row) for row in table_rows(jobs)]

    def __repr__(self) -> str:
        if not self.rows:
            return "no jobs yet"
        rows = [_COLUMNS, *self.rows]
        widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
        return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    def _repr_html_(self) -> str:
        if not self.rows:
            return "<i>no jobs yet</i>"
        head = "".join(f"<th>{c}</th>" for c in _COLUMNS)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in self.rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
