"""``%rp_ui`` and ``%rp_jobs`` in a real kernel: the form runs jobs and says where JSON breaks."""

from __future__ import annotations

from rp_jupyter.widgets import RunForm
from rp_jupyter.widgets._run_form import parse_request_text


def test_invalid_json_says_where():
    request, problem = parse_request_text('{\n  "input": {"a": 1,}\n}')
    assert request is None and problem == "invalid JSON: Expecting property name enclosed in double quotes at line 2, column 20"


def test_the_form_runs_jobs_and_refuses_bad_requests(runtime):
    runtime.register(lambda job: job["input"] * 2, "double")
    form = RunForm("double", lambda request: runtime.submit("double", request), runtime, '{"input": 21}')
    job = form.run()
    assert job is not None and job.wait(10).output == 42 and not form.message.value
    form.editor.value = '{"input": 1'
    assert form.run() is None and "invalid JSON" in form.message.value
    form.editor.value = '{"inputs": 1}'
    assert form.run() is None and "no &quot;input&quot;" in form.message.value
    form.flush()
    assert [value for _, value in form.history.options] == [job.id]
    text = form._repr_mimebundle_()["text/plain"]  # what a terminal or nbconvert shows
    assert text.startswith("%rp_ui double: 1 job\n") and job.id in text and "VBox" not in text
    form.close()


def test_rp_ui_and_rp_jobs_in_a_kernel(kernel):
    kernel.execute("%load_ext rp_jupyter")
    kernel.execute('%%rp_handler\ndef handler(job):\n    return job["input"]\n')
    kernel.execute('%rp_run handler {"input": "first"} --sync')
    seen = kernel.execute(
        "form = %rp_ui handler\njob = form.run()\njob.wait(10)\npanel = %rp_jobs\npanel.flush()",
        editor="form.editor.value",
        output="job.output",
        rows="[row['status'] for row in panel.table.rows]",
    )
    assert '"first"' in seen["editor"]  # prefilled from the handler's last request
    assert seen["output"] == "'first'" and seen["rows"] == "['COMPLETED', 'COMPLETED']"
    failed = kernel.reply(kernel.send("%rp_ui nope", stop_on_error=False))
    assert failed["status"] == "error" and "no handler named 'nope'" in failed["evalue"]
