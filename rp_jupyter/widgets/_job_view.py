"""``JobView``: one job, live — state, progress, streamed text, timings, output or error, Cancel.

State → pure render → throttled flush (STYLE habit 7): runtime events update a small state on the
runtime's thread; the clock flushes at most 20 times a second, sending only what is new (a text
delta with a sequence number, its text as a UTF-8 binary buffer; the front end asks for a snapshot if
it missed one). The text is never
sent again: at the end the cell's output is replaced by the finished view as static HTML, which
every front end shows, with or without a kernel.
"""

from __future__ import annotations

import json
import pathlib
import threading
import time
from collections.abc import Callable
from typing import Any

import anywidget
import traitlets

from ..runtime import Job, JobEvent, Runtime
from ._cells import cell_namer
from ._clock import CLOCK, keep_page_shell
from ._format import (
    CellNamer,
    curl_snippet,
    parse_error,
    python_snippet,
    state_style,
    summary_html,
    summary_text,
)
from ._live import LIVE_METADATA
from ._state import LogState, StreamState, job_state, progress_state
from ._static import STATIC_LOG_LIMIT, final_view_html
from ._styles import stylesheet

__all__ = ["LIVE_METADATA", "JobView", "use_local_endpoint"]

_HERE = pathlib.Path(__file__).parent
_OUTPUT_LIMIT = 200_000
STREAMING_KINDS = ("chunk", "log")
"""Events that only add to a list the view reads at flush time: nothing is done per event."""

_local_endpoint: list[Callable[[], tuple[str, bool] | None]] = []


def use_local_endpoint(lookup: Callable[[], tuple[str, bool] | None] | None) -> None:
    """Where the notebook's own endpoint is (``%rp_serve``): a function giving ``(base_url, needs a key)``
    or None while it is not running — the views' curl snippets use it. None forgets it."""
    _local_endpoint[:] = [lookup] if lookup is not None else []


def _endpoint() -> tuple[str, bool] | None:
    try:
        return _local_endpoint[0]() if _local_endpoint else None
    except Exception:  # the snippet is a convenience: never a reason for a view to fail
        return None


class JobView(anywidget.AnyWidget):
    """The live view of a :class:`~rp_jupyter.Job` (local or remote)."""

    _esm = _HERE / "job_view.js"
    _css = stylesheet()

    header = traitlets.Dict().tag(sync=True)
    progress = traitlets.Any(None).tag(sync=True)
    stats = traitlets.Dict().tag(sync=True)
    delta = traitlets.Dict({"seq": 0, "text": ""}).tag(sync=True)
    result = traitlets.Dict().tag(sync=True)
    snippets = traitlets.Dict().tag(sync=True)
    logs = traitlets.Dict({"seq": 0, "rows": [], "total": 0, "stderr": 0, "skipped": 0}).tag(sync=True)
    warnings: traitlets.List[str] = traitlets.List().tag(sync=True)

    def __init__(self, job: Job, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job = job
        self.flushes = 0
        self._stream = StreamState(job.stream, getattr(job.spec, "tokenizer", None) or _spec_tokenizer(job))
        self._logs = LogState(job)
        self._log_seq = 0
        self._namer: CellNamer | None = cell_namer()
        self._snippets_for: Any = False
        self._snippet_texts: dict[str, str] = {}
        self._marked = False
        self.add_class("rpj-live")
        self._lock = threading.Lock()
        self._finished = False
        self._finish_lock = threading.Lock()  # the end is rendered once, and summaries leave in order
        self._display_handle: Any = None
        self._seq = 0
        self.on_msg(self._on_front_end_message)
        keep_page_shell(self)  # updates leave from the clock thread: see keep_page_shell
        self._unsubscribe = job.subscribe(self._on_event)
        self._render_all(final=job.done)
        # The end, whenever it comes: a job ending while this view is made may have published its
        # "finished" event before the view subscribed (an event nobody listens to is not made), but
        # its future's callbacks always run — at once when it is already done.
        job.future.add_done_callback(lambda _future: CLOCK.mark(self, urgent=True))

    # ---- runtime thread: cheap state updates only ---------------------------------------
    def _on_event(self, event: JobEvent) -> None:
        if event.kind in STREAMING_KINDS:
            if event.kind == "chunk":
                self._stream.saw_chunks()
            if self._marked:  # already due for the next flush: nothing more to do per chunk
                return
        self._marked = True
        CLOCK.mark(self, urgent=event.kind == "finished")

    # ---- clock thread: render and send -----------------------------------------------------
    def flush(self) -> None:
        self._marked = False
        if self._finished:
            return
        if self.job.done:
            self._finish()
        else:
            self._render_all(final=False)

    def _finish(self) -> None:
        """Render the final state once, then leave the static summary — from whichever thread sees the
        end first (the clock's flush, or ``show()`` of a job that ended before its first flush).

        One lock for both: a summary is only ever built from the final render, and two threads'
        summaries cannot cross on the wire (a stale one sent last would stay in the notebook)."""
        with self._finish_lock:
            if not self._finished:
                self._render_all(final=True)
                self._finished = True
                self._unsubscribe()
                _recently_finished.append(self)
            self._leave_summary()

    def _render_all(self, final: bool) -> None:
        with self._lock:
            delta = self._stream.take_delta()
            if delta:
                self._seq += 1
            seq = self._seq
            stats = self._stream.rates(self.job._t_start, self.job._t_first_chunk, self.job._t_last_chunk)
            rows, skipped = self._logs.take_delta()
            if rows:
                self._log_seq += 1
            logs = {"seq": self._log_seq, "rows": rows, "total": self._logs.total, "stderr": self._logs.stderr,
                    "skipped": skipped}
        state = job_state(self.job)
        header = _header(state)
        with self.hold_sync():  # one message per flush, whatever changed
            self.header = {**state_style(state["status"]), **header, "sent_at": time.time()}
            self.progress = progress_state(self.job)
            self.warnings = state["warnings"]
            self.stats = stats
            self.snippets = self._snippets()
            if delta:  # UTF-8 in a binary buffer: no JSON encoding or message signing of the text
                self.delta = {"seq": seq, "text": delta.encode("utf-8", "surrogatepass")}
            if rows:
                self.logs = logs
            if final or not header["running"]:  # a job that ended between the flush's check and here:
                self.result = _result(state, self._namer)  # its status never shows without its result
        self.flushes += 1

    def _snippets(self) -> dict[str, str]:
        """The same request as curl / Python: against a remote job's endpoint, else the notebook's own
        (the real URL while ``%rp_serve`` runs; a line saying to start it otherwise). Made again only when
        the endpoint changed (a request may be megabytes of JSON)."""
        job = self.job
        remote = getattr(job._runtime, "endpoint_url", None)  # a deployed endpoint's job: the same request there
        local = None if remote else _endpoint()
        if self._snippets_for != (remote, local):
            self._snippets_for = (remote, local)
            self._snippet_texts = {
                "curl": curl_snippet(job.handler, job.request, local[0] if local else None, remote,
                                     bool(local and local[1])),
                "python": python_snippet(job.handler, job.request, remote)}
        return self._snippet_texts

    def _on_front_end_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "cancel":
            self.job.cancel()
        elif kind == "snapshot":
            with self._lock:
                text = self._stream.sent_text
                seq = self._seq
            self.send({"type": "snapshot", "seq": seq, "text": text})
        elif kind == "logs_snapshot":  # a view that missed a batch (a reload): the latest rows again
            with self._lock:
                logs = {"seq": self._log_seq, "rows": list(self._logs.latest), "total": self._logs.total,
                        "stderr": self._logs.stderr}
            self.send({"type": "logs_snapshot", **logs})

    # ---- display ------------------------------------------------------------------------
    @property
    def text(self) -> str:
        """The stream text as the view shows it."""
        with self._lock:
            return self._stream.full_text()

    def summary(self) -> dict[str, str]:
        text = self.text
        state = {**job_state(self.job), "text": text, "chars": len(text), "namer": self._namer,
                 "logs": list(getattr(self.job, "logs", None) or [])}
        return {"text/plain": summary_text(state), "text/html": summary_html(state)}

    def show(self) -> None:
        """Display the view with a handle, so the finished job leaves a static summary behind."""
        from IPython.display import display

        bundle = {**self._repr_mimebundle_(), **self.summary()}
        self._display_handle = display(bundle, raw=True, display_id=True, metadata={LIVE_METADATA: {"live": "job"}})
        if self.job.done:
            self._finish()

    def final_bundle(self) -> dict[str, str]:
        """A finished job's output: the view as it ended, as static HTML (and text), no widget.

        Replacing the widget keeps the notebook readable wherever it is opened later — JupyterLab or
        Notebook 7 without the kernel or saved widget state (where a widget shows "model not found"),
        nbconvert, GitHub, VS Code — and the finished job loses nothing: its view was static anyway.
        """
        with self._lock:
            logs = list(self._logs.latest)[-STATIC_LOG_LIMIT:]
        view = {"header": self.header, "progress": self.progress, "warnings": self.warnings, "stats": self.stats,
                "text": self.text,
                "result": self.result, "snippets": self.snippets, "logs": logs, "logs_total": self._logs.total}
        return {**self.summary(), "text/html": final_view_html(view)}

    def _leave_summary(self) -> None:
        """Replace the widget by the finished view (call with ``_finish_lock`` held, after the final render)."""
        if self._display_handle is not None:
            self._display_handle.update(self.final_bundle(), raw=True)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle: Any = super()._repr_mimebundle_(**kwargs) or {}
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        return {k: v for k, v in data.items() if k == "application/vnd.jupyter.widget-view+json"}


def _spec_tokenizer(job: Job) -> Any:
    """The handler's tokenizer; a job not started yet has no spec: ask its runtime for the current one."""
    runtime = job._runtime
    try:
        return runtime.handler(job.handler).tokenizer if isinstance(runtime, Runtime) else None
    except Exception:
        return None


_recently_finished: list[JobView] = []


def resync_finished_views() -> None:
    """Send the final state (and static summary) of views that finished since the last call again,
    from the caller's thread.

    A view's last flush runs on the clock thread; if it lands after its cell went idle, the kernel
    attributes it to that finished cell and a headless client (nbclient, nbconvert) that stores widget
    state has stopped listening. Called before each cell (``pre_run_cell``), this puts the final state
    in the next cell's messages. In JupyterLab it is a harmless duplicate.
    """
    while _recently_finished:
        view = _recently_finished.pop()
        if view.comm is not None:
            view.send_state()
        view._finish()


def _header(state: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": state["id"],
        "handler": state["handler"],
        "delayTime": state["delayTime"],
        "executionTime": state["executionTime"],
        "elapsed": state["elapsed"],
        "running": state["status"] in ("IN_QUEUE", "IN_PROGRESS"),
    }


def _result(state: dict[str, Any], namer: CellNamer | None = None) -> dict[str, Any]:
    output = None
    if state["has_output"]:
        text = json.dumps(state["output"], ensure_ascii=False, indent=2)
        output = text if len(text) <= _OUTPUT_LIMIT else text[:_OUTPUT_LIMIT] + "\n… (truncated for display)"
    return {"has_output": state["has_output"], "output_json": output, "error": parse_error(state["error"], namer)}
