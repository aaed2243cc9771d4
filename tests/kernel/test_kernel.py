"""In a real kernel: interrupt cancels the waited job, the runtime stays usable, unload is clean."""

from __future__ import annotations

import statistics
import threading
import time
from pathlib import Path

import httpx

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


def test_the_kernel_answers_cells_while_its_server_is_under_load(kernel):
    kernel.execute("%load_ext rp_jupyter")
    kernel.execute('%%rp_handler\nasync def handler(job):\n    return job["input"]\n')
    url = kernel.execute("server = %rp_serve --port 0", url="server.url")["url"].strip("'")
    stop, served = threading.Event(), []

    def load() -> None:
        with httpx.Client(timeout=30) as client:
            while not stop.is_set():
                body = client.post(f"{url}/v2/handler/runsync", json={"input": len(served)}).json()
                served.append(body["status"])

    clients = [threading.Thread(target=load) for _ in range(8)]
    for client in clients:
        client.start()
    try:
        deadline = time.monotonic() + 30
        while len(served) < 200:  # the server is busy before we measure
            assert time.monotonic() < deadline, f"only {len(served)} requests served in 30 s"
            time.sleep(0.05)
        round_trips = []
        for _ in range(10):
            started = time.monotonic()
            kernel.execute("1 + 1")
            round_trips.append(time.monotonic() - started)
        before, deadline = len(served), time.monotonic() + 10
        while len(served) <= before:  # still serving after we measured
            assert time.monotonic() < deadline, "the server stopped answering while the kernel ran cells"
            time.sleep(0.05)
    finally:
        stop.set()
        for client in clients:
            client.join(30)
    assert set(served) == {"COMPLETED"}
    assert statistics.median(round_trips) < 1.0, round_trips  # ~2-10 ms measured; a blocked kernel takes seconds
