"""A real IPython shell with ``%load_ext rp_jupyter`` and a fresh history, in a temporary directory."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

from rp_jupyter.exporter import Cell
from rp_jupyter.magics._export import plain_python


def cells(raw: list[str]) -> list[Cell]:
    """Raw notebook cells as the magic layer hands them to the exporter."""
    out = []
    for number, text in enumerate(raw, 1):
        source = plain_python(text)
        if source is not None:
            out.append(Cell(f"In[{number}]", source))
    return out


class Shell:
    def __init__(self, ip: InteractiveShell) -> None:
        self.ip = ip

    def run(self, source: str) -> Any:
        result = self.ip.run_cell(source, store_history=True)
        if not result.success:
            raise AssertionError(f"cell failed: {result.error_before_exec or result.error_in_exec!r}")
        return result.result

    def fails(self, source: str) -> BaseException:
        result = self.ip.run_cell(source, store_history=True)
        error = result.error_before_exec or result.error_in_exec
        assert error is not None, "the cell was expected to fail"
        return error


@pytest.fixture
def shell(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Shell]:
    monkeypatch.chdir(tmp_path)
    ip = InteractiveShell.instance()
    ip.reset(new_session=True)  # a fresh history: cells of other tests are not this notebook's
    ip.run_line_magic("load_ext", "rp_jupyter")
    try:
        yield Shell(ip)
    finally:
        ip.run_line_magic("unload_ext", "rp_jupyter")
        ip.reset(new_session=True)
