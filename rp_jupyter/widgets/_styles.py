"""One table of styles for the live views (a stylesheet) and the finished views (inline styles).

A finished job's view is static HTML with inline styles (it must read the same with no widget, no
stylesheet, no kernel); the live view is styled by a stylesheet. Both come from :data:`STYLES`, so
the view does not jump when it turns static. The live rules are written as ``.rpj-view .rpj-x``: more
specific than JupyterLab's ``.jp-OutputArea-output pre`` (``word-break: break-all; padding: 0``), which
would otherwise win over a plain ``.rpj-x`` and break streamed text mid-word.
"""

from __future__ import annotations

__all__ = ["HIDE_COPY_CSS", "STYLES", "inline", "stylesheet"]

HIDE_COPY_CSS = ".jp-OutputArea-child:has(.rpj-live) + .jp-OutputArea-child .rpj-fallback { display: none; }"
"""A live panel's static copy (``.rpj-fallback``, :mod:`._live`) is hidden while the output before it
shows the live widget (``.rpj-live``); the JupyterLab extension's stylesheet has the same rule."""

_MONO = "var(--jp-code-font-family, monospace)"
_GREY = "var(--jp-ui-font-color2, #666)"
_TEXT = {  # preformatted text: wrapped at word boundaries (a word longer than the line still wraps)
    "white-space": "pre-wrap", "word-break": "normal", "overflow-wrap": "anywhere", "font-family": _MONO,
    "font-size": "12px", "line-height": "1.45", "border": "none", "overflow": "auto", "text-align": "left",
}
_SMALL = {"color": _GREY, "font-size": "11px", "line-height": "1.45"}

STYLES: dict[str, dict[str, str]] = {
    "view": {"font-family": "var(--jp-ui-font-family, sans-serif)", "font-size": "13px", "line-height": "1.45",
             "color": "var(--jp-ui-font-color1, #222)", "border": "1px solid var(--jp-border-color2, #ddd)",
             "border-radius": "6px", "padding": "6px 8px", "margin": "2px 0", "text-align": "left"},
    "head": {"display": "flex", "gap": "8px", "align-items": "center", "flex-wrap": "wrap"},
    "status": {"color": "#fff", "border-radius": "9px", "padding": "1px 8px", "font-weight": "600",
               "font-size": "11px"},
    "handler": {"font-weight": "600"},
    "id": {**_SMALL, "font-family": _MONO},
    "times": _SMALL,
    "stats": _SMALL,
    "history": _SMALL,
    "progress": {"margin-top": "4px"},
    "bar": {"height": "6px", "background": "var(--jp-layout-color3, #e5e5e5)", "border-radius": "3px",
            "overflow": "hidden"},
    "bar-fill": {"height": "100%", "background": "#2f6fde"},
    "stream": {**_TEXT, "max-height": "240px", "margin": "4px 0", "padding": "6px 8px",
               "background": "var(--jp-layout-color2, #f7f7f7)", "border-radius": "4px",
               "color": "var(--jp-content-font-color1, #222)"},
    "json": {**_TEXT, "max-height": "320px", "margin": "2px 0", "padding": "2px 4px"},
    "snippet": {**_TEXT, "max-height": "320px", "margin": "2px 0", "padding": "2px 4px"},
    "traceback": {**_TEXT, "max-height": "320px", "margin": "2px 0", "padding": "2px 4px"},
    "frame": {"color": "var(--jp-mirror-editor-keyword-color, #7c3aed)"},
    "error-head": {"color": "#d64545", "font-weight": "600", "margin-top": "4px"},
    "warning": {"color": "#92400e", "background": "#fef3c7", "border-radius": "4px", "padding": "2px 6px",
                "margin-top": "4px", "font-size": "12px", "overflow-wrap": "anywhere"},
    "logs": {"margin-top": "4px"},
    "log": {**_TEXT, "max-height": "200px", "margin": "2px 0", "padding": "4px 6px",
            "background": "var(--jp-layout-color1, #fff)", "border": "1px solid var(--jp-border-color2, #eee)",
            "border-radius": "4px"},
    "log-time": {"color": _GREY},
    "log-stderr": {"color": "#b42318"},
    "summary": {"cursor": "pointer", "color": _GREY, "font-size": "12px"},
    "copy": {"font-size": "11px", "padding": "0 6px", "margin": "2px 4px 2px 0", "cursor": "pointer",
             "border-radius": "4px", "border": "1px solid var(--jp-border-color1, #bbb)",
             "background": "var(--jp-layout-color2, #f3f3f3)", "color": "inherit"},
    "note": {**_SMALL, "font-style": "italic"},
    "table-scroll": {"max-height": "280px", "overflow": "auto"},
    "table": {"border-collapse": "collapse", "width": "100%", "table-layout": "auto", "margin": "0",
              "border": "none", "font-size": "12px"},
    "tr": {"background": "transparent"},
    "th": {"position": "sticky", "top": "0", "background": "var(--jp-layout-color1, #fff)", "text-align": "left",
           "font-weight": "600", "color": _GREY, "font-size": "11px", "padding": "2px 6px", "border": "none"},
    "td": {"text-align": "left", "padding": "2px 6px", "border": "none",
           "border-top": "1px solid var(--jp-border-color2, #eee)", "white-space": "nowrap"},
}
"""Class ``rpj-<name>`` → its CSS declarations (live and static alike)."""

_LIVE_ONLY = """
.rpj-view .rpj-button { font-size: 11px; padding: 1px 8px; cursor: pointer; border-radius: 4px;
  border: 1px solid var(--jp-border-color1, #bbb); background: var(--jp-layout-color2, #f3f3f3); color: inherit; }
.rpj-view .rpj-cancel { margin-left: auto; }
.rpj-view .rpj-bar-fill { width: 0; transition: width 0.15s linear; }
.rpj-view details > summary { cursor: pointer; color: var(--jp-ui-font-color2, #666); font-size: 12px; }
.rpj-view .rpj-row { cursor: pointer; }
.rpj-view .rpj-row:hover, .rpj-view .rpj-row.rpj-selected { background: var(--jp-layout-color2, #f3f3f3); }
.rpj-view .rpj-lab-row td { color: var(--jp-ui-font-color2, #666); font-style: italic; }
.rpj-form-message { color: #d64545; font-size: 12px; min-height: 16px; }
"""


def _declarations(name: str) -> str:
    return ";".join(f"{key}:{value}" for key, value in STYLES[name].items())


def inline(name: str, extra: str = "", classes: str = "") -> str:
    """``class="rpj-name" style="..."`` for static HTML (``extra``: more declarations, e.g. a width;
    ``classes``: more class names)."""
    style = _declarations(name) + (f";{extra}" if extra else "")
    return f'class="rpj-{name}{" " + classes if classes else ""}" style="{style}"'


def stylesheet() -> str:
    """The live views' stylesheet: the same declarations, scoped under ``.rpj-view``."""
    rules = [".rpj-view { " + _declarations("view").replace(";", "; ") + " }"]
    rules += [f".rpj-view .rpj-{name} {{ {_declarations(name).replace(';', '; ')} }}" for name in STYLES if name != "view"]
    return "\n".join(rules) + _LIVE_ONLY + HIDE_COPY_CSS + "\n"
