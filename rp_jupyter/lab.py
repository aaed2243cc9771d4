"""The concurrency lab: run a handler at increasing concurrency and recommend ``concurrency_modifier``.

RunPod's most expensive question — how many jobs should one GPU worker take at once — answered on
the notebook's own GPU: :func:`measure` runs the user's handler at each concurrency level through the
runtime (RunPod's semantics: async handlers overlap, sync ones do not), :func:`recommend` reads the
curves, :func:`plot_png` draws them. ``%rp_bench`` is the magic over this module.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import os
import re
import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from ._extras import require
from .runtime import HandlerKind, Job, JobEvent, JobStatus, Runtime

__all__ = ["GpuMeter", "LabReport", "Level", "Recommendation", "lab_run_of", "measure", "plot_png", "probe_name",
           "recommend"]

PLATEAU = 0.9
"""A level within this share of the best throughput counts as "throughput stopped rising"."""


@dataclasses.dataclass(frozen=True)
class Level:
    """What one concurrency level measured."""

    concurrency: int
    jobs: int
    failed: int
    wall_s: float
    throughput: float  # jobs per second
    p50_ms: float
    p95_ms: float
    ttfc_ms: float | None  # median time to first chunk, streaming handlers only
    gpu_peak_mb: float | None
    first_error: str | None = None


@dataclasses.dataclass(frozen=True)
class Recommendation:
    value: int
    reason: str


def _percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


SYNC_NOTE = {
    "sync": "RunPod runs sync handlers one job at a time whatever concurrency_modifier says",
    "sync_generator": "RunPod runs a sync generator one step at a time: concurrent jobs take turns at their "
                      "yields (earlier first chunks for the later jobs) but gain no throughput",
}


def recommend(levels: Sequence[Level], *, sync: bool = False, gpu_total_mb: float | None = None,
              generator: bool = False) -> Recommendation:
    """The smallest concurrency whose throughput is within 10 % of the best, below any failing level."""
    if sync:
        note = SYNC_NOTE["sync_generator" if generator else "sync"]
        return Recommendation(1, f"the handler is sync: {note}; make it async (or offload) to gain from concurrency")
    healthy = []
    for level in sorted(levels, key=lambda lv: lv.concurrency):
        if level.failed or (gpu_total_mb and level.gpu_peak_mb and level.gpu_peak_mb > 0.9 * gpu_total_mb):
            break
        healthy.append(level)
    if not healthy:
        return Recommendation(1, "even concurrency 1 failed: fix the handler first")
    best = max(healthy, key=lambda lv: lv.throughput)
    knee = next(lv for lv in healthy if lv.throughput >= PLATEAU * best.throughput)
    base = healthy[0]
    reason = (f"throughput stops rising at {knee.concurrency}: {knee.throughput:.2f} jobs/s, "
              f"{knee.throughput / best.throughput:.0%} of the best ({best.throughput:.2f} at {best.concurrency}); "
              f"p95 latency {knee.p95_ms:.0f} ms there vs {base.p95_ms:.0f} ms at {base.concurrency}")
    stopped = [lv for lv in levels if lv.concurrency > healthy[-1].concurrency]
    if stopped:
        cause = stopped[0]
        why = (f"{cause.failed} of {cause.jobs} jobs failed ({cause.first_error})" if cause.failed
               else f"GPU memory peaked at {cause.gpu_peak_mb:.0f} of {gpu_total_mb:.0f} MB")
        reason += f"; at {cause.concurrency} {why}, so higher values are out"
    return Recommendation(knee.concurrency, reason)


def _gpu() -> Any:
    torch = sys.modules.get("torch")  # only when the user's code already uses torch
    if torch is not None and torch.cuda.is_available():
        return torch.cuda
    return None


@functools.cache
def _nvml() -> tuple[Callable[[], float], float] | None:
    """(read the GPU's used MB, its total MB) through NVML, or None without a GPU and its driver."""
    try:
        import pynvml

        pynvml.nvmlInit()
        # NVML numbers GPUs physically and ignores CUDA_VISIBLE_DEVICES: measure the kernel's first visible one
        visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
        if visible.startswith(("GPU-", "MIG-")):
            handle = pynvml.nvmlDeviceGetHandleByUUID(visible)
        else:
            handle = pynvml.nvmlDeviceGetHandleByIndex(int(visible) if visible.isdigit() else 0)
        total = pynvml.nvmlDeviceGetMemoryInfo(handle).total / 2**20
    except Exception:  # no nvidia-ml-py, no driver, no device: no GPU figures
        return None
    return (lambda: pynvml.nvmlDeviceGetMemoryInfo(handle).used / 2**20), total


class GpuMeter:
    """Peak GPU memory (MB) over one level, and the GPU's total.

    torch's allocator when the user's code uses torch on CUDA (this process's tensors: exact, and
    reset per level); else NVML when a GPU is there (the device's used memory, sampled every
    ``every`` seconds by a thread: every process on the GPU counts, and short peaks can be missed).
    ``nvml`` replaces the NVML reader (tests).
    """

    def __init__(self, every: float = 0.02, nvml: tuple[Callable[[], float], float] | None = None) -> None:
        self._cuda = _gpu()
        self._every = every
        self._read: Callable[[], float] | None = None
        self.total_mb: float | None = None
        self.peak_mb: float | None = None
        if self._cuda is not None:
            self.total_mb = self._cuda.get_device_properties(0).total_memory / 2**20
        elif (reader := nvml or _nvml()) is not None:
            self._read, self.total_mb = reader
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> GpuMeter:
        if self._cuda is not None:
            self._cuda.reset_peak_memory_stats()
        elif self._read is not None:
            self.peak_mb = self._read()
            self._thread = threading.Thread(target=self._sample, name="rp-gpu-meter", daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        assert self._read is not None
        while not self._stop.wait(self._every):
            try:
                self.peak_mb = max(self.peak_mb or 0.0, self._read())
            except Exception:  # the driver went away mid-level: keep the peak seen so far
                return

    def __exit__(self, *exc: object) -> None:
        if self._cuda is not None:
            self.peak_mb = self._cuda.max_memory_allocated() / 2**20
        elif self._thread is not None:
            self._stop.set()
            self._thread.join()
            assert self._read is not None
            with contextlib.suppress(Exception):
                self.peak_mb = max(self.peak_mb or 0.0, self._read())


def gpu_total_mb() -> float | None:
    return GpuMeter().total_mb


class _FirstChunks:
    """Times each job's first chunk (events arrive on the runtime's thread)."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self._lock = threading.Lock()

    def __call__(self, event: JobEvent) -> None:
        if event.kind == "chunk" and event.job.id not in self.at:
            with self._lock:
                self.at.setdefault(event.job.id, time.perf_counter())


_runs = itertools.count(1)
_PROBE = re.compile(r"^(?P<handler>.+)\.lab(?P<run>\d+)-c(?P<level>\d+)$")


def probe_name(name: str, run: int, level: int) -> str:
    """The handler a lab run's jobs run under at one level: ``fetch.lab3-c8`` (run 3 of ``fetch``, concurrency 8)."""
    return f"{name}.lab{run}-c{level}"


def lab_run_of(handler: str) -> tuple[int, str, int] | None:
    """``(run, handler, level)`` when ``handler`` is a lab run's probe (:func:`probe_name`), else None:
    how ``%rp_jobs`` and the sidebar group a run's jobs into one line."""
    match = _PROBE.match(handler)
    return (int(match["run"]), match["handler"], int(match["level"])) if match else None


def _run_level(runtime: Runtime, name: str, level: int, requests: Sequence[Any], jobs: int,
               timeout: float, run: int) -> Level:
    spec = runtime.handler(name)
    probe = probe_name(name, run, level)
    runtime.register(spec.fn, probe, return_aggregate_stream=spec.return_aggregate_stream,
                     concurrency_modifier=lambda _current: level, execution_timeout=spec.execution_timeout)
    firsts = _FirstChunks()
    unsubscribe = runtime.subscribe(firsts)
    try:
        with GpuMeter() as gpu:
            started = time.perf_counter()
            batch = [runtime.submit(probe, requests[i % len(requests)]) for i in range(jobs)]
            for job in batch:
                job.wait(timeout)
            wall = time.perf_counter() - started
    finally:
        unsubscribe()
        runtime.unregister(probe)
    return _level(level, batch, wall, firsts.at, gpu.peak_mb)


def _level(level: int, batch: list[Job], wall: float, firsts: dict[str, float], gpu_mb: float | None) -> Level:
    latencies = [job.elapsed * 1000 for job in batch]
    ttfc = [(firsts[job.id] - job._t_start) * 1000 for job in batch if job.id in firsts and job._t_start]
    failed = [job for job in batch if job.status is not JobStatus.COMPLETED]
    first_error = None
    if failed:
        first_error = f"{failed[0].status.value}: {str(failed[0].error)[:120]}" if failed[0].error else failed[0].status.value
    return Level(level, len(batch), len(failed), wall, len(batch) / wall, statistics.median(latencies),
                 _percentile(latencies, 0.95), statistics.median(ttfc) if ttfc else None, gpu_mb, first_error)


def measure(runtime: Runtime, name: str, requests: Sequence[Any], levels: Sequence[int] = (1, 2, 4, 8, 16),
            jobs: int = 32, timeout: float = 600.0) -> LabReport:
    """Run handler ``name`` at each concurrency level with ``jobs`` jobs (requests used in turn)."""
    if not requests:
        raise ValueError("the lab needs at least one request")
    spec = runtime.handler(name)
    run = next(_runs)
    measured = [_run_level(runtime, name, level, requests, jobs, timeout, run) for level in levels]
    sync = spec.kind in (HandlerKind.SYNC, HandlerKind.SYNC_GENERATOR)
    total = gpu_total_mb()
    generator = spec.kind is HandlerKind.SYNC_GENERATOR
    return LabReport(name, spec.kind.value, measured,
                     recommend(measured, sync=sync, gpu_total_mb=total, generator=generator), total)


@dataclasses.dataclass
class LabReport:
    """The lab's result: a row per level, the recommendation, and a plot."""

    handler: str
    kind: str
    levels: list[Level]
    recommendation: Recommendation
    gpu_total_mb: float | None = None

    @property
    def sync(self) -> bool:
        return self.kind in (HandlerKind.SYNC.value, HandlerKind.SYNC_GENERATOR.value)

    def rows(self) -> list[dict[str, Any]]:
        return [dataclasses.asdict(level) for level in self.levels]

    def to_dataframe(self) -> Any:
        pandas = require("pandas", "LabReport.to_dataframe()")

        return pandas.DataFrame(self.rows()).set_index("concurrency")

    def table(self) -> str:
        head = f"{'concurrency':>11} {'jobs/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'TTFC ms':>8} {'GPU MB':>8} {'failed':>6}"
        lines = [head]
        for lv in self.levels:
            ttfc = f"{lv.ttfc_ms:8.1f}" if lv.ttfc_ms is not None else f"{'–':>8}"
            gpu = f"{lv.gpu_peak_mb:8.0f}" if lv.gpu_peak_mb is not None else f"{'–':>8}"
            lines.append(f"{lv.concurrency:>11} {lv.throughput:8.2f} {lv.p50_ms:8.1f} {lv.p95_ms:8.1f} {ttfc} {gpu} "
                         f"{lv.failed:>6}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        note = SYNC_NOTE["sync_generator" if self.kind == HandlerKind.SYNC_GENERATOR.value else "sync"]
        warn = f"\nwarning: sync handler — {note}" if self.sync else ""
        return (f"concurrency lab for {self.handler!r} ({self.kind}){warn}\n{self.table()}\n"
                "(p50/p95: latency from submit to end, incl. time in the queue)\n"
                f"recommended concurrency_modifier: {self.recommendation.value} — {self.recommendation.reason}")

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


def plot_png(report: LabReport) -> bytes:
    """Throughput and latency against concurrency — and time to first chunk and GPU memory when they were
    measured (a streaming handler; a GPU) — as a PNG. Latency is submit to end: it includes the time a
    job waited in the queue, as a client's does.

    Needs matplotlib (the ``plots`` extra): without it, :class:`MissingDependencyError` says so in one
    line, and ``%rp_bench`` shows the report's table alone."""
    import io

    matplotlib = require("matplotlib", "the concurrency lab's plot")
    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    xs = [lv.concurrency for lv in report.levels]
    panels: list[tuple[dict[str, list[float | None]], str]] = [
        ({"jobs/s": [lv.throughput for lv in report.levels]}, "throughput (jobs/s)"),
        ({"p50": [lv.p50_ms for lv in report.levels], "p95": [lv.p95_ms for lv in report.levels]},
         "latency incl. queue (ms)")]
    optional = [({"median": [lv.ttfc_ms for lv in report.levels]}, "time to first chunk (ms)"),
                ({"peak": [lv.gpu_peak_mb for lv in report.levels]}, "GPU memory (MB)")]
    panels += [panel for panel in optional if any(v is not None for v in next(iter(panel[0].values())))]
    columns = 2 if len(panels) != 3 else 3
    rows = (len(panels) + columns - 1) // columns
    figure = Figure(figsize=(10 if columns == 2 else 13, 3.4 * rows + 0.6), dpi=100)
    axes = figure.subplots(rows, columns, squeeze=False).flatten()
    for ax, (series, title) in zip(axes, panels, strict=True):
        _panel(ax, xs, series, title)
        ax.axvline(report.recommendation.value, color="#1f9d55", linestyle="--", linewidth=1)
    figure.suptitle(f"{report.handler}: recommended concurrency_modifier = {report.recommendation.value}")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _panel(ax: Any, xs: list[int], series: dict[str, list[float | None]], title: str) -> None:
    ax.set_title(title, fontsize=10)
    ax.set_xscale("log", base=2)
    ax.set_xticks(xs, [str(x) for x in xs])
    shown = False
    for label, values in series.items():
        points = [(x, v) for x, v in zip(xs, values, strict=True) if v is not None]
        if points:
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label)
            shown = True
    if not shown:
        ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes, color="#888")
    elif len(series) > 1:
        ax.legend(fontsize=8)
    ax.set_xlabel("concurrency", fontsize=8)
