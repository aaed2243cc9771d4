"""``%rp_run`` refuses what JSON cannot carry with the same one line the server answers 400 with."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError

ECHO = '%%rp_handler\ndef handler(job):\n    return job["input"]\n'


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ('%rp_run handler {"input": "\\ud800"}', "lone surrogate '\\ud800' (str at request['input'])"),
        ('%rp_run handler {"input": ' + "9" * 5000 + "}", "over Python's limit of 4300 digits"),
        ('%rp_run handler {"input": NaN}', "holds NaN, which is not JSON"),
        ('%rp_run handler {"input": Infinity} --sync', "holds Infinity"),
        ('%rp_run handler {"input": ' + "[" * 990 + "]" * 990 + "}", "nests deeper than 256 levels"),
        ('%rp_run handler {"input": 1, "policy": {"executionTimeout": 1' + "0" * 400 + "}}",
         '"policy.executionTimeout" must be whole ms from 1 to 604800000'),
        ('%rp_run handler {"input": 1, "policy": {"ttl": 1}}', '"policy.ttl" must be whole ms from 10000'),
        ('%%rp_run handler\n{"input": {"score": NaN}}', "holds NaN"),
    ],
)
def test_what_json_cannot_carry_is_one_usage_error_line(shell, line, words):
    shell.run(ECHO)
    error = shell.fails(line)
    assert isinstance(error, UsageError), repr(error)
    assert words in str(error) and "\n" not in str(error)
    assert shell.run("import rp_jupyter\nrp_jupyter.jobs()") == []


def test_an_output_holding_nan_fails_the_job_not_the_kernel(shell):
    shell.run('%%rp_handler nan\ndef handler(job):\n    return {"loss": float("nan")}\n')
    body = shell.run('%rp_run nan {"input": 1} --sync')
    assert body["status"] == "FAILED" and "holds NaN (float at output['loss'])" in body["error"]
