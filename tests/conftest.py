"""Shared fixtures: a fresh runtime per test; a real ipykernel driven over ZMQ (what JupyterLab does)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from jupyter_client.manager import start_new_kernel

from rp_jupyter.runtime import Runtime

# The longest test files go first: under pytest-xdist (``dev.py test`` runs ``-n N --dist loadfile``) a
# file that starts last sets the suite's end — the Binder install alone takes 3-6 minutes.
LONGEST_FIRST = ("tests/labextension/test_binder.py", "tests/labextension/test_sidebar_reload.py",
                 "tests/browser/", "tests/kernel/test_notebooks.py", "tests/server/test_load_fuzz.py",
                 "tests/bench/")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        return next((i for i, prefix in enumerate(LONGEST_FIRST) if item.nodeid.startswith(prefix)),
                    len(LONGEST_FIRST))

    items.sort(key=rank)  # stable: the order within a rank (and each file's own order) is kept


@pytest.fixture
def runtime() -> Iterator[Runtime]:
    """A private runtime (its own loop thread), shut down in stages after the test."""
    rt = Runtime()
    yield rt
    rt.shutdown(timeout=2.0)


@pytest.fixture
def settle() -> Callable[[Runtime], None]:
    """Wait until ``runtime``'s loop has run what was queued so far. ``job.wait()`` returns as soon as
    the job is done, while its loop callback may still be telling the other listeners (and retiring
    it): after ``settle(runtime)`` every listener has seen the end."""
    return lambda runtime: runtime._loop.call(lambda: None, timeout=10)


class Shell:
    """Runs cells in a real IPython InteractiveShell and hands back what a user would see."""

    def __init__(self, ip: InteractiveShell) -> None:
        self.ip = ip

    def run(self, source: str) -> Any:
        """Run a cell that must succeed; its result value."""
        result = self.ip.run_cell(source, store_history=True)
        if not result.success:
            raise AssertionError(f"cell failed: {result.error_before_exec or result.error_in_exec!r}")
        return result.result

    def fails(self, source: str) -> BaseException:
        """Run a cell that must fail; the exception it raised."""
        result = self.ip.run_cell(source, store_history=True)
        error = result.error_before_exec or result.error_in_exec
        assert error is not None, "the cell was expected to fail"
        return error


@pytest.fixture
def shell(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Shell]:
    """``%load_ext rp_jupyter`` in a real shell with a fresh history, in a temporary directory;
    unloaded (runtime stopped, SDK restored) after the test."""
    monkeypatch.chdir(tmp_path)
    ip = InteractiveShell.instance()
    ip.reset(new_session=True)  # a fresh history: cells of other tests are not this notebook's
    ip.run_line_magic("load_ext", "rp_jupyter")
    try:
        yield Shell(ip)
    finally:
        ip.run_line_magic("unload_ext", "rp_jupyter")
        ip.reset(new_session=True)


class Kernel:
    def __init__(self, manager: Any, client: Any) -> None:
        self.manager, self.client = manager, client

    def send(self, code: str, stop_on_error: bool = True, **expressions: str) -> str:
        """Start executing ``code``; the request's message id.

        ``stop_on_error=False`` for a cell expected to fail: otherwise the kernel aborts the requests
        that follow it for a moment, and a test sending its next cell at once would see "aborted".
        """
        msg_id: str = self.client.execute(code, user_expressions=expressions, stop_on_error=stop_on_error)
        return msg_id

    def reply(self, msg_id: str, timeout: float = 60) -> dict[str, Any]:
        """The execute_reply content for ``msg_id``."""
        while True:
            message = self.client.get_shell_msg(timeout=timeout)
            if message["parent_header"].get("msg_id") == msg_id:
                content: dict[str, Any] = message["content"]
                return content

    def iopub(self, msg_id: str, timeout: float = 60) -> list[dict[str, Any]]:
        """Every iopub message sent while ``msg_id`` ran (up to its idle status)."""
        messages = []
        while True:
            message = self.client.get_iopub_msg(timeout=timeout)
            if message["parent_header"].get("msg_id") != msg_id:
                continue
            messages.append(message)
            if message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
                return messages

    def iopub_until(self, done: Any, timeout: float = 60) -> list[dict[str, Any]]:
        """Every iopub message, whatever its parent, up to and including the first for which ``done``."""
        messages = []
        while True:
            message = self.client.get_iopub_msg(timeout=timeout)
            messages.append(message)
            if done(message):
                return messages

    def control(self, msg_type: str, content: dict[str, Any]) -> dict[str, Any]:
        """Send a control-channel request (``create_subshell_request``, ...); its reply's content."""
        msg = self.client.session.msg(msg_type, content)
        self.client.control_channel.send(msg)
        while True:
            reply = self.client.get_control_msg(timeout=30)
            if reply["parent_header"].get("msg_id") == msg["header"]["msg_id"]:
                return dict(reply["content"])

    def send_on_subshell(self, subshell: str, code: str) -> str:
        """Start executing ``code`` on a subshell (JEP 91), as a page's comm target would; its message id."""
        msg = self.client.session.msg("execute_request", {
            "code": code, "silent": False, "store_history": False, "user_expressions": {},
            "allow_stdin": False, "stop_on_error": True})
        msg["header"]["subshell_id"] = subshell
        self.client.shell_channel.send(msg)
        return str(msg["header"]["msg_id"])

    def has_subshells(self) -> bool:
        return self.execute("", s="getattr(get_ipython().kernel, '_supports_kernel_subshells', False)")["s"] == "True"

    def execute(self, code: str, timeout: float = 60, **expressions: str) -> dict[str, Any]:
        """Run ``code`` to the end; fails the test if it raised. Returns the evaluated expressions."""
        content = self.reply(self.send(code, **expressions), timeout)
        assert content["status"] == "ok", f"{content.get('ename')}: {content.get('evalue')}"
        return {name: value["data"]["text/plain"] for name, value in content["user_expressions"].items()}


@pytest.fixture
def kernel() -> Iterator[Kernel]:
    for attempt in range(3):
        try:
            manager, client = start_new_kernel(kernel_name="python3", startup_timeout=60)
            break
        except RuntimeError:  # "Kernel died before replying": jupyter_client picks free TCP ports, then the
            if attempt == 2:  # kernel binds them; a test file in another xdist worker can take one between
                raise
    try:
        yield Kernel(manager, client)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
