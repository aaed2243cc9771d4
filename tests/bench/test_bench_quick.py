"""The benchmark harness runs in a quick mode so it never rots (a test of correctness, not of speed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"

QUICK = [
    ("bench_runtime.py", ["--jobs", "50", "--chunks", "2000"], ["run_sync", "chunks/s through the runtime"]),
    ("bench_concurrency.py", ["--jobs", "40", "--io-ms", "2", "--levels", "1,8"], ["concurrency   8", "ratio"]),
    ("bench_view.py", ["--chunks", "2000", "--rounds", "1"], ["view / no view"]),
    ("bench_tests.py", ["--tests", "5", "--chunks", "10", "--rounds", "1"], ["ratio replay / by hand", "export --hub / export"]),
    ("bench_kernel.py", ["--jobs", "4", "--chunks", "2000", "--probes", "3"], ["%load_ext rp_jupyter", "round trip"]),
    (
        "bench_server.py",
        ["--requests", "40", "--clients", "2", "--rounds", "2", "--chunks", "3", "--gap-ms", "5", "--stream-rounds", "1"],
        ["req/s", "first chunk", "chunk latency"],
    ),
]


@pytest.mark.parametrize(("script", "args", "expected"), QUICK, ids=[q[0] for q in QUICK])
def test_the_benchmark_runs(script, args, expected):
    result = subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True, text=True,
                            timeout=240, cwd=BENCH.parent, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert result.returncode == 0, result.stderr[-3000:]
    for words in expected:
        assert words in result.stdout, result.stdout
