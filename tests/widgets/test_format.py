"""The pure formatting of job views, without a front end."""

from __future__ import annotations

import ast
import json

import pytest

from rp_jupyter.runtime._shaping import exception_error, generator_error
from rp_jupyter.widgets._format import (
    curl_snippet,
    final_progress,
    log_rows,
    name_cells,
    parse_error,
    progress_label,
    progress_view,
    python_snippet,
    state_style,
    summary_html,
    summary_text,
)
from rp_jupyter.widgets._static import final_view_html, jobs_table_html
from rp_jupyter.widgets._styles import STYLES, inline, stylesheet


@pytest.mark.parametrize(
    ("status", "label"),
    [("IN_QUEUE", "In queue"), ("IN_PROGRESS", "In progress"), ("COMPLETED", "Completed"),
     ("FAILED", "Failed"), ("CANCELLED", "Cancelled"), ("TIMED_OUT", "Timed out")],
)
def test_every_runpod_state_has_a_label_and_a_colour(status, label):
    style = state_style(status)
    assert style["status"] == status and style["label"] == label and style["colour"].startswith("#")


@pytest.mark.parametrize(
    ("value", "fraction", "label"),
    [(0.25, 0.25, "25%"), (1, 1.0, "100%"), ("3/4", 0.75, "3/4"), (" 1 / 8 ", 0.125, "1 / 8"),
     ("40% done", 0.4, "40% done"), ({"progress": 0.5}, 0.5, "50%"), ({"progress": "2/4", "stage": "denoise"}, 0.5,
      '2/4 · {"stage": "denoise"}')],
)
def test_progress_shapes_become_a_bar(value, fraction, label):
    view = progress_view(value)
    assert view == {"kind": "bar", "fraction": pytest.approx(fraction), "label": label}


@pytest.mark.parametrize(
    ("value", "label"),
    [("loading model", "loading model"), (7, "7"), (1.5, "1.5"), ({"stage": "x"}, '{"stage": "x"}'), ("3/0", "3/0"),
     (True, "true")],
)
def test_other_progress_is_text(value, label):
    assert progress_view(value) == {"kind": "text", "label": label}


def test_no_progress_is_no_view():
    assert progress_view(None) is None


def _raise(exc):
    try:
        raise exc
    except Exception as caught:
        return caught


def test_the_exception_error_string_is_parsed():
    error = parse_error(exception_error(_raise(ValueError("bad value: 7"))))
    assert error["kind"] == "exception" and error["type"] == "ValueError"
    assert error["message"] == "bad value: 7" and "raise exc" in error["traceback"]
    assert json.loads(error["raw"])["error_type"] == "<class 'ValueError'>"


def test_the_generator_error_string_is_parsed():
    error = parse_error(generator_error(_raise(KeyError("missing_thing"))))
    assert error["kind"] == "generator" and error["type"] == "KeyError"
    assert error["message"] == "'missing_thing'" and error["traceback"].startswith("Traceback")


@pytest.mark.parametrize("value", ["Something went wrong", ["e1", "e2"], {"code": 7}])
def test_a_returned_error_is_shown_as_its_message(value):
    error = parse_error(value)
    assert error["kind"] == "returned" and error["type"] == "" and error["traceback"] == ""
    assert error["message"] == (value if isinstance(value, str) else json.dumps(value))


def test_no_error_is_none():
    assert parse_error(None) is None


def test_snippets_carry_the_same_request():
    request = {"input": {"prompt": "it's"}}
    assert "/echo/run" in curl_snippet("echo", request) and "it'\"'\"'s" in curl_snippet("echo", request)
    assert """rp_jupyter.run('echo', {'input': {'prompt': "it's"}})""" in python_snippet("echo", request)
    literal = {"input": {"flag": True, "none": None, "n": 1.5, "list": [False]}}
    for snippet in (python_snippet("echo", literal), python_snippet("echo", literal, "http://h/v2/echo")):
        call = next(line for line in snippet.splitlines() if ".run(" in line)
        expression = ast.parse(call.split(" = ", 1)[1], mode="eval").body  # valid Python, JSON's true would not be
        assert isinstance(expression, ast.Call) and ast.literal_eval(expression.args[-1]) == literal


def test_summaries_without_a_front_end():
    state = {"id": "j1", "handler": "h", "status": "FAILED", "delayTime": 1, "executionTime": 2,
             "chunks": 2, "chars": 4, "text": "a b ", "progress": None, "has_output": False, "output": None,
             "error": exception_error(_raise(RuntimeError("boom")))}
    text = summary_text(state)
    assert "Job j1 · handler 'h' · FAILED" in text and "executionTime 2 ms" in text
    assert "stream: 2 chunks, 4 characters\na b" in text and "error: RuntimeError: boom" in text
    assert "Widget" not in text
    html = summary_html(state)
    assert "FAILED" in html and "RuntimeError: boom" in html and "<script" not in html


def test_the_finished_view_as_static_html_escapes_and_marks_the_handlers_frames():
    try:
        raise ValueError("<b>bad</b>")
    except ValueError as exc:
        error = exception_error(exc)
    view = {
        "header": {**state_style("FAILED"), "id": "j1", "handler": "h<1>", "delayTime": 1, "executionTime": None,
                   "elapsed": 0.25},
        "progress": {"kind": "bar", "fraction": 0.5, "label": "1/2", "history": ['"1/2"']},
        "stats": {"chunks": 2, "chars": 9, "tokens": 2, "ttfc_ms": 3, "chunks_per_s": 10.0, "tokens_per_s": None},
        "text": "<script>x</script> y",
        "result": {"has_output": False, "output_json": None, "error": parse_error(error)},
        "snippets": {"curl": "curl -d '{}'", "python": "import rp_jupyter"},
    }
    page = final_view_html(view)
    assert "<script>" not in page and "&lt;script&gt;x&lt;/script&gt; y" in page and "h&lt;1&gt;" in page
    assert ">FAILED<" in page and "width:50.0%" in page and "delay 1 ms · execution – · elapsed 0.2 s" in page
    assert "2 chunks · 9 chars · 2 tokens · first chunk 3 ms · 10.0 chunks/s" in page
    assert 'class="rpj-frame"' in page and "ValueError: &lt;b&gt;bad&lt;/b&gt;" in page
    assert page.count('class="rpj-snippet"') == 2 and 'class="rpj-raw"' in page


def test_progress_history_reads_as_it_was_sent():
    assert [progress_label(v) for v in ["17/40", 0.5, {"step": 2}]] == ["17/40", "0.5", '{"step": 2}']


def test_a_completed_jobs_bar_is_full_and_says_where_the_last_update_was():
    bar = progress_view("70/80")
    assert final_progress(bar, "COMPLETED") == {"kind": "bar", "fraction": 1.0, "label": "70/80 · completed"}
    assert final_progress(bar, "FAILED") == bar and final_progress(bar, "IN_PROGRESS") == bar  # where it stopped
    assert final_progress(progress_view("80/80"), "COMPLETED")["label"] == "80/80"
    assert final_progress(progress_view("loading"), "COMPLETED") == {"kind": "text", "label": "loading"}


def test_frames_in_cells_are_named_as_ipython_names_them():
    traceback = ('Traceback (most recent call last):\n'
                 '  File "/tmp/ipykernel_7/123.py", line 6, in handler\n    raise ValueError(x)\n'
                 '  File "/usr/lib/python3.11/json/__init__.py", line 2, in loads\nValueError: 1')
    cells = {"/tmp/ipykernel_7/123.py": ("In[5]", 1)}  # a %%rp_handler cell: its body starts on line 2
    named = name_cells(traceback, cells.get)
    assert '  Cell In[5], line 7, in handler\n    raise ValueError(x)' in named
    assert '  File "/usr/lib/python3.11/json/__init__.py", line 2, in loads' in named  # not a cell: as it was
    error = parse_error(exception_error(_raise(ValueError("x"))), lambda name: ("In[2]", 0))
    assert "Cell In[2], line " in error["traceback"] and "Cell In[2]" not in error["raw"]  # RunPod's string untouched


def test_the_curl_snippet_says_to_start_the_endpoint_or_uses_the_real_one():
    request = {"input": {"n": 1}}
    idle = curl_snippet("echo", request)
    assert idle.splitlines()[0] == "# no local endpoint is running: start one with %rp_serve, then"
    assert "http://127.0.0.1:8000/v2/echo/run" in idle and "Authorization" not in idle
    served = curl_snippet("echo", request, base_url="http://127.0.0.1:8123/v2")
    assert served.startswith("curl -s -X POST http://127.0.0.1:8123/v2/echo/run") and "Authorization" not in served
    assert "Authorization: $RUNPOD_API_KEY" in curl_snippet("echo", request, "http://127.0.0.1:8123/v2", api_key=True)
    remote = curl_snippet("echo", request, endpoint_url="https://api.runpod.ai/v2/abc")
    assert remote.startswith("curl -s -X POST https://api.runpod.ai/v2/abc/run") and "Authorization" in remote


class Line:
    def __init__(self, t, stream, text):
        self.t, self.stream, self.text = t, stream, text


def test_log_entries_become_time_stamped_rows():
    import time

    t = time.mktime((2026, 1, 2, 12, 3, 4, 0, 0, -1)) + 0.125
    rows = log_rows([Line(t, "stdout", "hello\n"), {"t": t, "stream": "stderr", "text": "two\nlines\n"},
                     Line(t, "log", "x" * 20_000)])
    assert rows[0] == {"t": "12:03:04.125", "s": "stdout", "x": "hello"}  # a print's newline is not a blank line
    assert rows[1] == {"t": "12:03:04.125", "s": "stderr", "x": "two\nlines"}
    assert rows[2]["x"].endswith("… (10,000 more characters in job.logs)")


def _view(**extra):
    view = {
        "header": {**state_style("COMPLETED"), "id": "j1", "handler": "h", "delayTime": 1, "executionTime": 2,
                   "elapsed": 0.25},
        "progress": None, "stats": {"chunks": 1, "chars": 3, "tokens": 1}, "text": "abc",
        "result": {"has_output": False, "output_json": None, "error": None},
        "snippets": {"curl": "curl x", "python": "import rp_jupyter"},
    }
    return {**view, **extra}


def test_the_finished_view_keeps_the_log_pane_and_its_copy_buttons():
    rows = [{"t": "12:00:00.000", "s": "stdout", "x": "loading <model>"}, {"t": "12:00:01.000", "s": "stderr", "x": "warn"}]
    page = final_view_html(_view(logs=rows, logs_total=2))
    assert "logs · 2 entries · 1 on stderr" in page and "loading &lt;model&gt;" in page
    assert page.count('class="rpj-log-time"') == 2 and 'class="rpj-log-stderr"' in page
    assert page.count('class="rpj-copy"') == 2 and "navigator.clipboard.writeText" in page
    many = final_view_html(_view(logs=rows * 300, logs_total=5000))
    assert "… 4,500 earlier entries not shown here; job.logs has them all" in many
    assert "rpj-logs" not in final_view_html(_view())  # no logs, no pane


def test_live_and_static_share_one_style_table():
    sheet = stylesheet()
    for name in ("stream", "log", "json", "snippet", "traceback"):
        declarations = ";".join(f"{k}:{v}" for k, v in STYLES[name].items())
        assert f".rpj-view .rpj-{name} {{ {declarations.replace(';', '; ')} }}" in sheet  # live: the stylesheet
        assert f'style="{declarations}"' in inline(name)  # static: inline, the same declarations
    assert STYLES["stream"]["word-break"] == "normal" and STYLES["stream"]["overflow-wrap"] == "anywhere"
    assert ".jp-OutputArea-child:has(.rpj-live) + .jp-OutputArea-child .rpj-fallback" in sheet


def test_the_static_jobs_table():
    row = {"id": "j<1>", "handler": "h", "status": "COMPLETED", "colour": "#1f9d55", "delayTime": 1,
           "executionTime": None, "chunks": 0}
    page = jobs_table_html([row], note="3 lab jobs")
    assert "j&lt;1&gt;" in page and "1 ms" in page and "3 lab jobs" in page and "max-height:280px" in page
    assert "no jobs yet" in jobs_table_html([])
