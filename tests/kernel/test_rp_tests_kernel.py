"""``%rp_tests`` in a real kernel (jupyter_client over ZMQ, as JupyterLab runs it): keep two jobs,
edit the handler so one output changes, replay: one passes, one is reported changed with its diff —
live in a widget while it runs, then as the cell's result."""

from __future__ import annotations

HANDLER = '''%%rp_handler shout{flags}
import runpod


def handler(job):
    text = job["input"]["text"]
    mark = {mark}
    for word in text.split():
        yield word.upper() + mark
    runpod.serverless.progress_update(job, "done")


runpod.serverless.start({{"handler": handler, "return_aggregate_stream": True}})
'''


def outputs(kernel, code):
    msg_id = kernel.send(code)
    messages = kernel.iopub(msg_id)
    reply = kernel.reply(msg_id)
    assert reply["status"] == "ok", f"{reply.get('ename')}: {reply.get('evalue')}"
    return messages


def test_keep_two_jobs_edit_one_output_and_see_it_changed(kernel, tmp_path):
    kernel.execute(f"%cd {tmp_path}\n%load_ext rp_jupyter")
    kernel.execute(HANDLER.format(flags="", mark='"!"'))
    kernel.execute('a = %rp_run shout {"input": {"text": "hello world"}}\n'
                   'b = %rp_run shout {"input": {"text": "good bye"}}\na.wait(30); b.wait(30)')
    kept = outputs(kernel, "%rp_tests add shout {a.id} {b.id}")
    assert any("kept test 'shout_2'" in m["content"].get("data", {}).get("text/plain", "") for m in kept)
    # the edit changes the output of inputs containing "bye" only
    kernel.execute(HANDLER.format(flags="", mark='"?" if "bye" in text else "!"'))
    messages = outputs(kernel, "%rp_tests run shout")
    kinds = [m["msg_type"] for m in messages]
    live = next(m for m in messages if m["msg_type"] == "display_data")
    assert "application/vnd.jupyter.widget-view+json" in live["content"]["data"]  # the live view
    assert live["content"]["transient"]["display_id"]
    updates = [m for m in messages if m["msg_type"] == "comm_msg" and "value" in m["content"]["data"].get("state", {})]
    assert any("running" in u["content"]["data"]["state"]["value"] for u in updates)  # rows filled in live
    assert "update_display_data" in kinds  # the live view leaves the stage to the result
    result = next(m for m in messages if m["msg_type"] == "execute_result")["content"]["data"]
    text = result["text/plain"]
    assert text.startswith("tests of 'shout' (runpod-tests/shout.json): 1 pass, 1 changed, 0 failed"), text
    assert "--- shout_2 (notebook): stream chunks" in text or "--- shout_2 (notebook): final result" in text
    assert '-    "BYE!"' in text and '+    "BYE?"' in text and '"HELLO!"' not in text
    assert "data-verdict='changed'" in result["text/html"] and "data-verdict='pass'" in result["text/html"]
    # --retest after the next edit: the finished table stays where the live view was
    messages = outputs(kernel, HANDLER.format(flags=" --retest", mark='"!"'))
    final = [m for m in messages if m["msg_type"] == "update_display_data"][-1]["content"]["data"]
    assert final["text/plain"].startswith("tests of 'shout' (runpod-tests/shout.json): 2 pass, 0 changed")
