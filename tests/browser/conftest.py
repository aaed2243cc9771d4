"""JupyterLab started on 127.0.0.1 by the test, and Debian's chromium driven by Playwright."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("RP_JUPYTER_CHROMIUM", "/usr/bin/chromium")
COMMS_OVER_SUBSHELLS = os.environ.get("RP_JUPYTER_COMMS_OVER_SUBSHELLS")
"""JupyterLab's `commsOverSubshells` setting for the servers started here (``disabled``, ``perComm``,
``perCommTarget``); unset: the app's default (JupyterLab >= 4.4 with ipykernel 7: per comm target).
The version matrix (dev.py) runs the browser tests with it ``disabled`` too."""
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Lab:
    def __init__(self, url: str, token: str, root: Path, app: str = "jupyterlab") -> None:
        self.url, self.token, self.root, self.app = url, token, root, app

    def notebook_url(self, name: str) -> str:
        if self.app == "notebook":
            return f"{self.url}/notebooks/{name}?token={self.token}"
        return f"{self.url}/lab/tree/{name}?reset&token={self.token}"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    yield from _serve("jupyterlab", tmp_path_factory)


@pytest.fixture(scope="module")
def notebook7(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    yield from _serve("notebook", tmp_path_factory)


def _serve(app: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp(app)
    config = root / ".config"
    (config / "labconfig").mkdir(parents=True)
    (config / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    port, token = _free_port(), secrets.token_hex(16)
    # the server's own config, user settings and workspaces: nothing read from or written to ~/.jupyter
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(config), "JUPYTERLAB_SETTINGS_DIR": str(root / ".settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(root / ".workspaces")}
    if COMMS_OVER_SUBSHELLS:
        kernels = root / ".settings" / "@jupyterlab" / "apputils-extension"
        kernels.mkdir(parents=True)
        (kernels / "kernels-settings.jupyterlab-settings").write_text(
            json.dumps({"commsOverSubshells": COMMS_OVER_SUBSHELLS}))
    expose = "--JupyterNotebookApp" if app == "notebook" else "--LabApp"
    command = [sys.executable, "-m", app, "--no-browser", "--ip=127.0.0.1", f"--port={port}",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--allow-root",
               f"{expose}.expose_app_in_browser=True"]
    log = root / "jupyter-lab.log"
    with log.open("wb") as sink:
        server = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
        try:
            _wait_for_port(port, server, log)
            yield Lab(f"http://127.0.0.1:{port}", token, root, app)
        finally:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(10)


def _wait_for_port(port: int, server: subprocess.Popen[Any], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:  # the server is another process: its port is the signal
        if server.poll() is not None:
            raise RuntimeError(f"jupyter lab exited: {log.read_text()[-2000:]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError("the Jupyter server did not listen within 60 s")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        message = f"no chromium at {CHROMIUM} (dev.py test installs Debian's chromium)"
        if os.environ.get("CI"):  # CI must run the browser tests, not pass without them
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    yield page
    context.close()


PAGE_STATE = """() => { const side = document.querySelector('#rp-jupyter-sidebar');
  const command = side && side.querySelector('.rp-command');
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return {url: location.pathname, kernel: k ? [k.status, k.connectionStatus] : null,
          command: command ? [command.dataset.state, command.dataset.seq, command.textContent] : null,
          sidebar: side ? side.innerText.slice(0, 1500) : null,
          dialogs: [...document.querySelectorAll('.jp-Dialog')].map(d => d.innerText.slice(0, 800)),
          notifications: [...document.querySelectorAll('.jp-Notification-Toast, .Toastify__toast')]
                           .map(n => n.innerText.slice(0, 300)).slice(-5)}; }"""


def explain(page: Any, server: Lab | None) -> str:
    """What the page shows (the sidebar, its command line, dialogs, notifications, the kernel's state)
    and what the server knows (its kernels, its log's tail): a browser test that fails under load must
    say where it stopped."""
    import httpx

    lines = []
    try:
        lines.append(f"page: {json.dumps(page.evaluate(PAGE_STATE), indent=1)}")
    except Exception as error:  # a closed or hung page: say so, the server's side may still tell
        lines.append(f"page: not readable ({type(error).__name__}: {str(error)[:200]})")
    if server is not None:
        try:
            with httpx.Client(base_url=server.url, params={"token": server.token}, timeout=10) as api:
                kernels = [(k["execution_state"], k["last_activity"]) for k in api.get("/api/kernels").json()]
            lines.append(f"kernels: {kernels}")
        except Exception as error:
            lines.append(f"kernels: not readable ({type(error).__name__})")
        log = server.root / "jupyter-lab.log"
        lines.append("server log tail:\n" + (log.read_text(errors="replace")[-3000:] if log.exists() else "(none)"))
    return "\n".join(lines)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed browser test's report gets :func:`explain` of its page and a screenshot in test-artifacts/."""
    report = yield
    funcargs = getattr(item, "funcargs", {})
    page = funcargs.get("page")
    if report.when != "call" or not report.failed or page is None:
        return report
    server = funcargs.get("lab") or funcargs.get("notebook7")
    text = explain(page, server)
    try:
        text += f"\nscreenshot: {screenshot(page, 'FAILED-' + item.name.replace('/', '_')[:80])}"
    except Exception:  # the page is gone: the text is what there is
        pass
    report.sections.append(("what the browser and the server showed", text))
    return report


def screenshot(page: Any, name: str, full_page: bool = True) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
