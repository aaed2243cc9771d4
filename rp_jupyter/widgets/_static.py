"""Static HTML renderings: a finished job's view, and the last state of ``%rp_jobs`` and ``%rp_ui``.

What a saved notebook keeps and shows in any front end, with or without a kernel or widget state: the
same layout and classes as the live views, styled inline from the same table (:mod:`._styles`).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from ._styles import inline

__all__ = ["STATIC_LOG_LIMIT", "final_view_html", "jobs_table_html", "run_form_html", "stats_line"]

_STATIC_TEXT_LIMIT = 200_000
STATIC_LOG_LIMIT = 500
"""Log entries a finished view keeps (the latest; ``job.logs`` has them all)."""
_esc = html.escape
# Copies the <pre> after the button; where the clipboard is refused, selects it for Ctrl-C instead.
_COPY = ("var b=this,p=b.nextElementSibling,t=p.textContent,"
         "s=function(){var r=document.createRange();r.selectNodeContents(p);"
         "var g=window.getSelection();g.removeAllRanges();g.addRange(r);b.textContent='Selected: Ctrl-C'};"
         "try{navigator.clipboard.writeText(t).then(function(){b.textContent='Copied'},s)}catch(e){s()}")


def stats_line(stats: dict[str, Any]) -> str:
    """``40 chunks · 180 chars · 40 tokens · first chunk 12 ms · ...`` (the view's stats line)."""
    parts = [f"{stats.get('chunks', 0)} chunks", f"{stats.get('chars', 0)} chars", f"{stats.get('tokens', 0)} tokens"]
    if stats.get("ttfc_ms") is not None:
        parts.append(f"first chunk {stats['ttfc_ms']} ms")
    parts += [f"{stats[key]} {key.replace('_per_s', '')}/s" for key in ("chunks_per_s", "tokens_per_s") if stats.get(key)]
    return " · ".join(parts)


def final_view_html(view: dict[str, Any]) -> str:
    """A finished job's view as self-contained HTML: what the live view showed last, in the same
    layout and classes. ``view``: header, progress, stats, text, result, snippets, and optionally
    logs (rows from :func:`~._format.log_rows`) with ``logs_total`` (the live view's own state)."""
    parts = [_head(view["header"]), _warnings(view.get("warnings") or []), _progress(view.get("progress")),
             _stream(view["stats"], view["text"]),
             _logs(view.get("logs") or [], view.get("logs_total")), _output(view["result"]),
             _error(view["result"].get("error")), _snippets(view.get("snippets") or {})]
    return f'<div {inline("view", classes="rpj-static")}>' + "".join(parts) + "</div>"


def _head(head: dict[str, Any]) -> str:
    times = (f"delay {_ms(head['delayTime'])} · execution {_ms(head['executionTime'])} · "
             f"elapsed {head['elapsed']:.1f} s")
    return (f'<div {inline("head")}>'
            f'<span {inline("status", "background:" + head["colour"])} title="{_esc(head["label"])}">'
            f'{_esc(head["status"])}</span>'
            f'<span {inline("handler")}>{_esc(head["handler"])}</span>'
            f'<span {inline("id")}>{_esc(head["id"])}</span>'
            f'<span {inline("times")}>{_esc(times)}</span></div>')


def _warnings(warnings: list[str]) -> str:
    return "".join(f'<div {inline("warning")}>⚠ {_esc(text)}</div>' for text in warnings)


def _progress(progress: dict[str, Any] | None) -> str:
    if not progress:
        return ""
    bar = ""
    if progress["kind"] == "bar":
        width = "width:{:.1f}%".format(progress["fraction"] * 100)
        bar = f'<div {inline("bar")}><div {inline("bar-fill", width)}></div></div>'
    history = ""
    if progress.get("history"):
        history = f'<div {inline("history")}>{_esc("  ›  ".join(progress["history"]))}</div>'
    return (f'<div {inline("progress")}>{bar}<span class="rpj-progress-label">{_esc(progress["label"])}</span>'
            f"{history}</div>")


def _stream(stats: dict[str, Any], text: str) -> str:
    if not stats.get("chunks"):
        return ""
    return (f'<pre {inline("stream")}>{_esc(_clip_end(text, _STATIC_TEXT_LIMIT))}</pre>'
            f'<div {inline("stats")}>{_esc(stats_line(stats))}</div>')


def log_summary(total: int, stderr: int) -> str:
    """``logs · 12 lines · 2 on stderr`` (the log pane's title, live and static)."""
    return f"logs · {total} entr{'y' if total == 1 else 'ies'}" + (f" · {stderr} on stderr" if stderr else "")


def _logs(rows: list[dict[str, str]], total: int | None) -> str:
    if not rows:
        return ""
    total = total if total is not None else len(rows)
    shown = rows[-STATIC_LOG_LIMIT:]
    left_out = total - len(shown)
    note = ""
    if left_out > 0:
        note = f'<div {inline("note")}>… {left_out:,} earlier entries not shown here; job.logs has them all</div>'
    lines = "".join(_log_line(row) for row in shown)
    stderr = sum(row["s"] == "stderr" for row in rows)
    return (f'<details {inline("logs")} open><summary {inline("summary")}>{_esc(log_summary(total, stderr))}</summary>'
            f'{note}<pre {inline("log")}>{lines}</pre></details>')


def _log_line(row: dict[str, str]) -> str:
    text = _esc(row["x"])
    if row["s"] == "stderr":
        text = f'<span {inline("log-stderr")}>{text}</span>'
    return f'<span {inline("log-time")}>{_esc(row["t"])}</span> {text}\n'


def _output(result: dict[str, Any]) -> str:
    if not result.get("has_output"):
        return ""
    opened = " open" if len(result["output_json"]) < 4000 else ""
    return (f'<details class="rpj-output"{opened}><summary {inline("summary")}>output</summary>'
            f'<pre {inline("json")}>{_esc(result["output_json"])}</pre></details>')


def _error(error: dict[str, Any] | None) -> str:
    if not error:
        return ""
    message = f"{error['type']}: {error['message']}" if error["type"] else error["message"]
    parts = [f'<div {inline("error-head")}>{_esc(message)}</div>']
    if error["traceback"]:
        lines = "".join(f'<span {inline("frame")}>{_esc(line)}\n</span>' if _is_frame(line) else _esc(line) + "\n"
                        for line in error["traceback"].split("\n"))
        parts.append(f'<pre {inline("traceback")}>{lines}</pre>')
    parts.append(f'<details class="rpj-raw"><summary {inline("summary")}>RunPod\'s raw error</summary>'
                 f'<pre {inline("json")}>{_esc(error["raw"])}</pre></details>')
    return "".join(parts)


def _is_frame(line: str) -> bool:
    """A traceback line naming a frame: ``  File "…", line 3`` or, for a notebook cell, ``  Cell In[5], line 3``."""
    return line.startswith(("  File ", "  Cell "))


def _snippets(snippets: dict[str, str]) -> str:
    if not snippets:
        return ""
    boxes = "".join(f'<div><button type="button" {inline("copy")} onclick="{_esc(_COPY)}">Copy {label}</button>'
                    f'<pre {inline("snippet")}>{_esc(snippets.get(key) or "")}</pre></div>'
                    for key, label in (("curl", "curl"), ("python", "Python")))
    return (f'<details class="rpj-snippets"><summary {inline("summary")}>same request as curl / Python</summary>'
            f"{boxes}</details>")


def jobs_table_html(rows: list[dict[str, Any]], note: str = "", warnings: Sequence[str] = ()) -> str:
    """``%rp_jobs`` as it last was: one row a job (or a lab run), newest first, in the same scroll box;
    the note and the warnings (abandoned calls) under it."""
    if not rows:
        body = f'<div {inline("note")}>no jobs yet</div>'
    else:
        head = "".join(f'<th {inline("th")}>{name}</th>'
                       for name in ("state", "handler", "job id", "delay", "execution", "chunks"))
        body = (f'<div {inline("table-scroll")}><table {inline("table")}><tr {inline("tr")}>{head}</tr>'
                + "".join(_table_row(row) for row in reversed(rows)) + "</table></div>")
    extra = (f'<div {inline("note")}>{_esc(note)}</div>' if note else "") + \
        "".join(f'<div {inline("warning")}>{_esc(line)}</div>' for line in warnings)
    return f'<div {inline("view", classes="rpj-jobs rpj-static")}>{body}{extra}</div>'


def _table_row(row: dict[str, Any]) -> str:
    chip = f'<span {inline("status", "background:" + row["colour"])}>{_esc(row["status"])}</span>'
    td = inline("td")
    if row.get("lab"):  # a lab run: its summary across the id and times
        cells = f'<td {td}>{_esc(row["handler"])}</td><td {td} colspan="3">{_esc(row["lab"])}</td>' \
                f'<td {td}>{row["chunks"]}</td>'
    else:
        values = [row["handler"], row["id"], _ms(row["delayTime"]), _ms(row["executionTime"]), str(row["chunks"])]
        cells = "".join(f"<td {td}>{_esc(str(value))}</td>" for value in values)
    return f'<tr {inline("tr")}><td {td}>{chip}</td>{cells}</tr>'


def run_form_html(handler: str, request_text: str, rows: list[dict[str, Any]]) -> str:
    """``%rp_ui NAME`` as it last was: the request in the editor and the handler's jobs."""
    return (f'<div {inline("view", classes="rpj-form rpj-static")}><b>{_esc(handler)}</b> — request'
            f'<pre {inline("json")}>{_esc(request_text)}</pre>{jobs_table_html(rows)}</div>')


def _ms(value: Any) -> str:
    return "–" if value is None else f"{value} ms"


def _clip_end(text: str, limit: int) -> str:
    """The end of a long stream (the latest tokens matter most), saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"… ({len(text) - limit:,} earlier characters not shown here; job.stream has them all)\n" + text[-limit:]
