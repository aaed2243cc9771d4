"""In a real browser: the Export dialog's result gives the worker folder as a link that opens it in
JupyterLab's file browser."""

from __future__ import annotations

import pytest

from .conftest import screenshot
from .test_sidebar_browser import T, command, open_notebook, write

ECHO = ("%%rp_handler echo\nimport runpod\n\n\ndef handler(job):\n    return {'echo': job['input']}\n\n\n"
        "runpod.serverless.start({'handler': handler})")


@pytest.mark.timeout(300)  # a kernel, an export and a browser on two loaded cores
def test_the_export_result_links_the_folder_in_the_file_browser(lab, page):
    write(lab, "linked.ipynb", ["%load_ext rp_jupyter", ECHO, '%rp_run echo {"input": {"a": 1}} --sync'])
    open_notebook(page, lab, "linked.ipynb")
    command(page, "notebook:run-all-cells")
    command(page, "rp-jupyter:open-sidebar")
    sidebar = page.locator("#rp-jupyter-sidebar")
    sidebar.locator('.rp-handler[data-name="echo"] [data-action="export"]').wait_for(timeout=T)
    sidebar.locator('.rp-job[data-handler="echo"][data-status="COMPLETED"]').first.wait_for(timeout=T)

    sidebar.locator('.rp-handler[data-name="echo"] [data-action="export"]').click()
    dialog = page.locator(".rp-export-dialog")
    dialog.wait_for(timeout=T)
    dialog.locator('input[name="out"]').fill("shipped/echo worker")
    page.locator(".jp-Dialog .jp-mod-accept").click()
    link = page.locator('.rp-result a.rp-export-folder')
    link.wait_for(timeout=T)
    assert link.get_attribute("data-path") == "shipped/echo worker"
    assert link.get_attribute("title") == str(lab.root / "shipped" / "echo worker")
    assert "created: .dockerignore" in page.locator('.rp-result pre[data-ok="true"]').inner_text()
    screenshot(page, "labextension-export-link")
    link.click()

    page.locator(".rp-result").wait_for(state="detached", timeout=T)  # the dialog closed
    page.wait_for_function(
        """() => [...document.querySelectorAll('.jp-FileBrowser .jp-DirListing-itemName')]
                   .some(item => item.textContent.trim() === 'handler.py')""", timeout=T)
    crumbs = page.locator(".jp-FileBrowser .jp-BreadCrumbs").inner_text()
    assert "echo worker" in crumbs, crumbs
    names = page.evaluate("""() => [...document.querySelectorAll('.jp-FileBrowser .jp-DirListing-itemName')]
                                   .map(item => item.textContent.trim())""")
    assert {"handler.py", "Dockerfile", "requirements.txt", "test_input.json", "README.md"} <= set(names), names
