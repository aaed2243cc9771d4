"""``--verify`` of a small handler: the clean room and cold-start rehearsal against a plain run.

    .venv/bin/python bench/bench_verify.py [--rounds 2]        # a small handler, A B B A rounds
    .venv/bin/python bench/bench_verify.py --quickstart         # the quickstart's handlers: time and cold start

Baseline, measured in the same run: the same exported worker under the same worker face, started as
``python -u handler.py`` (what verify did before the clean room). Measured: ``rp_jupyter.verify``,
which runs it under the import guard, statement by statement, and reads back the rehearsal. The ratio
is the clean room's cost; the target is verify under 10 s for a small handler. ``import runpod`` alone
is printed as the floor (runpod 1.12 imports boto3, fastapi, aiohttp…).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import rp_jupyter
from rp_jupyter import session
from rp_jupyter.exporter import run_worker, worker_env
from rp_jupyter.server import HttpServer, WorkerFace

SMALL = [
    "import json\n\nimport runpod\n\nCONFIG = json.loads('{\"greeting\": \"hello\"}')\n\n\n"
    "def handler(job):\n    return {'greeting': f\"{CONFIG['greeting']} {job['input']['name']}\"}\n\n\n"
    "runpod.serverless.start({'handler': handler})",
]


def plain_run(name: str, directory: str) -> float:
    """The baseline: the worker as ``python -u handler.py`` against the same jobs (no guard, no rehearsal)."""
    runtime = session.get_runtime()
    jobs = [j for j in runtime.jobs if j.handler == name and j.status.value == "COMPLETED"]
    face = WorkerFace([{"id": j.id, "input": j.request["input"]} for j in jobs])
    started = time.perf_counter()
    server = HttpServer(face.app, runtime).start()
    try:
        run_worker(directory, worker_env(face.worker_urls(server.url)), face.settled, lambda: face.has_untaken, 60)
    finally:
        server.stop()
    assert face.settled()
    return time.perf_counter() - started


def clean_room(name: str, directory: str) -> tuple[float, Any]:
    started = time.perf_counter()
    report = rp_jupyter.verify(name, directory)
    assert report.ok, repr(report)
    return time.perf_counter() - started, report


def import_runpod() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import runpod"], check=True)
    return time.perf_counter() - started


def small(rounds: int) -> None:
    namespace: dict[str, Any] = {}
    exec(compile(SMALL[0].replace("runpod.serverless.start", "rp_jupyter.register(handler, name='small') #"),
                 "<cell>", "exec"), {**namespace, "rp_jupyter": rp_jupyter})
    rp_jupyter.run_sync("small", {"input": {"name": "Ada"}})
    with tempfile.TemporaryDirectory() as folder:
        rp_jupyter.export("small", folder + "/small-worker", cells=SMALL)
        directory = folder + "/small-worker"
        base, measured, report = [], [], None
        for order in ["AB", "BA"] * rounds:
            for which in order:
                if which == "A":
                    base.append(plain_run("small", directory))
                else:
                    seconds, report = clean_room("small", directory)
                    measured.append(seconds)
        floor = statistics.median(import_runpod() for _ in range(3))
    b, m = statistics.median(base), statistics.median(measured)
    print(f"import runpod alone: {floor:.2f} s (median of 3)")
    print(f"plain run (python -u handler.py): median {b:.2f} s over {len(base)}")
    print(f"verify (clean room + rehearsal):  median {m:.2f} s over {len(measured)}  ratio x{m / b:.2f}")
    print(repr(report.cold_start))


def quickstart() -> None:
    import nbformat
    from IPython.core.interactiveshell import InteractiveShell

    notebook = nbformat.read(Path(__file__).resolve().parents[1] / "notebooks" / "quickstart.ipynb", as_version=4)
    shell = InteractiveShell.instance()
    home = Path.cwd()
    with tempfile.TemporaryDirectory() as folder:
        shell.run_cell(f"import os; os.chdir({folder!r})")
        for cell in notebook.cells:
            if cell.cell_type == "code" and not cell.source.startswith("%rp_bench"):
                result = shell.run_cell(cell.source, store_history=True)
                assert result.success, cell.source
        for name in ("handler", "tokens", "fetch"):
            shell.run_cell(f"%rp_export {name} --out {name}-worker", store_history=True)
            seconds, report = clean_room(name, f"{folder}/{name}-worker")
            print(f"== {name}: verify {seconds:.2f} s, {len(report.checks)} job(s)")
            print(repr(report.cold_start))
        shell.run_cell(f"os.chdir({str(home)!r})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--quickstart", action="store_true")
    args = parser.parse_args()
    quickstart() if args.quickstart else small(args.rounds)


if __name__ == "__main__":
    main()
