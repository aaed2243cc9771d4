"""Per-job logs in a real kernel (ipykernel's streams, IPython's logging): print, stderr, ``logging`` and
``runpod.RunPodLogger`` from sync, async and generator handlers land in ``job.logs`` — not in the cell —
and in the job view's log pane, live and finished."""

from __future__ import annotations

import ast

import pytest

HANDLERS = {
    "sync": '''%%rp_handler logs_sync
import logging, sys
import runpod
print("registered at import")  # outside any job: the cell's output, as without rp_jupyter

def handler(job):
    print("sync says", job["input"])
    print("sync warns", file=sys.stderr)
    logging.getLogger("mine").warning("sync logs %s", job["input"])
    runpod.RunPodLogger().info("sync via RunPodLogger")
    return "ok"
''',
    "async": '''%%rp_handler logs_async
import asyncio, logging, sys
import runpod

async def handler(job):
    print("async says", job["input"])
    await asyncio.sleep(0.01)
    print("async warns", file=sys.stderr)
    logging.getLogger("mine").warning("async logs %s", job["input"])
    runpod.RunPodLogger().info("async via RunPodLogger")
    return "ok"
''',
    "generator": '''%%rp_handler logs_generator
import logging, sys
import runpod

def handler(job):
    for i in range(2):
        print("generator says", i)
        yield i
    print("generator warns", file=sys.stderr)
    logging.getLogger("mine").warning("generator logs %s", job["input"])
    runpod.RunPodLogger().info("generator via RunPodLogger")
'''}


def _streams(messages):
    return "".join(m["content"]["text"] for m in messages if m["msg_type"] == "stream")


@pytest.mark.parametrize("kind", sorted(HANDLERS))
def test_a_handlers_print_logging_and_runpod_logger_land_in_its_job(kernel, kind):
    kernel.execute("%load_ext rp_jupyter")
    registered = _streams(kernel.iopub(kernel.send(HANDLERS[kind])))
    if kind == "sync":
        assert "registered at import" in registered  # code outside a job: the cell's output
    name = f"logs_{kind}"
    messages = kernel.iopub(kernel.send(f'job = %rp_run {name} {{"input": 7}}\njob.wait(30)\nNone'))
    seen = kernel.execute("None", logs="[[l.stream, l.text] for l in job.logs]", status="job.status.value")
    assert seen["status"] == "'COMPLETED'"
    logs = [tuple(pair) for pair in ast.literal_eval(seen["logs"])]  # [stream, text] pairs, as repr'd
    text = "".join(t for _, t in logs)
    assert f"{kind} warns\n" in [t for s, t in logs if s == "stderr"]
    assert any(s == "log" and t == f"WARNING mine: {kind} logs 7\n" for s, t in logs), logs  # kept once, formatted
    assert f"{kind} via RunPodLogger" in text  # the SDK's logger prints: stdout of the job
    says = "sync says 7\n" if kind == "sync" else "async says 7\n" if kind == "async" else "generator says 0\n"
    assert says in [t for s, t in logs if s == "stdout"]
    cell = _streams(messages)
    assert f"{kind} says" not in cell and f"{kind} warns" not in cell and "RunPodLogger" not in cell  # not the cell's


def _final_view(message):
    data = message["content"].get("data", {}) if message["msg_type"] == "update_display_data" else {}
    return "rpj-static" in data.get("text/html", "")


def test_the_finished_view_keeps_the_jobs_logs(kernel):
    kernel.execute("%load_ext rp_jupyter")
    kernel.execute(HANDLERS["async"])
    kernel.client.execute('job = %rp_run logs_async {"input": 3}\njob')
    kernel.execute("job.wait(30)")
    kernel.client.execute("None  # a late final flush is re-sent before this cell")
    page = kernel.iopub_until(_final_view, timeout=30)[-1]["content"]["data"]["text/html"]
    assert "logs · 4 entries · 1 on stderr" in page
    assert "async says 3" in page and "WARNING mine: async logs 3" in page and "async via RunPodLogger" in page
    assert 'class="rpj-log-stderr"' in page
