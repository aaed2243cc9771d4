"""Reading one recorded worker case (``golden/worker/Wxx_*/``): jobs, wire posts, log, config.

Everything here is derived from the recording only, never from the case's name, so cases we have
not seen are handled the same way.

Which recordings: those of the installed SDK's line. runpod 1.x compares against the shared
recordings of 1.12.0 (``shared/spec/golden/worker/``); runpod 2.x against
``tests/golden/recorded/runpod-<version>/worker/`` (the installed version's set if there is one,
else the newest set of that line), recorded with ``tests/golden/tools/record_worker.py``.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib.metadata
import json
import os
import re
from pathlib import Path
from typing import Any

__all__ = ["Fate", "Recording", "golden_root", "installed_sdk", "worker_cases", "worker_root"]

RECORDED = Path(__file__).resolve().parent / "recorded"


def golden_root() -> Path:
    """``$RP_JUPYTER_GOLDEN``, else ``shared/spec/golden`` beside the clone (runpod 1.12.0's recordings)."""
    override = os.environ.get("RP_JUPYTER_GOLDEN")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[3] / "shared" / "spec" / "golden"


def installed_sdk() -> str:
    return importlib.metadata.version("runpod")


def _version_key(name: str) -> tuple[Any, ...]:
    """``runpod-2.0.0rc2`` -> a key that sorts pre-releases before their release."""
    match = re.fullmatch(r"runpod-(\d+)\.(\d+)\.(\d+)(?:(a|b|rc)(\d+))?", name)
    if match is None:
        return (-1,)
    major, minor, micro, pre, number = match.groups()
    return (int(major), int(minor), int(micro), (pre or "z"), int(number or 0))


def worker_root(version: str | None = None) -> Path:
    """The worker recordings to compare with: those of the installed SDK's line (module docstring)."""
    version = version or installed_sdk()
    exact = RECORDED / f"runpod-{version}" / "worker"
    if exact.is_dir():
        return exact
    major = version.split(".")[0]
    if major == "1":
        return golden_root() / "worker"
    same_line = sorted((p for p in RECORDED.glob(f"runpod-{major}.*") if (p / "worker").is_dir()),
                       key=lambda p: _version_key(p.name))
    return same_line[-1] / "worker" if same_line else RECORDED / f"runpod-{version}" / "worker"


def worker_cases() -> list[Path]:
    """Every recorded worker case folder (empty when the recordings are absent)."""
    root = worker_root()
    if not root.is_dir():
        return []
    return sorted(path for path in root.iterdir() if (path / "normalized" / "recording.json").is_file())


class Fate(str, enum.Enum):
    """What the recorded worker did with one job, and so which oracle applies to ours."""

    POSTED = "a final job-done body was posted: ours must equal it"
    AFTER_EXIT = "never taken: the worker had exited (refresh_worker); ours runs (the next worker would)"
    UNSERIALISABLE = "its result or a chunk could not be posted (not JSON serializable): ours fails loudly"
    STOPPED = "stopped through the job-stop channel: ours is cancelled, nothing posted"
    NO_INPUT = "the job has no 'input': the worker dropped it; our runtime refuses it at submit"
    UNKNOWN = "no final post and no documented reason"


_UNPOSTABLE_MARKERS = ("is not JSON serializable", "Error while returning job result")


@dataclasses.dataclass
class Recording:
    """One worker case: its handler source, the jobs offered, and what went over the wire."""

    name: str
    folder: Path
    handler_source: str
    command: str
    worker_env: dict[str, str]
    jobs: list[dict[str, Any]]
    taken_ids: list[str]
    stop_signals: dict[str, Any]
    exited_by_itself: bool
    wire: list[dict[str, Any]]
    log_lines: list[str]
    timed: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    """The wire requests with their times (s since the mock platform started), from the raw recording."""

    @classmethod
    def load(cls, folder: Path) -> Recording:
        normalized = folder / "normalized"
        recording = json.loads((normalized / "recording.json").read_text())
        wire = json.loads((normalized / "wire_summary.json").read_text())
        log_path = normalized / "worker_stdout.txt"
        cmd_path = folder / "cmd.txt"
        return cls(
            name=folder.name,
            folder=folder,
            handler_source=(folder / "handler.py").read_text(),
            command=cmd_path.read_text() if cmd_path.is_file() else "",
            worker_env=recording.get("worker_env", {}),
            jobs=_offered_jobs(recording),
            taken_ids=[job["id"] for job in _taken_jobs(recording) if "id" in job],
            stop_signals=recording.get("stop_signals") or {},
            exited_by_itself=bool(recording.get("worker_exited_by_itself")),
            wire=wire,
            log_lines=log_path.read_text().splitlines() if log_path.is_file() else [],
            timed=json.loads(raw.read_text()).get("requests", []) if (raw := folder / "recording.json").is_file() else [],
        )

    # ---- the wire, per job ------------------------------------------------------------------
    def _posts(self, job_id: str, kind: str) -> list[dict[str, Any]]:
        return [entry for entry in self.wire if entry.get("post") == kind and entry.get("job") == job_id]

    def stream_bodies(self, job_id: str) -> list[Any]:
        """The job-stream bodies (``{"output": chunk}``) posted for the job, in order."""
        return [entry["body"] for entry in self._posts(job_id, "job-stream")]

    def progress_values(self, job_id: str) -> list[Any]:
        """The ``progress_update`` values: job-done posts whose body says IN_PROGRESS."""
        return [
            entry["body"].get("output")
            for entry in self._posts(job_id, "job-done")
            if _is_progress(entry["body"])
        ]

    def final_body(self, job_id: str) -> dict[str, Any] | None:
        """The last non-progress job-done body for the job; None when none was posted."""
        finals = [
            entry["body"] for entry in self._posts(job_id, "job-done") if not _is_progress(entry["body"])
        ]
        return finals[-1] if finals else None

    def held_ms(self, job_id: str) -> float | None:
        """ms from the worker taking the job to its final post (None: not timed in the recording)."""
        takes = [r["t"] for r in self.timed if "/job-take" in r.get("path", "") and _replies_with(r, job_id)]
        posts = [r["t"] for r in self.timed if r.get("path", "").endswith(f"/job-done/{_worker(r)}/{job_id}")
                 and not _is_progress(r.get("body_json"))]
        if not takes or not posts or not all(isinstance(t, (int, float)) for t in takes + posts):
            return None
        return (posts[-1] - takes[0]) * 1000

    # ---- why a job has no final post ----------------------------------------------------------
    @property
    def uses_rp_debugger(self) -> bool:
        return "--rp_debugger" in self.command

    @property
    def sdk_features(self) -> list[str]:
        """Features of runpod 2.x the case uses (from its handler and environment, not its name)."""
        features = []
        if "register_prestart_hook" in self.handler_source:
            features.append("prestart hooks")
        if self.worker_env.get("RUNPOD_LOG_CAPTURE", "").strip().lower() == "all":
            features.append("RUNPOD_LOG_CAPTURE=all")
        return features

    def fate(self, job: dict[str, Any]) -> Fate:
        job_id = job.get("id")
        if "input" not in job:
            return Fate.NO_INPUT
        if job_id in self.stop_signals:
            return Fate.STOPPED
        if self._log_says_unpostable(job_id):
            return Fate.UNSERIALISABLE
        if job_id is not None and self.final_body(job_id) is not None:
            return Fate.POSTED
        if job_id not in self.taken_ids and self.exited_by_itself:
            return Fate.AFTER_EXIT
        return Fate.UNKNOWN

    def _log_says_unpostable(self, job_id: Any) -> bool:
        """The worker logged that a post for this job failed (a JSON log line tagged with its id)."""
        for line in self.log_lines:
            if not any(marker in line for marker in _UNPOSTABLE_MARKERS):
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                entry = None
            if isinstance(entry, dict) and entry.get("requestId") == job_id:
                return True
            if not isinstance(entry, dict) and isinstance(job_id, str) and job_id in line:
                return True
        return False


def _replies_with(request: dict[str, Any], job_id: str) -> bool:
    reply = request.get("reply")
    return any(isinstance(job, dict) and job.get("id") == job_id for job in (reply if isinstance(reply, list) else [reply]))


def _worker(request: dict[str, Any]) -> str:
    parts = request.get("path", "").split("/job-done/", 1)
    return parts[1].split("/")[0] if len(parts) == 2 else ""


def _is_progress(body: Any) -> bool:
    return isinstance(body, dict) and body.get("status") == "IN_PROGRESS"


def _taken_jobs(recording: dict[str, Any]) -> list[dict[str, Any]]:
    """The job dicts delivered by job-take / job-take-batch replies (200), in order."""
    taken: list[dict[str, Any]] = []
    for request in recording.get("requests", []):
        if request.get("method") != "GET" or "/job-take" not in request.get("path", ""):
            continue
        if request.get("reply_status") != 200:
            continue
        reply = request.get("reply")
        taken.extend(reply if isinstance(reply, list) else [reply])
    return [job for job in taken if isinstance(job, dict)]


def _offered_jobs(recording: dict[str, Any]) -> list[dict[str, Any]]:
    """Every job the mock platform queued (taken or not), as delivered when it was taken."""
    taken = {job.get("id"): job for job in _taken_jobs(recording)}
    offered = recording.get("jobs_served") or list(taken.values())
    return [taken.get(job.get("id"), job) for job in offered]
