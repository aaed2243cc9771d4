"""``%%rp_handler``: a RunPod handler.py pasted into a cell registers with the runtime."""

from __future__ import annotations

from IPython.core.error import UsageError

from rp_jupyter import session
from rp_jupyter.runtime import HandlerKind

STREAMING = '''%%rp_handler {flags}
import runpod

def handler(job):
    for i in range(job["input"]["n"]):
        yield f"t{{i}}"

runpod.serverless.start({{"handler": handler, "return_aggregate_stream": True}})
'''


def test_start_config_is_captured_and_honoured(shell, capsys):
    shell.run(STREAMING.format(flags=""))
    spec = session.get_runtime().handler("handler")
    assert spec.kind is HandlerKind.SYNC_GENERATOR and spec.return_aggregate_stream
    assert "registered handler 'handler' (generator, aggregate=yes)" in capsys.readouterr().out
    body = shell.run('%rp_run handler {"input": {"n": 3}} --sync')
    assert body["status"] == "COMPLETED" and body["output"] == ["t0", "t1", "t2"]


def test_name_and_flags_override_the_config(shell):
    shell.run(STREAMING.format(flags="tokens --concurrency 3 --timeout 2.5"))
    spec = session.get_runtime().handler("tokens")
    assert spec.concurrency_modifier is not None and spec.concurrency_modifier(1) == 3
    assert spec.execution_timeout == 2.5
    assert "handler" not in session.get_runtime().handlers


def test_a_function_named_handler_without_start(shell):
    shell.run('%%rp_handler\ndef handler(job):\n    return job["input"]\n')
    assert shell.run('%rp_run handler {"input": [1, 2]} --sync')["output"] == [1, 2]


def test_the_function_name_is_the_default_name(shell):
    shell.run('%%rp_handler\nimport runpod\nasync def echo(job):\n    return 1\nrunpod.serverless.start({"handler": echo})\n')
    assert session.get_runtime().handler("echo").kind is HandlerKind.ASYNC


def test_a_cell_without_a_handler_is_refused(shell):
    shell.run('%%rp_handler\ndef handler(job):\n    return 1\n')
    error = shell.fails("%%rp_handler\nx = 1\n")  # the old `handler` must not be picked up again
    assert isinstance(error, UsageError) and "no handler found" in str(error)


def test_a_failing_cell_registers_nothing(shell):
    error = shell.fails("%%rp_handler broken\ndef handler(job):\n    return 1\nraise RuntimeError('model missing')\n")
    assert isinstance(error, UsageError) and "raised" in str(error)
    assert "broken" not in session.get_runtime().handlers


def test_bad_flags_are_one_line_usage_errors(shell):
    for line, words in [
        ("%%rp_handler --concurrency 0\ndef handler(job): pass", "--concurrency"),
        ("%%rp_handler --timeout -1\ndef handler(job): pass", "--timeout"),
        ("%%rp_handler --bogus\ndef handler(job): pass", "unrecognized"),
        ("%%rp_handler 'bad name!'\ndef handler(job): pass", "invalid handler name"),
        ("%rp_handler", "cell magic"),
    ]:
        error = shell.fails(line)
        assert isinstance(error, UsageError), (line, error)
        assert words in str(error), (line, str(error))


def test_rerunning_the_cell_replaces_the_handler_for_new_jobs(shell, capsys):
    shell.run('%%rp_handler\nimport threading\ngate = threading.Event()\ndef handler(job):\n    gate.wait(10)\n    return "old"\n')
    job = shell.run('%rp_run handler {"input": {}}')
    shell.run('%%rp_handler\ndef handler(job):\n    return "new"\n')
    assert "replaced handler 'handler'" in capsys.readouterr().out
    new_job = shell.run('%rp_run handler {"input": {}}')
    shell.ip.user_ns["gate"].set()
    assert job.wait(10).output == "old"
    assert new_job.wait(10).output == "new"


def test_the_decorator_registers_too(shell):
    shell.run('import rp_jupyter\n@rp_jupyter.handler(name="shout")\ndef f(job):\n    return job["input"].upper()\n')
    assert shell.run('%rp_run shout {"input": "hi"} --sync')["output"] == "HI"


def test_tokenizer_flag_names_a_notebook_function(shell):
    shell.run("def count(text):\n    return len(text)\n")
    shell.run('%%rp_handler --tokenizer count\ndef handler(job):\n    yield "abc"\n')
    assert session.get_runtime().handler("handler").tokenizer is shell.ip.user_ns["count"]
    error = shell.fails('%%rp_handler --tokenizer missing\ndef handler(job):\n    yield "abc"\n')
    assert isinstance(error, UsageError) and "no function named 'missing'" in str(error)
