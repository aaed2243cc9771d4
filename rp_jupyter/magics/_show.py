"""How jobs display in IPython: a live ``JobView`` in a kernel, a text summary in a terminal."""

from __future__ import annotations

from typing import Any

from .. import lab, session
from ..runtime import Job
from ..widgets import JobView, resync_finished_views, use_job_groups, use_local_endpoint
from ..widgets._clock import CLOCK
from ..widgets._format import summary_text
from ..widgets._state import job_state

__all__ = ["has_widgets", "install_display", "uninstall_display"]


def has_widgets(ipython: Any) -> bool:
    """True in a kernel (a widget front end may be there), False in a terminal."""
    return getattr(ipython, "kernel", None) is not None


def install_display(ipython: Any) -> None:
    formatters = ipython.display_formatter
    formatters.ipython_display_formatter.for_type(Job, lambda job: _show(ipython, job))
    formatters.formatters["text/plain"].for_type(Job, _pretty)
    ipython.events.register("pre_run_cell", _resync)
    use_local_endpoint(local_endpoint)
    use_job_groups(lab.lab_run_of)


def local_endpoint() -> tuple[str, bool] | None:
    """``(base_url, needs a key)`` of the endpoint ``%rp_serve`` runs, or None."""
    server = getattr(session, "_server", None)
    if server is None or not getattr(server, "running", True):
        return None
    return server.base_url, getattr(getattr(server, "api", None), "api_key", None) is not None


def _resync(*_info: Any) -> None:
    resync_finished_views()


def uninstall_display(ipython: Any) -> None:
    use_local_endpoint(None)
    use_job_groups(None)
    CLOCK.stop()  # what is dirty is flushed; the views' thread does not outlive the extension
    if _resync in ipython.events.callbacks["pre_run_cell"]:
        ipython.events.unregister("pre_run_cell", _resync)
    formatters = ipython.display_formatter
    formatters.ipython_display_formatter.pop(Job, None)
    formatters.formatters["text/plain"].pop(Job, None)


def _show(ipython: Any, job: Job) -> None:
    if has_widgets(ipython):
        JobView(job).show()
    else:
        print(summary_text(job_state(job)))


def _pretty(job: Job, printer: Any, cycle: bool) -> None:
    printer.text(summary_text(job_state(job)))
