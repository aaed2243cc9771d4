"""Generator handlers on the deployed worker (spec §6): chunks, errors, aggregation, ``refresh_worker``."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from rp_jupyter.runtime import JobStatus, Runtime

T = 10.0


def test_without_aggregation_the_output_is_an_empty_list(runtime: Runtime) -> None:
    def handler(job: dict[str, Any]) -> Iterator[Any]:
        yield "a"
        yield (1, 2)
        return "ignored"  # a generator's return value is ignored

    runtime.register(handler, "gen")
    job = runtime.submit("gen", {"input": {}}).wait(T)
    assert (job.status, job.stream, job.output) == (JobStatus.COMPLETED, ["a", [1, 2]], [])
    assert job.result_body == {"output": []}


def test_with_aggregation_the_output_lists_every_chunk(runtime: Runtime) -> None:
    async def handler(job: dict[str, Any]) -> Any:
        for value in ("a", {"b": 1}):
            yield value

    runtime.register(handler, "agen", return_aggregate_stream=True)
    job = runtime.submit("agen", {"input": {}}).wait(T)
    assert job.output == ["a", {"b": 1}] == job.stream


def test_a_yielded_error_stops_the_stream_and_fails_with_its_string(runtime: Runtime) -> None:
    closed = threading.Event()
    resumed = threading.Event()

    def handler(job: dict[str, Any]) -> Iterator[Any]:
        try:
            yield "a"
            yield {"error": {"code": 7}}
            resumed.set()
            yield "b"
        finally:
            closed.set()

    runtime.register(handler, "gen", return_aggregate_stream=True)
    job = runtime.submit("gen", {"input": {}}).wait(T)
    assert job.status is JobStatus.FAILED
    assert job.result_body == {"error": "{'code': 7}"}  # no output, even with aggregation
    assert job.stream == ["a"]
    assert closed.is_set() and not resumed.is_set()


def test_a_raising_generator_keeps_streamed_chunks_and_fails(runtime: Runtime) -> None:
    async def handler(job: dict[str, Any]) -> Any:
        yield "a"
        raise RuntimeError("broke")

    runtime.register(handler, "agen", return_aggregate_stream=True)
    job = runtime.submit("agen", {"input": {}}).wait(T)
    assert job.status is JobStatus.FAILED
    assert job.stream == ["a"]
    assert job.error.startswith("handler: broke \ntraceback: ")
    assert "output" not in job.result_body


def test_refresh_worker_config_adds_stop_pod_to_every_result(runtime: Runtime) -> None:
    def fails(job: dict[str, Any]) -> None:
        raise ValueError("x")

    def streams(job: dict[str, Any]) -> Iterator[int]:
        yield 1

    for name, fn in (("ok", lambda job: "ok"), ("fails", fails), ("streams", streams)):
        runtime.register(fn, name, refresh_worker=True)
        job = runtime.submit(name, {"input": {}}).wait(T)
        assert job.result_body is not None and job.result_body["stopPod"] is True, name
        assert job.stop_pod


def test_refresh_worker_in_the_return_dict_sets_stop_pod(runtime: Runtime) -> None:
    runtime.register(lambda job: {"refresh_worker": True, "x": 1}, "h")
    job = runtime.submit("h", {"input": {}}).wait(T)
    assert job.status is JobStatus.COMPLETED
    assert job.result_body == {"output": {"x": 1}, "stopPod": True}
    assert job.stop_pod and "stopPod" not in job.to_status()


def test_a_normal_handler_returning_a_generator_object_fails_as_unpostable(runtime: Runtime) -> None:
    def make(job: dict[str, Any]) -> Iterator[int]:
        yield 1

    runtime.register(lambda job: make(job), "wrapper")
    job = runtime.submit("wrapper", {"input": {}}).wait(T)
    assert job.status is JobStatus.FAILED
    assert "generator" in job.error and job.stream == []
