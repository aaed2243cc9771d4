"""``%rp_export NAME --hub`` on the quickstart notebook's handlers: both files validate against the
shipped schemas, on disk; misuse is one line; ``--check`` covers the Hub's files too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any as Shell  # the `shell` fixture (tests/conftest.py)

import nbformat
import pytest
from IPython.core.error import UsageError

from rp_jupyter.exporter import hub_problems

pytestmark = pytest.mark.slow
QUICKSTART = Path(__file__).resolve().parents[2] / "notebooks" / "quickstart.ipynb"


def run_quickstart(shell: Shell) -> None:
    for cell in nbformat.read(QUICKSTART, as_version=4).cells:
        if cell.cell_type == "code" and cell.source.strip() != "%load_ext rp_jupyter" and "%rp_bench" not in cell.source:
            shell.run(cell.source)


def hub_files_on_disk(directory: str) -> dict[str, str]:
    return {f".runpod/{name}": (Path(directory) / ".runpod" / name).read_text() for name in ("hub.json", "tests.json")}


def test_the_quickstart_handlers_hub_files_validate(shell: Shell) -> None:
    run_quickstart(shell)
    shell.run("%rp_tests add tokens")
    for name in ("tokens", "handler", "fetch"):
        result = shell.run(f"%rp_export {name} --out {name}-worker --hub")
        assert result.hub_problems == [], (name, result.hub_problems)
        files = hub_files_on_disk(f"{name}-worker")
        assert hub_problems(files) == [], name
        hub, tests = (json.loads(files[f".runpod/{n}.json"]) for n in ("hub", "tests"))
        assert hub["config"]["runsOn"] == "CPU" and tests["config"]["cpuFlavor"] == hub["config"]["cpuFlavor"]
        assert tests["tests"] and all(isinstance(t["timeout"], int) for t in tests["tests"])
    tokens = json.loads(hub_files_on_disk("tokens-worker")[".runpod/tests.json"])
    assert tokens["tests"][0]["name"] == "tokens_1"  # the kept test
    first_run = next(c.source for c in nbformat.read(QUICKSTART, as_version=4).cells if "%rp_run tokens" in c.source)
    request = json.loads(first_run.split("%rp_run tokens", 1)[1].split("\n", 1)[0])  # the quickstart's own prompt
    assert tokens["tests"][0]["input"] == request["input"]
    fallback = shell.run("%rp_export fetch --out fetch-worker --hub")
    assert any("tests.json holds the handler's last successful job" in note for note in fallback.notes)


def test_check_covers_the_hub_files_and_misuse_is_one_line(shell: Shell, capsys: pytest.CaptureFixture[str]) -> None:
    shell.run("%%rp_handler echo\ndef handler(job):\n    return job['input']\n")
    shell.run('%rp_run echo {"input": {"a": 1}} --sync')
    shell.run("%rp_export echo --out w --hub --category embedding")
    assert json.loads(Path("w/.runpod/hub.json").read_text())["category"] == "embedding"
    assert shell.run("%rp_export echo --check w").ok  # the category chosen at export stays
    shell.run("%rp_export echo --out w --hub")
    assert json.loads(Path("w/.runpod/hub.json").read_text())["category"] == "embedding"
    shell.run("%rp_tests add echo")
    capsys.readouterr()
    error = shell.fails("%rp_export echo --check w")
    assert isinstance(error, UsageError) and ".runpod/tests.json" in str(error)
    error = shell.fails("%rp_export echo --hub --category chat")
    assert isinstance(error, UsageError) and "invalid choice: 'chat'" in str(error) and "\n" not in str(error)
