"""In a real browser: tokens appear before the job ends, progress moves, errors show their traceback."""

from __future__ import annotations

import json
import time

import httpx
import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from .conftest import screenshot

STREAM = '''%%rp_handler
import os
import json
import time
import runpod

def handler(job):
    words, gate = job["input"]["prompt"].split(), job["input"].get("gate")
    for i, word in enumerate(words):
        runpod.serverless.progress_update(job, f"{i + 1}/{len(words)}")
        time.sleep(0.12)
        deadline = time.monotonic() + 60
        while i == 5 and gate and not os.path.exists(gate) and time.monotonic() < deadline:
            time.sleep(0.05)  # the test has seen the job mid-stream
        yield word + " "

runpod.serverless.start({"handler": handler, "return_aggregate_stream": True})
'''
FAIL = '''%%rp_handler broken
def handler(job):
    steps = job["input"]["steps"]
    raise ValueError(f"steps must be <= 100, got {steps}")
'''
PROMPT = " ".join(f"word{i}" for i in range(40))


def _notebook(lab, name, gate=None):
    """``gate``: a file the streaming job waits for after its fifth word (the test can look at it mid-stream)."""
    request = {"input": {"prompt": PROMPT, **({"gate": str(gate)} if gate else {})}}
    cells = [
        new_code_cell("%load_ext rp_jupyter"),
        new_code_cell(STREAM),
        new_code_cell(f"%rp_run handler {json.dumps(request)}"),
        new_code_cell(FAIL),
        new_code_cell('%rp_run broken {"input": {"steps": 500}}'),
    ]
    nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                            "language": "python"}})
    nbformat.write(nb, lab.root / name)


def _run_all_when_idle(page):
    """Wait for the notebook's kernel to be connected and idle, then Run All (without awaiting it)."""
    page.wait_for_function(
        """() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
                   const kernel = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
                   return kernel && kernel.status === 'idle'; }""",
        timeout=60_000,
    )
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")


def _status(view):
    return view.locator(".rpj-status").inner_text()


def test_a_streaming_job_and_a_failing_one_render_live(lab, page):
    gate = lab.root / "view.go"
    gate.unlink(missing_ok=True)
    _notebook(lab, "view.ipynb", gate)
    page.goto(lab.notebook_url("view.ipynb"))
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    _run_all_when_idle(page)

    views = page.locator(".rpj-view")
    views.first.wait_for(timeout=60_000)
    stream_view = views.nth(0)
    # Tokens are on the page while the job is still running.
    page.wait_for_function(
        """() => { const v = document.querySelector('.rpj-view');
                   return v && v.querySelector('.rpj-stream').textContent.trim().split(' ').length >= 3
                          && v.querySelector('.rpj-status').textContent === 'IN_PROGRESS'; }""",
        timeout=30_000,
    )
    early_text = stream_view.locator(".rpj-stream").inner_text()
    early_width = stream_view.locator(".rpj-bar-fill").evaluate("e => parseFloat(e.style.width)")
    screenshot(page, "job-view-streaming")
    assert _status(stream_view) == "IN_PROGRESS" and "word0" in early_text
    gate.touch()  # let the job go on

    page.wait_for_function(
        "() => document.querySelector('.rpj-view .rpj-status').textContent === 'COMPLETED'", timeout=30_000
    )
    final_text = stream_view.locator(".rpj-stream").inner_text()
    final_width = stream_view.locator(".rpj-bar-fill").evaluate("e => parseFloat(e.style.width)")
    assert final_text.split() == PROMPT.split()
    assert final_width == 100 and early_width < final_width  # the bar moved
    assert "40 chunks" in stream_view.locator(".rpj-stats").inner_text()

    views.nth(1).wait_for(timeout=30_000)
    failed = views.nth(1)
    page.wait_for_function(
        "() => document.querySelectorAll('.rpj-view')[1].querySelector('.rpj-status').textContent === 'FAILED'",
        timeout=30_000,
    )
    assert "ValueError: steps must be <= 100, got 500" in failed.locator(".rpj-error-head").inner_text()
    traceback = failed.locator(".rpj-traceback").inner_text()
    assert 'raise ValueError(f"steps must be <= 100, got {steps}")' in traceback
    assert "rp_jupyter" not in traceback  # the handler's frames only
    failed.scroll_into_view_if_needed()
    screenshot(page, "job-view-finished")


def test_a_saved_notebook_reopened_with_a_new_kernel_still_shows_the_finished_views(lab, browser):
    """No widget state is saved and the new kernel has no widget models: the finished views must not
    turn into "Error displaying widget: model not found"."""
    _notebook(lab, "saved.ipynb")
    first = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
    first.goto(lab.notebook_url("saved.ipynb"))
    first.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    _run_all_when_idle(first)
    try:
        first.wait_for_function(
            """() => { const v = document.querySelectorAll('.rpj-view');
                       return v.length === 2 && v[0].querySelector('.rpj-status').textContent === 'COMPLETED'
                              && v[1].querySelector('.rpj-status').textContent === 'FAILED'; }""",
            timeout=60_000,
        )
    except Exception as error:  # say what the page shows instead
        shown = first.evaluate("""() => [...document.querySelectorAll('.rpj-view')].map(
            v => [v.className, (v.querySelector('.rpj-status') || {}).textContent])""")
        raise AssertionError(f"the views did not both finish: {shown}") from error
    first.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    saved = lab.root / "saved.ipynb"
    deadline = time.monotonic() + 30
    while "FAILED" not in saved.read_text():  # written by the server: poll the file itself
        assert time.monotonic() < deadline, f"the notebook was not saved: {saved.read_text()[-500:]}"
        time.sleep(0.2)
    first.context.close()
    with httpx.Client(base_url=lab.url, params={"token": lab.token}) as api:  # end the session and its kernel
        for session in api.get("/api/sessions").json():
            api.delete(f"/api/sessions/{session['id']}").raise_for_status()

    page = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
    page.goto(lab.notebook_url("saved.ipynb"))
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    views = page.locator(".rpj-view")
    # attached, not visible: JupyterLab 4.2 hides the cells below the fold (windowed notebook)
    views.nth(1).wait_for(state="attached", timeout=60_000)
    assert [views.nth(i).locator(".rpj-status").inner_text() for i in range(2)] == ["COMPLETED", "FAILED"]
    assert views.nth(0).locator(".rpj-stream").inner_text().split() == PROMPT.split()
    assert "ValueError: steps must be <= 100" in views.nth(1).locator(".rpj-error-head").inner_text()
    assert "Error displaying widget" not in page.locator(".jp-Notebook").inner_text()
    screenshot(page, "job-view-reopened")
    page.context.close()


def test_the_view_works_in_notebook_7(notebook7, page):
    _notebook(notebook7, "nb7.ipynb")
    page.goto(notebook7.notebook_url("nb7.ipynb"))
    _run_all_when_idle(page)
    page.wait_for_function(
        """() => { const v = document.querySelectorAll('.rpj-view');
                   return v.length === 2 && v[0].querySelector('.rpj-status').textContent === 'COMPLETED'
                          && v[1].querySelector('.rpj-status').textContent === 'FAILED'; }""",
        timeout=60_000,
    )
    assert page.locator(".rpj-view").nth(0).locator(".rpj-stream").inner_text().split() == PROMPT.split()
    screenshot(page, "job-view-notebook7")


def test_the_cancel_button_cancels_a_running_job(lab, page):
    cells = [
        new_code_cell("%load_ext rp_jupyter"),
        new_code_cell("%%rp_handler sleepy\nimport asyncio\nasync def handler(job):\n    await asyncio.sleep(60)\n"),
        new_code_cell('%rp_run sleepy {"input": {}}'),
    ]
    nbformat.write(new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                      "language": "python"}}), lab.root / "cancel.ipynb")
    page.goto(lab.notebook_url("cancel.ipynb"))
    _run_all_when_idle(page)
    page.wait_for_function(
        "() => { const v = document.querySelector('.rpj-view'); "
        "return v && v.querySelector('.rpj-status').textContent === 'IN_PROGRESS'; }",
        timeout=60_000,
    )
    page.locator(".rpj-view .rpj-cancel").click()
    page.wait_for_function(
        "() => document.querySelector('.rpj-view .rpj-status').textContent === 'CANCELLED'", timeout=20_000
    )
    assert not page.locator(".rpj-view .rpj-cancel").is_visible()  # gone once the job ended
