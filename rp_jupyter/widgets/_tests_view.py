"""``TestsView``: a handler's test run while it runs — a row a test, its verdict as it comes in.

The table is rendered by the table itself (``_repr_html_``: plain data, no front end); this view
only shows the latest rendering in an ``ipywidgets.HTML`` and, when the run ends, leaves either the
finished table as static HTML and text (no widget state needed to read the notebook later) or
nothing (when the caller displays the result itself).
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets

from ._clock import keep_page_shell

__all__ = ["TestsView"]


class TestsView:
    """Shows ``table._repr_html_()`` live; ``finish`` replaces the widget with a static rendering."""

    def __init__(self, title: str) -> None:
        self.widget = ipywidgets.HTML(value=f"<i>{html.escape(title)}</i>")
        keep_page_shell(self.widget)
        self.title = title
        self._handle: Any = None

    def show(self) -> TestsView:
        from IPython.display import display

        bundle = {**self.widget._repr_mimebundle_(), "text/plain": self.title}
        self._handle = display(bundle, raw=True, display_id=True)
        return self

    def update(self, table: Any) -> None:
        """A new verdict (from the thread that waits for the run)."""
        self.widget.value = table._repr_html_()

    def finish(self, table: Any | None) -> None:
        """Leave ``table`` as static HTML and text where the widget was (``None``: leave nothing, the
        caller shows the result)."""
        if self._handle is not None:
            bundle = {"text/plain": repr(table), "text/html": table._repr_html_()} if table is not None else {"text/plain": ""}
            self._handle.update(bundle, raw=True)
        self.widget.close()
