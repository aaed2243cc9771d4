"""Cells as the magic layer hands them to the exporter (the ``shell`` fixture is in tests/conftest.py)."""

from __future__ import annotations

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
