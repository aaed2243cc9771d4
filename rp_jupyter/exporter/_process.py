"""Running the exported handler.py in a fresh process, under the real SDK in deployed-worker mode.

Spawned with ``subprocess.Popen`` (never a fork of the kernel: CUDA cannot be re-initialised in a
forked child), in its own session so the SDK's heartbeat child goes with it. Stopped by its pid:
SIGTERM, then SIGKILL for its process group after a grace period (at once when every job has posted).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence

__all__ = ["WorkerRun", "run_worker", "worker_env"]

_POLL = 0.05


@dataclasses.dataclass
class WorkerRun:
    starts: int
    exit_codes: list[int]
    log_tail: str
    timed_out: bool
    spawned: list[float] = dataclasses.field(default_factory=list)  # time.monotonic() at each start


def worker_env(urls: Mapping[str, str], worker_id: str = "rp-jupyter-verify") -> dict[str, str]:
    """The kernel's environment without its ``RUNPOD_*`` variables, plus those of a deployed worker."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNPOD_")}
    env.update(urls)
    env.update({
        "RUNPOD_POD_ID": worker_id,
        "RUNPOD_AI_API_KEY": "rp-jupyter-verify",
        "RUNPOD_PING_INTERVAL": "3000",
        "RUNPOD_SKIP_AUTO_SYSTEM_CHECKS": "true",
        "RUNPOD_SKIP_GPU_CHECK": "true",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    return env


def run_worker(
    directory: str,
    env: Mapping[str, str],
    settled: Callable[[], bool],
    has_untaken: Callable[[], bool],
    timeout: float,
    python: str = sys.executable,
    script: Sequence[str] = ("handler.py",),
) -> WorkerRun:
    """Run ``python -u handler.py`` (or ``python -u *script``) until ``settled()``; start it again while
    it exits by itself with code 0 (``refresh_worker``) with jobs left untaken. Stops it by pid; never waits past
    ``timeout``."""
    deadline = time.monotonic() + timeout
    codes: list[int] = []
    spawned: list[float] = []
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as log:
        while True:
            spawned.append(time.monotonic())
            process = subprocess.Popen(
                [python, "-u", *script], cwd=directory, env=dict(env), stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
            exited = _wait(process, settled, deadline)
            codes.append(_stop(process, grace=0.0 if settled() else 5.0))
            crashed = codes[-1] != 0  # refresh_worker exits 0 after each job; a failed start would loop
            if settled() or not exited or crashed or not has_untaken() or time.monotonic() >= deadline:
                break
        log.seek(0)
        tail = "\n".join(log.read().splitlines()[-25:])
    return WorkerRun(len(codes), codes, tail, not settled(), spawned)


def _wait(process: subprocess.Popen[bytes], settled: Callable[[], bool], deadline: float) -> bool:
    """Poll until settled, the process exits (True) or the deadline passes; the signal is in another process."""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return True
        if settled():
            return False
        time.sleep(_POLL)
    return False


def _stop(process: subprocess.Popen[bytes], grace: float = 5.0) -> int:
    """SIGTERM and ``grace`` seconds to finish (0 once every job has posted its result: nothing is left
    to finish, and the SDK's orderly shutdown costs ~2 s), then SIGKILL for the process group."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM if grace else signal.SIGKILL)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            _kill_group(process.pid)
            process.wait(5.0)
    _kill_group(process.pid)  # the SDK's heartbeat process, should it outlive its parent
    return process.returncode


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
