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
