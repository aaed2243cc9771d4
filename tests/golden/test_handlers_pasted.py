"""Every example handler in ``golden/handlers/`` pasted unchanged into a ``%%rp_handler`` cell: it
registers with the kind RunPod gives its function and the config of its ``start({...})`` line, and a
job on it reaches one of RunPod's final states (whatever its input makes the handler do)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from runpod.serverless.modules.rp_handler import is_generator

import rp_jupyter
from rp_jupyter.runtime._shaping import classify

from ._recording import golden_root

HANDLERS = sorted((golden_root() / "handlers").glob("*.py"))
FINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"}

pytestmark = pytest.mark.skipif(not HANDLERS, reason=f"no example handlers at {golden_root() / 'handlers'}")


def _start_config(source: str) -> dict[str, str]:
    """The keys of the dict literal passed to ``runpod.serverless.start`` (with their source)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("serverless.start") and node.args:
            config = node.args[0]
            if isinstance(config, ast.Dict):
                return {ast.literal_eval(k): ast.unparse(v) for k, v in zip(config.keys, config.values, strict=True)
                        if k is not None}
    return {}


@pytest.mark.parametrize("path", HANDLERS, ids=[p.stem for p in HANDLERS])
def test_the_handler_file_pasted_unchanged_registers_and_runs(shell, path: Path) -> None:
    source = path.read_text()
    name = path.stem
    shell.run(f"%%rp_handler {name}\n{source}")
    spec = rp_jupyter.session.get_runtime().handler(name)
    config = _start_config(source)
    function = shell.ip.user_ns[config.get("handler", "handler")]
    assert spec.kind is classify(function) and spec.kind.is_generator == is_generator(function)  # the SDK's test
    assert spec.return_aggregate_stream is (config.get("return_aggregate_stream") == "True")
    assert (spec.concurrency_modifier is not None) is ("concurrency_modifier" in config)
    assert spec.refresh_worker is (config.get("refresh_worker") == "True")
    job = rp_jupyter.run(name, {"input": {"sleep": 0.01, "n": 2}})
    assert job.wait(20).status.value in FINAL
    assert job.to_status()["status"] == job.status.value
