"""RunPod's result shaping, as pure functions (spec §3–§6, runpod 1.12.0 ``rp_job``).

Everything here turns what a handler did (returned, raised, yielded) into what the deployed worker
would have posted to RunPod, and so what a client of the endpoint gets back.
"""

from __future__ import annotations

import enum
import importlib.metadata
import inspect
import json
import math
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from functools import lru_cache
from types import TracebackType
from typing import Any

from ._logs import current_job

__all__ = [
    "LOG_CAPTURE_CHARS",
    "RUN_LIMIT_BYTES",
    "RUNSYNC_LIMIT_BYTES",
    "HandlerKind",
    "MAX_JSON_DEPTH",
    "NotSerializable",
    "WireError",
    "WireProblem",
    "check_wire",
    "chunk_error",
    "classify",
    "describe_problem",
    "exception_error",
    "find_problem",
    "generator_error",
    "handler_traceback",
    "runpod_version",
    "shape_return",
    "wire_text",
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


def handler_traceback(exc: BaseException) -> str:
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
        "error_traceback": handler_traceback(exc),
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
    error = f"handler: {exc!s} \ntraceback: {handler_traceback(exc)}"
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


MAX_JSON_DEPTH = 256
"""The deepest nesting rp_jupyter takes or gives as JSON (requests and results alike): far beyond any
real payload, and well inside what every JSON encoder and decoder on the way has the stack for
(Python's own fail near 1,000 levels, on RunPod's worker too)."""

WireProblem = tuple[str, str, Any]
"""(kind, path, value): what JSON cannot carry, where. Kinds: type, key, nan, surrogate, circular,
deep, digits."""


class NotSerializable(Exception):
    """A value RunPod's worker could not post (it would be lost, the job left IN_PROGRESS)."""

    LOST_RESULT = "On RunPod the worker could not post it and the job would stay IN_PROGRESS until its execution timeout."
    TOO_DEEP = ("RunPod's worker itself fails near 1,000 levels (Python's JSON encoder runs out of stack); "
                "rp_jupyter stops earlier, so that everything that reads the result has stack to spare.")

    def __init__(self, what: str, value: Any, path: str, consequence: str = LOST_RESULT, kind: str = "type") -> None:
        self.problem: WireProblem = (kind, path, value)
        consequence = self.TOO_DEEP if kind == "deep" else consequence
        super().__init__(f"rp_jupyter: the handler's {what} {describe_problem(self.problem)}. {consequence}")


def describe_problem(problem: WireProblem) -> str:
    """One clause saying what JSON cannot carry and where (``holds NaN (float at output['x'])...``)."""
    kind, path, value = problem
    where = f" at {_short(path)}" if path else ""
    if kind == "nan":
        token = "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
        return f"holds {token} ({type(value).__name__}{where}): JSON has no NaN or Infinity, so RunPod's API cannot carry it"
    if kind == "surrogate":
        return (f"holds a lone surrogate {value!r} (str{where}): not valid Unicode, so it cannot be sent as "
                "UTF-8 JSON")
    if kind == "circular":
        return f"is circular: {_short(path)} is {_short(value)} again, and JSON cannot carry a value that contains itself"
    if kind == "deep":
        return f"nests deeper than {MAX_JSON_DEPTH} levels{where}: rp_jupyter's limit for JSON"
    if kind == "digits":
        return (f"holds a whole number of more than {sys.get_int_max_str_digits()} digits{where}: "
                "over Python's limit for converting integers to text")
    return f"is not JSON-serialisable ({type(value).__name__}{where})"


def _short(path: str, keep: int = 60) -> str:
    return path if len(path) <= keep else f"{path[:keep]}… ({path.count('[')} levels deep)"


def _scalar_problem(value: Any) -> str | None:
    """The kind of problem with a value that is not a container (None when JSON can carry it)."""
    if isinstance(value, str):
        if value.isascii():
            return None
        try:
            value.encode()
        except UnicodeEncodeError:
            return "surrogate"
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else "nan"
    if isinstance(value, int):  # bool too
        if value.bit_length() > 13_000:  # near 4,300 digits: ask Python itself
            try:
                int.__repr__(value)
            except ValueError:
                return "digits"
        return None
    if value is None or isinstance(value, (dict, list, tuple)):
        return None
    return "type"


def _children(value: Any, path: str) -> Iterator[tuple[Any, str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key, f"{path}[{key!r}]", item
    else:
        for index, item in enumerate(value):
            yield _NO_KEY, f"{path}[{index}]", item


_NO_KEY = object()


class WireError(ValueError):
    """JSON cannot carry a value; ``problem`` says what and where."""

    def __init__(self, problem: WireProblem) -> None:
        super().__init__(describe_problem(problem))
        self.problem = problem


def find_problem(value: Any, path: str) -> WireProblem | None:
    """The first thing in ``value`` that JSON cannot carry, in document order; None when all is well.

    Iterative (a value nested far too deep, or circular, is named, not a ``RecursionError``)."""
    kind = _scalar_problem(value)
    if kind is not None or not isinstance(value, (dict, list, tuple)):
        return (kind, path, _surrogate(value) if kind == "surrogate" else value) if kind else None
    ancestors, stack = {id(value): path}, [(_children(value, path), path, id(value))]
    while stack:
        children, parent, _ = stack[-1]
        for key, child_path, item in children:
            if key is not _NO_KEY and not (key is None or isinstance(key, (str, int, float))):
                return "type", f"{parent} (a key)", key
            kind = _scalar_problem(item)
            if kind is not None:
                return kind, child_path, _surrogate(item) if kind == "surrogate" else item
            if isinstance(item, (dict, list, tuple)):
                if id(item) in ancestors:
                    return "circular", child_path, ancestors[id(item)]
                if len(stack) >= MAX_JSON_DEPTH:
                    return "deep", child_path, item
                ancestors[id(item)] = child_path
                stack.append((_children(item, child_path), child_path, id(item)))
                break
        else:
            del ancestors[stack.pop()[2]]
    return None


def _surrogate(text: str) -> str:
    return next(ch for ch in text if "\ud800" <= ch <= "\udfff")


def wire_text(value: Any, root: str = "") -> str:
    """``value`` as the JSON text a RunPod client would receive, or :class:`WireError` naming the first
    problem: not JSON-serialisable, NaN, a lone surrogate, circular, deeper
    than :data:`MAX_JSON_DEPTH`. Cheap when all is well: the search for the problem runs on failure
    (and the depth walk only when the text has more than MAX_JSON_DEPTH brackets). Problem paths start
    at ``root``."""
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
        if not text.isascii():
            text.encode()
        deep = text.count("[") + text.count("{") > MAX_JSON_DEPTH and find_problem(value, root) is not None
    except (TypeError, ValueError, RecursionError) as exc:
        fallback = ("deep" if isinstance(exc, RecursionError) else "type", root, value)
        raise WireError(find_problem(value, root) or fallback) from None
    if deep:
        raise WireError(find_problem(value, root) or ("deep", root, value))
    return text


def check_wire(
    value: Any, what: str, limit: int | None = None, consequence: str = NotSerializable.LOST_RESULT
) -> Any:
    """Return ``value`` as a RunPod client would receive it (JSON round trip: tuples become lists).

    Raises :class:`NotSerializable` where the SDK's post would fail (or JSON cannot carry the value:
    NaN, a lone surrogate, circular, too deep), ``ValueError`` over ``limit``.
    """
    if type(value) is str and limit is None and _scalar_problem(value) is None:
        return value
    try:
        text = wire_text(value, what)
    except WireError as exc:
        kind, path, bad = exc.problem
        raise NotSerializable(what, bad, path, consequence, kind) from None
    if limit is not None and len(text.encode()) > limit:
        size = len(text.encode()) / 1e6
        raise ValueError(
            f"rp_jupyter: the handler's {what} is {size:.1f} MB of JSON, over RunPod's "
            f"{limit // (1024 * 1024)} MB limit for a result. On RunPod the worker's post would be "
            "refused and the job would stay IN_PROGRESS until its execution timeout."
        )
    return json.loads(text)
