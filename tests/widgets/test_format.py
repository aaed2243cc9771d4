"""The pure formatting of job views, without a front end."""

from __future__ import annotations

import ast
import json

import pytest

from rp_jupyter.runtime._shaping import exception_error, generator_error
from rp_jupyter.widgets._format import (
    curl_snippet,
    final_view_html,
    parse_error,
    progress_view,
    python_snippet,
    state_style,
    summary_html,
    summary_text,
)


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
