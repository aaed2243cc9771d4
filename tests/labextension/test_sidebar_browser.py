"""In a real browser: the extension is loaded, the sidebar follows the kernel's handlers and jobs to
COMPLETED, its Run button queues a job, the status bar shows the runtime, templates insert cells."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from .conftest import screenshot

QUICKSTART = Path(__file__).resolve().parents[2] / "notebooks" / "quickstart.ipynb"
KERNELSPEC = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
T = 60_000


def quickstart_handler_cell() -> str:
    """The quickstart's plain (sync) handler cell, `handler`, as the notebook has it."""
    nb = nbformat.read(QUICKSTART, as_version=4)
    return next(c.source for c in nb.cells if c.cell_type == "code" and c.source.startswith("%%rp_handler\n"))


def write(lab, name, sources):
    nb = new_notebook(cells=[new_code_cell(s) for s in sources], metadata=KERNELSPEC)
    nbformat.write(nb, lab.root / name)


def open_notebook(page, lab, name):
    page.goto(lab.notebook_url(name))
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=T)
    page.wait_for_function(
        """() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
                   const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
                   return k && k.status === 'idle'; }""",
        timeout=T,
    )


def command(page, name, args=None):
    """Run a JupyterLab command without waiting for it (it may open a dialog)."""
    page.evaluate("([n, a]) => { window.jupyterapp.commands.execute(n, a); }", [name, args or {}])


def cell_sources(page):
    return page.evaluate(
        "() => window.jupyterapp.shell.currentWidget.content.widgets.map(c => c.model.sharedModel.getSource())"
    )


def test_the_extension_is_loaded(lab, page):
    page.goto(f"{lab.url}/lab?reset&token={lab.token}")
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.commands.hasCommand('rp-jupyter:insert-handler')",
                           timeout=T)
    commands = page.evaluate("() => window.jupyterapp.commands.listCommands().filter(c => c.startsWith('rp-jupyter:'))")
    assert set(commands) >= {"rp-jupyter:insert-handler", "rp-jupyter:open-sidebar", "rp-jupyter:export-handler",
                             "rp-jupyter:start-server", "rp-jupyter:stop-server"}
    plugins = page.evaluate("() => window.jupyterapp.hasPlugin('rp-jupyter:plugin')")
    assert plugins


def test_sidebar_follows_the_quickstart_handler_and_its_jobs(lab, page):
    write(lab, "quick.ipynb", ["%load_ext rp_jupyter", quickstart_handler_cell(),
                               '%rp_run handler {"input": {"name": "Ada"}}'])
    open_notebook(page, lab, "quick.ipynb")
    command(page, "rp-jupyter:open-sidebar")
    sidebar = page.locator("#rp-jupyter-sidebar")
    sidebar.wait_for(timeout=T)
    assert "not loaded" in sidebar.inner_text()
    command(page, "notebook:run-all-cells")

    handler = sidebar.locator('.rp-handler[data-name="handler"]')
    handler.wait_for(timeout=T)
    assert "sync" in handler.inner_text() and "concurrency 1" in handler.inner_text()
    done = sidebar.locator('.rp-job[data-handler="handler"][data-status="COMPLETED"]')
    done.first.wait_for(timeout=T)
    status = page.locator(".rp-statusbar")
    page.wait_for_function("() => /^RunPod: idle · /.test(document.querySelector('.rp-statusbar').textContent)",
                           timeout=T)
    assert status.inner_text().endswith(("CPU",)) or "NVIDIA" in status.inner_text()

    handler.locator('[data-action="run"]').click()  # the sidebar's Run: the same request again
    page.wait_for_function(
        """() => document.querySelectorAll('#rp-jupyter-sidebar .rp-job[data-handler="handler"][data-status="COMPLETED"]')
                 .length === 2""",
        timeout=T,
    )
    export = handler.locator('[data-action="export"]')
    assert export.is_enabled() and "%rp_export" in (export.get_attribute("title") or "")
    assert "delay" in done.first.inner_text() and "exec" in done.first.inner_text()
    screenshot(page, "labextension-sidebar")

    command(page, "rp-jupyter:insert-handler", {"template": "streaming"})
    page.wait_for_function("() => window.jupyterapp.shell.currentWidget.content.widgets.length === 4", timeout=T)
    sources = cell_sources(page)
    assert sources[-1].startswith("%%rp_handler\n") and "yield" in sources[-1]
    assert sum("%load_ext rp_jupyter" in s for s in sources) == 1  # the notebook had it already

    command(page, "apputils:change-theme", {"theme": "JupyterLab Dark"})
    page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false' && !document.querySelector('#jupyterlab-splash')",
                           timeout=T)
    screenshot(page, "labextension-sidebar-dark")
    command(page, "apputils:change-theme", {"theme": "JupyterLab Light"})
    page.wait_for_function("() => document.body.dataset.jpThemeLight === 'true'", timeout=T)


def test_a_template_into_a_notebook_without_the_extension(lab, page):
    write(lab, "empty.ipynb", [""])
    open_notebook(page, lab, "empty.ipynb")
    command(page, "rp-jupyter:insert-handler", {"template": "progress"})
    page.wait_for_function("() => window.jupyterapp.shell.currentWidget.content.widgets.length === 2", timeout=T)
    first, second = cell_sources(page)
    assert first == "%load_ext rp_jupyter"  # the empty cell is reused for it
    assert second.startswith("%%rp_handler\n") and "progress_update(job" in second

    command(page, "notebook:run-all-cells")  # the template runs as it is, and the sidebar shows it
    command(page, "rp-jupyter:open-sidebar")
    page.locator('#rp-jupyter-sidebar .rp-handler[data-name="handler"]').wait_for(timeout=T)
    page.locator('#rp-jupyter-sidebar .rp-handler[data-name="handler"] [data-action="run"]').click()
    page.locator('#rp-jupyter-sidebar .rp-job[data-status="COMPLETED"]').wait_for(timeout=T)
    page.locator('#rp-jupyter-sidebar .rp-job[data-status="COMPLETED"] [data-action="view"]').first.click()
    page.wait_for_function(  # the View button appends a cell that shows the job's live view
        "() => [...document.querySelectorAll('.rpj-view .rpj-status')].some(e => e.textContent === 'COMPLETED')",
        timeout=T,
    )
    assert "rp_jupyter.get_runtime().get(" in cell_sources(page)[-1]
    screenshot(page, "labextension-template")
    assert json.loads(page.evaluate("() => JSON.stringify(window.jupyterapp.commands.hasCommand('rp-jupyter:run-handler'))"))


def test_export_dialog_and_cancel_from_the_sidebar(lab, page):
    sleepy = ("%%rp_handler sleepy\nimport asyncio\n\n\nasync def handler(job):\n"
              "    await asyncio.sleep(job['input']['seconds'])\n    return 'woke'")
    stuck = "%%rp_handler stuck\nimport time\n\n\ndef handler(job):\n    time.sleep(job['input']['seconds'])"
    write(lab, "dialogs.ipynb", ["%load_ext rp_jupyter", sleepy, '%rp_run sleepy {"input": {"seconds": 0}} --sync',
                                 '%rp_run sleepy {"input": {"seconds": 120}}', stuck,
                                 '%rp_run stuck {"input": {"seconds": 60}}'])
    open_notebook(page, lab, "dialogs.ipynb")
    command(page, "notebook:run-all-cells")
    command(page, "rp-jupyter:open-sidebar")
    sidebar = page.locator("#rp-jupyter-sidebar")

    running = sidebar.locator('.rp-job[data-handler="sleepy"][data-status="IN_PROGRESS"]')
    running.wait_for(timeout=T)
    running.locator('[data-action="cancel"]').click()  # as RunPod's /cancel
    sidebar.locator('.rp-job[data-handler="sleepy"][data-status="CANCELLED"]').wait_for(timeout=T)
    # a sync handler cannot be stopped: cancelled, its call is abandoned, and the sidebar says so
    sidebar.locator('.rp-job[data-handler="stuck"][data-status="IN_PROGRESS"] [data-action="cancel"]').click(timeout=T)
    abandoned = sidebar.locator(".rp-abandoned-call")
    abandoned.wait_for(timeout=T)
    assert "abandoned call of handler 'stuck'" in abandoned.inner_text() and abandoned.count() == 1

    sidebar.locator('.rp-handler[data-name="sleepy"] [data-action="export"]').click()
    dialog = page.locator(".rp-export-dialog")
    dialog.wait_for(timeout=T)
    assert dialog.locator('select[name="handler"]').input_value() == "sleepy"
    dialog.locator('input[name="out"]').fill("exported/sleepy-worker")
    page.locator(".jp-Dialog .jp-mod-accept").click()
    result = page.locator('.rp-result pre[data-ok="true"]')
    result.wait_for(timeout=T)
    assert "handler.py" in result.inner_text()
    screenshot(page, "labextension-export-result")
    page.locator(".jp-Dialog .jp-mod-accept").click()
    exported = lab.root / "exported" / "sleepy-worker"
    assert "asyncio.sleep(job['input']['seconds'])" in (exported / "handler.py").read_text()
    assert (exported / "Dockerfile").exists() and (exported / "test_input.json").exists()
    assert json.loads((exported / "test_input.json").read_text()) == {"input": {"seconds": 0}}  # the last success


def _activate(page, path):
    page.evaluate("""(path) => { const shell = window.jupyterapp.shell;
                                 for (const w of shell.widgets('main')) {
                                   if (w.context && w.context.path === path) { shell.activateById(w.id); } } }""", path)


def _kernel_idle(page):
    page.wait_for_function(
        """() => { const w = window.jupyterapp.shell.currentWidget;
                   const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
                   return k && k.status === 'idle'; }""", timeout=T)


def test_the_sidebar_follows_the_active_notebooks_kernel(lab, page):
    write(lab, "alpha.ipynb", ["%load_ext rp_jupyter", "%%rp_handler alpha\ndef handler(job):\n    return 'a'"])
    write(lab, "beta.ipynb", ["%load_ext rp_jupyter", "%%rp_handler beta\ndef handler(job):\n    return 'b'"])
    open_notebook(page, lab, "alpha.ipynb")
    command(page, "notebook:run-all-cells")
    command(page, "rp-jupyter:open-sidebar")
    sidebar = page.locator("#rp-jupyter-sidebar")
    sidebar.locator('.rp-handler[data-name="alpha"]').wait_for(timeout=T)

    command(page, "docmanager:open", {"path": "beta.ipynb"})
    page.wait_for_function("() => window.jupyterapp.shell.currentWidget.context.path === 'beta.ipynb'", timeout=T)
    _kernel_idle(page)
    command(page, "notebook:run-all-cells")
    sidebar.locator('.rp-handler[data-name="beta"]').wait_for(timeout=T)
    assert sidebar.locator('.rp-handler[data-name="alpha"]').count() == 0  # another kernel, another runtime

    _activate(page, "alpha.ipynb")
    sidebar.locator('.rp-handler[data-name="alpha"]').wait_for(timeout=T)
    assert sidebar.locator('.rp-handler[data-name="beta"]').count() == 0


def test_keep_as_test_from_a_job_card_and_export_with_the_hub_files(lab, page):
    echo = "%%rp_handler echo\ndef handler(job):\n    \"\"\"Echo the input.\"\"\"\n    return {'echo': job['input']}"
    write(lab, "keep.ipynb", ["%load_ext rp_jupyter", echo, '%rp_run echo {"input": {"n": 7}} --sync'])
    open_notebook(page, lab, "keep.ipynb")
    command(page, "notebook:run-all-cells")
    command(page, "rp-jupyter:open-sidebar")
    sidebar = page.locator("#rp-jupyter-sidebar")
    done = sidebar.locator('.rp-job[data-handler="echo"][data-status="COMPLETED"]')
    done.wait_for(timeout=T)
    done.locator('[data-action="keep"]').click()  # "Keep as test"
    page.locator(".jp-toast-message", has_text="kept test 'echo_1'").wait_for(timeout=T)
    kept = json.loads((lab.root / "runpod-tests" / "echo.json").read_text())
    assert [t["request"] for t in kept["tests"]] == [{"input": {"n": 7}}]

    sidebar.locator('.rp-handler[data-name="echo"] [data-action="export"]').click()
    dialog = page.locator(".rp-export-dialog")
    dialog.wait_for(timeout=T)
    dialog.locator('input[name="out"]').fill("hub/echo-worker")
    dialog.locator('input[name="hub"]').check()
    screenshot(page, "labextension-export-hub")
    page.locator(".jp-Dialog .jp-mod-accept").click()
    result = page.locator('.rp-result pre[data-ok="true"]')
    result.wait_for(timeout=T)
    assert ".runpod/hub.json" in result.inner_text()
    page.locator(".jp-Dialog .jp-mod-accept").click()
    hub = json.loads((lab.root / "hub" / "echo-worker" / ".runpod" / "hub.json").read_text())
    assert hub["title"] == "Echo the input" and hub["config"]["runsOn"] == "CPU"
    tests = json.loads((lab.root / "hub" / "echo-worker" / ".runpod" / "tests.json").read_text())
    assert tests["tests"][0]["name"] == "echo_1" and tests["tests"][0]["input"] == {"n": 7}
