"""RunPod's result shaping, as pure functions (spec §3–§6, runpod 1.12.0 ``rp_job``).

Everything here turns what a handler did (returned, raised, yielded) into what the deployed worker
would have posted to RunPod, and so what a client of the endpoint gets back.
"""

from __future__ import annotations

import enum
import importlib.metadata
import inspect
import json
import os
import traceback
from collections.abc import Callable
from functools import lru_cache
from types import TracebackType
from typing import Any

from ._logs import current_job

__all__ = [
    "LOG_CAPTURE_CHARS",
    "RUN_LIMIT_BYTES",
    "RUNSYNC_LIMIT_BYTES",
    "HandlerKind",
    "NotSerializable",
    "check_wire",
    "chunk_error",
    "classify",
    "exception_error",
    "generator_error",
    "runpod_version",
    "shape_return",
]

RUN_LIMIT_BYTES = 10 * 1024 * 1024
"""RunPod's payload limit for ``/run`` (10 MB)."""
RUNSYNC_LIMIT_BYTES = 20 * 1024 * 1024
"""RunPod's payload limit for ``/runsync`` — also the largest result the worker may post."""

LOG_CAPTURE_CHARS = 16 * 1024
"""runpod 2.x's ``RUNPOD_LOG_CAPTURE=all`` attaches the last 16 KiB (characters) of a job's output."""

_RUNTIME_DIR = os.path.dirname(os.path.abspath(__file__))


class HandlerKind(str, enum.Enum):
    """How a handler runs. RunPod classifies by function type only (``inspect``), so do we."""

    SYNC = "sync"
    ASYNC = "async"
    SYNC_GENERATOR = "generator"
    ASYNC_GENERATOR = "async generator"

    @property
    def is_generator(self) -> bool:
        return self in (HandlerKind.SYNC_GENERATOR, HandlerKind.ASYNC_GENERATOR)

    def __str__(self) -> str:
        return self.value


def classify(fn: Callable[..., Any]) -> HandlerKind:
    """Classify as the SDK does: only generator *functions* stream; everything else is "normal".

    A callable object or a wrapper that returns a generator is normal (its generator object is the
    output, which RunPod cannot post). Among normal handlers, coroutine functions run on the loop.
    """
    if inspect.isasyncgenfunction(fn):
        return HandlerKind.ASYNC_GENERATOR
    if inspect.isgeneratorfunction(fn):
        return HandlerKind.SYNC_GENERATOR
    if inspect.iscoroutinefunction(fn):
        return HandlerKind.ASYNC
    return HandlerKind.SYNC


def shape_return(value: Any) -> dict[str, Any]:
    """``run_job``'s rules: pop ``error``/``refresh_worker`` from a dict, wrap the rest in ``output``.

    Mutates a returned dict as the SDK does; drops an empty ``output``; a falsy error is a success;
    a returned ``{"output": ...}`` is wrapped again (RunPod does not unwrap).
    """
    result: dict[str, Any]
    if isinstance(value, dict):
        error = value.pop("error", None)
        refresh = value.pop("refresh_worker", None)
        result = {"output": value}
        if error:
            result["error"] = error
        if refresh:
            result["stopPod"] = True
    else:
        result = {"output": value}
    if result.get("output") == {}:
        result.pop("output")
    return result


def chunk_error(value: Any) -> str | None:
    """A yielded dict with a truthy ``error`` aborts the stream; RunPod posts ``str(error)``."""
    if isinstance(value, dict) and value.get("error"):
        return str(value["error"])
    return None


@lru_cache(maxsize=1)
def runpod_version() -> str:
    """The installed SDK's version, as the worker reports it in error payloads."""
    try:
        return importlib.metadata.version("runpod")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _handler_traceback(exc: BaseException) -> str:
    """``format_exc()`` of the exception with rp_jupyter's own frames left out: the handler's only."""
    tb: TracebackType | None = exc.__traceback__
    while tb is not None and os.path.dirname(os.path.abspath(tb.tb_frame.f_code.co_filename)) == _RUNTIME_DIR:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def exception_error(exc: BaseException) -> str:
    """The error string RunPod posts when a normal handler raises: JSON with six keys (a seventh,
    ``logs``, under runpod 2.x with ``RUNPOD_LOG_CAPTURE=all``)."""
    info = {
        "error_type": str(type(exc)),
        "error_message": str(exc),
        "error_traceback": _handler_traceback(exc),
        "hostname": os.environ.get("RUNPOD_POD_HOSTNAME", "unknown"),
        "worker_id": os.environ.get("RUNPOD_POD_ID", "unknown"),
        "runpod_version": runpod_version(),
    }
    logs = captured_logs()
    if logs:
        info["logs"] = logs
    return json.dumps(info)


def generator_error(exc: BaseException) -> str:
    """The error string RunPod posts when a generator handler raises (a different format)."""
    error = f"handler: {exc!s} \ntraceback: {_handler_traceback(exc)}"
    logs = captured_logs()
    return f"{error}\nlogs:\n{logs}" if logs else error


def log_capture_all() -> bool:
    """runpod 2.x's ``RUNPOD_LOG_CAPTURE=all`` (read per job, as the SDK does); 1.x has no such capture."""
    if os.environ.get("RUNPOD_LOG_CAPTURE", "").strip().lower() != "all":
        return False
    major = runpod_version().split(".")[0]
    return major.isdigit() and int(major) >= 2


def captured_logs() -> str:
    """What the running job wrote to stdout/stderr (its last 16 KiB) when log capture is on; else ''."""
    if not log_capture_all():
        return ""
    job = current_job()
    captured = getattr(job, "captured_output", None)
    return str(captured(LOG_CAPTURE_CHARS)) if captured is not None else ""


class NotSerializable(Exception):
    """A value RunPod's worker could not post (it would be lost, the job left IN_PROGRESS)."""

    LOST_RESULT = "On RunPod the worker could not post it and the job would stay IN_PROGRESS until its execution timeout."

    def __init__(self, what: str, value: Any, path: str, consequence: str = LOST_RESULT) -> None:
        kind = type(value).__name__
        where = f" at {path}" if path else ""
        super().__init__(f"rp_jupyter: the handler's {what} is not JSON-serialisable ({kind}{where}). {consequence}")


def _find_unserializable(value: Any, path: str) -> tuple[Any, str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                return key, f"{path} (a key)"
            found = _find_unserializable(item, f"{path}[{key!r}]")
            if found[1] != "":
                return found
        return None, ""
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = _find_unserializable(item, f"{path}[{index}]")
            if found[1] != "":
                return found
        return None, ""
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return value, path or "."
    return None, ""


def check_wire(
    value: Any, what: str, limit: int | None = None, consequence: str = NotSerializable.LOST_RESULT
) -> Any:
    """Return ``value`` as a RunPod client would receive it (JSON round trip: tuples become lists).

    Raises :class:`NotSerializable` where the SDK's post would fail, or ``ValueError`` over ``limit``.
    """
    if type(value) is str and limit is None:
        return value
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        bad, path = _find_unserializable(value, what)
        raise NotSerializable(what, bad if path else value, path, consequence) from None
    if limit is not None and len(text.encode()) > limit:
        size = len(text.encode()) / 1e6
        raise ValueError(
            f"rp_jupyter: the handler's {what} is {size:.1f} MB of JSON, over RunPod's "
            f"{limit // (1024 * 1024)} MB limit for a result. On RunPod the worker's post would be "
            "refused and the job would stay IN_PROGRESS until its execution timeout."
        )
    return json.loads(text)
