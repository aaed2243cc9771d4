"""Pure formatting for job views: state → label and colour, progress → bar, error → parsed error.

No front end, no widgets: these functions turn runtime values into small dicts the views render, and
are tested on their own.
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

__all__ = [
    "STATE_STYLES",
    "curl_snippet",
    "parse_error",
    "progress_view",
    "python_snippet",
    "state_style",
    "summary_html",
    "summary_text",
]

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


def parse_error(error: Any) -> dict[str, Any] | None:
    """RunPod's error value → ``{"kind", "type", "message", "traceback", "raw"}``.

    Kinds: ``exception`` (the six-key JSON string of a raised exception), ``generator`` (the
    ``handler: ... \\ntraceback: ...`` string), ``returned`` (an ``{"error": ...}`` the handler returned).
    """
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


def curl_snippet(handler: str, request: Any, base_url: str = "http://127.0.0.1:8000/v2",
                 endpoint_url: str | None = None) -> str:
    """The same request as a curl line against the endpoint API (``%rp_serve``, or a remote job's
    ``endpoint_url``)."""
    body = json.dumps(request, ensure_ascii=False)
    url = endpoint_url or f"{base_url}/{handler}"
    return (
        f"curl -s -X POST {url}/run \\\n"
        '  -H "Content-Type: application/json" -H "Authorization: $RUNPOD_API_KEY" \\\n'
        f"  -d {shlex.quote(body)}"
    )


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
    if state.get("progress") is not None and state["status"] == "IN_PROGRESS":
        lines.append(f"progress: {_compact(state['progress'])}")
    if state.get("has_output"):
        lines.append(f"output: {_clip(_compact(state['output'], 20_000), 2_000)}")
    error = parse_error(state.get("error"))
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


_STATIC_TEXT_LIMIT = 200_000
_GREY = "color:var(--jp-ui-font-color2,#666);font-size:11px"
_MONO = "font-family:var(--jp-code-font-family,monospace)"
_PRE = f"white-space:pre-wrap;word-break:break-word;margin:2px 0;{_MONO};font-size:12px;max-height:320px;overflow:auto"


def stats_line(stats: dict[str, Any]) -> str:
    """``40 chunks · 180 chars · 40 tokens · first chunk 12 ms · ...`` (the view's stats line)."""
    parts = [f"{stats.get('chunks', 0)} chunks", f"{stats.get('chars', 0)} chars", f"{stats.get('tokens', 0)} tokens"]
    if stats.get("ttfc_ms") is not None:
        parts.append(f"first chunk {stats['ttfc_ms']} ms")
    parts += [f"{stats[key]} {key.replace('_per_s', '')}/s" for key in ("chunks_per_s", "tokens_per_s") if stats.get(key)]
    return " · ".join(parts)


def final_view_html(view: dict[str, Any]) -> str:
    """A finished job's view as self-contained HTML: what the live view showed last, in the same
    layout and classes, with no widget behind it — so a saved notebook shows it in any front end,
    with or without a kernel or saved widget state. ``view``: header, progress, stats, text, result,
    snippets (the live view's own state)."""
    import html

    esc = html.escape
    head, stats, result = view["header"], view["stats"], view["result"]
    times = (f"delay {_ms(head['delayTime'])} · execution {_ms(head['executionTime'])} · "
             f"elapsed {head['elapsed']:.1f} s")
    parts = [
        '<div style="display:flex;gap:8px;align-items:center;flex-wrap:wrap">'
        f'<span class="rpj-status" title="{esc(head["label"])}" style="background:{head["colour"]};color:#fff;'
        f'border-radius:9px;padding:1px 8px;font-weight:600;font-size:11px">{esc(head["status"])}</span>'
        f'<span class="rpj-handler" style="font-weight:600">{esc(head["handler"])}</span>'
        f'<span class="rpj-id" style="{_GREY};{_MONO}">{esc(head["id"])}</span>'
        f'<span class="rpj-times" style="{_GREY}">{esc(times)}</span></div>'
    ]
    progress = view.get("progress")
    if progress:
        if progress["kind"] == "bar":
            parts.append('<div style="height:6px;background:var(--jp-layout-color3,#e5e5e5);border-radius:3px;'
                         f'overflow:hidden;margin-top:4px"><div class="rpj-bar-fill" style="height:100%;'
                         f'width:{progress["fraction"] * 100:.1f}%;background:#2f6fde"></div></div>')
        parts.append(f'<span class="rpj-progress-label">{esc(progress["label"])}</span>')
        if progress.get("history"):
            parts.append(f'<div class="rpj-history" style="{_GREY}">{esc("  ›  ".join(progress["history"]))}</div>')
    if stats.get("chunks"):
        text = _clip_end(view["text"], _STATIC_TEXT_LIMIT)
        parts.append(f'<pre class="rpj-stream" style="max-height:240px;overflow:auto;white-space:pre-wrap;'
                     f'word-break:break-word;margin:4px 0;padding:4px 6px;background:var(--jp-layout-color2,#f7f7f7);'
                     f'border-radius:4px;{_MONO}">{esc(text)}</pre>'
                     f'<div class="rpj-stats" style="{_GREY}">{esc(stats_line(stats))}</div>')
    if result.get("has_output"):
        opened = " open" if len(result["output_json"]) < 4000 else ""
        parts.append(f'<details class="rpj-output"{opened}><summary style="cursor:pointer;{_GREY}">output</summary>'
                     f'<pre class="rpj-json" style="{_PRE}">{esc(result["output_json"])}</pre></details>')
    error = result.get("error")
    if error:
        message = f"{error['type']}: {error['message']}" if error["type"] else error["message"]
        parts.append(f'<div class="rpj-error-head" style="color:#d64545;font-weight:600;margin-top:4px">{esc(message)}</div>')
        if error["traceback"]:
            lines = "".join(
                f'<span class="rpj-frame" style="color:#7c3aed">{esc(line)}\n</span>' if line.startswith("  File ")
                else esc(line) + "\n" for line in error["traceback"].split("\n"))
            parts.append(f'<pre class="rpj-traceback" style="{_PRE}">{lines}</pre>')
        parts.append(f'<details class="rpj-raw"><summary style="cursor:pointer;{_GREY}">RunPod\'s raw error</summary>'
                     f'<pre class="rpj-json" style="{_PRE}">{esc(error["raw"])}</pre></details>')
    snippets = view.get("snippets") or {}
    if snippets:
        parts.append('<details class="rpj-snippets"><summary style="cursor:pointer;'
                     f'{_GREY}">same request as curl / Python</summary>'
                     + "".join(f'<pre class="rpj-snippet" style="{_PRE}">{esc(snippets.get(k) or "")}</pre>'
                               for k in ("curl", "python")) + "</details>")
    return ('<div class="rpj-view rpj-static" style="font-family:var(--jp-ui-font-family,sans-serif);font-size:13px;'
            'border:1px solid var(--jp-border-color2,#ddd);border-radius:6px;padding:6px 8px;margin:2px 0">'
            + "".join(parts) + "</div>")


def _ms(value: Any) -> str:
    return "–" if value is None else f"{value} ms"


def _clip_end(text: str, limit: int) -> str:
    """The end of a long stream (the latest tokens matter most), saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"… ({len(text) - limit:,} earlier characters not shown here; job.stream has them all)\n" + text[-limit:]
