"""Which notebook cell a traceback frame is in, as IPython names it (``In[5]``), from the kernel's compiler.

A handler defined in a cell runs from a file such as ``/tmp/ipykernel_123/4567.py``; IPython's own
tracebacks say ``Cell In[5], line 7`` instead, and so do the job views. A ``%%rp_handler`` cell's code
is its body (the magic's line is not part of it): its line numbers are moved down one, to the line the
user sees in the cell.
"""

from __future__ import annotations

import linecache
from typing import Any

from ._format import CellNamer

__all__ = ["cell_namer"]


def cell_namer() -> CellNamer | None:
    """A namer for this IPython's cells, or None outside IPython."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - widgets come with IPython
        return None
    shell = get_ipython()
    compiler = getattr(shell, "compile", None)
    if compiler is None or not hasattr(compiler, "format_code_name"):
        return None

    def namer(filename: str) -> tuple[str, int] | None:
        found = compiler.format_code_name(filename)
        if not found:
            return None
        name = found[1]
        return name, _magic_line_offset(shell, filename)

    return namer


def _magic_line_offset(shell: Any, filename: str) -> int:
    """1 when the file's code is the body of a cell magic (``%%rp_handler``) in the cell it came from."""
    number = getattr(shell.compile, "_filename_map", {}).get(filename)
    try:
        raw = shell.history_manager.input_hist_raw[number]
    except (AttributeError, IndexError, TypeError):
        return 0
    if not raw.startswith("%%"):
        return 0
    body = raw.split("\n", 1)[1] if "\n" in raw else ""
    return 1 if body.strip() == "".join(linecache.getlines(filename)).strip() else 0
