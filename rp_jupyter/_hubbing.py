"""What the kernel knows for the RunPod Hub's files (``%rp_export NAME --hub``): its GPU and the peak
memory it used, its environment variables, the tests kept for the handler. Plain data for
:func:`rp_jupyter.exporter.build_export`; nothing is imported that the user's code did not import.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from .runtime import JobStatus, Runtime

__all__ = ["CATEGORIES", "category_in", "gpu_facts", "hub_facts"]

CATEGORIES = ("audio", "embedding", "language", "video", "image")
"""The Hub's categories, as its publishing guide lists them."""


def hub_facts(runtime: Runtime, name: str, category: str | None, directory: str | None = None) -> tuple[Any, list[str]]:
    """The ``HubFacts`` for handler ``name``, and notes on them. The tests are the kept ones
    (``%rp_tests add``); without any, the handler's last successful job."""
    from ._testing import kept_tests, tests_file
    from .exporter import HubFacts, HubTest, timeout_for

    notes: list[str] = []
    tests = [HubTest(t.name, t.request["input"], t.timeout_ms) for t in kept_tests(name, directory)]
    if not tests:
        done = [j for j in runtime.jobs if j.handler == name and j.status is JobStatus.COMPLETED]
        if done:
            tests = [HubTest(f"{name}_last_job", done[-1].request["input"], timeout_for(done[-1].execution_time))]
            notes.append(f"hub: tests.json holds the handler's last successful job: keep the jobs you want the Hub "
                         f"to run as tests (%rp_tests add {name} [JOB_ID ...]; {tests_file(name, directory)})")
    return HubFacts(gpu_facts(), dict(os.environ), tuple(tests), category), notes


def category_in(directory: str) -> str | None:
    """The category of the Hub listing already in ``directory`` (chosen at an earlier export), if any."""
    import json

    try:
        with open(os.path.join(directory, ".runpod", "hub.json"), encoding="utf-8") as handle:
            category = json.load(handle).get("category")
    except (OSError, ValueError, AttributeError):
        return None
    return category if category in CATEGORIES else None


def gpu_facts() -> Any:
    """The kernel's GPU: torch's device and allocator peak when the user's code runs torch on CUDA,
    else NVML's device and this process's memory now, else nothing (a machine without a GPU)."""
    from .exporter import GpuFacts

    return _torch_facts() or _nvml_facts() or GpuFacts()


def _torch_facts() -> Any:
    from .exporter import GpuFacts

    torch = sys.modules.get("torch")  # only when the user's code already imported it
    try:
        if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
            return None
        device = torch.cuda.current_device()
        props = torch.cuda.get_device_properties(device)
        peak = max(torch.cuda.max_memory_reserved(device), torch.cuda.memory_reserved(device)) / 2**20
    except Exception:  # a broken CUDA set-up: no figures rather than a failed export
        return None
    return GpuFacts(str(props.name), props.total_memory / 2**20, peak or None,
                    "torch's allocator: the kernel's peak, every model it holds included")


def _nvml_facts() -> Any:
    from .exporter import GpuFacts

    try:
        import pynvml

        pynvml.nvmlInit()
        visible = os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0].strip()
        if visible.startswith(("GPU-", "MIG-")):
            handle = pynvml.nvmlDeviceGetHandleByUUID(visible)
        else:
            handle = pynvml.nvmlDeviceGetHandleByIndex(int(visible) if visible.isdigit() else 0)
        name = pynvml.nvmlDeviceGetName(handle)
        total = pynvml.nvmlDeviceGetMemoryInfo(handle).total / 2**20
        used = [p.usedGpuMemory for p in pynvml.nvmlDeviceGetComputeRunningProcesses(handle)
                if p.pid == os.getpid() and p.usedGpuMemory]
    except Exception:  # no nvidia-ml-py, no driver, no device
        return None
    name = name.decode() if isinstance(name, bytes) else str(name)
    peak = used[0] / 2**20 if used else None
    return GpuFacts(name, total, peak, "NVML: this kernel's GPU memory at export (not its peak)" if peak else "")
