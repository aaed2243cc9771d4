"""The light install: the wheel, installed into a fresh environment that has only the five core
packages, adds at most 5 packages and 20 MB, upgrades nothing, ships the prebuilt extension, and the
kernel side works there — ``%load_ext``, a live job view, ``%rp_export --verify``, ``%rp_serve`` —
while a feature of an extra that is not installed says in one line what to install.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

from ._env import CORE, Footprint, Venv, build_wheel, core_pins, footprint

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import Kernel  # the real-kernel driver the other tests use

MAX_PACKAGES, MAX_MB = 5, 20
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def light(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Venv, Footprint]]:
    scratch = tmp_path_factory.mktemp("light")
    wheel = build_wheel(scratch / "wheel")
    venv = Venv.create(scratch / "venv")
    venv.install(*core_pins())
    yield venv, footprint(venv, wheel)


def test_the_wheel_adds_at_most_five_packages_and_20_mb_and_upgrades_nothing(light) -> None:
    venv, added = light
    print(added.summary())
    assert "rp-jupyter" in added.added
    assert len(added.added) <= MAX_PACKAGES, added.summary()
    assert added.added_mb <= MAX_MB, added.summary()
    assert added.changed == {}, added.summary()
    installed = venv.packages()
    for absent in ("jupyterlab", "notebook", "nbclient", "nbconvert", "matplotlib", "numpy", "jupyter-server"):
        assert absent not in installed, f"{absent} came with the light install: {added.summary()}"
    assert set(CORE) <= set(installed)


def test_the_wheel_ships_the_prebuilt_labextension(light) -> None:
    venv, _ = light
    built = venv.path / "share" / "jupyter" / "labextensions" / "rp-jupyter"
    assert json.loads((built / "package.json").read_text())["name"] == "rp-jupyter"
    assert (built / "install.json").exists() and list((built / "static").glob("remoteEntry.*.js"))


# ---- a real kernel of the light environment ----------------------------------------------------
@pytest.fixture(scope="module")
def kernel(light, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    venv, _ = light
    home = tmp_path_factory.mktemp("notebook")
    specs = home / "kernels"
    (specs / "light").mkdir(parents=True)
    (specs / "light" / "kernel.json").write_text(json.dumps({
        "argv": [str(venv.python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "light", "language": "python",
    }))
    manager = KernelManager(kernel_name="light", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(specs)]))
    manager.start_kernel(env={**venv.env(), "RP_JUPYTER_TEST_HOME": str(home)}, cwd=str(home))
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        yield Kernel(manager, client)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


HANDLER = '''%%rp_handler echo
import threading
import runpod
release = threading.Event()
def handler(job):
    release.wait(30)
    return {"echo": job["input"]}
runpod.serverless.start({"handler": handler})
'''


def _errors(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m["content"] for m in messages if m["msg_type"] == "error"]


def _text(messages: list[dict[str, Any]]) -> str:
    parts = []
    for message in messages:
        content = message["content"]
        if message["msg_type"] == "stream":
            parts.append(content["text"])
        elif message["msg_type"] in ("display_data", "execute_result"):
            parts.append(content["data"].get("text/plain", ""))
    return "".join(parts)


def run(kernel: Kernel, code: str, timeout: float = 120) -> list[dict[str, Any]]:
    """Run a cell that must succeed; its iopub messages."""
    msg_id = kernel.send(code)
    messages = kernel.iopub(msg_id, timeout)
    reply = kernel.reply(msg_id, timeout)
    assert reply["status"] == "ok", f"{code!r}: {reply.get('ename')}: {reply.get('evalue')}"
    return messages


def test_load_ext_and_a_live_job_view_in_the_light_kernel(kernel: Kernel) -> None:
    run(kernel, "%load_ext rp_jupyter")
    assert "jupyterlab" not in _text(run(kernel, "import sys; print(sorted(m for m in sys.modules if m in "
                                              "('jupyterlab', 'matplotlib', 'nbclient', 'notebook')))"))
    run(kernel, HANDLER)
    shown = run(kernel, 'job = %rp_run echo {"input": {"x": 1}}\njob')  # running: the live view
    views = [m for m in shown if m["msg_type"] in ("display_data", "execute_result")
             and "application/vnd.jupyter.widget-view+json" in m["content"]["data"]]
    opened = [m for m in shown if m["msg_type"] == "comm_open"]
    assert views and opened, [m["msg_type"] for m in shown]
    comm_id = views[0]["content"]["data"]["application/vnd.jupyter.widget-view+json"]["model_id"]
    kernel.client.execute("release.set(); job.wait(60)")
    final = kernel.iopub_until(lambda m: m["msg_type"] == "comm_msg" and m["content"]["comm_id"] == comm_id
                               and "result" in m["content"]["data"].get("state", {}), timeout=60)
    assert final[-1]["content"]["data"]["state"]["header"]["status"] == "COMPLETED"
    done = kernel.execute("job.wait(60)", status="job.status.value", output="job.output")
    assert done == {"status": "'COMPLETED'", "output": "{'echo': {'x': 1}}"}


PLAIN = """%%rp_handler plain
import runpod
def handler(job):
    if job["input"].get("fail"):
        raise ValueError("asked to fail")
    return {"echo": job["input"]}
runpod.serverless.start({"handler": handler})
"""


def test_export_verify_runs_the_real_sdk_in_the_light_env(kernel: Kernel) -> None:
    run(kernel, PLAIN)
    run(kernel, 'import rp_jupyter\nrp_jupyter.run_sync("plain", {"input": {"a": 1}})\nrp_jupyter.run_sync("plain", {"input": {"fail": 1}})')
    out = _text(run(kernel, "%rp_export plain --out plain-worker --verify", timeout=240))
    assert "2 job(s) under the real runpod" in out and "all match the notebook" in out, out
    home = Path(kernel.execute("import os", cwd="os.getcwd()")["cwd"].strip("'"))
    assert (home / "plain-worker" / "handler.py").exists()


def test_rp_serve_answers_runsync_in_the_light_kernel(kernel: Kernel) -> None:
    run(kernel, "server = %rp_serve --port 0")
    seen = kernel.execute(
        "import httpx\nanswer = httpx.post(server.base_url + '/plain/runsync', json={'input': {'y': 2}}, timeout=60)",
        status="answer.status_code", body="answer.json()['status'], answer.json()['output']")
    assert seen == {"status": "200", "body": "('COMPLETED', {'echo': {'y': 2}})"}
    run(kernel, "%rp_serve --stop")


def test_a_missing_extra_is_one_line_saying_what_to_install(kernel: Kernel) -> None:
    bench = run(kernel, "report = %rp_bench plain --concurrency 1,2 --jobs 2\nreport", timeout=180)
    text = _text(bench)
    hints = [line for line in text.splitlines() if "pip install 'rp-jupyter[plots]'" in line]
    assert len(hints) == 1 and "matplotlib" in hints[0], text
    assert "recommended concurrency_modifier" in text and "concurrency" in text  # the table is there
    assert not any("image/png" in m["content"].get("data", {}) for m in bench if "data" in m["content"])

    msg_id = kernel.send("import rp_jupyter.lab\nrp_jupyter.lab.plot_png(report)", stop_on_error=False)
    (error,) = _errors(kernel.iopub(msg_id))
    assert error["ename"] == "MissingDependencyError"
    assert len(error["traceback"]) == 1 and "pip install 'rp-jupyter[plots]'" in error["traceback"][0], error
    assert os.linesep not in error["traceback"][0].strip()
