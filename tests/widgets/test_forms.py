"""``%rp_ui`` and ``%rp_jobs`` in a real kernel: the form runs jobs and says where JSON breaks."""

from __future__ import annotations

from rp_jupyter.widgets import RunForm
from rp_jupyter.widgets._run_form import parse_request_text


def test_invalid_json_says_where():
    request, problem = parse_request_text('{\n  "input": {"a": 1,}\n}')
    assert request is None and problem == ("invalid JSON: Expecting property name enclosed in double quotes at line 2, "
                                           "column 20 near '  \"input\": {\"a\": 1,}'")


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


def _displays(messages):
    return [m["content"]["data"].get("text/plain", "") for m in messages
            if m["msg_type"] in ("display_data", "update_display_data")]


def test_form_prefill_cancel_and_reopen_and_a_jobs_row_click(kernel, tmp_path):
    kernel.execute(f"import os\nos.chdir({str(tmp_path)!r})\n%load_ext rp_jupyter")
    (tmp_path / "test_input.json").write_text('{"input": 0.01}')
    kernel.execute('%%rp_handler slow\nimport time\ndef handler(job):\n    time.sleep(job["input"])\n'
                   '    return job["input"]\n')
    seen = kernel.execute("form = %rp_ui slow", editor="form.editor.value")
    assert "0.01" in seen["editor"]  # no job yet: ./test_input.json

    kernel.execute('form.editor.value = \'{"input": 2}\'\nform.run_button.click()\nform.cancel_button.click()')
    seen = kernel.execute("form.current.wait(10)", status="form.current.status.value")
    assert seen["status"] == "'CANCELLED'"  # the form's Cancel button

    first = kernel.execute('first = %rp_run slow {"input": 0.01} --sync', id="first['id']")["id"].strip("'")
    opened = kernel.iopub(kernel.send(f"form.flush()\nform.history.value = {first!r}"))
    assert any(first in text for text in _displays(opened)), _displays(opened)  # reopened from the history
    kept = kernel.execute("form.flush()", value="form.history.value", current="form.current.id")
    assert kept == {"value": repr(first), "current": repr(first)}  # the next flush keeps the pick

    table = kernel.execute("panel = %rp_jobs", comm="panel.table.model_id")["comm"].strip("'")
    click = kernel.client.session.msg("comm_msg", {"comm_id": table, "data": {"method": "custom",
                                                                              "content": {"id": first}}})
    kernel.client.shell_channel.send(click)  # what the browser sends when a row is clicked
    shown = kernel.iopub_until(lambda m: any(first in text for text in _displays([m])), timeout=20)
    assert shown
