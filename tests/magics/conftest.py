"""A real IPython shell with ``%load_ext rp_jupyter``, unloaded (runtime stopped) after each test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell


class Shell:
    """Runs cells in a real InteractiveShell and hands back what a user would see."""

    def __init__(self, ip: InteractiveShell) -> None:
        self.ip = ip

    def run(self, source: str) -> Any:
        """Run a cell that must succeed; its result value."""
        result = self.ip.run_cell(source)
        if not result.success:
            raise AssertionError(f"cell failed: {result.error_before_exec or result.error_in_exec!r}")
        return result.result

    def fails(self, source: str) -> BaseException:
        """Run a cell that must fail; the exception it raised."""
        result = self.ip.run_cell(source)
        error = result.error_before_exec or result.error_in_exec
        assert error is not None, "the cell was expected to fail"
        return error


@pytest.fixture
def shell(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Shell]:
    monkeypatch.chdir(tmp_path)
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "rp_jupyter")
    try:
        yield Shell(ip)
    finally:
        ip.run_line_magic("unload_ext", "rp_jupyter")
        ip.user_ns.pop("handler", None)
