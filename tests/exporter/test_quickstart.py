"""The quickstart notebook's handlers export to workers that verify clean under the real SDK."""

from __future__ import annotations

from pathlib import Path
from typing import Any as Shell  # the `shell` fixture (tests/conftest.py)

import nbformat
import pytest

import rp_jupyter

pytestmark = pytest.mark.slow
QUICKSTART = Path(__file__).resolve().parents[2] / "notebooks" / "quickstart.ipynb"


def test_the_quickstart_handlers_export_and_verify_clean(shell: Shell) -> None:
    notebook = nbformat.read(QUICKSTART, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code" and cell.source.strip() != "%load_ext rp_jupyter":
            shell.run(cell.source)
    result = shell.run("%rp_export tokens --out tokens-worker --verify")
    assert result.report.ok, repr(result.report)
    assert "import time" in Path("tokens-worker/handler.py").read_text()
    # "handler" is registered twice: the export is its latest code, which only the last job ran.
    shell.run("%rp_export handler --out handler-worker")
    handler = Path("handler-worker/handler.py").read_text()
    assert "steps must be <= 100" in handler and "GREETING" not in handler
    report = rp_jupyter.verify("handler", "handler-worker")
    assert report.ok, repr(report)
    assert len(report.checks) == 1  # the two greeting jobs ran an earlier version of the handler: skipped
    assert sum("earlier version" in line for line in report.skipped) == 2
    # "fetch", the async one the concurrency lab measures: its worker verifies too
    shell.run("%rp_export fetch --out fetch-worker")
    fetch = rp_jupyter.verify("fetch", "fetch-worker")
    assert fetch.ok and fetch.checks, repr(fetch)
