"""The job view in a real kernel: the model's state equals the job's stream; messages are bounded."""

from __future__ import annotations

from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

STREAMING = '''%%rp_handler
import runpod
def handler(job):
    for i in range(job["input"]["n"]):
        if i % 1000 == 0:
            runpod.serverless.progress_update(job, f"{i}/{job['input']['n']}")
        yield f"t{i} "
runpod.serverless.start({"handler": handler})
'''

WAIT_FOR_THE_VIEW = """job.wait(60)
import gc, time
from rp_jupyter.widgets import JobView
deadline = time.monotonic() + 30  # the clock thread's final flush: usually within 50 ms
while not all(v._finished for v in gc.get_objects() if isinstance(v, JobView)) and time.monotonic() < deadline:
    time.sleep(0.02)
len(job.stream)"""


def test_the_saved_notebook_holds_the_whole_stream_and_the_finished_view():
    notebook = new_notebook(cells=[
        new_code_cell("%load_ext rp_jupyter"),
        new_code_cell(STREAMING),
        new_code_cell('job = %rp_run handler {"input": {"n": 5000}}\njob'),
        new_code_cell(WAIT_FOR_THE_VIEW),
        new_code_cell("None  # a late final flush is re-sent before this cell (pre_run_cell)"),
    ])
    NotebookClient(notebook, timeout=120, kernel_name="python3", store_widget_state=True).execute()
    states = notebook.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    views = [s["state"] for s in states.values() if s["model_name"] == "AnyModel"]
    assert len(views) == 1
    view = views[0]
    assert "final_text" not in view  # the widget sends the text as deltas only, never all of it again
    assert view["header"]["status"] == "COMPLETED" and view["stats"]["chunks"] == 5000
    assert view["progress"]["kind"] == "bar"
    output = notebook.cells[2].outputs[0]  # the finished view, static: readable with or without widgets
    assert "application/vnd.jupyter.widget-view+json" not in output["data"]
    assert "COMPLETED" in output["data"]["text/plain"] and "Widget" not in output["data"]["text/plain"]
    page = output["data"]["text/html"]
    assert 'class="rpj-status"' in page and ">COMPLETED<" in page and "5000 chunks" in page
    assert "".join(f"t{i} " for i in range(5000)) in page  # the whole stream, as the view showed it


def _final(message):
    """The view's last flush: the only one that carries the result."""
    return message["msg_type"] == "comm_msg" and "result" in message["content"]["data"].get("state", {})


def test_a_100k_chunk_stream_sends_a_bounded_number_of_messages(kernel):
    kernel.execute("%load_ext rp_jupyter")
    kernel.execute(STREAMING)
    kernel.client.execute('job = %rp_run handler {"input": {"n": 100000}}\njob')
    messages = kernel.iopub_until(_final)  # whichever cell a flush from the view's thread is attributed to
    seen = kernel.execute("job.wait(60)", seconds="job.elapsed", text="len(''.join(job.stream))")
    comm_id = messages[-1]["content"]["comm_id"]
    updates = [_state(m) for m in messages if m["msg_type"] == "comm_msg" and m["content"]["comm_id"] == comm_id]
    budget = 30 * float(seen["seconds"]) + 5  # ~30 updates a second of run time, plus opening and closing
    assert len(updates) <= budget, (len(updates), seen)
    assert updates[-1]["header"]["status"] == "COMPLETED" and "final_text" not in updates[-1]
    deltas = [update["delta"] for update in updates if "delta" in update]
    assert [delta["seq"] for delta in deltas] == list(range(1, len(deltas) + 1))  # numbered, none missing
    assert all(isinstance(delta["text"], bytes) for delta in deltas)  # binary buffers: no JSON of the text
    expected = "".join(f"t{i} " for i in range(100000))
    # appended in order, the deltas are the stream exactly: what the browser shows
    text = b"".join(delta["text"] for delta in deltas).decode()
    assert text == expected and len(expected) == int(seen["text"])


def _state(message):
    """A widget update's state with its binary buffers put back where ``buffer_paths`` says."""
    data = message["content"]["data"]
    state = data["state"]
    for path, buffer in zip(data.get("buffer_paths", []), message["buffers"], strict=True):
        target = state
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = bytes(buffer)
    return state


SLOW_STREAM = '''%%rp_handler slow
import time
def handler(job):
    for i in range(20):
        time.sleep(0.1)
        yield i
'''


def test_a_reloaded_page_can_restore_a_view_updated_while_a_deleted_subshell_was_current(kernel):
    """ipykernel 7.4 routes a comm's incoming messages to the subshell of the request current when it
    last sent; a view updates from the clock thread, where that is whatever any shell handled last. With
    that subshell deleted (JupyterLab deletes a comm target's subshell with its last comm), a page's
    ``request_state`` for the view was dropped ("Unknown subshell_id") and the view never rendered."""
    import pytest

    if not kernel.has_subshells():
        pytest.skip("this ipykernel has no subshells")
    kernel.execute("%load_ext rp_jupyter")
    kernel.execute(SLOW_STREAM)
    opened = [m for m in kernel.iopub(kernel.send('job = %rp_run slow {"input": 1}\njob'))
              if m["msg_type"] == "comm_open"]
    view = next(m["content"]["comm_id"] for m in opened if m["content"]["data"]["state"]["_model_name"] == "AnyModel")
    subshell = kernel.control("create_subshell_request", {})["subshell_id"]
    # current on the subshell while the view streams (its flushes leave from the clock thread)
    assert kernel.reply(kernel.send_on_subshell(subshell, "job.wait(30)"))["status"] == "ok"
    assert kernel.control("delete_subshell_request", {"subshell_id": subshell})["status"] == "ok"
    request = kernel.client.session.msg("comm_msg", {"comm_id": view, "data": {"method": "request_state"}})
    kernel.client.shell_channel.send(request)  # what a reloaded page's widget manager sends for each model
    answered = kernel.iopub_until(lambda m: m["msg_type"] == "comm_msg" and m["content"]["comm_id"] == view
                                  and m["parent_header"].get("msg_id") == request["header"]["msg_id"], timeout=20)
    assert answered[-1]["content"]["data"]["method"] == "update"
