"""What RunPod's API refuses before a job exists, and what a worker could not post after it ran."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from rp_jupyter.exceptions import PayloadTooLargeError, RequestError
from rp_jupyter.runtime import RUN_LIMIT_BYTES, RUNSYNC_LIMIT_BYTES, JobStatus, Runtime

T = 10.0
MB = 1024 * 1024


@pytest.fixture
def calls(runtime: Runtime) -> list[Any]:
    """A handler "h" that records every job it is called with."""
    seen: list[Any] = []
    runtime.register(lambda job: seen.append(job) or "ok", "h")
    return seen


@pytest.mark.parametrize(
    "request_",
    [
        {},
        {"input": None},
        {"inputs": {"a": 1}},
        ["input"],
        42,
        None,
        '{"input": ',
        b"not json",
        {"input": {"s": {1, 2}}},
        {"input": {"f": object()}},
    ],
    ids=[
        "no input",
        "input None",
        "misspelt",
        "list",
        "int",
        "None",
        "malformed JSON",
        "bytes",
        "set",
        "object",
    ],
)
def test_a_request_runpod_would_refuse_raises_request_error(
    runtime: Runtime, calls: list[Any], request_: Any
) -> None:
    with pytest.raises(RequestError):
        runtime.submit("h", request_)
    with pytest.raises(RequestError):
        runtime.run_sync("h", request_, wait=T)
    assert runtime.jobs == []
    assert calls == []


@pytest.mark.parametrize("request_", [{"input": {}}, {"input": "a string"}, {"input": 0}, '{"input": [1]}'])
def test_any_non_null_json_input_is_accepted(runtime: Runtime, calls: list[Any], request_: Any) -> None:
    assert runtime.submit("h", request_).wait(T).status is JobStatus.COMPLETED


def test_an_input_over_10_mb_is_refused_by_run(runtime: Runtime, calls: list[Any]) -> None:
    big = {"input": "x" * (RUN_LIMIT_BYTES + 1)}
    with pytest.raises(PayloadTooLargeError, match=r"10 MB limit for /run") as info:
        runtime.submit("h", big)
    assert isinstance(info.value, RequestError)
    assert runtime.jobs == [] and calls == []


def test_run_sync_accepts_up_to_20_mb_and_refuses_more(runtime: Runtime, calls: list[Any]) -> None:
    assert runtime.run_sync("h", {"input": "x" * (15 * MB)}, wait=T)["status"] == "COMPLETED"
    with pytest.raises(PayloadTooLargeError, match=r"20 MB limit for /runsync"):
        runtime.run_sync("h", {"input": "x" * (RUNSYNC_LIMIT_BYTES + 1)}, wait=T)
    assert len(calls) == 1


def test_an_output_over_20_mb_fails_naming_the_limit(runtime: Runtime) -> None:
    runtime.register(lambda job: "x" * (RUNSYNC_LIMIT_BYTES + 1), "huge")
    job = runtime.submit("huge", {"input": {}}).wait(T)
    assert job.status is JobStatus.FAILED
    assert "20 MB limit" in job.error
    assert job.output is None


def test_a_set_output_fails_naming_set_and_in_progress(runtime: Runtime) -> None:
    runtime.register(lambda job: {"ids": {1, 2}}, "sets")
    job = runtime.submit("sets", {"input": {}}).wait(T)
    assert job.status is JobStatus.FAILED
    assert "set" in job.error and "IN_PROGRESS" in job.error
    assert "['ids']" in job.error


def test_a_non_serialisable_error_value_fails_too(runtime: Runtime) -> None:
    runtime.register(lambda job: {"error": {"codes": {1}}}, "bad-error")
    job = runtime.submit("bad-error", {"input": {}}).wait(T)
    assert job.status is JobStatus.FAILED
    assert "not JSON-serialisable" in job.error


def test_a_non_serialisable_stream_chunk_fails_the_job(runtime: Runtime) -> None:
    def handler(job: dict[str, Any]) -> Iterator[Any]:
        yield "fine"
        yield {1, 2}
        yield "never"

    runtime.register(handler, "gen")
    job = runtime.submit("gen", {"input": {}}).wait(T)
    assert job.status is JobStatus.FAILED
    assert "stream chunk 1" in job.error and "set" in job.error
    assert job.stream == ["fine"]


def test_an_aggregated_stream_over_20_mb_fails(runtime: Runtime) -> None:
    def handler(job: dict[str, Any]) -> Iterator[str]:
        for _ in range(3):
            yield "x" * (8 * MB)

    runtime.register(handler, "agg", return_aggregate_stream=True)
    job = runtime.submit("agg", {"input": {}}).wait(T)
    assert job.status is JobStatus.FAILED
    assert "20 MB limit" in job.error
    assert len(job.stream) == 3


# ---- what JSON cannot carry: refused before a job exists (requests), failed loudly (results) --------
def _nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("request_", "words"),
    [
        ('{"input": "\\ud800"}', "lone surrogate '\\ud800' (str at request['input'])"),
        ('{"input": ' + "7" * 5000 + "}", "5000 digits, over Python's limit of 4300 digits"),
        ('{"input": NaN}', "holds NaN, which is not JSON"),
        ('{"input": [1, -Infinity]}', "holds -Infinity"),
        ('{"input": ' + "[" * 990 + "]" * 990 + "}", "nests deeper than 256 levels"),
        ('{"input": ' + "[" * 100_000 + "]" * 100_000 + "}", "nests deeper than 256 levels"),
        ('{"input": 1, "policy": {"executionTimeout": 1' + "0" * 400 + "}}", '"policy.executionTimeout" must be whole ms'),
        ('{"input": 1, "policy": {"executionTimeout": 604800001}}', "from 1 to 604800000"),
        ('{"input": 1, "policy": {"ttl": 9999}}', '"policy.ttl" must be whole ms from 10000'),
        ('{"input": 1, "policy": {"ttl": 1e30}}', '"policy.ttl"'),
        ('{"input": 1, "policy": {"lowPriority": "yes"}}', '"policy.lowPriority" must be true or false'),
        ({"input": {"x": float("nan")}}, "holds NaN (float at request['input']['x'])"),
        ({"input": {"big": 10**5000}}, "more than 4300 digits at request['input']['big']"),
        ({"input": _nested(300)}, "nests deeper than 256 levels"),
    ],
    ids=["surrogate", "digits", "NaN", "-Infinity", "990 levels", "100000 levels", "timeout 10**400",
         "timeout over 7 days", "ttl under 10 s", "ttl a float", "lowPriority", "dict NaN", "dict digits", "dict deep"],
)
def test_what_json_cannot_carry_is_a_one_line_request_error(
    runtime: Runtime, calls: list[Any], request_: Any, words: str
) -> None:
    for submit in (runtime.submit, lambda name, body: runtime.run_sync(name, body, wait=T)):
        with pytest.raises(RequestError) as info:
            submit("h", request_)
        message = str(info.value)
        assert words in message and "\n" not in message and len(message) < 400
    assert runtime.jobs == [] and calls == []


def test_a_circular_request_is_named_as_such(runtime: Runtime, calls: list[Any]) -> None:
    loop: dict[str, Any] = {}
    loop["self"] = loop
    with pytest.raises(RequestError, match=r"circular: request\['input'\]\['self'\] is request\['input'\] again"):
        runtime.submit("h", {"input": loop})


@pytest.mark.parametrize(
    ("output", "words"),
    [
        ({"score": float("nan")}, "holds NaN (float at output['score']): JSON has no NaN or Infinity"),
        ([1.0, float("inf")], "holds Infinity (float at output[1])"),
        ({"text": "ok \udc80"}, "lone surrogate '\\udc80' (str at output['text'])"),
        (_nested(300), "nests deeper than 256 levels at output[0]"),
        (_nested(5000), "nests deeper than 256 levels"),
        ({"n": 10**5000}, "more than 4300 digits at output['n']"),
    ],
    ids=["NaN", "Infinity", "surrogate", "300 levels", "5000 levels", "digits"],
)
def test_an_output_json_cannot_carry_fails_the_job_saying_why(runtime: Runtime, output: Any, words: str) -> None:
    runtime.register(lambda job: output, "bad")
    job = runtime.submit("bad", {"input": {}}).wait(T)
    assert job.status is JobStatus.FAILED and job.output is None
    assert words in job.error and "RecursionError" not in job.error, job.error
    assert job.to_status()["status"] == "FAILED"


def test_a_circular_output_is_named_circular_not_a_recursion_error(runtime: Runtime) -> None:
    def handler(job: dict[str, Any]) -> Any:
        tree: dict[str, Any] = {"child": {}}
        tree["child"]["parent"] = tree
        return tree

    runtime.register(handler)
    job = runtime.submit("handler", {"input": {}}).wait(T)
    assert job.status is JobStatus.FAILED
    assert "circular: output['child']['parent'] is output again" in job.error
    assert "raised" not in job.error and "RecursionError" not in job.error


def test_a_stream_chunk_holding_nan_fails_the_job(runtime: Runtime) -> None:
    def handler(job: dict[str, Any]) -> Iterator[Any]:
        yield {"p": 0.5}
        yield {"p": float("nan")}

    runtime.register(handler, "gen")
    job = runtime.submit("gen", {"input": {}}).wait(T)
    assert job.status is JobStatus.FAILED
    assert "stream chunk 1 holds NaN (float at stream chunk 1['p'])" in job.error
    assert job.stream == [{"p": 0.5}]


def test_a_deep_but_allowed_output_passes(runtime: Runtime) -> None:
    runtime.register(lambda job: _nested(256), "deep")
    job = runtime.submit("deep", {"input": {}}).wait(T)
    assert job.status is JobStatus.COMPLETED and job.output == _nested(256)


def test_a_string_chunk_with_a_lone_surrogate_fails_the_stream(runtime) -> None:
    def handler(job):
        yield "fine "
        yield "bad \ud800"

    runtime.register(handler, "surrogate")
    job = runtime.submit("surrogate", {"input": {}}).wait(10)
    assert job.status.value == "FAILED" and job.stream == ["fine "]
    assert "stream chunk 1" in job.error
