"""The architecture of DESIGN.md §3, checked: dependency contracts, a light front door, an honest __all__."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("IPython", "ipywidgets", "ipykernel", "runpod", "httpx")


def test_import_contracts_are_kept() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint_imports), "--config", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_import_rp_jupyter_stays_light() -> None:
    code = f"import json, sys, rp_jupyter; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(result.stdout) == []


def test_load_ext_imports_neither_the_sdk_nor_the_exporter_nor_the_server() -> None:
    """What %load_ext imports is paid by every notebook that loads it (target < 300 ms): runpod (~1.5 s in
    1.x), httpx, the server and the exporter (with packaging) are imported when first used."""
    code = ("import json, sys\nfrom IPython.core.interactiveshell import InteractiveShell\n"
            "InteractiveShell.instance().run_line_magic('load_ext', 'rp_jupyter')\n"
            "late = ('runpod', 'httpx', 'starlette', 'uvicorn', 'packaging', 'rp_jupyter.exporter', 'rp_jupyter.server',"
            " 'rp_jupyter.client', 'matplotlib')\n"
            "print(json.dumps(sorted(m for m in sys.modules if m in late)))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == []


def test_all_is_sorted_and_resolves() -> None:
    package = importlib.import_module("rp_jupyter")
    names = list(package.__all__)
    assert names == sorted(names)
    assert len(names) == len(set(names))
    missing = [name for name in names if not hasattr(package, name)]
    assert missing == []
