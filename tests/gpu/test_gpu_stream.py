"""On CUDA (marked ``gpu``, skipped without one): a small model's tokens stream through the runtime."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.gpu


def _cuda() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


@pytest.mark.skipif(not _cuda(), reason="needs torch with a CUDA device")
def test_tokens_from_a_model_on_the_gpu_stream_unchanged(runtime):
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    from bench_gpu import build_model, generate

    model = build_model(torch)
    expected = "".join(generate(torch, model, 200))
    runtime.register(lambda job: (yield from generate(torch, model, job["input"])), "gpu")
    job = runtime.submit("gpu", {"input": 200}).wait(120)
    assert job.status.value == "COMPLETED" and "".join(job.stream) == expected
