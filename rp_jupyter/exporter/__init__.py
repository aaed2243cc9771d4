"""Export a registered handler as a RunPod worker repository, and verify it under the real SDK.

Pure functions from plain data (cells as strings, the handler's config, the kernel's environment)
to ``{path: text}``, one writer, a drift check, and the job-by-job comparison of a verification.
Imports nothing from rp_jupyter but its exceptions, and never IPython.

- ``_cells``: cells → statements with the names they define and use; ``_slice``: what the handler needs;
- ``_handler``, ``_requirements``, ``_docker``: the files; ``_export``: the pipeline and drift;
- ``_writer``: the one writer, which never destroys a file (a manifest of what export wrote);
- ``_process``: the exported worker in a fresh process; ``_verify``: the comparison and its report;
- ``_cleanroom``: what the image holds, for ``_boot`` (the worker's import guard and statement clock);
  ``_coldstart``: the cold-start rehearsal from ``_boot``'s events;
- ``_hub`` (with ``_envvars``, ``_gpu``, ``_disk``, ``_schema``): the RunPod Hub's ``.runpod`` files;
- ``_recorded``: jobs kept as regression tests, their file and a replay's verdict.
"""

from ._cells import Cell
from ._cleanroom import BOOT, Blocked, CleanRoom, blocked_imports, clean_room, read_events
from ._coldstart import ColdStart, ColdStep, cold_start
from ._envvars import EnvRead, env_reads, looks_secret
from ._export import Drift, Export, build_export, drift, write_export
from ._gpu import GpuFacts, GpuPlan, plan_gpus
from ._hub import HubFacts, HubTest
from ._model import Environment, HandlerConfig, probe_environment
from ._process import WorkerRun, run_worker, worker_env
from ._recorded import (
    Outcome,
    RecordedTest,
    TestResult,
    TestRow,
    TestTable,
    check,
    read_tests,
    timeout_for,
    valid_name,
    write_tests,
)
from ._schema import hub_problems
from ._verify import JobCheck, JobWire, VerifyReport, compare_jobs
from ._writer import MANIFEST, Written, expand_path

__all__ = [
    "BOOT",
    "Blocked",
    "Cell",
    "CleanRoom",
    "ColdStart",
    "ColdStep",
    "Drift",
    "EnvRead",
    "Environment",
    "Export",
    "GpuFacts",
    "GpuPlan",
    "HandlerConfig",
    "HubFacts",
    "HubTest",
    "JobCheck",
    "JobWire",
    "MANIFEST",
    "Outcome",
    "RecordedTest",
    "TestResult",
    "TestRow",
    "TestTable",
    "VerifyReport",
    "WorkerRun",
    "Written",
    "blocked_imports",
    "build_export",
    "check",
    "clean_room",
    "cold_start",
    "compare_jobs",
    "drift",
    "env_reads",
    "expand_path",
    "hub_problems",
    "looks_secret",
    "plan_gpus",
    "probe_environment",
    "read_events",
    "read_tests",
    "run_worker",
    "timeout_for",
    "valid_name",
    "worker_env",
    "write_export",
    "write_tests",
]
