"""A live panel's two outputs: the widget, and right after it a static HTML copy kept current.

A widget lives as long as its kernel; a notebook saved while it is live and reopened with a new kernel
would show "Error displaying widget: model not found" in its place (JupyterLab, Notebook 7). So a live
panel (``%rp_jobs``, ``%rp_ui``) leaves two outputs: the widget (marked ``{"rp_jupyter": {"live": ...}}``
in the output's metadata) and a static copy (``.rpj-fallback``) that the kernel updates, at most once a
second, whenever what it shows changes. While the widget is shown, CSS hides the copy
(:data:`HIDE_COPY_CSS`, in the views' stylesheet and the JupyterLab extension's); in a reopened notebook
the JupyterLab extension drops the dead widget's output and the copy is what reads — and any other
front end (nbconvert, GitHub, VS Code) shows the copy too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from ._styles import HIDE_COPY_CSS

__all__ = ["HIDE_COPY_CSS", "LIVE_METADATA", "LiveOutput"]

LIVE_METADATA = "rp_jupyter"
"""The output metadata key of rp_jupyter's live outputs: ``{"live": "job" | "jobs" | "form"}``."""
MIN_INTERVAL = 1.0
"""Seconds between two updates of the static copy (a lab run changes the table many times a second)."""
_WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


class LiveOutput:
    """Displays a widget with its static copy after it, and keeps the copy current (:meth:`refresh`)."""

    def __init__(self, kind: str, render_html: Callable[[], str], summary: Callable[[], str]) -> None:
        self.kind = kind
        self._render, self._summary = render_html, summary
        self._handle: Any = None
        self._last_html: str | None = None
        self._last_sent = 0.0
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def display(self, widget: Any) -> None:
        """The widget (text/plain for front ends without widgets), then the static copy."""
        from IPython.display import display

        bundle = widget._repr_mimebundle_()
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        display({_WIDGET_VIEW: data[_WIDGET_VIEW], "text/plain": self._summary()}, raw=True,
                metadata={LIVE_METADATA: {"live": self.kind}})
        with self._lock:
            self._last_html = self._copy()
            self._last_sent = time.monotonic()
            self._handle = display({"text/html": self._last_html}, raw=True, display_id=True,
                                   metadata={LIVE_METADATA: {"copy_of": self.kind}})

    def refresh(self) -> None:
        """Update the static copy if what it shows changed (now, or when a second has passed since the last)."""
        with self._lock:
            if self._handle is None:
                return
            html = self._copy()
            if html == self._last_html:
                return
            wait = MIN_INTERVAL - (time.monotonic() - self._last_sent)
            if wait > 0:
                if self._timer is None:  # one later update carries whatever changed meanwhile
                    self._timer = threading.Timer(wait, self._later)
                    self._timer.daemon = True
                    self._timer.start()
                return
            self._last_html, self._last_sent = html, time.monotonic()
            self._handle.update({"text/html": html}, raw=True, metadata={LIVE_METADATA: {"copy_of": self.kind}})

    def _later(self) -> None:
        with self._lock:
            self._timer = None
        self.refresh()

    def _copy(self) -> str:
        return f'<div class="rpj-fallback" title="as it last was while the kernel ran">{self._render()}</div>'
