"""In a real browser, the quickstart as a new user runs it: its first run is a live view that visibly
streams (several intermediate texts, a moving progress bar) and wraps its text at word boundaries,
the same live and finished."""

from __future__ import annotations

import shutil
from pathlib import Path

from .conftest import screenshot

QUICKSTART = Path(__file__).resolve().parents[2] / "notebooks" / "quickstart.ipynb"
WRAP = ["white-space", "word-break", "overflow-wrap", "padding-top", "padding-left", "font-family", "font-size",
        "line-height", "max-height"]

IN_SIGHT = """window.__rpjInSight = () => {  // the first %rp_run cell in sight, as a user reading it has it
  // (JupyterLab 4.2 renders only the cells in sight, and Run All moves the active cell down)
  const nb = window.jupyterapp.shell.currentWidget.content;
  if (document.querySelector('.rpj-view') || !nb.scrollToItem) return;
  const i = nb.widgets.findIndex(c => c.model.sharedModel.getSource().includes('%rp_run tokens'));
  if (i >= 0) nb.scrollToItem(i);
}"""

RECORD = """() => {  // every distinct text and bar width the first view shows while it runs
  window.__rpj = { texts: [], widths: [] };
  setInterval(() => {
    window.__rpjInSight();
    const view = document.querySelector('.rpj-view');
    if (!view || view.querySelector('.rpj-status').textContent !== 'IN_PROGRESS') return;
    const text = view.querySelector('.rpj-stream').textContent;
    const width = view.querySelector('.rpj-bar-fill').style.width;
    const r = window.__rpj;
    if (text && text !== r.texts[r.texts.length - 1]) r.texts.push(text);
    if (width && width !== r.widths[r.widths.length - 1]) r.widths.push(width);
  }, 25);
}"""


def _style(locator):
    return locator.evaluate(f"e => {{ const s = getComputedStyle(e); return {WRAP!r}.map(p => s.getPropertyValue(p)); }}")


def test_the_quickstarts_first_screen_is_a_live_streaming_view(lab, page):
    shutil.copy(QUICKSTART, lab.root / "quickstart.ipynb")
    page.goto(lab.notebook_url("quickstart.ipynb"))
    page.wait_for_function(
        """() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
                   const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
                   return k && k.status === 'idle'; }""", timeout=60_000)
    page.evaluate(IN_SIGHT)
    page.evaluate(RECORD)
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")

    view = page.locator(".rpj-view").first
    page.wait_for_function(  # mid-stream: some words shown, the job still running
        """() => { window.__rpjInSight(); const v = document.querySelector('.rpj-view');
                   return v && v.querySelector('.rpj-status').textContent === 'IN_PROGRESS'
                          && v.querySelector('.rpj-stream').textContent.trim().split(' ').length >= 6; }""",
        timeout=60_000)
    view.scroll_into_view_if_needed()
    live_style = _style(view.locator(".rpj-stream"))
    label = view.locator(".rpj-progress-label").inner_text()
    shot = screenshot(page, "quickstart-first-screen", full_page=False)
    assert view.locator(".rpj-bar").is_visible() and "/20" in label

    page.wait_for_function(  # the end: the live view replaced by the finished one, static HTML
        """() => { window.__rpjInSight(); const v = document.querySelector('.rpj-view');
                   return v && v.classList.contains('rpj-static') && v.querySelector('.rpj-status').textContent === 'COMPLETED'; }""",
        timeout=60_000)
    seen = page.evaluate("() => window.__rpj")
    assert len(set(seen["texts"])) >= 2, seen  # it visibly streamed: several texts before the end
    assert len(seen["widths"]) >= 2, seen  # and the bar moved
    final = page.locator(".rpj-view").first
    assert final.locator(".rpj-stream").inner_text().split()[-1] == "client"
    assert final.locator(".rpj-progress-label").inner_text() == "20/20"
    assert final.locator(".rpj-bar-fill").evaluate("e => e.style.width") == "100%"
    static_style = _style(final.locator(".rpj-stream"))
    assert dict(zip(WRAP, live_style, strict=True)) == dict(zip(WRAP, static_style, strict=True))  # no jump
    assert dict(zip(WRAP, live_style, strict=True))["word-break"] == "normal"  # JupyterLab's break-all lost
    assert dict(zip(WRAP, live_style, strict=True))["overflow-wrap"] == "anywhere"
    assert dict(zip(WRAP, live_style, strict=True))["padding-left"] == "8px"
    assert shot.exists()
