"""From the kernel's GPU and the peak memory its jobs used to RunPod's GPU pools, with headroom.

The pools and GPU ids are RunPod's documented ones (https://docs.runpod.io/references/gpu-types,
"GPU types" and "GPU pools"): the Hub's ``gpuIds`` takes pool ids, its tests' ``gpuTypeId`` a GPU id.
The memory the handler needs is the measured peak plus 20 % and 1 GB (the CUDA context, which
torch's allocator does not count); without a measured peak, the kernel's whole GPU. The smallest
pools that hold it come first (RunPod tries them in order), at most three.
"""

from __future__ import annotations

import dataclasses
import math
import re

__all__ = ["CUDA_VERSIONS", "GPU_IDS", "POOLS", "GpuFacts", "GpuPlan", "Pool", "allowed_cuda", "plan_gpus"]

HEADROOM = 1.2
CONTEXT_GB = 1.0
MAX_POOLS = 3


@dataclasses.dataclass(frozen=True)
class Pool:
    id: str
    memory_gb: int
    gpus: tuple[str, ...]  # RunPod GPU ids, the cheapest kind first


POOLS = (
    Pool("AMPERE_16", 16, ("NVIDIA RTX A4000", "NVIDIA RTX A4500", "NVIDIA RTX 4000 Ada Generation",
                           "NVIDIA RTX 2000 Ada Generation")),
    Pool("AMPERE_24", 24, ("NVIDIA L4", "NVIDIA RTX A5000", "NVIDIA GeForce RTX 3090")),
    Pool("ADA_24", 24, ("NVIDIA GeForce RTX 4090",)),
    Pool("AMPERE_48", 48, ("NVIDIA RTX A6000", "NVIDIA A40")),
    Pool("ADA_48_PRO", 48, ("NVIDIA L40", "NVIDIA L40S", "NVIDIA RTX 6000 Ada Generation")),
    Pool("AMPERE_80", 80, ("NVIDIA A100 80GB PCIe", "NVIDIA A100-SXM4-80GB")),
    Pool("ADA_80_PRO", 80, ("NVIDIA H100 80GB HBM3", "NVIDIA H100 PCIe", "NVIDIA H100 NVL")),
    Pool("HOPPER_141", 141, ("NVIDIA H200",)),
)

GPU_IDS = {  # RunPod GPU id -> memory (GB), as documented
    "AMD Instinct MI300X OAM": 192, "NVIDIA A100 80GB PCIe": 80, "NVIDIA A100-SXM4-80GB": 80, "NVIDIA A30": 24,
    "NVIDIA A40": 48, "NVIDIA B200": 180, "NVIDIA GeForce RTX 3070": 8, "NVIDIA GeForce RTX 3080": 10,
    "NVIDIA GeForce RTX 3080 Ti": 12, "NVIDIA GeForce RTX 3090": 24, "NVIDIA GeForce RTX 3090 Ti": 24,
    "NVIDIA GeForce RTX 4070 Ti": 12, "NVIDIA GeForce RTX 4080": 16, "NVIDIA GeForce RTX 4080 SUPER": 16,
    "NVIDIA GeForce RTX 4090": 24, "NVIDIA GeForce RTX 5080": 16, "NVIDIA GeForce RTX 5090": 32,
    "NVIDIA H100 80GB HBM3": 80, "NVIDIA H100 NVL": 94, "NVIDIA H100 PCIe": 80, "NVIDIA H200": 141,
    "NVIDIA L4": 24, "NVIDIA L40": 48, "NVIDIA L40S": 48, "NVIDIA RTX 2000 Ada Generation": 16,
    "NVIDIA RTX 4000 Ada Generation": 20, "NVIDIA RTX 4000 SFF Ada Generation": 20,
    "NVIDIA RTX 5000 Ada Generation": 32, "NVIDIA RTX 6000 Ada Generation": 48, "NVIDIA RTX A2000": 6,
    "NVIDIA RTX A4000": 16, "NVIDIA RTX A4500": 20, "NVIDIA RTX A5000": 24, "NVIDIA RTX A6000": 48,
    "Tesla V100-FHHL-16GB": 16, "Tesla V100-PCIE-16GB": 16, "Tesla V100-SXM2-16GB": 16, "Tesla V100-SXM2-32GB": 32,
}

CUDA_VERSIONS = ("11.8", "12.0", "12.1", "12.2", "12.3", "12.4", "12.5", "12.6", "12.7", "12.8", "12.9", "13.0")
"""Host CUDA versions (the driver's) a worker can be placed on, oldest first."""


@dataclasses.dataclass(frozen=True)
class GpuFacts:
    """What the kernel knows about its GPU: the device's name and memory, and the peak memory the
    process used (``peak_source`` says how it was read). All None on a machine without a GPU."""

    name: str | None = None
    total_mb: float | None = None
    peak_mb: float | None = None
    peak_source: str = ""


@dataclasses.dataclass(frozen=True)
class GpuPlan:
    pools: tuple[str, ...]
    test_gpu: str
    need_gb: float
    notes: tuple[str, ...] = ()

    @property
    def gpu_ids(self) -> str:
        return ",".join(self.pools)


def plan_gpus(facts: GpuFacts) -> GpuPlan:
    """The pools whose GPUs hold the handler's memory with headroom, smallest first (at most three);
    the GPU the Hub's tests run on is the first pool's first GPU — the one a worker most often gets."""
    need, why = _need_gb(facts)
    fitting = [pool for pool in POOLS if pool.memory_gb >= need]
    notes = [why]
    own = kernel_gpu_id(facts.name)
    if own is not None:
        notes.append(f"developed on {own} (pool {pool_of(own) or 'none: not in a Hub pool'})")
    if not fitting:
        fitting = [POOLS[-1]]
        notes.append(f"{need:.0f} GB is more than one GPU of any documented pool holds ({POOLS[-1].memory_gb} GB): "
                     "split the model over GPUs and raise gpuCount, or shrink it")
    chosen = tuple(pool.id for pool in fitting[:MAX_POOLS])
    return GpuPlan(chosen, fitting[0].gpus[0], round(need, 1), tuple(notes))


def _need_gb(facts: GpuFacts) -> tuple[float, str]:
    if facts.peak_mb is not None:
        peak = facts.peak_mb / 1024
        need = peak * HEADROOM + CONTEXT_GB
        return need, (f"peak GPU memory {peak:.1f} GB ({facts.peak_source or 'measured'}) + 20 % + "
                      f"{CONTEXT_GB:g} GB for the CUDA context = {need:.1f} GB per GPU")
    if facts.total_mb is not None:
        total = facts.total_mb / 1024
        return total, (f"no peak GPU memory was measured: asking for the kernel's whole GPU ({total:.0f} GB); "
                       "run the handler's jobs on the GPU, then export again for a tighter fit")
    smallest = POOLS[0].memory_gb
    return smallest, (f"the kernel has no GPU to measure: asking for the smallest pool ({smallest} GB); "
                      "check it fits the model")


def kernel_gpu_id(name: str | None) -> str | None:
    """The RunPod GPU id of a device name as torch or nvidia-smi give it (``NVIDIA H200``), if any."""
    if not name:
        return None
    wanted = _norm(name)
    return next((gpu for gpu in GPU_IDS if _norm(gpu) == wanted), None)


def pool_of(gpu: str) -> str | None:
    return next((pool.id for pool in POOLS if gpu in pool.gpus), None)


def _norm(name: str) -> str:
    return re.sub(r"\s+", " ", name).strip().lower()


def allowed_cuda(image: str, build: str | None) -> list[str]:
    """Host CUDA versions that run ``image`` (its CUDA from the tag, ``cu1281`` / ``cuda1300``; else the
    kernel's build): that version and every newer one (a driver runs what older toolkits built)."""
    match = re.search(r"(?:cu|cuda)(\d{2})(\d)", image)
    version = f"{match.group(1)}.{match.group(2)}" if match else build
    if version is None:
        return []
    floor = tuple(int(part) for part in version.split(".")[:2])
    return [v for v in CUDA_VERSIONS if tuple(int(p) for p in v.split(".")) >= floor]


def ceil_gb(value: float) -> int:
    return max(1, math.ceil(value))
