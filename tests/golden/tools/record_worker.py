"""Record the real SDK's deployed worker for the golden suite, with the project's shared recorder.

    .venv/bin/python tests/golden/tools/record_worker.py --runpod 2.0.0rc2 [CASE ...]

The recorder is ``shared/spec/golden/tools/run_worker.py`` (a mock of RunPod's job API on 127.0.0.1,
the worker stopped by its pid), used as it is; this script only points it at a fresh venv with the
asked ``runpod`` version, at the example handlers (the shared ones and ``tests/golden/handlers/``),
and at ``tests/golden/recorded/runpod-<version>/worker/``, and normalises this machine's paths the
way the shared recordings were. It adds the cases of features new in runpod 2.x (prestart hooks,
``RUNPOD_LOG_CAPTURE=all``), recorded only for an SDK that has them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
GOLDEN_TESTS = HERE.parent
SHARED_TOOLS = GOLDEN_TESTS.parents[2] / "shared" / "spec" / "golden" / "tools"
SHARED_HANDLERS = SHARED_TOOLS.parent / "handlers"

LOG_ALL = {"extra_env": {"RUNPOD_LOG_CAPTURE": "all"}}
NEW_IN_2 = [
    ("W30_prestart_warm_held_jobs", "h30_prestart_warm.py", [(1, {"x": 1}), (2, {"x": 2}), (3, {"x": 3})],
     "prestart hook warms state; jobs taken during prestart are held and see it", {}),
    ("W31_prestart_async_hooks_in_order", "h31_prestart_async_hooks.py", [(1, {})],
     "an async and a sync prestart hook run in registration order", {}),
    ("W32_prestart_hook_fails", "h32_prestart_fails.py", [(1, {}), (2, {})],
     "a failing prestart hook: prestart_failed posted for the taken job(s), the worker exits",
     {"expect_done": 1, "max_wait": 20, "settle": 3.0}),
    ("W33_prestart_timeout", "h33_prestart_timeout.py", [(1, {})],
     "prestart_timeout exceeded: prestart_failed, the worker exits", {"max_wait": 20, "settle": 3.0}),
    ("W34_log_capture_raise", "h34_log_capture_raise.py", [(1, {"name": "a", "raise": True}), (2, {"name": "b"})],
     "RUNPOD_LOG_CAPTURE=all: an exception payload gains 'logs'; a success is unchanged", LOG_ALL),
    ("W35_log_capture_generator", "h35_log_capture_generator.py", [(1, {}), (2, {"spam": 20000})],
     "RUNPOD_LOG_CAPTURE=all: a generator error gains a 'logs:' suffix (the last 16 KiB)", LOG_ALL),
    ("W36_log_capture_async_raise", "h36_log_capture_async_raise.py", [(1, {}), (2, {"spam": 20000})],
     "RUNPOD_LOG_CAPTURE=all: an async handler's exception with its logs, trimmed to the last 16 KiB", LOG_ALL),
    ("W37_log_capture_off_by_default", "h34_log_capture_raise.py", [(1, {"name": "a", "raise": True})],
     "without RUNPOD_LOG_CAPTURE: no 'logs' key (the 1.12 payload)", {}),
]


def make_venv(version: str, where: Path) -> Path:
    uv = Path(sys.executable).parent / "uv"
    subprocess.run([str(uv), "venv", "--quiet", "--python", sys.executable, str(where)], check=True)
    python = where / "bin" / "python"
    subprocess.run([str(uv), "pip", "install", "--quiet", "--python", str(python), f"runpod=={version}"], check=True)
    return python


def configure(recorder, normalize_module, python: Path, handlers: Path, out: Path, scratch: Path) -> None:
    """Point the shared recorder at this machine; normalise its paths as the shared recordings were."""
    site = subprocess.run([str(python), "-c", "import runpod, pathlib; print(pathlib.Path(runpod.__file__).parents[1])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    stdlib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['stdlib'])"],
                            capture_output=True, text=True, check=True).stdout.strip()
    recorder.PY, recorder.HANDLERS, recorder.OUT = str(python), str(handlers), str(out)
    recorder.BASE_ENV = {**recorder.BASE_ENV, "HOME": str(scratch)}
    ours = [(re.compile(re.escape(site)), "<SITE_PACKAGES>"),
            (re.compile(re.escape(str(out)) + r"/[A-Za-z0-9_.-]+"), "<CASE_DIR>"),
            (re.compile(re.escape(stdlib)), "<PYTHON_LIB>")]
    original = normalize_module.normalize

    def normalize(text: str) -> str:
        for pattern, replacement in ours:
            text = pattern.sub(replacement, text)
        return original(text)

    recorder.normalize = normalize


def stop_leftovers(venv: Path) -> list[int]:
    """Stop processes of the recording venv still running after their case: runpod 2.0.0rc2's worker,
    exiting on a failed prestart (os._exit), leaves its heartbeat process behind, writing to the
    case's log. Found by their command line (the venv is this run's own temporary folder)."""
    stopped = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")[0].decode()
        except OSError:
            continue
        if command.startswith(str(venv)):
            os.kill(int(entry.name), signal.SIGTERM)
            stopped.append(int(entry.name))
    return stopped


def fix_user_agent(out: Path, version: str) -> None:
    """The shared recorder writes 1.12.0's User-Agent into normalized/recording.json: say the real one."""
    for path in out.glob("*/normalized/recording.json"):
        text = path.read_text().replace("RunPod-Python-SDK/1.12.0 (<OS>)", f"RunPod-Python-SDK/{version} (<OS>)")
        path.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runpod", required=True, help="the SDK version to record, e.g. 2.0.0rc2")
    parser.add_argument("--patience", type=float, default=3.0,
                        help="multiply each case's wait (the shared recorder's were set for an idle machine)")
    parser.add_argument("cases", nargs="*", help="case names (default: all)")
    args = parser.parse_args()
    sys.path.insert(0, str(SHARED_TOOLS))
    import normalize as normalize_module
    import run_worker as recorder

    out = GOLDEN_TESTS / "recorded" / f"runpod-{args.runpod}" / "worker"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rp-record-") as tmp:
        scratch = Path(tmp)
        handlers = scratch / "handlers"
        shutil.copytree(SHARED_HANDLERS, handlers)
        for path in (GOLDEN_TESTS / "handlers").glob("*.py"):
            shutil.copy(path, handlers / path.name)
        python = make_venv(args.runpod, scratch / "venv")
        configure(recorder, normalize_module, python, handlers, out, scratch)
        cases = list(recorder.CASES)
        if not args.runpod.startswith("1."):
            cases += [(name, handler, [recorder.J(i, inp) for i, inp in jobs], desc, kw)
                      for name, handler, jobs, desc, kw in NEW_IN_2]
        for case in cases:
            name, hfile, jobs, desc = case[:4]
            if args.cases and name not in args.cases:
                continue
            options = dict(case[4]) if len(case) > 4 else {}
            options["max_wait"] = options.get("max_wait", 30) * args.patience
            recorder.run_case(name, hfile, jobs, desc, **options)
            leftovers = stop_leftovers(python.parent.parent)
            if leftovers:
                print(f"{name}: stopped {len(leftovers)} process(es) the worker left behind: {leftovers}")
    fix_user_agent(out, args.runpod)
    (out.parent / "README.md").write_text(
        f"# Recordings of runpod {args.runpod}'s deployed worker\n\n"
        f"Made with `tests/golden/tools/record_worker.py --runpod {args.runpod}` (the shared recorder,\n"
        "`shared/spec/golden/tools/run_worker.py`, against a mock of RunPod's job API on 127.0.0.1).\n"
        "Same layout and normalisation as `shared/spec/golden/worker/` (see its README); W30+ are\n"
        "cases of features new in runpod 2.x. The golden suite compares against the set of the\n"
        "installed SDK's line (tests/golden/_recording.py).\n")
    print(json.dumps(sorted(p.name for p in out.iterdir())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
