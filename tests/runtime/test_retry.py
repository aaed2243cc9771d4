"""``Runtime.retry``: RunPod's /retry — a FAILED or TIMED_OUT job back to IN_QUEUE under the same id."""

from __future__ import annotations

from typing import Any

import pytest

from rp_jupyter.exceptions import JobStateError
from rp_jupyter.runtime import JobStatus, Runtime

from .conftest import TIMEOUT


def test_a_failed_job_runs_again_with_a_clean_slate(runtime: Runtime) -> None:
    calls: list[int] = []

    def flaky(job: dict[str, Any]) -> Any:
        calls.append(1)
        if len(calls) == 1:
            yield "partial"
            raise RuntimeError("first")
        yield "whole"

    runtime.register(flaky, return_aggregate_stream=True)
    job = runtime.submit("flaky", {"input": 1}).wait(TIMEOUT)
    assert job.status is JobStatus.FAILED and job.stream == ["partial"]
    assert runtime.retry(job.id) is job
    job.future.result(TIMEOUT)
    assert job.status is JobStatus.COMPLETED and job.error is None
    assert job.stream == ["whole"] and job.output == ["whole"]
    assert runtime.get(job.id) is job


def test_only_failed_or_timed_out_jobs_can_be_retried(runtime: Runtime) -> None:
    runtime.register(lambda job: 1, "one")
    job = runtime.submit("one", {"input": 1}).wait(TIMEOUT)
    with pytest.raises(JobStateError, match="only FAILED or TIMED_OUT"):
        runtime.retry(job)
    with pytest.raises(JobStateError, match="no job"):
        runtime.retry("missing-id")
