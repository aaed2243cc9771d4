"""The `rp_jupyter` comm in a real kernel, spoken as the JupyterLab extension speaks it."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from rp_jupyter.magics import _comm
from rp_jupyter.runtime import Runtime

HANDLER = '''%%rp_handler echo
def handler(job):
    return {"echo": job["input"]}
'''
SLOW = '''%%rp_handler slow
import time
def handler(job):
    for _ in range(3000):  # 30 s: still running when the cancel lands, however slow the machine
        time.sleep(0.01)
    return "late"
'''


class Lab:
    """The extension's end of the comm, over the kernel's ZMQ channels."""

    def __init__(self, kernel: Any) -> None:
        self.kernel, self.comm_id, self.next = kernel, None, 0
        self.seen: list[dict[str, Any]] = []  # every message on our comm, in order

    def _send(self, msg_type: str, content: dict[str, Any]) -> None:
        client = self.kernel.client
        client.shell_channel.send(client.session.msg(msg_type, content))

    def attach(self) -> dict[str, Any]:
        """What a page opened after %load_ext does: comm_info, then open with subscribe."""
        client = self.kernel.client
        msg_id = client.comm_info(target_name="rp_jupyter")
        reply = self.kernel.reply(msg_id)
        assert reply["status"] == "ok" and reply["comms"], reply
        self.comm_id = uuid.uuid4().hex
        self._send("comm_open", {"comm_id": self.comm_id, "target_name": "rp_jupyter", "data": {"cmd": "subscribe"}})
        return self.snapshot_where(lambda s: True)

    def command(self, cmd: str, **args: Any) -> dict[str, Any]:
        self.next += 1
        self._send("comm_msg", {"comm_id": self.comm_id, "data": {"cmd": cmd, "id": str(self.next), **args}})
        return self._data_where(lambda d: d.get("type") == "reply" and d.get("id") == str(self.next))

    def snapshot_where(self, done: Any) -> dict[str, Any]:
        return self._data_where(lambda d: d.get("type") == "snapshot" and done(d))

    def _data_where(self, done: Any) -> dict[str, Any]:
        """The first data on our comm (seen before, or arriving within 30 s) for which ``done``."""
        for data in self.seen:
            if done(data):
                return data

        def match(message: dict[str, Any]) -> bool:
            if message["msg_type"] != "comm_msg" or message["content"]["comm_id"] != self.comm_id:
                return False
            self.seen.append(message["content"]["data"])
            return bool(done(self.seen[-1]))

        self.kernel.iopub_until(match, timeout=30)
        return self.seen[-1]


@pytest.fixture
def lab(kernel: Any) -> Lab:
    kernel.execute("%load_ext rp_jupyter")
    return Lab(kernel)


def test_load_ext_announces_the_kernel_to_an_open_lab(kernel: Any) -> None:
    msg_id = kernel.send("%load_ext rp_jupyter")
    opened = [m for m in kernel.iopub(msg_id) if m["msg_type"] == "comm_open"]
    assert [m["content"]["target_name"] for m in opened] == ["rp_jupyter"]
    assert opened[0]["content"]["data"] == {"type": "hello"}  # no "state" key: nbclient would store it


def test_snapshot_handlers_jobs_counts_gpu(lab: Lab, kernel: Any) -> None:
    first = lab.attach()
    assert first["handlers"] == [] and first["gpu"] and first["features"] == {"export": True, "serve": True, "tests": True}
    kernel.execute(HANDLER)
    snap = lab.snapshot_where(lambda s: s["handlers"])
    assert snap["handlers"][0] | {"request": None} == {
        "name": "echo", "kind": "sync", "aggregate": False, "concurrency": 1, "refresh_worker": False,
        "timeout": 600.0, "jobs": 0, "request": None,
    }
    kernel.execute('job = %rp_run echo {"input": {"n": 1}}\njob.wait(10)')
    snap = lab.snapshot_where(lambda s: s["jobs"] and s["jobs"][-1]["status"] == "COMPLETED")
    job = snap["jobs"][-1]
    assert job["handler"] == "echo" and job["delay_ms"] is not None and job["execution_ms"] is not None
    assert snap["counts"]["COMPLETED"] == 1 and snap["counts"]["IN_PROGRESS"] == 0


def test_run_with_the_last_request_and_cancel(lab: Lab, kernel: Any) -> None:
    kernel.execute(HANDLER + "\n")
    kernel.execute('%rp_run echo {"input": {"again": true}} --sync')
    lab.attach()
    reply = lab.command("run", handler="echo")
    assert reply["ok"], reply
    snap = lab.snapshot_where(lambda s: s["counts"]["COMPLETED"] == 2)
    assert snap["handlers"][0]["request"] == '{"input": {"again": true}}'

    kernel.execute(SLOW)
    assert lab.command("run", handler="slow")["ok"]
    running = lab.snapshot_where(lambda s: any(j["handler"] == "slow" and j["status"] == "IN_PROGRESS" for j in s["jobs"]))
    job_id = next(j["id"] for j in running["jobs"] if j["handler"] == "slow")
    assert lab.command("cancel", job=job_id)["ok"]
    lab.snapshot_where(lambda s: any(j["id"] == job_id and j["status"] == "CANCELLED" for j in s["jobs"]))
    assert not lab.command("cancel", job="nope")["ok"]
    assert not lab.command("bogus")["ok"]


def test_serve_and_stop_through_the_magic(lab: Lab, kernel: Any) -> None:
    kernel.execute(HANDLER)
    lab.attach()
    reply = lab.command("serve", port=0)
    assert reply["ok"] and "serving RunPod's endpoint API" in reply["text"], reply
    served = lab.snapshot_where(lambda s: s["server"])
    assert served["server"].startswith("http://127.0.0.1:")
    assert lab.command("stop_serve")["ok"]
    lab.snapshot_where(lambda s: s["server"] is None)


def test_export_through_the_magic(lab: Lab, kernel: Any, tmp_path: Any) -> None:
    kernel.execute(HANDLER)
    kernel.execute('%rp_run echo {"input": {"n": 1}} --sync')
    lab.attach()
    reply = lab.command("export", handler="echo", out=str(tmp_path / "echo worker"))  # a space: quoted
    assert reply["ok"], reply
    assert (tmp_path / "echo worker" / "handler.py").exists()
    failed = lab.command("export", handler="missing", out=str(tmp_path / "x"))
    assert not failed["ok"] and "missing" in failed["text"]


def test_keep_a_job_as_a_test_and_export_the_hub_files(lab: Lab, kernel: Any, tmp_path: Any) -> None:
    kernel.execute(f"%cd {tmp_path}")
    kernel.execute(HANDLER)
    kernel.execute('%rp_run echo {"input": {"n": 1}} --sync')
    snap = lab.attach()
    job_id = snap["jobs"][-1]["id"]
    reply = lab.command("keep", handler="echo", job=job_id)
    assert reply["ok"] and f"kept test 'echo_1' (runpod-tests/echo.json) from job {job_id}" in reply["text"], reply
    again = lab.command("keep", handler="echo", job="nope")
    assert not again["ok"] and "'nope' is not among this kernel's jobs" in again["text"]
    reply = lab.command("export", handler="echo", out=str(tmp_path / "w"), hub=True)
    assert reply["ok"] and ".runpod/hub.json" in reply["text"] and "hub problem" not in reply["text"], reply
    tests = (tmp_path / "w" / ".runpod" / "tests.json").read_text()
    assert '"name": "echo_1"' in tests and '"n": 1' in tests


def test_unload_closes_the_comm(lab: Lab, kernel: Any) -> None:
    lab.attach()
    msg_id = kernel.send("%unload_ext rp_jupyter")
    closed = [m for m in kernel.iopub(msg_id) if m["msg_type"] == "comm_close"]
    assert lab.comm_id in {m["content"]["comm_id"] for m in closed}


# ---- the pure parts -----------------------------------------------------------------------------
def test_snapshot_of_a_runtime() -> None:
    runtime = Runtime()
    try:
        def gen(job: Any) -> Any:
            yield 1

        def modifier(current: int) -> int:
            return 2

        runtime.register(gen, "gen", return_aggregate_stream=True, concurrency_modifier=modifier)
        runtime.submit("gen", {"input": {}}).wait(10)
        snap = _comm.snapshot(runtime.handlers, runtime.jobs, "CPU", {"export": False, "serve": False}, None)
    finally:
        runtime.shutdown(2)
    assert snap["handlers"][0]["kind"] == "generator" and snap["handlers"][0]["concurrency"] == "modifier"
    assert snap["handlers"][0]["aggregate"] is True and snap["jobs"][0]["chunks"] == 1
    assert "state" not in snap


def test_gpu_name_without_torch_or_nvidia_smi(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_comm, "_gpu", [])
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delitem(__import__("sys").modules, "torch", raising=False)
    assert _comm.gpu_name() == "CPU"
