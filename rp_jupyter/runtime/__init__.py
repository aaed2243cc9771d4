"""The embedded RunPod worker (standard library only): jobs, states, events, result shaping."""

from ._job import Job, JobEvent
from ._runtime import Runtime
from ._shaping import RUN_LIMIT_BYTES, RUNSYNC_LIMIT_BYTES, HandlerKind, classify
from ._spec import DEFAULT_EXECUTION_TIMEOUT, HandlerSpec, json_problem
from ._status import JobStatus

__all__ = [
    "DEFAULT_EXECUTION_TIMEOUT",
    "RUNSYNC_LIMIT_BYTES",
    "RUN_LIMIT_BYTES",
    "HandlerKind",
    "HandlerSpec",
    "Job",
    "JobEvent",
    "JobStatus",
    "Runtime",
    "classify",
    "json_problem",
]
