"""The tutorial notebooks run top to bottom in a real kernel (nbclient), with the outputs we promise."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def run(name: str) -> nbformat.NotebookNode:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    # one stream output per stream, as a front end shows it: print's writes can reach the kernel's IOPub
    # in two flushes under load ("streamed: RunPod streams these" | " words ..."), two outputs otherwise
    NotebookClient(notebook, timeout=120, kernel_name="python3", coalesce_streams=True,
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    return notebook


def texts(notebook: nbformat.NotebookNode) -> list[str]:
    found = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            found.append(output.get("text") or output.get("data", {}).get("text/plain", ""))
    return found


def execute(name: str) -> list[str]:
    return texts(run(name))


def test_quickstart_runs_the_whole_loop():
    notebook = run("quickstart.ipynb")
    out = "\n".join(texts(notebook))
    assert "registered handler 'tokens' (generator, aggregate=yes)" in out
    assert "registered handler 'handler' (sync)" in out
    words = "RunPod streams these words to your notebook one by one, exactly as a deployed worker streams them to a client"
    waited = next(cell for cell in notebook.cells if cell.source.startswith("job.wait(30)"))
    stdout = "".join(o.get("text", "") for o in waited.outputs if o.get("name") == "stdout")  # (a stderr line
    # written meanwhile, such as ipykernel's "IOStream.flush timed out" under load, splits the stream)
    assert f"streamed: {words} \nprogress seen: 18/20 › 19/20 › 20/20\n" in stdout, waited.outputs
    assert "'output': {'greeting': 'hello Ada'}" in out and "'status': 'COMPLETED'" in out
    assert "FAILED\nsteps must be <= 100, got 500" in out
    assert out.count("COMPLETED") >= 4
    assert "recommended concurrency_modifier: 8" in out  # the lab, on an I/O-bound async handler
    first_view = next(cell for cell in notebook.cells if cell.source.startswith("job = %rp_run tokens"))
    page = first_view.outputs[0]["data"]["text/html"]  # the finished view, as the saved notebook keeps it
    assert ">COMPLETED<" in page and "width:100.0%" in page and ">20/20<" in page and f"{words} " in page
    jobs = next(cell for cell in notebook.cells if cell.source == "%rp_jobs")
    assert [o["metadata"].get("rp_jupyter") for o in jobs.outputs] == [{"live": "jobs"}, {"copy_of": "jobs"}]
    assert "rpj-fallback" in jobs.outputs[1]["data"]["text/html"]  # what a reopened notebook shows


def test_the_quickstarts_first_run_is_a_streaming_view_before_any_sync_call():
    notebook = nbformat.read(NOTEBOOKS / "quickstart.ipynb", as_version=4)
    code = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    first_run = next(i for i, source in enumerate(code) if "%rp_run" in source)
    assert "--sync" not in code[first_run] and code[first_run].rstrip().endswith("job")  # shown: the live view
    handler = next(source for source in code if source.startswith("%%rp_handler"))
    assert "yield" in handler and "progress_update" in handler and "time.sleep(SECONDS_PER_TOKEN)" in handler
    assert "SECONDS_PER_TOKEN = 0.2" in handler  # ~20 tokens in 4 s: visibly streaming, not done at once


TUTORIALS = {
    "streaming.ipynb": ["registered handler 'generate' (generator, aggregate=yes)", "stream: 80 chunks", "[]"],
    "concurrency.ipynb": ["16 async jobs, 0.2 s each, concurrency 8", "recommended concurrency_modifier"],
    "errors_and_validation.ipynb": ["prompt is a required input.", "ZeroDivisionError: division by zero",
                                    "not JSON-serialisable (set at output['tags'])", "'TIMED_OUT'", "'CANCELLED'"],
    "export_and_verify.ipynb": ["exported handler 'shout'", "all match the notebook", 'SUFFIX = "!"',
                                "until the first job is taken", "kept README.md: edited by hand",
                                "already has files that rp_jupyter's export did not write: README.md",
                                "handler.py imports shout_style (In[", "copy shout_style.py next to handler.py",
                                "verify 'styled' (styled-worker): 1 job(s)"],
    "hub_and_tests.ipynb": ["kept test 'caption_2'", "tests of 'caption' (runpod-tests/caption.json): 2 pass, 0 changed",
                            "1 pass, 1 changed, 0 failed", '+    "caption": "Hello From the Notebook",',
                            "updated test 'caption_1'", "and 2 kept test(s) under the real runpod", "notebook: 2 pass, 0 changed, 0 failed; worker: 2 pass",
                            "all match the notebook", '"title": "Caption a text"', '"runsOn": "CPU"',
                            '"name": "caption_2"', "the Hub indexes releases, not commits"],
    "local_endpoint.ipynb": ["['hello', 'from', 'the', 'official', 'client']", "(200, ['plain', 'http'])",
                             "server stopped"],
}


@pytest.mark.parametrize("name", sorted(TUTORIALS))
def test_each_tutorial_runs_top_to_bottom_on_cpu(name):
    out = "\n".join(execute(name))
    for expected in TUTORIALS[name]:
        assert expected in out, (name, expected)


def test_every_notebook_is_tested_and_kept_without_outputs():
    names = {path.name for path in NOTEBOOKS.glob("*.ipynb")}
    assert names == {"quickstart.ipynb", *TUTORIALS}
    for path in NOTEBOOKS.glob("*.ipynb"):
        notebook = nbformat.read(path, as_version=4)
        stale = [i for i, cell in enumerate(notebook.cells) if cell.get("outputs") or cell.get("execution_count")]
        assert not stale, f"{path.name}: cells {stale} keep outputs; strip them before committing"


def test_the_readmes_headless_quickstart_command_prints_every_job():
    """``python3 dev.py quickstart --headless``, as the README gives it (setup is already done here)."""
    import subprocess
    import sys

    root = NOTEBOOKS.parent
    result = subprocess.run([sys.executable, str(root / "dev.py"), "quickstart", "--headless"], cwd=root,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    out = result.stdout + result.stderr
    assert "quickstart: ok, quickstart.ipynb ran end to end" in out
    assert "'status': 'COMPLETED'" in out and "recommended concurrency_modifier" in out
    assert "[image/png plot]" in out
