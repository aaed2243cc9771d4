"""Pure formatting for job views: state → label and colour, progress → bar, error → parsed error.

No front end, no widgets: these functions turn runtime values into small dicts the views render, and
are tested on their own.
"""

from __future__ import annotations

import json
import re
import shlex
import time
from collections.abc import Callable
from typing import Any

__all__ = [
    "DEFAULT_BASE_URL",
    "STATE_STYLES",
    "CellNamer",
    "curl_snippet",
    "final_progress",
    "log_rows",
    "name_cells",
    "parse_error",
    "progress_label",
    "progress_view",
    "python_snippet",
    "state_style",
    "summary_html",
    "summary_text",
]

CellNamer = Callable[[str], "tuple[str, int] | None"]
"""A file name → (``"In[5]"``, line offset) when it is a notebook cell's code, else None."""

STATE_STYLES: dict[str, tuple[str, str]] = {
    "IN_QUEUE": ("In queue", "#8a8f98"),
    "IN_PROGRESS": ("In progress", "#2f6fde"),
    "COMPLETED": ("Completed", "#1f9d55"),
    "FAILED": ("Failed", "#d64545"),
    "CANCELLED": ("Cancelled", "#6b7280"),
    "TIMED_OUT": ("Timed out", "#d97706"),
}
_FRACTION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)\s*$")
_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%")


def state_style(status: str) -> dict[str, str]:
    """RunPod's state name with a human label and a colour for the chip."""
    label, colour = STATE_STYLES.get(status, (status.title(), "#8a8f98"))
    return {"status": status, "label": label, "colour": colour}


def _bar(fraction: float, label: str) -> dict[str, Any]:
    return {"kind": "bar", "fraction": min(1.0, max(0.0, fraction)), "label": label}


def progress_view(value: Any) -> dict[str, Any] | None:
    """A progress value → a bar (numbers in [0, 1], ``"k/n"``, ``"NN%"``, ``{"progress": ...}``) or text."""
    if value is None:
        return None
    if isinstance(value, dict) and "progress" in value:
        inner = progress_view(value["progress"])
        rest = {k: v for k, v in value.items() if k != "progress"}
        if inner is not None and rest:
            inner["label"] = f"{inner['label']} · {_compact(rest)}"
        return inner
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1:
        return _bar(float(value), f"{value * 100:.0f}%")
    if isinstance(value, str):
        match = _FRACTION.match(value)
        if match and float(match.group(2)) > 0:
            return _bar(float(match.group(1)) / float(match.group(2)), value.strip())
        match = _PERCENT.match(value)
        if match:
            return _bar(float(match.group(1)) / 100, value.strip())
        return {"kind": "text", "label": value}
    return {"kind": "text", "label": _compact(value)}


def progress_label(value: Any) -> str:
    """One progress value as the history shows it: text as it is (no JSON quotes), anything else as JSON."""
    return value[:200] if isinstance(value, str) else _compact(value)


def final_progress(view: dict[str, Any] | None, status: str) -> dict[str, Any] | None:
    """A completed job's bar is full (its work is done), whatever its last update said: ``70/80`` from a
    handler that reports every 10 steps reads ``70/80 · completed``. Other ends keep where they stopped."""
    if view is None or view["kind"] != "bar" or status != "COMPLETED" or view["fraction"] >= 1:
        return view
    return {**view, "fraction": 1.0, "label": f"{view['label']} · completed"}


def _compact(value: Any, limit: int = 200) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _exception_name(error_type: str) -> str:
    match = re.match(r"^<class '(?:[\w.]+\.)?(\w+)'>$", error_type)
    return match.group(1) if match else error_type


def _last_line(traceback: str) -> str:
    lines = [line for line in traceback.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


_FRAME = re.compile(r'^(\s*)File "([^"]+)", line (\d+)(.*)$')


def name_cells(traceback: str, namer: CellNamer | None) -> str:
    """Frames in notebook cells named as IPython names them: ``Cell In[5], line 7, in handler``
    instead of ``File "/tmp/ipykernel_…/….py", line 6, in handler`` (``namer`` knows the cells)."""
    if namer is None or not traceback:
        return traceback
    lines = traceback.split("\n")
    for i, line in enumerate(lines):
        match = _FRAME.match(line)
        found = namer(match.group(2)) if match else None
        if match and found is not None:
            indent, _, number, rest = match.groups()
            lines[i] = f"{indent}Cell {found[0]}, line {int(number) + found[1]}{rest}"
    return "\n".join(lines)


def parse_error(error: Any, namer: CellNamer | None = None) -> dict[str, Any] | None:
    """RunPod's error value → ``{"kind", "type", "message", "traceback", "raw"}``.

    Kinds: ``exception`` (the six-key JSON string of a raised exception), ``generator`` (the
    ``handler: ... \\ntraceback: ...`` string), ``returned`` (an ``{"error": ...}`` the handler returned).
    The traceback's cell frames are named by ``namer`` (``raw`` stays RunPod's string, as it is).
    """
    parsed = _parse_error(error)
    if parsed is not None and namer is not None:
        parsed["traceback"] = name_cells(parsed["traceback"], namer)
    return parsed


def _parse_error(error: Any) -> dict[str, Any] | None:
    if error is None:
        return None
    raw = error if isinstance(error, str) else _compact(error, 10_000)
    if isinstance(error, str) and error.startswith("{"):
        try:
            info = json.loads(error)
        except ValueError:
            info = None
        if isinstance(info, dict) and "error_type" in info and "error_message" in info:
            return {
                "kind": "exception",
                "type": _exception_name(str(info["error_type"])),
                "message": str(info["error_message"]),
                "traceback": str(info.get("error_traceback", "")),
                "raw": raw,
            }
    if isinstance(error, str) and error.startswith("handler: ") and " \ntraceback: " in error:
        message, _, traceback = error[len("handler: "):].partition(" \ntraceback: ")
        name = _last_line(traceback).split(":", 1)[0]
        return {"kind": "generator", "type": name, "message": message, "traceback": traceback, "raw": raw}
    message = error if isinstance(error, str) else _compact(error, 2_000)
    return {"kind": "returned", "type": "", "message": message, "traceback": "", "raw": raw}


DEFAULT_BASE_URL = "http://127.0.0.1:8000/v2"


def curl_snippet(handler: str, request: Any, base_url: str | None = None, endpoint_url: str | None = None,
                 api_key: bool = False) -> str:
    """The same request as a curl line against an endpoint API: a remote job's ``endpoint_url``; else
    the notebook's own (``%rp_serve``) at ``base_url`` when it runs (with the key header only if it
    asks for one); else a first line saying to start ``%rp_serve``, and its default URL."""
    body = json.dumps(request, ensure_ascii=False)
    auth = endpoint_url is not None or api_key
    lines = [] if endpoint_url or base_url else ["# no local endpoint is running: start one with %rp_serve, then"]
    url = endpoint_url or f"{base_url or DEFAULT_BASE_URL}/{handler}"
    lines.append(f"curl -s -X POST {url}/run \\")
    header = '  -H "Content-Type: application/json"'
    lines.append(header + (' -H "Authorization: $RUNPOD_API_KEY" \\' if auth else " \\"))
    lines.append(f"  -d {shlex.quote(body)}")
    return "\n".join(lines)


def python_snippet(handler: str, request: Any, endpoint_url: str | None = None) -> str:
    """The same request from Python: in this kernel, or against an endpoint with the official client.
    A remote job's (``endpoint_url``): against that endpoint. The request as a Python literal
    (``True``/``None``, not JSON's ``true``/``null``)."""
    body = repr(request)
    if endpoint_url is not None:
        return (
            "import rp_jupyter\n"
            f"job = rp_jupyter.Endpoint({endpoint_url!r}).run({body})\n"
            "job.wait().to_status()"
        )
    return (
        "import rp_jupyter\n"
        f"job = rp_jupyter.run({handler!r}, {body})\n"
        "job.wait().to_status()\n\n"
        "# against an endpoint, with the official client:\n"
        "# import runpod; runpod.api_key = '...'\n"
        f"# runpod.Endpoint({handler!r}).run_sync({body})"
    )


LOG_TEXT_LIMIT = 10_000
"""Characters of one log entry a view shows (``job.logs`` keeps it whole)."""


def log_rows(lines: list[Any]) -> list[dict[str, str]]:
    """``LogLine`` entries (``t``, ``stream``, ``text``) → what a view shows: the kernel's local time
    (``12:03:04.123``), the stream, the text (one entry may hold several lines; a trailing newline dropped)."""
    rows = []
    for line in lines:
        t = float(_field(line, "t") or 0.0)
        text = str(_field(line, "text") or "")
        text = text[:-1] if text.endswith("\n") else text
        if len(text) > LOG_TEXT_LIMIT:
            text = text[:LOG_TEXT_LIMIT] + f"… ({len(text) - LOG_TEXT_LIMIT:,} more characters in job.logs)"
        rows.append({"t": time.strftime("%H:%M:%S", time.localtime(t)) + f".{int(t * 1000) % 1000:03d}",
                     "s": str(_field(line, "stream") or "log"), "x": text})
    return rows


def _field(line: Any, name: str) -> Any:
    return line.get(name) if isinstance(line, dict) else getattr(line, name, None)


def summary_text(state: dict[str, Any]) -> str:
    """A plain-text summary of a job for front ends without widgets (terminals, saved notebooks)."""
    lines = [f"Job {state['id']} · handler {state['handler']!r} · {state['status']}"]
    times = [f"{key} {state[key]} ms" for key in ("delayTime", "executionTime") if state.get(key) is not None]
    if times:
        lines.append(" · ".join(times))
    if state.get("chunks"):
        chars = f", {state['chars']} characters" if "chars" in state else ""
        lines.append(f"stream: {state['chunks']} chunks{chars}")
        if state.get("text"):
            lines.append(_clip(state["text"], 2_000))
    lines += [f"warning: {text}" for text in state.get("warnings") or []]
    if state.get("progress") is not None and state["status"] == "IN_PROGRESS":
        lines.append(f"progress: {progress_label(state['progress'])}")
    logs = state.get("logs") or []
    if logs:
        lines.append(f"logs: {len(logs)} entr{'y' if len(logs) == 1 else 'ies'}")
        lines += [f"  {row['t']} {row['s']}: {row['x']}" for row in log_rows(logs[-20:])]
    if state.get("has_output"):
        lines.append(f"output: {_clip(_compact(state['output'], 20_000), 2_000)}")
    error = parse_error(state.get("error"), state.get("namer"))
    if error is not None:
        head = f"{error['type']}: {error['message']}" if error["type"] else error["message"]
        lines.append(f"error: {head}")
        if error["traceback"]:
            lines.append(error["traceback"].rstrip())
    return "\n".join(lines)


def summary_html(state: dict[str, Any]) -> str:
    """The same summary as HTML (a chip and a preformatted body), self-contained."""
    import html

    style = state_style(state["status"])
    head, _, body = summary_text(state).partition("\n")
    chip = (
        f'<span style="background:{style["colour"]};color:#fff;border-radius:8px;padding:1px 8px;'
        f'font-size:90%">{html.escape(style["status"])}</span>'
    )
    pre = f'<pre style="white-space:pre-wrap;margin:4px 0">{html.escape(body)}</pre>' if body else ""
    return f'<div class="rp-jupyter-job-summary">{chip} <b>{html.escape(head)}</b>{pre}</div>'


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit // 2] + "\n…\n" + text[-limit // 2:]


