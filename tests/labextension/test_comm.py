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
    """The extension's end of the comm, over the kernel's ZMQ channels: plain comm_msg to the kernel's
    own comm (no comm_open, no subshell), as connection.ts sends them."""

    def __init__(self, kernel: Any) -> None:
        self.kernel, self.comm_id, self.next = kernel, None, 0
        self.page = uuid.uuid4().hex[:8]  # command ids are unique per page
        self.seen: list[dict[str, Any]] = []  # every message on our comm, in order

    def _send(self, msg_type: str, content: dict[str, Any]) -> None:
        client = self.kernel.client
        client.shell_channel.send(client.session.msg(msg_type, content))

    def comms(self) -> dict[str, Any]:
        reply = self.kernel.reply(self.kernel.client.comm_info(target_name="rp_jupyter"))
        assert reply["status"] == "ok", reply
        return dict(reply["comms"])

    def attach(self) -> dict[str, Any]:
        """What a page opened after %load_ext does: comm_info for the kernel's comm, then subscribe."""
        comms = self.comms()
        assert len(comms) == 1, comms
        self.comm_id = next(iter(comms))
        self.kernel.iopub(self.kernel.send("None"))  # snapshots sent before now (from %load_ext on) are old
        self.seen.clear()
        self.send({"cmd": "subscribe"})
        return self.snapshot_where(lambda s: True)

    def send(self, data: dict[str, Any]) -> None:
        self._send("comm_msg", {"comm_id": self.comm_id, "data": data})

    def command(self, cmd: str, **args: Any) -> dict[str, Any]:
        self.next += 1
        request_id = f"{self.page}-{self.next}"
        self.send({"cmd": cmd, "id": request_id, **args})
        self._data_where(lambda d: d.get("type") == "ack" and d.get("id") == request_id)
        return self._data_where(lambda d: d.get("type") == "reply" and d.get("id") == request_id)

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


def test_load_ext_says_hello_to_open_pages_without_opening_a_comm_on_them(kernel: Any) -> None:
    msg_id = kernel.send("%load_ext rp_jupyter")
    messages = kernel.iopub(msg_id)
    assert not [m for m in messages if m["msg_type"] == "comm_open"]  # pages hold no comm: nothing to leave behind
    said = [m["content"] for m in messages if m["msg_type"] == "comm_msg"]
    assert said[0]["data"] == {"type": "hello", "target": "rp_jupyter"}  # no "state" key: nbclient would store it
    assert all(m["data"]["type"] == "snapshot" for m in said[1:])  # then snapshots: a page may listen already
    assert list(Lab(kernel).comms()) == [said[0]["comm_id"]]  # the comm a later page finds with comm_info


def test_pages_share_the_kernels_one_comm_and_a_retry_runs_a_command_once(lab: Lab, kernel: Any) -> None:
    kernel.execute(HANDLER)
    pages = [Lab(kernel) for _ in range(10)]  # ten page loads
    for page in pages:
        page.attach()
    assert len(lab.comms()) == 1  # no comm per page
    first = pages[-1]
    first.next += 1
    request = {"cmd": "run", "id": f"{first.page}-retry", "handler": "echo"}
    first.send(request)
    first.send(request)  # a Retry with the same id, before or after the first answer
    replies = [first._data_where(lambda d: d.get("type") == "reply")]
    replies.append(first._data_where(lambda d, seen=replies[0]: d.get("type") == "reply" and d is not seen))
    assert replies[0] == replies[1] and replies[0]["ok"]
    snap = first.snapshot_where(lambda s: s["counts"]["COMPLETED"] == 1)
    assert len(snap["jobs"]) == 1  # one job, not two
    msg_id = kernel.send("None")
    snapshots = [m for m in kernel.iopub(msg_id) if m["msg_type"] == "comm_msg"]
    assert len(snapshots) <= 1  # one snapshot for every page, not one a page


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
    # the call ignores its cancel (a sync handler cannot be stopped): abandoned, and the sidebar says so
    abandoned = lab.snapshot_where(lambda s: bool(s["abandoned"]))["abandoned"]
    assert len(abandoned) == 1 and "abandoned call of handler 'slow'" in abandoned[0] and job_id in abandoned[0]
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


def test_unload_says_bye_and_forgets_the_comm(lab: Lab, kernel: Any) -> None:
    lab.attach()
    msg_id = kernel.send("%unload_ext rp_jupyter")
    said = [m["content"] for m in kernel.iopub(msg_id) if m["msg_type"] == "comm_msg"]
    assert {"comm_id": lab.comm_id, "data": {"type": "bye"}} in said
    assert lab.comms() == {}
    kernel.execute("%load_ext rp_jupyter")  # loaded again: a new comm, found as before
    assert lab.attach()["type"] == "snapshot"


def test_a_front_end_closing_the_comm_gets_a_new_one(lab: Lab, kernel: Any) -> None:
    """A front end without the extension closes a comm it does not know: the kernel makes another."""
    lab.attach()
    lab._send("comm_close", {"comm_id": lab.comm_id, "data": {}})
    deadline = __import__("time").monotonic() + 30
    while lab.comms() in ({}, {lab.comm_id: {"target_name": "rp_jupyter"}}):
        assert __import__("time").monotonic() < deadline, "no new comm"
    assert lab.attach()["type"] == "snapshot"


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


def test_a_lab_run_is_one_entry_of_the_snapshot() -> None:
    from rp_jupyter import lab
    from rp_jupyter.widgets import use_job_groups

    runtime = Runtime()
    use_job_groups(lab.lab_run_of)
    try:
        runtime.register(lambda job: job["input"], "echo")
        runtime.submit("echo", {"input": 1}).wait(10)
        lab.measure(runtime, "echo", [{"input": 2}], levels=(1, 2), jobs=4)
        runtime.register(lambda job: job["input"], lab.probe_name("echo", 99, 4))  # a run in progress
        snap = _comm.snapshot(runtime.handlers, runtime.jobs, "CPU", {"export": True, "serve": True}, None)
    finally:
        use_job_groups(None)
        runtime.shutdown(2)
    assert [h["name"] for h in snap["handlers"]] == ["echo"] and snap["handlers"][0]["jobs"] == 1
    assert len(snap["jobs"]) == 1 and snap["counts"]["COMPLETED"] == 9  # the status bar counts every job
    [run] = snap["lab_runs"]
    assert run["handler"] == "echo" and run["jobs"] == 8 and run["levels"] == [1, 2]
    assert run["status"] == "COMPLETED" and run["counts"] == {"COMPLETED": 8}


def test_commands_reach_the_hub_after_a_subshell_it_sent_from_is_deleted(lab: Lab, kernel: Any) -> None:
    """ipykernel 7.4 routes a comm's incoming messages to the subshell of the request that was current
    when the comm last sent: for our snapshots (sent from the views' clock thread) that is whatever any
    shell handled last — a widget's message on a page's per-comm-target subshell. JupyterLab deletes that
    subshell when the last comm of its target closes (job views close when their jobs end), and every
    command was then dropped ("Unknown subshell_id"): Run and Retry said "no answer" for good. Pages
    address the main shell; so must the kernel."""
    if not kernel.has_subshells():
        pytest.skip("this ipykernel has no subshells")
    kernel.execute(HANDLER)
    lab.attach()
    subshell = kernel.control("create_subshell_request", {})["subshell_id"]
    # a request on the subshell, current while the clock thread sends a snapshot (the job's end)
    msg_id = kernel.send_on_subshell(subshell, "import rp_jupyter\njob = rp_jupyter.session.run('echo', "
                                                "{'input': 1})\njob.wait(30)")
    lab.snapshot_where(lambda s: s["counts"]["COMPLETED"] == 1)
    assert kernel.reply(msg_id)["status"] == "ok"
    assert kernel.control("delete_subshell_request", {"subshell_id": subshell})["status"] == "ok"
    reply = lab.command("run", handler="echo")  # the next page's Run, on the main shell
    assert reply["ok"], reply
