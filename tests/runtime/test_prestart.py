"""Prestart hooks (runpod 2.x's ``register_prestart_hook``) in the runtime: no SDK needed, so these run
under runpod 1.12 too. The same cases against the real 2.x SDK's recordings are in tests/golden (W30-W33).

Every wait is on an event or a job, with a deadline; hooks that must block wait on a gate the test opens.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import pytest

from rp_jupyter import RegistrationError
from rp_jupyter.runtime import JobStatus, Runtime, current_job

from .conftest import Gate

T = 10.0
PAYLOAD_KEYS = ["event", "error_type", "error_message", "error_traceback", "worker_id", "runpod_version", "hook"]


def poll(condition: Any, timeout: float = T) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def payload(job: Any) -> dict[str, Any]:
    assert job.status is JobStatus.FAILED, (job.status, job.error)
    assert list(job.result_body) == ["error"], job.result_body  # no stopPod, no output: the SDK's _fail_job
    info: dict[str, Any] = json.loads(job.error)
    return info


class Warm:
    """A hook that warms state the handler reads, counting its runs; it waits on ``gate`` when given."""

    def __init__(self, gate: Gate | None = None) -> None:
        self.gate, self.runs, self.state = gate, 0, {"warm": False}
        self.entered = threading.Event()

    def warm_up(self) -> None:
        print("warming up", flush=True)
        self.entered.set()
        if self.gate is not None:
            self.gate.wait()
        self.runs += 1
        self.state["warm"] = True

    def handler(self, job: dict[str, Any]) -> dict[str, Any]:
        return {"warm": self.state["warm"], "runs": self.runs, "x": job["input"]}


# ---- the phase -----------------------------------------------------------------------------------
def test_the_first_job_sees_the_warm_state_and_the_hook_runs_once(runtime: Runtime) -> None:
    warm = Warm()
    runtime.register(warm.handler, "h", prestart_hooks=[warm.warm_up])
    jobs = [runtime.submit("h", {"input": i}) for i in range(3)]
    outputs = [job.wait(T).output for job in jobs]
    assert outputs == [{"warm": True, "runs": 1, "x": i} for i in range(3)]


def test_jobs_taken_meanwhile_are_held_in_progress_and_the_wait_is_execution_time(runtime: Runtime,
                                                                                  gate: Any) -> None:
    warm = Warm(gate())
    called = threading.Event()

    def handler(job: dict[str, Any]) -> Any:
        called.set()
        return warm.handler(job)

    runtime.register(handler, "h", prestart_hooks=[warm.warm_up], concurrency_modifier=lambda _: 3)
    jobs = [runtime.submit("h", {"input": i}) for i in range(4)]
    assert warm.entered.wait(T)
    poll(lambda: [job.status for job in jobs] == [JobStatus.IN_PROGRESS] * 3 + [JobStatus.IN_QUEUE])
    assert not called.is_set()  # held: taken by the worker, the handler not called
    taken = time.perf_counter()
    warm.gate.open()  # type: ignore[union-attr]
    assert [job.wait(T).output["warm"] for job in jobs] == [True] * 4
    assert warm.runs == 1
    for job in jobs[:3]:  # taken at once, as the SDK takes jobs during the phase: the wait is executionTime
        held_ms = (taken - job._t_start) * 1000  # type: ignore[operator]
        assert job.execution_time is not None and job.execution_time >= held_ms - 1, job.to_status()
    queued_ms = (taken - jobs[3]._t_submit) * 1000  # queued behind them: the wait is its delayTime
    assert jobs[3].delay_time is not None and jobs[3].delay_time >= queued_ms - 1, jobs[3].to_status()
    assert [line.text for line in jobs[0].logs] == ["warming up\n"]
    assert {line.stream for job in jobs[:3] for line in job.logs} == {"prestart"}


def test_hooks_run_in_registration_order_sync_on_a_thread_async_on_the_handlers_loop(runtime: Runtime) -> None:
    seen: list[tuple[str, str]] = []

    async def load_model() -> None:
        await asyncio.sleep(0.05)
        seen.append(("load_model", threading.current_thread().name))

    def compile_kernels() -> Any:
        seen.append(("compile_kernels", threading.current_thread().name))

        async def later() -> None:  # a sync hook's awaitable result is awaited on the loop, as the SDK does
            seen.append(("awaited", threading.current_thread().name))

        return later()

    async def handler(job: dict[str, Any]) -> Any:
        return {"order": [name for name, _ in seen], "loop": threading.current_thread().name}

    runtime.register(handler, "h", prestart_hooks=[load_model, compile_kernels], prestart_timeout=30)
    output = runtime.submit("h", {"input": 1}).wait(T).output
    assert output["order"] == ["load_model", "compile_kernels", "awaited"]
    threads = dict(seen)
    assert threads["load_model"] == threads["awaited"] == output["loop"]  # the worker's own loop
    assert threads["compile_kernels"].startswith("rp-prestart-") and threads["compile_kernels"] != output["loop"]


def test_a_hook_runs_for_no_job(runtime: Runtime) -> None:
    found: list[Any] = []
    runtime.register(lambda job: "ok", "h", prestart_hooks=[lambda: found.append(current_job())])
    assert runtime.submit("h", {"input": 1}).wait(T).output == "ok"
    assert found == [None]


# ---- failures ------------------------------------------------------------------------------------
def test_a_failing_hook_fails_every_held_job_with_the_sdks_payload(runtime: Runtime, monkeypatch: Any) -> None:
    monkeypatch.setenv("RUNPOD_POD_ID", "pod-7")
    monkeypatch.delenv("RUNPOD_LOG_CAPTURE", raising=False)
    tries = []
    both_held = threading.Event()  # the hook fails once both jobs are held (else the second gets the next worker)

    def load_weights() -> None:
        tries.append(1)
        print("loading weights from /models/missing.bin", flush=True)
        if len(tries) == 1:
            both_held.wait(T)
            raise FileNotFoundError("no weights at /models/missing.bin")

    runtime.register(lambda job: "ran", "h", prestart_hooks=[load_weights], concurrency_modifier=lambda _: 2,
                     refresh_worker=True)
    jobs = [runtime.submit("h", {"input": i}) for i in range(2)]
    both_held.set()
    for job in jobs:
        info = payload(job.wait(T))
        assert list(info) == [*PAYLOAD_KEYS, "logs"]
        assert info["event"] == "prestart_failed" and info["error_type"] == "FileNotFoundError"
        assert info["error_message"] == "no weights at /models/missing.bin"
        assert info["hook"] == "load_weights" and info["worker_id"] == "pod-7"
        assert info["logs"] == "loading weights from /models/missing.bin\n"
        tb = info["error_traceback"]
        assert tb.startswith("Traceback (most recent call last):\n") and "in load_weights" in tb
        assert "rp_jupyter" not in tb and tb.endswith("FileNotFoundError: no weights at /models/missing.bin\n")
    assert len(tries) == 1
    # the worker is gone: the next job gets a new one, which runs the hooks again (and now they pass)
    again = runtime.submit("h", {"input": 3}).wait(T)
    assert (again.status, again.output, len(tries)) == (JobStatus.COMPLETED, "ran", 2)
    assert again.result_body is not None and again.result_body.get("stopPod") is True


@pytest.mark.parametrize("exc", [SystemExit(3), KeyboardInterrupt(), asyncio.CancelledError()])
def test_a_hook_raising_a_base_exception_fails_the_jobs_and_the_runtime_goes_on(runtime: Runtime,
                                                                                exc: BaseException) -> None:
    def hook() -> None:
        raise exc

    runtime.register(lambda job: "ran", "h", prestart_hooks=[hook])
    assert payload(runtime.submit("h", {"input": 1}).wait(T))["error_type"] == type(exc).__name__
    runtime.register(lambda job: "ran", "h2")
    assert runtime.run_sync("h2", {"input": 1}, wait=T)["output"] == "ran"


def test_without_capture_the_payload_has_no_logs(runtime: Runtime, monkeypatch: Any) -> None:
    monkeypatch.setenv("RUNPOD_LOG_CAPTURE", " OFF ")

    def hook() -> None:
        print("loading")
        raise RuntimeError("broken")

    runtime.register(lambda job: "ran", "h", prestart_hooks=[hook])
    assert list(payload(runtime.submit("h", {"input": 1}).wait(T))) == PAYLOAD_KEYS


def test_the_phase_past_prestart_timeout_fails_at_the_deadline_and_the_hook_is_left(runtime: Runtime,
                                                                                   gate: Any) -> None:
    warm = Warm(gate())
    runtime.register(warm.handler, "h", prestart_hooks=[warm.warm_up], prestart_timeout=0.5)
    started = time.monotonic()
    job = runtime.submit("h", {"input": 1}).wait(T)
    assert 0.45 <= time.monotonic() - started < 5
    info = payload(job)
    assert info["error_type"] == "PrestartTimeout" and info["hook"] == "warm_up"
    assert info["error_message"] == "prestart hook 'warm_up' exceeded prestart_timeout of 0.5s"
    assert info["logs"] == "warming up\n"
    tb = info["error_traceback"].splitlines()
    assert any("in warm_up" in line for line in tb) and "self.gate.wait()" in "\n".join(tb)  # where it hung
    assert tb[-1] == ("runpod.serverless.modules.rp_prestart.PrestartTimeout: prestart hook 'warm_up' "
                      "exceeded prestart_timeout of 0.5s")
    assert "left to end on its own" in job.warnings[0]
    [call] = runtime.abandoned
    assert (call.handler, call.job_id, call.kind) == ("h", "", "prestart") and "self._flag.wait(timeout)" in call.where
    assert "prestart hook of handler 'h'" in call.describe()
    warm.gate.open()  # type: ignore[union-attr]
    poll(lambda: not runtime.abandoned)  # listed until it returned
    assert runtime.submit("h", {"input": 2}).wait(T).output == {"warm": True, "runs": 2, "x": 2}


def test_an_async_hook_blocking_its_loop_cannot_hold_the_timeout_back(runtime: Runtime, gate: Any) -> None:
    blocked = gate()

    async def hook() -> None:
        blocked.wait()  # a blocking call inside async def: the loop cannot run its timeout

    async def handler(job: dict[str, Any]) -> str:
        return "ran"

    runtime.register(handler, "h", prestart_hooks=[hook], prestart_timeout=0.3)
    job = runtime.submit("h", {"input": 1}).wait(T)
    assert payload(job)["error_type"] == "PrestartTimeout"
    assert runtime.abandoned[0].kind == "prestart"
    blocked.open()
    assert runtime.run_sync("h", {"input": 2}, wait=T)["output"] == "ran"  # a new worker ran the hook again
    poll(lambda: not runtime.abandoned)


# ---- a hook that hangs stalls nothing else ---------------------------------------------------------
def test_a_hanging_hook_stalls_nothing_else_and_a_held_job_can_be_cancelled(runtime: Runtime, gate: Any) -> None:
    warm = Warm(gate())
    runtime.register(warm.handler, "h", prestart_hooks=[warm.warm_up])
    held = runtime.submit("h", {"input": 1})
    second = runtime.submit("h", {"input": 2})
    assert warm.entered.wait(T)
    runtime.register(lambda job: job["input"], "other")  # registration waits on nothing
    assert runtime.run_sync("other", {"input": 5}, wait=T)["output"] == 5
    assert second.status is JobStatus.IN_QUEUE
    held.cancel()
    assert held.wait(T).status is JobStatus.CANCELLED
    poll(lambda: second.status is JobStatus.IN_PROGRESS)  # the cancelled job's slot is free at once: held now
    checked = threading.Event()  # the timer thread runs its timers in order: this one after the stop's check
    runtime._scheduler.timers.at(time.monotonic() + 2 * runtime.stall_threshold, checked.set)
    assert checked.wait(T)
    assert not runtime.abandoned and warm.runs == 0  # a cancelled held job abandons nothing
    warm.gate.open()  # type: ignore[union-attr]
    assert second.wait(T).output == {"warm": True, "runs": 1, "x": 2}


def test_a_held_job_timing_out_replaces_the_worker_whose_hook_hangs(runtime: Runtime, gate: Any) -> None:
    warm = Warm(gate())
    runtime.register(warm.handler, "h", prestart_hooks=[warm.warm_up])
    job = runtime.submit("h", {"input": 1, "policy": {"executionTimeout": 300}})
    assert job.wait(T).status is JobStatus.TIMED_OUT
    poll(lambda: runtime.abandoned)
    assert runtime.abandoned[0].kind == "prestart"
    poll(lambda: any("the worker is replaced" in w for w in job.warnings))
    warm.gate.open()  # type: ignore[union-attr]
    assert runtime.submit("h", {"input": 2}).wait(T).output["warm"] is True
    poll(lambda: not runtime.abandoned)


# ---- versions and registration ------------------------------------------------------------------------
def test_each_version_runs_its_hooks_and_kept_hooks_are_not_run(runtime: Runtime) -> None:
    warm = Warm()
    spec = runtime.register(warm.handler, "h", prestart_hooks=[warm.warm_up])
    assert not spec.prestart_done.is_set()
    assert runtime.submit("h", {"input": 1}).wait(T).output["runs"] == 1
    assert spec.prestart_done.is_set()
    runtime.register(warm.handler, "h", prestart_hooks=[warm.warm_up])  # a new version: a new worker
    assert runtime.submit("h", {"input": 2}).wait(T).output["runs"] == 2
    kept = runtime.register(warm.handler, "h", prestart_kept=[warm.warm_up])
    assert runtime.submit("h", {"input": 3}).wait(T).output["runs"] == 2
    assert kept.all_prestart_hooks == (warm.warm_up,) and "warm_up (ran before)" in kept.describe()


@pytest.mark.parametrize(
    ("hooks", "timeout", "message"),
    [
        ("warm_up", None, "prestart_hooks must be a list of functions, got str"),
        ([42], None, "a prestart hook must be a function taking no arguments, got int"),
        ([], 0, "prestart_timeout must be a number of seconds > 0"),
        ([], -1, "prestart_timeout must be a number of seconds > 0"),
        ([], "30", "prestart_timeout must be a number of seconds > 0"),
        ([], True, "prestart_timeout must be a number of seconds > 0"),
        ([], float("nan"), "prestart_timeout must be a number of seconds > 0"),
    ],
)
def test_bad_hooks_or_timeouts_are_one_line_errors(runtime: Runtime, hooks: Any, timeout: Any, message: str) -> None:
    with pytest.raises(RegistrationError, match="^" + message.replace("(", r"\(")):
        runtime.register(lambda job: 1, "h", prestart_hooks=hooks, prestart_timeout=timeout)
    assert "h" not in runtime.handlers


def test_shutdown_is_not_held_back_by_a_hanging_hook_and_names_it(gate: Any, caplog: Any) -> None:
    runtime = Runtime()
    warm = Warm(gate())
    runtime.register(warm.handler, "h", prestart_hooks=[warm.warm_up])
    job = runtime.submit("h", {"input": 1})
    assert warm.entered.wait(T)
    with caplog.at_level("INFO", logger="rp_jupyter"):
        cancelled = runtime.shutdown(timeout=2.0)
    assert cancelled == [job] and job.status is JobStatus.CANCELLED
    assert "abandoned prestart hook of handler 'h'" in caplog.text and "self._flag.wait" in caplog.text
    warm.gate.open()  # type: ignore[union-attr]
