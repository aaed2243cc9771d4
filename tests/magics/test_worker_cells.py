"""Real workers pasted unchanged into ``%%rp_handler`` cells: what ``python handler.py`` would do, in a
real IPython shell, with the real ``runpod`` SDK as the oracle where it runs."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import pytest
from IPython.core.error import UsageError

import rp_jupyter

ARGPARSE_WORKER = '''%%rp_handler
import argparse
import runpod

parser = argparse.ArgumentParser()
parser.add_argument("--model", default="small")
parser.add_argument("--rp_serve_api", action="store_true")
if __name__ == "__main__":
    args = parser.parse_args()


def handler(job):
    return {"model": args.model, "argv": sys.argv}

import sys
runpod.serverless.start({"handler": handler})
'''


def test_a_worker_parsing_its_arguments_sees_handler_py_alone(shell) -> None:
    argv = list(sys.argv)
    shell.run(ARGPARSE_WORKER)  # the kernel's own argv (-f …json) would make parse_args() exit
    assert sys.argv == argv  # restored after the cell
    body = rp_jupyter.run_sync("handler", {"input": {}})
    assert body["output"]["model"] == "small"


def test_an_unknown_start_config_key_is_a_warning_naming_it(shell, capsys) -> None:
    shell.run("%%rp_handler legacy\nimport runpod\n\ndef handler(job):\n    return 1\n\n"
              "runpod.serverless.start({'handler': handler, 'concurrency_controller': lambda: True})")
    assert "'concurrency_controller'" in capsys.readouterr().err
    assert rp_jupyter.run_sync("legacy", {"input": {}})["output"] == 1


@pytest.mark.parametrize("exit_call", ["sys.exit(1)", "exit(2)", "quit()", "raise SystemExit('no model')"])
def test_a_worker_exiting_at_start_up_is_one_line_and_registers_nothing(shell, exit_call: str) -> None:
    error = shell.fails(f"%%rp_handler failing\nimport sys\n\ndef handler(job):\n    return 1\n\n{exit_call}\n")
    assert isinstance(error, UsageError)
    assert "sys.exit(" in str(error) and "no handler was registered" in str(error)
    assert "failing" not in rp_jupyter.session.get_runtime().handlers
    assert shell.run("1 + 1") == 2  # the shell (the kernel) goes on
    assert sys.exit.__module__ == "sys"


def test_a_handler_calling_sys_exit_during_a_job_fails_that_job(shell) -> None:
    shell.run("%%rp_handler quits\nimport sys\n\ndef handler(job):\n    sys.exit(3)\n")
    job = rp_jupyter.run("quits", {"input": {}}).wait(10)
    assert job.status.value == "FAILED" and "SystemExit" in job.error


RP_DEBUGGER_WORKER = '''%%rp_handler timed
import runpod
from runpod.serverless.utils import rp_debugger


@rp_debugger.FunctionTimer
def handler(job):
    with rp_debugger.LineTimer("square"):
        value = job["input"]["n"] ** 2
    return {"square": value}


runpod.serverless.start({"handler": handler})
'''


@pytest.mark.slow
def test_rp_debugger_timers_work_over_many_jobs_as_under_the_real_sdk(shell) -> None:
    shell.run(RP_DEBUGGER_WORKER)
    jobs = [rp_jupyter.run("timed", {"input": {"n": n}}).wait(20) for n in range(4)]
    assert [job.output for job in jobs] == [{"square": n * n} for n in range(4)]  # not only the first
    result = shell.run("%rp_export timed --out timed-worker --verify")
    assert result.report.ok, repr(result.report)  # the real SDK's worker gave the same four results


def test_import_runpod_does_not_turn_the_root_logger_to_info_while_loaded(shell) -> None:
    root = logging.getLogger()
    before = (root.level, list(root.handlers))
    shell.run("import runpod.serverless.utils.rp_upload")
    assert (root.level, list(root.handlers)) == before


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ('%rp_run echo {"input": 1} --wait inf', "finite"),
        ('%rp_run echo {"input": 1} --wait nan', "finite"),
        ('%rp_run echo {"input": 1' + "1" * 5000 + "} --sync", "over Python's limit of 4300 digits"),
        ('%rp_run echo ' + '{"input": ' + "[" * 5000 + "]" * 5000 + "}", "nests deeper than 256 levels"),
    ],
)
def test_odd_run_arguments_are_one_line(shell, line: str, says: str) -> None:
    shell.run("%%rp_handler echo\ndef handler(job):\n    return job['input']\n")
    error = shell.fails(line)
    assert isinstance(error, UsageError) and says in str(error)
    assert rp_jupyter.jobs() == []


@pytest.mark.parametrize("value", ["nan", "inf", "-1"])
def test_a_timeout_that_is_not_a_finite_number_is_refused(shell, value: str) -> None:
    error = shell.fails(f"%%rp_handler --timeout {value} nope\ndef handler(job):\n    return 1\n")
    assert isinstance(error, UsageError) and "--timeout" in str(error)
    assert "nope" not in rp_jupyter.session.get_runtime().handlers


def test_a_request_file_that_is_not_utf8_is_one_line(shell, tmp_path: Any) -> None:
    shell.run("%%rp_handler echo\ndef handler(job):\n    return job['input']\n")
    path = tmp_path / "latin1.json"
    path.write_bytes(json.dumps({"input": "café"}, ensure_ascii=False).encode("latin-1"))
    error = shell.fails(f"%rp_run echo --file {path}")
    assert isinstance(error, UsageError) and "not UTF-8" in str(error)


def test_a_handler_made_by_a_closure_exports_with_a_clear_reason(shell) -> None:
    shell.run("%%rp_handler made\ndef make(greeting):\n    def handler(job):\n"
              "        return f\"{greeting} {job['input']}\"\n    return handler\n\nhandler = make('hi')\n")
    assert rp_jupyter.run_sync("made", {"input": "Ada"})["output"] == "hi Ada"
    error = shell.fails("%rp_export made --out made-worker")
    assert isinstance(error, UsageError)
    assert "make.<locals>.handler" in str(error) and "edited" not in str(error)
