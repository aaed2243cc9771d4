"""``runpod.serverless.start``/``progress_update`` reach the runtime while loaded; unload restores them."""

from __future__ import annotations

import threading

import runpod.serverless
from runpod.serverless.modules import rp_progress

from rp_jupyter import session

ORIGINALS = (runpod.serverless.start, runpod.serverless.progress_update, rp_progress.progress_update,
             rp_progress._thread_target)


def current() -> tuple:
    return (runpod.serverless.start, runpod.serverless.progress_update, rp_progress.progress_update,
            rp_progress._thread_target)


def test_progress_update_reaches_the_job(shell):
    shell.run(
        '%%rp_handler\nimport runpod\ndef handler(job):\n'
        '    runpod.serverless.progress_update(job, "25%")\n'
        '    runpod.serverless.progress_update(job, {"pct": 50})\n'
        '    return "done"\n'
    )
    job = shell.run('%rp_run handler {"input": {}}').wait(10)
    assert job.progress_history == ["25%", {"pct": 50}]
    assert job.to_status()["output"] == "done"


def test_a_reference_bound_before_loading_still_reaches_the_runtime(shell):
    shell.run("%unload_ext rp_jupyter")
    shell.run("from runpod.serverless import progress_update as early")
    shell.run("%load_ext rp_jupyter")
    got = threading.Event()  # the SDK's own progress_update posts from a thread: wait for it
    shell.ip.user_ns["got"] = got
    session.get_runtime().subscribe(lambda event: event.kind == "progress" and got.set())
    shell.run('%%rp_handler\ndef handler(job):\n    early(job, "early bird")\n    got.wait(10)\n    return 1\n')
    job = shell.run('%rp_run handler {"input": {}}').wait(10)
    assert job.progress_history == ["early bird"]


def test_start_in_a_plain_cell_registers(shell, capsys):
    shell.run('import runpod\ndef plain(job):\n    return 2\nrunpod.serverless.start({"handler": plain})')
    assert "registered handler 'plain'" in capsys.readouterr().out
    assert shell.run('%rp_run plain {"input": 0} --sync')["output"] == 2


def test_unload_restores_the_sdk_untouched(shell):
    assert current() != ORIGINALS
    shell.run("%unload_ext rp_jupyter")
    assert current() == ORIGINALS
    shell.run("%load_ext rp_jupyter")
    assert current() != ORIGINALS


def test_unload_removes_every_magic(shell):
    from rp_jupyter.magics._magics import MAGICS

    names = {(kind, name) for magics in MAGICS for kind, found in magics.magics.items() for name in found}
    assert ("line", "rp_ui") in names and ("cell", "rp_handler") in names
    shell.run("%unload_ext rp_jupyter")
    registered = shell.ip.magics_manager.magics
    assert not [name for kind, name in names if name in registered[kind]]
    shell.run("%load_ext rp_jupyter")


def test_a_reference_kept_past_unload_is_the_sdks_own_again(shell, monkeypatch):
    kept = shell.run("from runpod.serverless import progress_update\nprogress_update")
    shell.ip.run_line_magic("unload_ext", "rp_jupyter")
    posted = threading.Event()
    # the SDK posts progress to RunPod from a thread: that network call is all that is replaced here
    monkeypatch.setattr(rp_progress, "_thread_target", lambda job, progress: posted.set())
    kept({"id": "j1"}, "half way")
    assert posted.wait(10)
    assert session._runtime is None or not session._runtime.accepting  # no runtime started again
    assert not session._bridge.installed
    shell.ip.run_line_magic("load_ext", "rp_jupyter")  # the fixture unloads it
