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


def _notebook(lab, name, gate=None, extra=()):
    """``gate``: a file the streaming job waits for after its fifth word (the test can look at it mid-stream);
    ``extra``: more cells at the end."""
    request = {"input": {"prompt": PROMPT, **({"gate": str(gate)} if gate else {})}}
    cells = [
        new_code_cell("%load_ext rp_jupyter"),
        new_code_cell(STREAM),
        new_code_cell(f"%rp_run handler {json.dumps(request)}"),
        new_code_cell(FAIL),
        new_code_cell('%rp_run broken {"input": {"steps": 500}}'),
        *(new_code_cell(source) for source in extra),
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


JOB_VIEWS = "[...document.querySelectorAll('.rpj-view')].filter(v => v.querySelector(':scope > .rpj-head'))"
PANELS = ["%rp_jobs", "%rp_ui handler"]
OUTPUTS = """() => { const w = window.jupyterapp.shell.currentWidget, found = [];
  for (const cell of w.content.model.cells) { const o = cell.outputs; if (!o) continue;
    for (let i = 0; i < o.length; i++) { const j = o.get(i).toJSON();
      found.push([j.output_type, Object.keys(j.data || {}).join(','), JSON.stringify(j.metadata || {})]); } }
  return found; }"""
SWEPT = """() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
                   if (!w || !w.content || !w.content.model) return false;
                   const outputs = [];
                   for (const cell of w.content.model.cells) {
                     const o = cell.outputs; if (!o) continue;
                     for (let i = 0; i < o.length; i++) outputs.push(o.get(i).toJSON());
                   }
                   const live = outputs.filter(o => (o.metadata || {}).rp_jupyter && o.metadata.rp_jupyter.live
                                                    && (o.data || {})['application/vnd.jupyter.widget-view+json']);
                   const copies = outputs.filter(o => (o.metadata || {}).rp_jupyter && o.metadata.rp_jupyter.copy_of);
                   return copies.length === 2 && live.length === 0; }"""


def _run_save_reopen(server, browser, name):
    """Run All (two job views, %rp_jobs, %rp_ui), save, end the kernel, open the notebook again."""
    _notebook(server, name, extra=PANELS)
    first = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
    first.goto(server.notebook_url(name))
    _run_all_when_idle(first)
    try:
        first.wait_for_function(
            f"""() => {{ const v = {JOB_VIEWS};
                       return v.length === 2 && v[0].querySelector('.rpj-status').textContent === 'COMPLETED'
                              && v[1].querySelector('.rpj-status').textContent === 'FAILED'
                              && v.every(x => x.classList.contains('rpj-static'))  // finished: static HTML
                              && document.querySelectorAll('.rpj-live.rpj-jobs, .rpj-live .rpj-jobs').length > 0
                              && [...document.querySelectorAll('.rpj-fallback')].some(
                                   f => f.textContent.includes('FAILED')); }}""",
            timeout=60_000,
        )
        # The static copies follow the panels at most once a second (widgets/_live.py), so for up to a second
        # after the views finish they may still say IN_PROGRESS: save once both show the finished jobs, as a
        # person sees them in the panels (a save before that keeps what the copy said then).
        first.wait_for_function(
            """() => { const copies = [...document.querySelectorAll('.rpj-fallback')].map(f => f.textContent);
                       return copies.length === 2 && copies.every(c => c.includes('COMPLETED') && !c.includes('IN_PROGRESS')); }""",
            timeout=30_000,
        )
    except Exception as error:  # say what the page shows instead
        shown = first.evaluate(f"() => {JOB_VIEWS}.map(v => [v.className, v.querySelector('.rpj-status').textContent])")
        copies = first.evaluate("() => [...document.querySelectorAll('.rpj-fallback')].map(f => f.textContent)")
        raise AssertionError(f"the views and their copies did not all finish: views {shown}, copies {copies}") from error
    # while the panels are live, their static copies are in the page but not shown
    assert first.locator(".rpj-fallback").count() == 2 and not first.locator(".rpj-fallback").first.is_visible()
    first.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    saved = server.root / name
    deadline = time.monotonic() + 30
    while "rpj-fallback" not in saved.read_text() or "FAILED" not in saved.read_text():  # the server writes it
        assert time.monotonic() < deadline, f"the notebook was not saved: {saved.read_text()[-500:]}"
        time.sleep(0.2)
    first.context.close()
    with httpx.Client(base_url=server.url, params={"token": server.token}) as api:  # end the session and its kernel
        for session in api.get("/api/sessions").json():
            api.delete(f"/api/sessions/{session['id']}").raise_for_status()

    page = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text) if "rp-jupyter" in message.text else None)
    page.goto(server.notebook_url(name))
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    try:
        page.wait_for_function(SWEPT, timeout=60_000)  # the dead panels gave way to their copies (the sweep)
    except Exception as error:  # say what the notebook's outputs are instead
        outputs = page.evaluate(OUTPUTS)
        raise AssertionError(f"the dead panels were not swept: {outputs}; console: {console}") from error
    # JupyterLab 4.2 renders only the cells in sight (a windowed notebook): bring the last ones in
    page.evaluate("() => { const nb = window.jupyterapp.shell.currentWidget.content; "
                  "return nb.scrollToItem ? nb.scrollToItem(nb.widgets.length - 1) : null; }")
    page.locator(".rpj-fallback").nth(1).wait_for(timeout=60_000)
    return page


SEEN = """async () => {  // every cell's rendered outputs, each cell brought into sight first (a windowed notebook)
  const nb = window.jupyterapp.shell.currentWidget.content, seen = [];
  for (let i = 0; i < nb.widgets.length; i++) {
    if (nb.scrollToItem) await nb.scrollToItem(i);
    await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
    const node = nb.widgets[i].node;
    const views = [...node.querySelectorAll('.rpj-view')].filter(v => v.querySelector(':scope > .rpj-head'));
    seen.push({ text: node.innerText, views: views.map(v => v.querySelector('.rpj-status').textContent),
                copies: [...node.querySelectorAll('.rpj-fallback')].map(f => [f.innerText, f.querySelectorAll('tr').length,
                                                                            f.offsetParent !== null]) });
  }
  return seen;
}"""


def _assert_reads_cleanly(page):
    cells = page.evaluate(SEEN)
    assert [v for cell in cells for v in cell["views"]] == ["COMPLETED", "FAILED"]
    for cell in cells:
        assert "Error displaying widget" not in cell["text"] and "model not found" not in cell["text"], cell["text"]
    (table, rows, shown), (form, _, form_shown) = [copy for cell in cells for copy in cell["copies"]]
    assert shown and form_shown and rows == 3 and "COMPLETED" in table and "broken" in table
    assert '"prompt"' in form and "COMPLETED" in form  # the request, the handler's job


def test_a_saved_notebook_reopened_with_a_new_kernel_reads_cleanly(lab, browser):
    """No widget state is saved and the new kernel has no widget models: the finished views are static
    HTML, and %rp_jobs / %rp_ui are their static copies — never "Error displaying widget: model not found"."""
    page = _run_save_reopen(lab, browser, "saved.ipynb")
    _assert_reads_cleanly(page)
    assert PROMPT.split() == page.locator(".rpj-view .rpj-stream").first.inner_text().split()
    page.locator(".rpj-fallback").first.scroll_into_view_if_needed()
    screenshot(page, "reopened-saved-notebook")
    page.context.close()


def test_a_saved_notebook_reopened_in_notebook_7_reads_cleanly(notebook7, browser):
    page = _run_save_reopen(notebook7, browser, "saved7.ipynb")
    _assert_reads_cleanly(page)
    screenshot(page, "reopened-saved-notebook-7")
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


TWO_JOBS = '''%%rp_handler chatty --concurrency 2
import asyncio, logging, os, sys, time

async def handler(job):
    me, gate = job["input"]["me"], job["input"]["gate"]
    print(f"{me}: loading")
    logging.getLogger("chatty").warning(f"{me}: warming up")
    deadline = time.monotonic() + 60
    while not os.path.exists(gate) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)  # both jobs run at once, each waiting here for the test
    print(f"{me}: done", file=sys.stderr)
    return me
'''
LOG_TEXTS = "() => JOBVIEWS.map(v => { const l = v.querySelector('.rpj-log'); return l ? l.textContent : ''; })"


def test_two_concurrent_async_jobs_each_show_only_their_own_logs(lab, page):
    gate = lab.root / "logs.go"
    gate.unlink(missing_ok=True)
    cells = [new_code_cell("%load_ext rp_jupyter"), new_code_cell(TWO_JOBS),
             new_code_cell(f"%rp_run chatty {json.dumps({'input': {'me': 'alpha', 'gate': str(gate)}})}"),
             new_code_cell(f"%rp_run chatty {json.dumps({'input': {'me': 'beta', 'gate': str(gate)}})}")]
    nbformat.write(new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                      "language": "python"}}), lab.root / "logs.ipynb")
    page.goto(lab.notebook_url("logs.ipynb"))
    _run_all_when_idle(page)
    texts = LOG_TEXTS.replace("JOBVIEWS", JOB_VIEWS)
    page.wait_for_function(  # both running, each pane showing its first two lines, live
        f"""() => {{ const v = {JOB_VIEWS};
                   return v.length === 2 && v.every(x => x.querySelector('.rpj-status').textContent === 'IN_PROGRESS')
                          && ({texts})().every(t => t.includes('warming up')); }}""", timeout=60_000)
    alpha, beta = page.evaluate(texts)
    assert "alpha: loading" in alpha and "WARNING chatty: alpha: warming up" in alpha and "beta" not in alpha
    assert "beta: loading" in beta and "beta: warming up" in beta and "alpha" not in beta
    assert page.evaluate(f"() => {JOB_VIEWS}.map(v => v.querySelector('.rpj-logs summary').textContent)") == \
        ["logs · 2 entries", "logs · 2 entries"]
    stamp = page.evaluate(f"() => {JOB_VIEWS}[0].querySelector('.rpj-log-time').textContent")
    assert len(stamp) == 12 and stamp[2] == ":" and stamp[8] == "."  # 12:03:04.125
    screenshot(page, "job-view-logs-live")
    gate.touch()
    page.wait_for_function(
        f"() => {JOB_VIEWS}.every(v => v.querySelector('.rpj-status').textContent === 'COMPLETED')", timeout=60_000)
    alpha, beta = page.evaluate(texts)  # the finished views, static
    assert "alpha: done" in alpha and "beta" not in alpha and "beta: done" in beta and "alpha" not in beta
    assert page.evaluate(f"() => {JOB_VIEWS}.map(v => v.querySelectorAll('.rpj-log-stderr').length)") == [1, 1]


def test_the_jobs_table_scrolls_in_a_fixed_height_and_a_clicked_jobs_view_is_brought_into_sight(lab, page):
    cells = [new_code_cell("%load_ext rp_jupyter"),
             new_code_cell("%%rp_handler echo\ndef handler(job):\n    return job['input']"),
             new_code_cell("import rp_jupyter\nfor i in range(30):\n    rp_jupyter.run('echo', {'input': i}).wait(10)"),
             new_code_cell("%rp_jobs")]
    nbformat.write(new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                      "language": "python"}}), lab.root / "table.ipynb")
    page.goto(lab.notebook_url("table.ipynb"))
    _run_all_when_idle(page)
    rows = page.locator(".rpj-live .rpj-jobs .rpj-row")
    page.wait_for_function("() => document.querySelectorAll('.rpj-live .rpj-jobs .rpj-row').length === 30",
                           timeout=60_000)
    box = page.locator(".rpj-live .rpj-table-scroll")
    size = box.evaluate("e => [e.clientHeight, e.scrollHeight]")
    assert size[0] <= 290 and size[1] > size[0] * 2, size  # a fixed height: thirty rows scroll inside it
    assert not page.locator(".rpj-fallback").first.is_visible()  # the static copy hides behind the live table
    oldest = rows.last
    oldest.scroll_into_view_if_needed()
    oldest.click()
    detail = page.locator(".rpj-live .rpj-view:not(.rpj-jobs)").first
    detail.wait_for(timeout=30_000)
    page.wait_for_function(  # brought into sight: wholly inside the window
        """() => { const v = [...document.querySelectorAll('.rpj-live .rpj-view')].find(e => !e.classList.contains('rpj-jobs'));
                   if (!v) return false;
                   const r = v.getBoundingClientRect(); return r.top >= 0 && r.bottom <= window.innerHeight; }""",
        timeout=30_000)
    assert "COMPLETED" in detail.inner_text() and "rpj-selected" in oldest.get_attribute("class")
    screenshot(page, "jobs-table-clicked", full_page=False)
