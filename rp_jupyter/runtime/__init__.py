"""The embedded RunPod worker (standard library only): jobs, states, events, result shaping."""

from ._job import Job, JobEvent
from ._logs import LogLine, current_job
from ._prestart import hook_name
from ._runtime import Runtime
from ._shaping import MAX_JSON_DEPTH, RUN_LIMIT_BYTES, RUNSYNC_LIMIT_BYTES, HandlerKind, classify
from ._spec import DEFAULT_EXECUTION_TIMEOUT, POLICY_RANGES_MS, HandlerSpec, json_problem, load_json
from ._status import JobStatus
from ._watchdog import DEFAULT_STALL_THRESHOLD, AbandonedCall

__all__ = [
    "DEFAULT_EXECUTION_TIMEOUT",
    "DEFAULT_STALL_THRESHOLD",
    "MAX_JSON_DEPTH",
    "POLICY_RANGES_MS",
    "RUNSYNC_LIMIT_BYTES",
    "RUN_LIMIT_BYTES",
    "AbandonedCall",
    "HandlerKind",
    "HandlerSpec",
    "Job",
    "JobEvent",
    "JobStatus",
    "LogLine",
    "Runtime",
    "classify",
    "current_job",
    "hook_name",
    "json_problem",
    "load_json",
]
