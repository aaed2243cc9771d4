"""``%rp_run`` / ``%%rp_run`` / ``%rp_jobs``: requests in, RunPod's answers out, misuse in one line."""

from __future__ import annotations

import json

import pytest
from IPython.core.error import UsageError

from rp_jupyter import Job, JobStatus

ECHO = '%%rp_handler\ndef handler(job):\n    return {"got": job["input"], "keys": sorted(job)}\n'


@pytest.fixture
def echo(shell):
    shell.run(ECHO)
    return shell


def test_run_returns_the_job_at_once(echo):
    job = echo.run('%rp_run handler {"input": {"a": 1}, "webhook": "http://127.0.0.1:9/hook"}')
    assert isinstance(job, Job)
    assert job.wait(10).status is JobStatus.COMPLETED
    assert job.output == {"got": {"a": 1}, "keys": ["id", "input", "webhook"]}


def test_sync_returns_the_runsync_body(echo):
    body = echo.run('%rp_run handler --sync {"input": 5}')
    assert body["status"] == "COMPLETED" and body["output"]["got"] == 5
    assert body["id"].startswith("sync-") and isinstance(body["executionTime"], int)


def test_cell_body_is_the_request(echo):
    body = echo.run('%%rp_run handler --sync\n{\n  "input": {"prompt": "hi"}\n}\n')
    assert body["output"]["got"] == {"prompt": "hi"}


def test_file_and_default_test_input_json(echo, tmp_path):
    (tmp_path / "req.json").write_text(json.dumps({"input": "from file"}))
    assert echo.run("%rp_run handler --file req.json --sync")["output"]["got"] == "from file"
    (tmp_path / "test_input.json").write_text(json.dumps({"input": "default"}))
    assert echo.run("%rp_run handler --sync")["output"]["got"] == "default"


def test_sync_wait_returns_the_status_when_the_job_is_slower(shell):
    shell.run('%%rp_handler slow\nimport threading\ngate = threading.Event()\ndef handler(job):\n    gate.wait(10)\n    return 1\n')
    body = shell.run('%rp_run slow {"input": {}} --sync --wait 1')  # gated: still running after 1 s
    assert body["status"] == "IN_PROGRESS" and "output" not in body
    shell.ip.user_ns["gate"].set()


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ('%rp_run handler {"input": {"a": 1}', "not valid JSON"),
        ('%rp_run handler {"input": {"a": 1}', "column"),
        ('%rp_run nope {"input": 1}', "no handler named 'nope'"),
        ('%rp_run handler {"inputs": 1}', 'no "input"'),
        ('%rp_run handler {"input": null}', 'no "input"'),
        ("%rp_run handler", "no request"),
        ('%rp_run handler {"input": 1} --fast', "unexpected argument '--fast'"),
        ('%rp_run handler {"input": 1} --wait soon', "--wait takes seconds"),
        ("%rp_run handler --file missing.json", "cannot read the request file"),
        ("%rp_run", "usage"),
        ('%%rp_run handler\n{"input": 1,}', "line 1"),
        ('%%rp_run handler\n{"input": \n', "the text ends before the JSON does"),  # was an IndexError
        ('%%rp_run handler\n{\n  "input": [1 2]\n}\n', "near '  \"input\": [1 2]'"),
        ('%rp_run handler {"input": 1} {"input": 2}', "unexpected argument"),
    ],
)
def test_misuse_is_one_usage_error(echo, line, words):
    error = echo.fails(line)
    assert isinstance(error, UsageError), repr(error)
    assert words in str(error) and "\n" not in str(error)


def test_oversized_input_is_refused_before_running(echo):
    echo.ip.user_ns["big"] = {"input": "x" * (10 * 1024 * 1024)}
    error = echo.fails("import rp_jupyter\nrp_jupyter.run('handler', big)")
    assert "10 MB limit for /run" in str(error)
    assert all(job.request["input"] != "x" for job in echo.run("rp_jupyter.jobs()"))


def test_rp_jobs_lists_every_job(echo):
    job = echo.run('%rp_run handler {"input": 1}').wait(10)
    table = echo.run("%rp_jobs")
    assert job.id in repr(table) and "COMPLETED" in repr(table)
    assert job.id in table._repr_html_()
