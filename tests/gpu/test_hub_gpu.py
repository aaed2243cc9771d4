"""On CUDA (marked ``gpu``, skipped without one): ``--hub`` reads the kernel's GPU and the peak memory
its jobs used, and maps them to RunPod's pools with headroom."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any as Shell  # the `shell` fixture (tests/conftest.py)

import pytest

from rp_jupyter._hubbing import gpu_facts
from rp_jupyter.exporter import plan_gpus

pytestmark = pytest.mark.gpu


def _cuda() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


@pytest.mark.skipif(not _cuda(), reason="needs torch with a CUDA device")
def test_the_kernels_gpu_and_peak_memory_become_pools(shell: Shell) -> None:
    import torch

    shell.run("import torch\nMODEL = torch.nn.Linear(4096, 4096).cuda()")  # 64 MB of weights
    shell.run("%%rp_handler lin\nimport torch\n\n\ndef handler(job):\n"
              "    x = torch.ones(job['input']['n'], 4096, device='cuda')\n    return float(MODEL(x).sum())\n")
    shell.run('%rp_run lin {"input": {"n": 4096}} --sync')
    facts = gpu_facts()
    assert facts.name == torch.cuda.get_device_name(0)
    assert facts.total_mb and facts.peak_mb and facts.peak_mb >= 64
    assert "torch's allocator" in facts.peak_source
    result = shell.run("%rp_export lin --out lin-worker --hub")
    assert result.hub_problems == [], result.hub_problems
    config = json.loads(Path("lin-worker/.runpod/hub.json").read_text())["config"]
    assert config["runsOn"] == "GPU" and config["gpuIds"] == plan_gpus(facts).gpu_ids
    assert config["gpuIds"].startswith("AMPERE_16")  # well under 16 GB with headroom
    tests = json.loads(Path("lin-worker/.runpod/tests.json").read_text())["config"]
    assert tests["gpuTypeId"] == "NVIDIA RTX A4000" and tests["allowedCudaVersions"]
