"""Export keeps the prestart hooks (runpod 2.x): handler.py has each hook's ``def`` (and what it needs) and
its registration line, ``prestart_timeout`` in the start config; ``--verify`` runs them under the real
2.x SDK, so an export that lost its hook diverges."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import rp_jupyter
from rp_jupyter.exceptions import ExportError
from rp_jupyter.exporter import HandlerConfig, build_export

from . import cases
from .conftest import cells

SDK2 = int(importlib.metadata.version("runpod").split(".")[0]) >= 2
ENV2 = dataclasses.replace(cases.CPU_ENV, versions={**cases.CPU_ENV.versions, "runpod": ("runpod", "2.0.0rc2")})
HOOKED = HandlerConfig("warm", "handler", prestart_hooks=(("load_model", None), ("compile_kernels", None)),
                       prestart_timeout=30)
NOTEBOOK = [
    "import runpod\nimport json",
    "MODEL = {}\nCACHE_DIR = '/models'",
    "def read_weights(path):\n    return {'path': path}",
    "async def load_model():\n    MODEL.update(read_weights(CACHE_DIR))",
    "runpod.serverless.register_prestart_hook(load_model)",
    "def unrelated():\n    return json.dumps({})",
    "def compile_kernels():\n    MODEL['compiled'] = True",
    "%%rp_handler warm\ndef handler(job):\n    return MODEL",
]


def handler_py(raw: list[str], config: HandlerConfig = HOOKED) -> str:
    return build_export(config, cells(raw), ENV2).files["handler.py"]


def test_the_hooks_their_needs_and_their_registration_lines_are_kept() -> None:
    text = handler_py(NOTEBOOK)
    for needed in ("def read_weights", "CACHE_DIR = '/models'", "async def load_model", "def compile_kernels"):
        assert needed in text
    assert "def unrelated" not in text  # followed from the roots, nothing more
    tail = text.rstrip().splitlines()[-4:]
    assert tail == [
        "runpod.serverless.register_prestart_hook(load_model)",
        "runpod.serverless.register_prestart_hook(compile_kernels)",
        "",
        'runpod.serverless.start({"handler": handler, "prestart_timeout": 30})',
    ]
    assert text.count("register_prestart_hook(load_model)") == 1  # the cell's own line is not kept twice


def test_a_hook_registered_by_its_decorator_is_not_registered_twice() -> None:
    raw = ["import runpod", "@runpod.serverless.register_prestart_hook\ndef warm():\n    pass",
           "def handler(job):\n    return 1"]
    text = handler_py(raw, HandlerConfig("h", "handler", prestart_hooks=(("warm", None),)))
    assert text.count("register_prestart_hook") == 1 and "@runpod.serverless.register_prestart_hook" in text
    assert text.rstrip().endswith('runpod.serverless.start({"handler": handler})')  # no timeout: none written


def test_the_written_handler_registers_the_hooks_in_order_when_run(tmp_path: Path) -> None:
    """Run handler.py's registrations against a stand-in ``runpod`` that records them (the real SDK's
    worker is in the round trip below, under runpod 2.x)."""
    (tmp_path / "runpod").mkdir()
    (tmp_path / "runpod" / "__init__.py").write_text(
        "import types, json\nHOOKS = []\nserverless = types.SimpleNamespace(\n"
        "    register_prestart_hook=lambda h: HOOKS.append(h.__name__) or h,\n"
        "    start=lambda config: print(json.dumps({'hooks': HOOKS, 'timeout': config.get('prestart_timeout')})))\n"
    )
    (tmp_path / "handler.py").write_text(handler_py(NOTEBOOK))
    out = subprocess.run([sys.executable, "handler.py"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert json.loads(out.stdout) == {"hooks": ["load_model", "compile_kernels"], "timeout": 30}, out.stderr


def test_hooks_under_runpod_1x_are_refused_in_one_line() -> None:
    with pytest.raises(ExportError, match=r"^handler 'warm' has prestart hooks \(load_model, compile_kernels\), "
                                          r"which need runpod 2.x; this kernel has runpod 1.12.0"):
        build_export(HOOKED, cells(NOTEBOOK), cases.CPU_ENV)


def test_a_hook_that_is_not_a_def_is_refused_with_its_name() -> None:
    with pytest.raises(ExportError, match="the prestart hook 'missing' is not defined by a def"):
        handler_py(NOTEBOOK, HandlerConfig("warm", "handler", prestart_hooks=(("missing", None),)))


# ---- round trips under the real SDK (runpod 2.x) ---------------------------------------------------
needs_2x = pytest.mark.skipif(not SDK2, reason="prestart hooks are new in runpod 2.x")

CELL = (
    "%%rp_handler warm\nimport time\n\nimport runpod\n\nSTATE = {'warm': False, 'hook_runs': 0}\n\n\n"
    "def warm_up():\n    print('warming up', flush=True)\n    time.sleep(0.3)\n"
    "    STATE['hook_runs'] += 1\n    STATE['warm'] = True\n\n\n"
    "runpod.serverless.register_prestart_hook(warm_up)\n\n\n"
    "def handler(job):\n    return {'warm': STATE['warm'], 'hook_runs': STATE['hook_runs'], 'x': job['input']}\n\n\n"
    "runpod.serverless.start({'handler': handler, 'prestart_timeout': 30})"
)


@needs_2x
@pytest.mark.slow
def test_verify_runs_the_hook_under_the_real_sdk_and_catches_an_export_without_it(shell: Any) -> None:
    shell.run(CELL)
    for x in (1, 2):
        assert rp_jupyter.run("warm", {"input": x}).wait(20).output == {"warm": True, "hook_runs": 1, "x": x}
    result = shell.run("%rp_export warm --out warm-worker --verify")
    assert result.report.ok, repr(result.report)
    text = Path("warm-worker/handler.py").read_text()
    assert "runpod.serverless.register_prestart_hook(warm_up)" in text and '"prestart_timeout": 30' in text
    # the same folder without the hook: the real worker's handler sees a cold state, and verify says so
    Path("warm-worker/handler.py").write_text(text.replace("runpod.serverless.register_prestart_hook(warm_up)\n", ""))
    report = rp_jupyter.verify("warm", "warm-worker")
    assert not report.ok and "warm" in repr(report.first_divergence)


@needs_2x
@pytest.mark.slow
def test_verify_skips_jobs_failed_by_the_prestart_phase(shell: Any, tmp_path: Path) -> None:
    mounted = tmp_path / "mounted"
    shell.run(f"%%rp_handler flaky\nimport os\n\nimport runpod\n\n\ndef load():\n"
              f"    if not os.path.exists({str(mounted)!r}):\n        raise OSError('disk not mounted yet')\n\n\n"
              "runpod.serverless.register_prestart_hook(load)\n\n\n"
              "def handler(job):\n    return job['input']\n\n\nrunpod.serverless.start({'handler': handler})")
    failed = rp_jupyter.run("flaky", {"input": 1}).wait(20)
    assert json.loads(failed.error)["event"] == "prestart_failed"
    mounted.write_text("")
    assert rp_jupyter.run("flaky", {"input": 2}).wait(20).output == 2
    report = shell.run("%rp_export flaky --out flaky-worker --verify").report
    assert report.ok and len(report.checks) == 1, repr(report)
    assert any("failed in the prestart phase" in line for line in report.skipped)
