"""Every job's own logs: what a handler prints or logs while it runs a job is kept on that job."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from rp_jupyter.runtime import LogLine, Runtime, current_job
from rp_jupyter.runtime._logs import LOG_LIMIT_BYTES

T = 10.0


def texts(lines: list[LogLine], stream: str | None = None) -> str:
    return "".join(line.text for line in lines if stream is None or line.stream == stream)


def test_a_sync_handlers_prints_go_to_its_job_not_the_cell(runtime: Runtime, capsys) -> None:
    def handler(job: dict[str, Any]) -> str:
        print("loading", job["input"], end="")
        print(" done")
        print("oops", file=sys.stderr)
        return "ok"

    runtime.register(handler, "h")
    job = runtime.submit("h", {"input": 7}).wait(T)
    print("outside any job")
    assert texts(job.logs, "stdout") == "loading 7 done\n"
    assert texts(job.logs, "stderr") == "oops\n"
    assert [line.stream for line in job.logs] == ["stdout", "stderr"]
    assert all(isinstance(line.t, float) for line in job.logs)
    out = capsys.readouterr()
    assert out.out == "outside any job\n" and "loading" not in out.out and "oops" not in out.err


def test_concurrent_async_jobs_keep_their_own_lines(runtime: Runtime, gate) -> None:
    turns = {name: gate() for name in ("a1", "b1", "a2")}

    async def handler(job: dict[str, Any]) -> None:
        me = job["input"]
        await turns[f"{me}1"].wait_async() if me == "a" else None
        print(f"{me}: first")
        if me == "b":
            turns["a2"].open()
            turns["a1"].open()
        else:
            await turns["a2"].wait_async()
        print(f"{me}: second")

    runtime.register(handler, "h", concurrency_modifier=lambda current: 2)
    a = runtime.submit("h", {"input": "a"})
    b = runtime.submit("h", {"input": "b"})
    a.wait(T), b.wait(T)
    assert texts(a.logs) == "a: first\na: second\n"
    assert texts(b.logs) == "b: first\nb: second\n"


def test_generators_and_the_sdks_logger_are_kept(runtime: Runtime) -> None:
    from runpod.serverless.modules.rp_logger import RunPodLogger

    def handler(job: dict[str, Any]) -> Iterator[int]:
        for i in range(3):
            print(f"step {i}")
            yield i
        RunPodLogger().info("all steps done", job["id"])

    runtime.register(handler, "gen")
    job = runtime.submit("gen", {"input": {}}).wait(T)
    assert job.stream == [0, 1, 2]
    assert texts(job.logs).startswith("step 0\nstep 1\nstep 2\n")
    assert "all steps done" in texts(job.logs, "stdout")


def test_a_log_record_is_kept_once_as_a_log_line(runtime: Runtime) -> None:
    root = logging.getLogger()
    handler_ = logging.StreamHandler()  # writes to the proxy: it must not be kept a second time
    root.addHandler(handler_)
    log = logging.getLogger("my.worker")

    def handler(job: dict[str, Any]) -> None:
        log.warning("GPU memory low")
        log.info("below the logger's level: never made")

    try:
        runtime.register(handler, "h")
        job = runtime.submit("h", {"input": {}}).wait(T)
    finally:
        root.removeHandler(handler_)
    assert [(line.stream, line.text) for line in job.logs] == [("log", "WARNING my.worker: GPU memory low\n")]


def test_log_events_announce_the_new_lines(runtime: Runtime, events) -> None:
    runtime.register(lambda job: print("hello"), "h")
    job = runtime.submit("h", {"input": {}}).wait(T)
    events.wait_for("finished", job.id)
    announced = [line for kind, jid, data in events.events if kind == "log" and jid == job.id for line in data]
    assert announced == job.logs and texts(announced) == "hello\n"
    assert events.kinds(job.id).index("log") < events.kinds(job.id).index("finished")


def test_a_partial_line_is_kept_when_the_job_ends(runtime: Runtime) -> None:
    runtime.register(lambda job: print("no newline", end=""), "h")
    job = runtime.submit("h", {"input": {}}).wait(T)
    assert texts(job.logs) == "no newline"


def test_a_flood_keeps_the_newest_megabyte(runtime: Runtime) -> None:
    line = "x" * 1023 + "\n"

    def handler(job: dict[str, Any]) -> None:
        for _ in range(3 * LOG_LIMIT_BYTES // len(line)):
            sys.stdout.write(line)

    runtime.register(handler, "h")
    job = runtime.submit("h", {"input": {}}).wait(T)
    kept = sum(len(entry.text) for entry in job.logs)
    assert kept <= LOG_LIMIT_BYTES and job.logs_dropped > 0
    assert kept + job.logs_dropped * len(line) == 3 * LOG_LIMIT_BYTES // len(line) * len(line)


def test_code_outside_a_job_and_threads_a_handler_starts_are_not_captured(runtime: Runtime, capsys) -> None:
    def handler(job: dict[str, Any]) -> None:
        assert current_job() is not None and current_job().id == job["id"]
        thread = threading.Thread(target=lambda: print("from my own thread"))
        thread.start()
        thread.join()

    runtime.register(handler, "h")
    job = runtime.submit("h", {"input": {}}).wait(T)
    assert current_job() is None
    assert job.logs == [] and "from my own thread" in capsys.readouterr().out


@pytest.mark.parametrize("kind", ["async", "async generator"])
def test_async_kinds_capture_too(runtime: Runtime, kind: str) -> None:
    async def plain(job: dict[str, Any]) -> None:
        await asyncio.sleep(0)
        print("async says hi")

    async def agen(job: dict[str, Any]) -> Any:
        print("async gen says hi")
        yield 1

    runtime.register(plain if kind == "async" else agen, "h")
    job = runtime.submit("h", {"input": {}}).wait(T)
    assert texts(job.logs) in ("async says hi\n", "async gen says hi\n")
