"""``_shaping``: RunPod's result shaping as pure functions, checked against spec §3–§6.

The real SDK (runpod 1.12.0) is the oracle where it can be called: ``run_job`` for §4 and
``is_generator`` for §3.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import json
import os
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from rp_jupyter.runtime import RUNSYNC_LIMIT_BYTES, HandlerKind, JobStatus, Runtime, classify
from rp_jupyter.runtime._shaping import (
    NotSerializable,
    check_wire,
    chunk_error,
    exception_error,
    generator_error,
    runpod_version,
    shape_return,
)

ERROR_KEYS = ["error_type", "error_message", "error_traceback", "hostname", "worker_id", "runpod_version"]


def sdk_run_job(value: Any) -> dict[str, Any]:
    """What runpod's own ``run_job`` makes of a handler returning ``value``."""
    from runpod.serverless.modules.rp_job import run_job

    return asyncio.run(run_job(lambda job: value, {"id": "oracle", "input": {}}))


# ---- §4: the table, row by row -------------------------------------------------------------------
SPEC_TABLE: list[tuple[Any, dict[str, Any]]] = [
    ("hello Ada", {"output": "hello Ada"}),
    ({"a": 1}, {"output": {"a": 1}}),
    ({"output": {"a": 1}}, {"output": {"output": {"a": 1}}}),
    ({}, {}),
    (None, {"output": None}),
    (False, {"output": False}),
    (0, {"output": 0}),
    ("", {"output": ""}),
    ((1, 2), {"output": (1, 2)}),
    ({"error": "bad"}, {"error": "bad"}),
    ({"error": "bad", "detail": {"k": 1}}, {"output": {"detail": {"k": 1}}, "error": "bad"}),
    ({"error": "", "x": 1}, {"output": {"x": 1}}),
    ({"error": None}, {}),
    ({"error": {"code": 7}}, {"error": {"code": 7}}),
    ({"error": ["e1", "e2"]}, {"error": ["e1", "e2"]}),
    ({"refresh_worker": True, "x": 1}, {"output": {"x": 1}, "stopPod": True}),
    ({"refresh_worker": True}, {"stopPod": True}),
    ({"refresh_worker": False, "x": 1}, {"output": {"x": 1}}),
    ({"error": "boom", "refresh_worker": True}, {"error": "boom", "stopPod": True}),
    ([1, 2], {"output": [1, 2]}),
    (b"raw", {"output": b"raw"}),
]


@pytest.mark.parametrize(("value", "expected"), SPEC_TABLE, ids=[repr(v)[:40] for v, _ in SPEC_TABLE])
def test_shape_return_follows_the_spec_table(value: Any, expected: dict[str, Any]) -> None:
    result = shape_return(copy.deepcopy(value))
    assert result == expected
    assert list(result) == list(expected)  # key order too: output first


@pytest.mark.parametrize(("value", "expected"), SPEC_TABLE, ids=[repr(v)[:40] for v, _ in SPEC_TABLE])
def test_shape_return_agrees_with_the_sdk_run_job(value: Any, expected: dict[str, Any]) -> None:
    ours = shape_return(copy.deepcopy(value))
    theirs = sdk_run_job(copy.deepcopy(value))
    assert ours == theirs
    assert list(ours) == list(theirs)


def test_shape_return_pops_error_and_refresh_from_the_returned_dict() -> None:
    returned = {"error": "bad", "refresh_worker": True, "keep": 1}
    result = shape_return(returned)
    assert returned == {"keep": 1}  # mutated, as the SDK does
    assert result["output"] is returned


def test_shape_return_keeps_an_empty_output_list_and_string() -> None:
    assert shape_return([]) == {"output": []}
    assert shape_return({"x": {}}) == {"output": {"x": {}}}


def test_chunk_error_stringifies_a_truthy_error_only() -> None:
    assert chunk_error({"error": {"code": 7}}) == "{'code': 7}"
    assert chunk_error({"error": ""}) is None
    assert chunk_error({"error": None, "x": 1}) is None
    assert chunk_error("error") is None


# ---- §3: classification, with the SDK's is_generator as the oracle ------------------------------
def plain(job: dict[str, Any]) -> str:
    return "x"


async def coroutine(job: dict[str, Any]) -> str:
    return "x"


def generator(job: dict[str, Any]) -> Iterator[str]:
    yield "x"


async def async_generator(job: dict[str, Any]) -> AsyncIterator[str]:
    yield "x"


class CallableGenerator:
    def __call__(self, job: dict[str, Any]) -> Iterator[str]:
        yield "x"


def wraps_decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(job: dict[str, Any]) -> Any:
        return fn(job)

    return wrapper


CLASSIFY_CASES: list[tuple[str, Callable[..., Any], HandlerKind]] = [
    ("function", plain, HandlerKind.SYNC),
    ("async function", coroutine, HandlerKind.ASYNC),
    ("generator function", generator, HandlerKind.SYNC_GENERATOR),
    ("async generator function", async_generator, HandlerKind.ASYNC_GENERATOR),
    ("callable object with a generator __call__", CallableGenerator(), HandlerKind.SYNC),
    ("functools.wraps decorator around a generator", wraps_decorator(generator), HandlerKind.SYNC),
    # inspect unwraps functools.partial (3.8+), so the SDK streams a partial of a generator function:
    # spec §3's table says "normal" for partial — the SDK disagrees, and the SDK is the oracle.
    ("functools.partial of a generator function", functools.partial(generator), HandlerKind.SYNC_GENERATOR),
    (
        "functools.partial of an async generator",
        functools.partial(async_generator),
        HandlerKind.ASYNC_GENERATOR,
    ),
    ("functools.partial of an async function", functools.partial(coroutine), HandlerKind.ASYNC),
    ("lambda returning a generator", lambda job: generator(job), HandlerKind.SYNC),
]


@pytest.mark.parametrize(("fn", "kind"), [c[1:] for c in CLASSIFY_CASES], ids=[c[0] for c in CLASSIFY_CASES])
def test_classify_matches_the_sdk(fn: Callable[..., Any], kind: HandlerKind) -> None:
    from runpod.serverless.modules.rp_handler import is_generator

    assert classify(fn) is kind
    assert classify(fn).is_generator == is_generator(fn)


# ---- §5: exceptions --------------------------------------------------------------------------------
def raised(exc: Exception) -> Exception:
    try:
        raise exc
    except Exception as caught:
        return caught


def test_exception_error_has_six_keys_in_order() -> None:
    info = json.loads(exception_error(raised(ValueError("nope"))))
    assert list(info) == ERROR_KEYS
    assert info["error_type"] == "<class 'ValueError'>"
    assert info["error_message"] == "nope"
    assert info["runpod_version"] == runpod_version()
    assert info["error_traceback"].startswith("Traceback (most recent call last):")
    assert info["error_traceback"].rstrip().endswith("ValueError: nope")


def test_exception_error_matches_the_sdk_except_the_traceback() -> None:
    from runpod.serverless.modules.rp_job import run_job

    def handler(job: dict[str, Any]) -> None:
        raise KeyError("x")

    theirs = json.loads(asyncio.run(run_job(handler, {"id": "oracle", "input": {}}))["error"])
    ours = json.loads(exception_error(raised(KeyError("x"))))
    assert list(ours) == list(theirs)
    for key in ERROR_KEYS:
        if key != "error_traceback":
            assert ours[key] == theirs[key], key


def test_keyerror_message_is_quoted() -> None:
    assert json.loads(exception_error(raised(KeyError("x"))))["error_message"] == "'x'"


def test_exception_error_reads_hostname_and_worker_id_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNPOD_POD_HOSTNAME", raising=False)
    monkeypatch.delenv("RUNPOD_POD_ID", raising=False)
    info = json.loads(exception_error(raised(ValueError())))
    assert (info["hostname"], info["worker_id"]) == ("unknown", "unknown")
    monkeypatch.setenv("RUNPOD_POD_HOSTNAME", "host-1")
    monkeypatch.setenv("RUNPOD_POD_ID", "pod-1")
    info = json.loads(exception_error(raised(ValueError())))
    assert (info["hostname"], info["worker_id"]) == ("host-1", "pod-1")


def test_generator_error_format() -> None:
    text = generator_error(raised(RuntimeError("broke")))
    assert text.startswith("handler: broke \ntraceback: Traceback (most recent call last):")
    assert text.rstrip().endswith("RuntimeError: broke")


def _raise_value_error(job: dict[str, Any]) -> None:
    raise ValueError("in the handler")


async def _raise_value_error_async(job: dict[str, Any]) -> None:
    await asyncio.sleep(0)
    raise ValueError("in the handler")


def _raise_in_generator(job: dict[str, Any]) -> Iterator[str]:
    yield "first"
    raise ValueError("in the handler")


@pytest.mark.parametrize("handler", [_raise_value_error, _raise_value_error_async, _raise_in_generator])
def test_tracebacks_show_the_handler_frames_only(runtime: Runtime, handler: Callable[..., Any]) -> None:
    runtime_dir = os.path.dirname(os.path.abspath(classify.__code__.co_filename))
    runtime.register(handler, "h")
    job = runtime.submit("h", {"input": {}}).wait(10)
    assert job.status is JobStatus.FAILED
    if classify(handler).is_generator:
        text = job.error
        assert text.startswith("handler: in the handler \ntraceback: Traceback (most recent call last):")
    else:
        text = json.loads(job.error)["error_traceback"]
    assert runtime_dir not in text
    first_frame = text.split("Traceback (most recent call last):\n", 1)[1].splitlines()[0]
    assert __file__ in first_frame and handler.__name__ in first_frame
    assert text.rstrip().endswith("ValueError: in the handler")


# ---- the wire: what a client would receive ----------------------------------------------------------
def test_check_wire_round_trips_tuples_to_lists() -> None:
    assert check_wire((1, (2, 3)), "output") == [1, [2, 3]]
    assert check_wire({"t": (1,)}, "output") == {"t": [1]}


def test_check_wire_passes_a_string_through_unchanged() -> None:
    text = "héllo"
    assert check_wire(text, "output") is text


def test_check_wire_names_the_type_and_path_of_a_set() -> None:
    with pytest.raises(NotSerializable) as info:
        check_wire({"a": [1, {"s": {1, 2}}]}, "output")
    message = str(info.value)
    assert "set" in message
    assert "output['a'][1]['s']" in message
    assert "IN_PROGRESS" in message


def test_check_wire_names_a_top_level_set() -> None:
    with pytest.raises(NotSerializable, match=r"\(set at output\)"):
        check_wire({1, 2}, "output")


def test_check_wire_refuses_a_non_string_key() -> None:
    with pytest.raises(NotSerializable, match="a key"):
        check_wire({(1, 2): "v"}, "output")


def test_check_wire_enforces_the_size_limit() -> None:
    assert check_wire("x" * 100, "output", limit=1000) == "x" * 100
    with pytest.raises(ValueError, match="over RunPod's 20 MB limit"):
        check_wire("x" * (RUNSYNC_LIMIT_BYTES + 1), "output", limit=RUNSYNC_LIMIT_BYTES)
