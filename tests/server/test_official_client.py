"""The official ``runpod`` client (1.12.0), unchanged, against the server.

``runpod`` reads ``RUNPOD_ENDPOINT_BASE_URL`` once, when it is imported: one test starts a fresh
Python with the variable set, as a user would; the others set ``runpod.endpoint_url_base``, which is
where the client reads that value from (runpod/endpoint/runner.py, ``RunPodClient.__init__``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from typing import Any

import pytest

from rp_jupyter.runtime import Runtime
from rp_jupyter.server import PublicServer

from .conftest import Gate

runpod = pytest.importorskip("runpod")

KEY = "local-key"


@pytest.fixture
def endpoint_of(server_with_key: PublicServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(runpod, "endpoint_url_base", server_with_key.base_url)
    return lambda name: runpod.Endpoint(name, api_key=KEY)


@pytest.fixture
def server_with_key(make_server: Any) -> PublicServer:
    server: PublicServer = make_server(api_key=KEY)
    return server


def test_run_sync(runtime: Runtime, endpoint_of: Any) -> None:
    runtime.register(lambda job: {"hi": job["input"]["name"]}, "greet")
    assert endpoint_of("greet").run_sync({"input": {"name": "Ada"}}, timeout=10) == {"hi": "Ada"}
    assert endpoint_of("greet").run_sync({"name": "Bob"}, timeout=10) == {"hi": "Bob"}  # wrapped by the client


def test_run_status_output_and_health(runtime: Runtime, endpoint_of: Any) -> None:
    gate = Gate()
    runtime.register(lambda job: gate.wait() or job["input"] * 2, "double")
    endpoint = endpoint_of("double")
    job = endpoint.run({"input": 21})
    assert job.status() in ("IN_QUEUE", "IN_PROGRESS")
    assert endpoint.health()["jobs"]["inProgress"] + endpoint.health()["jobs"]["inQueue"] == 1
    gate.open()
    assert job.output(timeout=10) == 42
    assert job.status() == "COMPLETED"
    assert endpoint.health()["jobs"]["completed"] == 1


def test_stream(runtime: Runtime, endpoint_of: Any) -> None:
    def tokens(job: dict[str, Any]) -> Any:
        yield from ("a", "b", "c")

    runtime.register(tokens)
    job = endpoint_of("tokens").run({"input": 1})
    assert list(job.stream()) == ["a", "b", "c"]


def test_cancel(runtime: Runtime, endpoint_of: Any) -> None:
    gate, entered = Gate(), threading.Event()
    runtime.register(lambda job: entered.set() or gate.wait(), "slow")
    job = endpoint_of("slow").run({"input": 1})
    assert entered.wait(10)
    assert job.cancel() == {"id": job.job_id, "status": "CANCELLED"}
    assert job.status() == "CANCELLED"
    gate.open()


def test_a_wrong_key_is_runpods_unauthorized(runtime: Runtime, server_with_key: PublicServer,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runpod, "endpoint_url_base", server_with_key.base_url)
    runtime.register(lambda job: 1, "one")
    with pytest.raises(RuntimeError, match="401 Unauthorized"):
        runpod.Endpoint("one", api_key="wrong").health()


def test_the_environment_variable_works_in_a_fresh_process(runtime: Runtime, server_with_key: PublicServer) -> None:
    runtime.register(lambda job: job["input"]["n"] + 1, "inc")
    code = textwrap.dedent(f"""
        import runpod
        runpod.api_key = {KEY!r}
        endpoint = runpod.Endpoint("inc")
        print(endpoint.run_sync({{"input": {{"n": 1}}}}, timeout=10), endpoint.purge_queue()["status"])
    """)
    env = {**os.environ, "RUNPOD_ENDPOINT_BASE_URL": server_with_key.base_url}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["2", "completed"]
