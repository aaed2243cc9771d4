"""runpod 2.x's ``register_prestart_hook`` in a notebook: which handler a hook belongs to, re-run cells,
new versions, ``prestart_timeout`` as a known ``start()`` key, and the SDK left as it was. The jobs'
semantics against the real SDK are in tests/golden (W30-W33); the runtime's in tests/runtime."""

from __future__ import annotations

import importlib.metadata
import json
from typing import Any

import pytest

import rp_jupyter
from rp_jupyter import session

SDK2 = int(importlib.metadata.version("runpod").split(".")[0]) >= 2
needs_2x = pytest.mark.skipif(not SDK2, reason="prestart hooks are new in runpod 2.x")
T = 10.0

WARM = """
import runpod

STATE = {"warm": False, "hook_runs": 0}


def warm_up():
    print("warming up", flush=True)
    STATE["hook_runs"] += 1
    STATE["warm"] = True
"""

HANDLER = """
def handler(job):
    return {"warm": STATE["warm"], "hook_runs": STATE["hook_runs"], "x": job["input"].get("x")}
"""


def run(name: str, x: int = 1) -> Any:
    return rp_jupyter.run(name, {"input": {"x": x}}).wait(T)


@needs_2x
def test_a_hook_in_the_handler_cell_warms_the_first_job_and_the_sdk_keeps_none(shell, capsys) -> None:
    from runpod.serverless.modules import rp_prestart

    shell.run("%%rp_handler\n" + WARM + "\nrunpod.serverless.register_prestart_hook(warm_up)\n" + HANDLER
              + '\nrunpod.serverless.start({"handler": handler})\n')
    assert "prestart hooks: warm_up" in capsys.readouterr().out  # the registration line says so
    assert [run("handler", x).output for x in (1, 2)] == [{"warm": True, "hook_runs": 1, "x": x} for x in (1, 2)]
    assert rp_prestart.get_prestart_hooks() == ()  # the SDK's own registry is left alone
    # the cell runs again (an edit): the new version's worker runs the cell's hook again, as a new release does
    shell.run("%%rp_handler\n" + WARM + "\nrunpod.serverless.register_prestart_hook(warm_up)\n" + HANDLER
              + '\nrunpod.serverless.start({"handler": handler})\n')
    assert run("handler").output["hook_runs"] == 1  # the cell reset STATE, and its hook warmed it once more


@needs_2x
def test_register_prestart_hook_returns_the_hook_unchanged_and_works_as_a_decorator(shell) -> None:
    shell.run("%%rp_handler deco\nimport runpod\nSEEN = []\n\n@runpod.serverless.register_prestart_hook\n"
              "async def load():\n    SEEN.append('load')\n\n"
              "assert callable(load) and load.__name__ == 'load'\n"
              "def handler(job):\n    return SEEN\n\nrunpod.serverless.start({'handler': handler, 'prestart_timeout': 5})")
    assert run("deco").output == ["load"]
    spec = session.get_runtime().handler("deco")
    assert spec.prestart_timeout == 5 and [h.__name__ for h in spec.prestart_hooks] == ["load"]


@needs_2x
def test_a_hook_from_a_plain_cell_goes_to_the_next_registration_and_runs_once(shell, capsys) -> None:
    shell.run(WARM + "\nrunpod.serverless.register_prestart_hook(warm_up)")
    assert "will run before the first job of the next handler registered" in capsys.readouterr().out
    shell.run("%%rp_handler warm\n" + HANDLER)
    assert run("warm").output == {"warm": True, "hook_runs": 1, "x": 1}
    # editing the handler cell: the plain cell's hook stays with the handler, but what it warmed is still
    # in the kernel (as a model loaded in a plain cell is): it is kept for export, not run again
    shell.run("%%rp_handler warm\n" + HANDLER.replace('"x": job', '"y": job'))
    assert run("warm").output == {"warm": True, "hook_runs": 1, "y": 1}
    spec = session.get_runtime().handler("warm")
    assert spec.prestart_hooks == () and [h.__name__ for h in spec.prestart_kept] == ["warm_up"]
    assert "warm_up (ran before)" in spec.describe()
    shell.run("%%rp_handler other\ndef handler(job):\n    return 0\n")  # another handler: none of them
    assert session.get_runtime().handler("other").all_prestart_hooks == ()


@needs_2x
def test_a_plain_cell_hook_runs_again_for_a_new_version_until_it_has_run_to_the_end(shell) -> None:
    shell.run(WARM + "\nrunpod.serverless.register_prestart_hook(warm_up)")
    shell.run("%%rp_handler warm\n" + HANDLER)  # no job yet: the hook has not run
    shell.run("%%rp_handler warm\n" + HANDLER)
    spec = session.get_runtime().handler("warm")
    assert [h.__name__ for h in spec.prestart_hooks] == ["warm_up"] and spec.prestart_kept == ()
    assert run("warm").output["hook_runs"] == 1
    shell.run(WARM + "\nrunpod.serverless.register_prestart_hook(warm_up)")  # re-run: replaces, runs again
    shell.run("%%rp_handler warm\n" + HANDLER)
    assert [h.__name__ for h in session.get_runtime().handler("warm").prestart_hooks] == ["warm_up"]
    assert run("warm").output["hook_runs"] == 1  # the re-run cell reset STATE; the hook warmed it again


@needs_2x
def test_a_cell_that_fails_drops_its_hooks(shell) -> None:
    failing = "%%rp_handler\n" + WARM + "\nrunpod.serverless.register_prestart_hook(warm_up)\n" + HANDLER
    shell.fails(failing + "\nraise RuntimeError('typo')\n")
    assert "handler" not in session.get_runtime().handlers
    shell.run(failing + '\nrunpod.serverless.start({"handler": handler})\n')
    assert [h.__name__ for h in session.get_runtime().handler("handler").prestart_hooks] == ["warm_up"]
    assert run("handler").output["hook_runs"] == 1  # once: the failed run's hook was not kept


@needs_2x
def test_a_hook_registered_after_start_is_ignored_with_a_warning(shell, capsys) -> None:
    shell.run("%%rp_handler late\n" + WARM + HANDLER + '\nrunpod.serverless.start({"handler": handler})\n'
              "runpod.serverless.register_prestart_hook(warm_up)\n")
    assert "ignoring prestart hook(s) 'warm_up' registered after runpod.serverless.start()" in capsys.readouterr().err
    assert run("late").output["warm"] is False  # as on a worker: start() never returns


@needs_2x
def test_prestart_timeout_is_a_start_key_and_is_honoured(shell, capsys) -> None:
    shell.run("%%rp_handler slow\nimport threading, runpod\nGATE = threading.Event()\n\n"
              "def slow_download():\n    print('downloading', flush=True)\n    GATE.wait(30)\n\n"
              "runpod.serverless.register_prestart_hook(slow_download)\n\n"
              "def handler(job):\n    return 'ran'\n\n"
              "runpod.serverless.start({'handler': handler, 'prestart_timeout': 0.5})")
    assert "ignoring" not in capsys.readouterr().err
    job = run("slow")
    info = json.loads(job.error)
    assert (info["event"], info["error_type"], info["logs"]) == ("prestart_failed", "PrestartTimeout", "downloading\n")
    shell.ip.user_ns["GATE"].set()
    assert run("slow").output == "ran"  # the next job: a new worker, which ran the hook again


@needs_2x
def test_a_hook_that_is_not_callable_is_one_line(shell) -> None:
    error = shell.fails("import runpod\nrunpod.serverless.register_prestart_hook('warm_up')")
    assert str(error) == "register_prestart_hook takes a function of no arguments, got str"


@needs_2x
def test_unload_gives_the_sdk_its_register_prestart_hook_back(shell) -> None:
    import runpod.serverless
    from runpod.serverless.modules import rp_prestart

    shell.run("import runpod\nkept = runpod.serverless.register_prestart_hook")
    assert runpod.serverless.register_prestart_hook.__module__ == rp_prestart.register_prestart_hook.__module__ \
        == "rp_jupyter._sdk"
    shell.run("%unload_ext rp_jupyter")
    assert runpod.serverless.register_prestart_hook is rp_prestart.register_prestart_hook
    assert rp_prestart.register_prestart_hook.__module__ == "runpod.serverless.modules.rp_prestart"
    try:  # a reference kept from before the unload is the SDK's own again
        shell.run("def h():\n    pass\nassert kept(h) is h")
        assert rp_prestart.get_prestart_hooks() == (shell.ip.user_ns["h"],)
    finally:
        rp_prestart.clear_prestart_hooks()
        shell.run("%load_ext rp_jupyter")


@pytest.mark.skipif(SDK2, reason="under runpod 2.x the key is the SDK's")
def test_under_1x_prestart_timeout_is_an_unknown_key(shell, capsys) -> None:
    shell.run("%%rp_handler old\nimport runpod\ndef handler(job):\n    return 1\n"
              "runpod.serverless.start({'handler': handler, 'prestart_timeout': 5})")
    assert "'prestart_timeout'" in capsys.readouterr().err
    assert session.get_runtime().handler("old").prestart_timeout is None


def test_the_python_api_takes_hooks_under_either_sdk(shell) -> None:
    seen: list[str] = []

    @rp_jupyter.handler(name="api", prestart_hooks=[lambda: seen.append("warm")], prestart_timeout=5)
    def api(job: dict[str, Any]) -> list[str]:
        return seen

    assert run("api").output == ["warm"]
