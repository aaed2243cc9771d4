"""The tutorial notebooks run top to bottom in a real kernel (nbclient), with the outputs we promise."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def execute(name: str) -> list[str]:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            texts.append(output.get("text") or output.get("data", {}).get("text/plain", ""))
    return texts


def test_quickstart_runs_the_whole_loop():
    out = "\n".join(execute("quickstart.ipynb"))
    assert "registered handler 'handler' (sync)" in out
    assert "'output': {'greeting': 'hello Ada'}" in out and "'status': 'COMPLETED'" in out
    assert "streamed: the quick brown fox jumps over the lazy dog" in out
    assert "progress seen: 9/9" in out
    assert "FAILED\nsteps must be <= 100, got 500" in out
    assert out.count("COMPLETED") >= 4
    assert "recommended concurrency_modifier: 8" in out  # the lab, on an I/O-bound async handler
