"""Golden files: fixture notebooks in, the exact worker repository out (RP_JUPYTER_UPDATE_GOLDEN=1 rewrites)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from rp_jupyter.exporter import Export, build_export, drift, write_export

from . import cases
from .conftest import cells

GOLDEN = Path(__file__).parent / "golden"


def _tokens() -> Export:
    return build_export(cases.TOKENS, cells(cases.TOKENS_CELLS), cases.CPU_ENV, request=cases.REQUEST,
                        notebook="demo.ipynb")


def _gpu() -> Export:
    return build_export(cases.GPU, cells(cases.GPU_CELLS), cases.GPU_ENV)


@pytest.mark.parametrize(("case", "make"), [("tokens", _tokens), ("gpu", _gpu)])
def test_export_matches_the_golden_files(case: str, make: Any) -> None:
    export, folder = make(), GOLDEN / case
    if os.environ.get("RP_JUPYTER_UPDATE_GOLDEN"):  # the files alone (no manifest): what export generates
        for path, text in export.files.items():
            (folder / path).write_text(text, encoding="utf-8", newline="")
    assert sorted(export.files) == sorted(p.name for p in folder.iterdir())
    found = drift(export, str(folder))
    assert found.ok, repr(found)


def test_the_same_state_exports_byte_identical_files(tmp_path: Path) -> None:
    first, second = write_export(_tokens(), str(tmp_path / "a")), write_export(_tokens(), str(tmp_path / "b"))
    assert first.files == second.files
    for name in first.files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_check_reports_which_files_drifted_with_a_diff(tmp_path: Path) -> None:
    export = write_export(_tokens(), str(tmp_path))
    (tmp_path / "handler.py").write_text(export.files["handler.py"].replace("yield {", "yield  {"))
    (tmp_path / "Dockerfile").unlink()
    (tmp_path / "notes.txt").write_text("mine")  # files of the user's own are not drift
    found = drift(export, str(tmp_path))
    assert not found.ok
    assert sorted(found.changed) == ["Dockerfile", "handler.py"]
    assert "-        yield  {" in found.changed["handler.py"]
    assert "+        yield {" in found.changed["handler.py"]
    assert "Dockerfile: missing" in repr(found)
