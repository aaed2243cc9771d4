"""The concurrency lab: recommendation logic on synthetic curves, a real run, the plot, the magic."""

from __future__ import annotations

import asyncio
import time

import pytest
from IPython.core.error import UsageError

from rp_jupyter.lab import GpuMeter, Level, measure, plot_png, recommend


def curve(points, failed_at=None, gpu=None):
    levels = []
    for concurrency, throughput in points:
        failed = 3 if failed_at is not None and concurrency >= failed_at else 0
        levels.append(Level(concurrency, 32, failed, 32 / throughput, throughput, 100.0 * concurrency,
                            150.0 * concurrency, None, gpu(concurrency) if gpu else None,
                            "FAILED: CUDA out of memory" if failed else None))
    return levels


def test_the_knee_is_where_throughput_stops_rising():
    rec = recommend(curve([(1, 10), (2, 19), (4, 35), (8, 37), (16, 38)]))
    assert rec.value == 4 and "stops rising at 4" in rec.reason


def test_linear_scaling_recommends_the_top_level():
    assert recommend(curve([(1, 1), (2, 2), (4, 4), (8, 8)])).value == 8


def test_failures_cap_the_recommendation():
    rec = recommend(curve([(1, 10), (2, 20), (4, 40), (8, 80)], failed_at=8))
    assert rec.value == 4 and "at 8 3 of 32 jobs failed (FAILED: CUDA out of memory)" in rec.reason


def test_gpu_memory_near_the_total_caps_it_too():
    rec = recommend(curve([(1, 10), (2, 20), (4, 40)], gpu=lambda c: 3000 * c), gpu_total_mb=10_000)
    assert rec.value == 2 and "GPU memory peaked at 12000 of 10000 MB" in rec.reason


def test_sync_handlers_get_one_and_a_reason():
    rec = recommend(curve([(1, 10), (2, 10)]), sync=True)
    assert rec.value == 1 and "one job at a time" in rec.reason
    steps = recommend(curve([(1, 10), (2, 10)]), sync=True, generator=True)
    assert steps.value == 1 and "take turns at their yields" in steps.reason and "no throughput" in steps.reason


def test_the_nvml_meter_keeps_the_peak_of_its_samples():
    """Without torch on CUDA the lab samples NVML's used memory; here a synthetic reader stands in for
    the GPU this machine does not have (the real NVML reader is used wherever a GPU is)."""
    readings = iter([100.0, 900.0, 300.0] + [200.0] * 10_000)
    with GpuMeter(every=0.001, nvml=(lambda: next(readings), 1000.0)) as meter:
        time.sleep(0.05)
    assert meter.total_mb == 1000.0 and meter.peak_mb == 900.0


def test_a_failing_nvml_read_keeps_the_peak_seen_so_far():
    readings = iter([100.0, 700.0])

    def read() -> float:
        return next(readings)  # then StopIteration: the driver went away

    with GpuMeter(every=0.001, nvml=(read, 1000.0)) as meter:
        time.sleep(0.05)
    assert meter.peak_mb == 700.0


@pytest.mark.skipif(GpuMeter().total_mb is not None, reason="a GPU is here")
def test_without_a_gpu_there_are_no_gpu_figures():
    with GpuMeter() as meter:  # no torch with CUDA here, no NVML device
        pass
    assert meter.peak_mb is None and meter.total_mb is None


def test_a_real_async_handler_scales_and_a_sync_one_does_not(runtime):
    async def io_bound(job):
        await asyncio.sleep(0.1)  # level 8 takes ~0.2 s: a stall of ~0.3 s still leaves it > 3x level 1
        return job["input"]

    def blocking(job):
        time.sleep(0.005)
        return job["input"]

    runtime.register(io_bound, "io")
    runtime.register(blocking, "block")
    report = measure(runtime, "io", [{"input": 1}], levels=(1, 8), jobs=16)
    assert [lv.failed for lv in report.levels] == [0, 0]
    assert report.levels[1].throughput > 3 * report.levels[0].throughput  # 8 overlap; 1 does not
    assert report.recommendation.value == 8
    sync = measure(runtime, "block", [{"input": 1}], levels=(1, 4), jobs=8)
    assert sync.recommendation.value == 1 and "warning: sync handler" in repr(sync)
    assert set(runtime.handlers) == {"io", "block"}  # the probes are gone


def test_the_plot_renders_a_png(runtime):
    png = plot_png(type("R", (), {"levels": curve([(1, 10), (2, 19), (4, 35)]),
                                  "recommendation": recommend(curve([(1, 10), (2, 19), (4, 35)])),
                                  "handler": "h"})())
    assert png.startswith(b"\x89PNG") and len(png) > 10_000


@pytest.fixture
def ip(tmp_path, monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell

    monkeypatch.chdir(tmp_path)
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "rp_jupyter")
    yield shell
    shell.run_line_magic("unload_ext", "rp_jupyter")


def test_rp_bench_magic(ip):
    ip.run_cell("%%rp_handler\nimport asyncio\nasync def handler(job):\n    await asyncio.sleep(0.01)\n    return 1\n")
    ip.run_cell('%rp_run handler {"input": {}} --sync')
    result = ip.run_cell("%rp_bench handler --concurrency 1,4 --jobs 8")
    assert result.success and result.result.recommendation.value in (1, 4)
    assert [lv.concurrency for lv in result.result.levels] == [1, 4]
    for line, words in [("%rp_bench nope", "no handler named 'nope'"), ("%rp_bench handler --concurrency 0", ">= 1"),
                        ("%rp_bench handler --concurrency a,b", "whole numbers"), ("%rp_bench handler --jobs 0", ">= 1"),
                        ("%rp_bench handler --requests missing.json", "no such file")]:
        error = ip.run_cell(line).error_in_exec
        assert isinstance(error, UsageError) and words in str(error), (line, error)
