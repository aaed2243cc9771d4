"""In a real kernel: interrupt cancels the waited job, the runtime stays usable, unload is clean."""

from __future__ import annotations

import time
from pathlib import Path

SLOW = '''%%rp_handler slow
import pathlib, time
def handler(job):
    pathlib.Path(job["input"]["marker"]).write_text("entered")
    time.sleep(job["input"]["seconds"])
    return "finished"
'''


def wait_for_file(path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():  # the handler runs in the kernel process: a file is its signal
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.01)


def test_interrupt_while_waiting_cancels_the_job(kernel, tmp_path):
    kernel.execute("%load_ext rp_jupyter")
    kernel.execute(SLOW)
    marker = tmp_path / "entered"
    waiting = kernel.send(f'%rp_run slow {{"input": {{"marker": "{marker}", "seconds": 30}}}} --sync --wait 120',
                          stop_on_error=False)
    wait_for_file(marker)
    started = time.monotonic()
    kernel.manager.interrupt_kernel()
    reply = kernel.reply(waiting, timeout=20)
    assert reply["status"] == "error" and reply["ename"] == "KeyboardInterrupt"
    assert time.monotonic() - started < 10
    seen = kernel.execute("import rp_jupyter", status="rp_jupyter.jobs()[0].status.value")
    assert seen["status"] == "'CANCELLED'"
    kernel.execute('%%rp_handler quick\ndef handler(job):\n    return job["input"] * 2\n')
    after = kernel.execute("body = %rp_run quick {\"input\": 21} --sync", output="body['output']")
    assert after["output"] == "42"


def test_unload_stops_the_runtime_and_restores_the_sdk(kernel):
    kernel.execute("import runpod.serverless as s\noriginal = (s.start, s.progress_update)")
    kernel.execute("%load_ext rp_jupyter")
    kernel.execute('%%rp_handler\ndef handler(job):\n    return 1\n')
    kernel.execute('%rp_run handler {"input": {}} --sync')
    seen = kernel.execute(
        "%unload_ext rp_jupyter",
        restored="(s.start, s.progress_update) == original",
        threads="sorted(t.name for t in __import__('threading').enumerate() if t.name.startswith('rp-'))",
    )
    assert seen == {"restored": "True", "threads": "[]"}
    kernel.execute("%load_ext rp_jupyter")
    kernel.execute('%%rp_handler\ndef handler(job):\n    return 2\n')
    assert kernel.execute('b = %rp_run handler {"input": {}} --sync', out="b['output']")["out"] == "2"


def test_shutting_the_kernel_down_does_not_wait_for_a_handler_that_never_returns(kernel, tmp_path):
    kernel.execute("%load_ext rp_jupyter")
    kernel.execute(SLOW)
    kernel.execute('%%rp_handler endless\nimport time\ndef handler(job):\n    while True:\n'
                   '        time.sleep(0.01)\n        yield "."\n')
    marker = tmp_path / "entered"
    kernel.execute(f'import rp_jupyter\nrp_jupyter.run("slow", {{"input": {{"marker": "{marker}", "seconds": 600}}}})\n'
                   'rp_jupyter.run("endless", {"input": {}})')
    wait_for_file(marker)
    started = time.monotonic()
    kernel.client.shutdown()  # the kernel's own shutdown: it exits by itself, nobody kills it
    while kernel.manager.is_alive():
        assert time.monotonic() - started < 30, "the kernel still runs 30 s after its shutdown request"
        time.sleep(0.05)
    # the runtime waits 5 s for running jobs, then cancels them and abandons the stuck sync call
    assert time.monotonic() - started < 15
