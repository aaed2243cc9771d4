"""``%rp_serve`` in a real IPython shell: serves over HTTP, prints the URL and a curl line, stops."""

from __future__ import annotations

import socket
from typing import Any as Shell  # the `shell` fixture (tests/conftest.py)

import httpx
import pytest
from IPython.core.error import UsageError

from rp_jupyter import session
from rp_jupyter.magics._serve import serve_banner


def test_serve_then_stop(shell: Shell, capsys: pytest.CaptureFixture[str]) -> None:
    shell.run("import rp_jupyter\nrp_jupyter.register(lambda job: job['input'] + 1, 'inc')")
    server = shell.run("%rp_serve --port 0 --api-key k3y")
    printed = capsys.readouterr().out
    assert server.base_url in printed and "curl -s -X POST" in printed and "/inc/runsync" in printed
    assert "k3y" not in printed and "RUNPOD_ENDPOINT_BASE_URL=" in printed
    response = httpx.post(f"{server.base_url}/inc/runsync", json={"input": 1}, headers={"Authorization": "k3y"})
    assert response.json()["output"] == 2
    shell.run("%rp_serve --stop")
    assert "server stopped" in capsys.readouterr().out
    assert not server.running
    shell.run("%rp_serve --stop")
    assert "no server was running" in capsys.readouterr().out


def test_unload_stops_the_server(shell: Shell) -> None:
    server = shell.run("%rp_serve --port 0")
    shell.ip.run_line_magic("unload_ext", "rp_jupyter")
    assert not server.running and session._server is None
    shell.ip.run_line_magic("load_ext", "rp_jupyter")


def test_a_busy_port_is_one_line(shell: Shell) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        error = shell.fails(f"%rp_serve --port {busy.getsockname()[1]}")
    assert isinstance(error, UsageError) and "in use" in str(error)


def test_banner_without_handlers_or_key() -> None:
    text = serve_banner("http://127.0.0.1:8000/v2", [], with_key=False)
    assert "none yet" in text and "Authorization" not in text and "/<handler>/runsync" in text


def test_the_same_line_again_is_a_no_op_that_says_so(shell: Shell, capsys: pytest.CaptureFixture[str]) -> None:
    first = shell.run("%rp_serve --port 0")
    capsys.readouterr()
    again = shell.run("%rp_serve --port 0")  # Run All re-runs the cell
    assert again is first and first.running
    assert "already serving" in capsys.readouterr().out
    other = shell.run("%rp_serve --port 0 --api-key k2")  # other settings: a restart
    assert other is not first and not first.running and other.api_key == "k2"
    shell.run("%rp_serve --stop")


def test_allow_origin_is_repeatable_and_checked(shell: Shell, capsys: pytest.CaptureFixture[str]) -> None:
    shell.run('%%rp_handler\ndef handler(job):\n    return job["input"]\n')
    server = shell.run("%rp_serve --port 0 --allow-origin http://localhost:3000 --allow-origin https://app.example")
    assert "web pages allowed: http://localhost:3000, https://app.example" in capsys.readouterr().out
    response = httpx.post(f"{server.base_url}/handler/runsync", json={"input": 1},
                          headers={"origin": "https://app.example"}, timeout=10)
    assert response.json()["output"] == 1 and response.headers["access-control-allow-origin"] == "https://app.example"
    assert httpx.post(f"{server.base_url}/handler/run", json={"input": 1}, headers={"origin": "https://evil.example"},
                      timeout=10).status_code == 403
    error = shell.fails("%rp_serve --port 0 --allow-origin app.example")
    assert isinstance(error, UsageError) and "an origin like http://localhost:3000" in str(error)
    shell.run("%rp_serve --stop")


@pytest.mark.parametrize(("flags", "words"), [("--api-key ''", "empty API key"), ("--api-key 'a b'", "' '")])
def test_an_unusable_key_is_one_line(shell: Shell, flags: str, words: str) -> None:
    error = shell.fails(f"%rp_serve --port 0 {flags}")
    assert isinstance(error, UsageError) and words in str(error)
    assert session._server is None


def test_a_public_bind_prints_its_generated_key_once(shell: Shell, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNPOD_POD_ID", "pod42")
    with pytest.warns(UserWarning, match="generated API key"):
        server = shell.run("%rp_serve --host 0.0.0.0 --port 0")
    printed = capsys.readouterr().out
    assert f"API key (generated, shown once): {server.api_key}" in printed
    assert f"https://pod42-{server.port}.proxy.runpod.net/v2" in printed and "100 s" in printed
    shell.run("%rp_serve --host 0.0.0.0 --port 0")
    assert server.api_key not in capsys.readouterr().out  # once
    shell.run("%rp_serve --stop")


def test_the_pod_hint_on_a_loopback_bind(shell: Shell, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNPOD_POD_ID", "pod42")
    server = shell.run("%rp_serve --port 0")
    printed = capsys.readouterr().out
    assert "add " + str(server.port) + " to the Pod's exposed HTTP ports" in printed and "--host 0.0.0.0" in printed
    shell.run("%rp_serve --stop")
