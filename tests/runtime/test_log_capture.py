"""runpod 2.x's ``RUNPOD_LOG_CAPTURE=all``, emulated from the job's own logs (compared with the real SDK
in tests/golden: W34-W37). Under runpod 1.x the variable means nothing, as in that SDK."""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import logging
import sys
from typing import Any

import pytest

from rp_jupyter.runtime import Runtime
from rp_jupyter.runtime._shaping import LOG_CAPTURE_CHARS

T = 10.0
SDK_HAS_CAPTURE = int(importlib.metadata.version("runpod").split(".")[0]) >= 2


def _raising(job: dict[str, Any]) -> None:
    print("step 1", end="")
    print(" of 2")
    print("to stderr", file=sys.stderr)
    logging.getLogger("user").warning("a log record")  # in job.logs, not in the SDK's capture
    print("x" * job["input"].get("spam", 0), end="")
    raise RuntimeError("out of memory")


@pytest.mark.parametrize("value", ["all", " ALL "])
def test_an_exception_payload_gains_the_jobs_output(runtime: Runtime, monkeypatch, value: str) -> None:
    monkeypatch.setenv("RUNPOD_LOG_CAPTURE", value)
    runtime.register(_raising, "h")
    info = json.loads(runtime.submit("h", {"input": {}}).wait(T).error)
    if not SDK_HAS_CAPTURE:
        assert "logs" not in info and len(info) == 6
        return
    assert list(info)[6:] == ["logs"]
    assert info["logs"] == "step 1 of 2\nto stderr\n"


@pytest.mark.skipif(not SDK_HAS_CAPTURE, reason="runpod 1.x has no log capture")
def test_the_last_16_kib_and_a_partial_line(runtime: Runtime, monkeypatch) -> None:
    monkeypatch.setenv("RUNPOD_LOG_CAPTURE", "all")
    runtime.register(_raising, "h")
    logs = json.loads(runtime.submit("h", {"input": {"spam": 20_000}}).wait(T).error)["logs"]
    assert logs == "x" * LOG_CAPTURE_CHARS  # the unfinished last line counts; the head is cut


@pytest.mark.parametrize("value", [None, "auto", "off", "bogus", ""])
def test_without_all_the_payload_is_the_six_keys(runtime: Runtime, monkeypatch, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv("RUNPOD_LOG_CAPTURE", raising=False)
    else:
        monkeypatch.setenv("RUNPOD_LOG_CAPTURE", value)
    runtime.register(_raising, "h")
    job = runtime.submit("h", {"input": {}}).wait(T)
    assert len(json.loads(job.error)) == 6
    assert "step 1 of 2\n" in "".join(line.text for line in job.logs)  # the job keeps its logs anyway


@pytest.mark.skipif(not SDK_HAS_CAPTURE, reason="runpod 1.x has no log capture")
def test_generators_and_async_handlers_and_concurrent_jobs_keep_their_own(runtime: Runtime, monkeypatch) -> None:
    monkeypatch.setenv("RUNPOD_LOG_CAPTURE", "all")

    def tokens(job: dict[str, Any]) -> Any:
        print(f"token of {job['input']}")
        yield 1
        raise ValueError("stream broke")

    async def slow(job: dict[str, Any]) -> None:
        print(f"start {job['input']}")
        await asyncio.sleep(0.05)
        print(f"end {job['input']}")
        raise KeyError("missing")

    runtime.register(tokens, "tokens")
    runtime.register(slow, "slow", concurrency_modifier=lambda _: 2)
    error = runtime.submit("tokens", {"input": "a"}).wait(T).error
    assert error.startswith("handler: stream broke \ntraceback: ") and error.endswith("\nlogs:\ntoken of a\n")
    jobs = [runtime.submit("slow", {"input": name}) for name in ("b", "c")]
    for job, name in zip(jobs, ("b", "c"), strict=True):
        assert json.loads(job.wait(T).error)["logs"] == f"start {name}\nend {name}\n"


def test_a_job_that_printed_nothing_has_no_logs_key(runtime: Runtime, monkeypatch) -> None:
    monkeypatch.setenv("RUNPOD_LOG_CAPTURE", "all")

    def quiet(job: dict[str, Any]) -> None:
        raise ValueError("quiet")

    runtime.register(quiet, "q")
    assert len(json.loads(runtime.submit("q", {"input": {}}).wait(T).error)) == 6
