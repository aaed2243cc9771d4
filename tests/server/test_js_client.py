"""RunPod's official JavaScript SDK (npm ``runpod-sdk`` 1.1.2), unchanged, with ``baseUrl`` pointed at the
kernel: runSync short and long (its ``/status-sync`` fallback), run, status, statusSync, stream, cancel,
health, purgeQueue. Installed from ``tests/server/js/package-lock.json`` with ``npm ci`` (node is there
for the JupyterLab extension's build; dev.py installs Node.js from PyPI where the system has none)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rp_jupyter.runtime import Runtime
from rp_jupyter.server import HttpServer, PublicApi

from .conftest import TIMEOUT, Gate

JS = Path(__file__).resolve().parent / "js"
KEY = "js-key"


def _tool(name: str) -> str:
    venv_bin = Path(os.environ.get("VIRTUAL_ENV", Path(__file__).resolve().parents[2] / ".venv")) / "bin"
    found = shutil.which(name, path=f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}")
    if found is None:
        message = f"no {name} on PATH (dev.py setup installs Node.js when the system has none)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.fixture(scope="session")
def node() -> str:
    """``node``, with the SDK installed from the lockfile (once)."""
    node, npm = _tool("node"), _tool("npm")
    if not (JS / "node_modules" / "runpod-sdk" / "package.json").exists():
        env = {**os.environ, "PATH": f"{Path(node).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=JS, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"npm ci failed: {done.stderr[-2000:]}"
    return node


class _SeesStatusSync:
    """Wraps the app: opens ``gate`` when a ``/status-sync`` request arrives (the long job then ends)."""

    def __init__(self, app: Any, gate: Gate) -> None:
        self.app, self.gate, self.paths = app, gate, []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and "/status-sync/" in scope["path"]:
            self.paths.append(scope["path"])
            self.gate.open()
        await self.app(scope, receive, send)


@pytest.fixture
def js_server(runtime: Runtime) -> Iterator[tuple[str, _SeesStatusSync, Gate]]:
    long_gate, blocker_gate = Gate(), Gate()
    runtime.register(lambda job: job["input"], "echo")
    runtime.register(lambda job: long_gate.wait() or {"slow": job["input"]["n"]}, "slow")

    def tokens(job: dict[str, Any]) -> Iterator[str]:
        yield from "abc"[: job["input"]]

    runtime.register(tokens)
    runtime.register(lambda job: blocker_gate.wait(), "blocker")
    api = PublicApi(runtime, api_key=KEY)
    app = _SeesStatusSync(api.app, long_gate)
    http = HttpServer(app, runtime).start()
    yield f"{http.url}/v2", app, blocker_gate
    blocker_gate.open()
    http.stop()
    runtime.run_coroutine(api.aclose()).result(TIMEOUT)


def test_the_official_javascript_sdk_works_unchanged(
    node: str, js_server: tuple[str, _SeesStatusSync, Gate], runtime: Runtime, tmp_path: Path
) -> None:
    base_url, app, _ = js_server
    out = tmp_path / "results.json"
    done = subprocess.run([node, str(JS / "client.mjs"), base_url, KEY, str(out)], cwd=JS, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.read_text())

    short = results["runSyncShort"]
    assert short["status"] == "COMPLETED" and short["output"] == {"x": 1} and short["completed"] is True
    long = results["runSyncLong"]
    assert long["status"] == "COMPLETED" and long["output"] == {"slow": 2} and long["succeeded"] is True
    assert app.paths[0].startswith(f"/v2/slow/status-sync/{long['id']}?") or app.paths[0] == \
        f"/v2/slow/status-sync/{long['id']}"  # runSync fell back to /status-sync
    assert f"{long['id']}: COMPLETED" in done.stdout  # the SDK's own line after its statusSync

    assert results["run"] == {"id": results["run"]["id"], "status": "IN_QUEUE"}
    assert results["statusSync"]["status"] == "COMPLETED" and results["statusSync"]["output"] == 5
    assert results["status"]["output"] == 5 and results["status"]["completed"] is True
    assert results["stream"] == [{"output": "a"}, {"output": "b"}, {"output": "c"}]
    assert results["cancel"]["status"] == "CANCELLED"
    assert results["purgeQueue"] == {"removed": 2, "status": "completed"}
    assert results["health"]["jobs"]["completed"] == 2 and set(results["health"]["workers"]) == {"idle", "running"}
    assert results["missing"] in ({"thrown": 404}, {"status": 404, "statusText": "Not Found", "started": False})


def test_status_sync_lets_the_sdk_follow_a_job_past_runsyncs_wait(
    node: str, js_server: tuple[str, _SeesStatusSync, Gate], tmp_path: Path
) -> None:
    """The fallback route alone, as ``statusSync`` calls it: ``GET /status-sync/{id}?wait=ms``."""
    import httpx

    base_url, _, _ = js_server
    with httpx.Client(base_url=base_url, headers={"authorization": f"Bearer {KEY}"}, timeout=TIMEOUT) as http:
        job_id = http.post("/slow/run", json={"input": {"n": 9}}).json()["id"]
        body = http.get(f"/slow/status-sync/{job_id}?wait=90000").json()  # opens the gate, then waits for the end
    assert body["status"] == "COMPLETED" and body["output"] == {"slow": 9}
