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
