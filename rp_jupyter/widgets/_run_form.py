"""``RunForm`` (``%rp_ui NAME``): edit a request, Run / Cancel, and reopen any of the handler's jobs."""

from __future__ import annotations

import html
import json
import threading
from collections.abc import Callable
from typing import Any

import ipywidgets

from ..exceptions import RpJupyterError
from ..runtime import Job, JobEvent, Runtime, json_problem
from ._clock import CLOCK, keep_page_shell
from ._format import summary_text
from ._job_view import JobView
from ._jobs_table import job_row
from ._live import LiveOutput
from ._state import job_state
from ._static import run_form_html

__all__ = ["RunForm", "parse_request_text"]


def parse_request_text(text: str) -> tuple[Any, str | None]:
    """The request in the editor, or a one-line message that says where the JSON breaks."""
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON: {json_problem(text, exc)}"


class RunForm(ipywidgets.VBox):
    """A request editor bound to one handler; jobs go through ``submit`` (the session's ``run``)."""

    def __init__(self, handler: str, submit: Callable[[Any], Job], runtime: Runtime, initial: str) -> None:
        self.handler, self._submit, self._runtime = handler, submit, runtime
        self.editor = ipywidgets.Textarea(value=initial, layout=ipywidgets.Layout(width="100%", height="140px"))
        self.message = ipywidgets.HTML(layout=ipywidgets.Layout(min_height="18px"))
        self.run_button = ipywidgets.Button(description="Run", button_style="primary", icon="play")
        self.cancel_button = ipywidgets.Button(description="Cancel", icon="stop", disabled=True)
        self.history = ipywidgets.Dropdown(options=[], description="jobs", layout=ipywidgets.Layout(width="60%"))
        self.output = ipywidgets.Output()
        self.current: Job | None = None
        # flush() runs on the clock's thread and sets the history itself; a person's pick (the main
        # thread) waits for it to end instead of landing in it, unseen or overwritten.
        self._flushing = threading.RLock()
        self._setting_history = False
        buttons = ipywidgets.HBox([self.run_button, self.cancel_button, self.history])
        header = ipywidgets.HTML(f"<b>{html.escape(handler)}</b> — request (RunPod's body: {{\"input\": ...}})")
        super().__init__([header, self.editor, self.message, buttons, self.output])
        self.add_class("rpj-live")
        self.live = LiveOutput("form", self._static_html, summary=self._text)
        self.editor.observe(lambda _change: self.live.refresh(), names="value")
        self.run_button.on_click(self._run)
        keep_page_shell(self)
        self.cancel_button.on_click(lambda _: self.current.cancel() if self.current else None)
        self.history.observe(self._reopen, names="value")
        self._unsubscribe = runtime.subscribe(self._on_event)
        self.flush()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """Beside the widget, a text summary (terminals, nbconvert): never a ``VBox(...)`` repr."""
        bundle = super()._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        data["text/plain"] = self._text()
        return data

    def _ipython_display_(self) -> None:
        """The form, and after it its static copy for saved notebooks (:mod:`._live`)."""
        self.live.display(self)

    def _jobs(self) -> list[Job]:
        return [job for job in self._runtime.jobs if job.handler == self.handler]

    def _text(self) -> str:
        jobs = self._jobs()
        head = f"%rp_ui {self.handler}: {len(jobs)} job{'s' if len(jobs) != 1 else ''}"
        return "\n\n".join([head, *(summary_text(job_state(job)) for job in jobs)])

    def _static_html(self) -> str:
        return run_form_html(self.handler, self.editor.value, [job_row(job) for job in self._jobs()])

    def run(self) -> Job | None:
        """What the Run button does: parse, submit, show the job's view. None (and a message) on error."""
        request, problem = parse_request_text(self.editor.value)
        if problem is None:
            try:
                job = self._submit(request)
            except RpJupyterError as exc:
                problem = str(exc)
        if problem is not None:
            self.message.value = f'<span class="rpj-form-message">{html.escape(problem)}</span>'
            return None
        self.message.value = ""
        self.current = job
        self.cancel_button.disabled = False
        self._show(job)
        return job

    def _run(self, _button: Any) -> None:
        self.run()

    def _show(self, job: Job) -> None:
        self.output.clear_output()
        with self.output:
            JobView(job).show()

    def _reopen(self, change: dict[str, Any]) -> None:
        with self._flushing:
            if self._setting_history:  # flush() itself, on its own thread
                return
        job = self._runtime.get(change["new"]) if change["new"] else None
        if job is not None and job is not self.current:
            self.current = job  # the job shown is the one Cancel stops and the history keeps selected
            self.cancel_button.disabled = job.done
            self._show(job)

    def _on_event(self, event: JobEvent) -> None:
        if event.job.handler == self.handler and event.kind in ("submitted", "started", "finished"):
            CLOCK.mark(self)

    def flush(self) -> None:
        jobs = self._jobs()
        options = [(f"{job.id[:8]}… · {job.status.value}", job.id) for job in reversed(jobs)]
        with self._flushing, self.hold_trait_notifications():
            self._setting_history = True
            try:
                self.history.options = options
                self.history.value = self.current.id if self.current is not None and self.current in jobs else None
            finally:
                self._setting_history = False
        if self.current is not None and self.current.done:
            self.cancel_button.disabled = True
        self.live.refresh()

    def close(self) -> None:
        self._unsubscribe()
        super().close()
