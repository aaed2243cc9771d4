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
        return _find_cell(shell, filename) or (found[1], 0)

    return namer


def _find_cell(shell: Any, filename: str) -> tuple[str, int] | None:
    """``("In[n]", offset)`` for the history cell that ran the file's code: the cell itself (offset 0), or
    a cell magic whose body it is (offset 1). A cell magic's inner run is numbered as its cell (IPython 8)
    or one past it (IPython 9, which counts before running), so both are looked at."""
    number = getattr(shell.compile, "_filename_map", {}).get(filename)
    history = getattr(getattr(shell, "history_manager", None), "input_hist_raw", None)
    if not isinstance(number, int) or not history:
        return None
    code = "".join(linecache.getlines(filename)).strip()
    for n in (number, number - 1):
        raw = history[n] if 0 < n < len(history) else None
        if raw is None:
            continue
        if raw.strip() == code:
            return f"In[{n}]", 0
        if raw.startswith("%%") and "\n" in raw and raw.split("\n", 1)[1].strip() == code:
            return f"In[{n}]", 1
    return None
