"""Tracebacks in job views name the notebook cell, as IPython does (a real IPython shell)."""

from __future__ import annotations

from rp_jupyter.widgets import JobView

HANDLER = """%%rp_handler broken
def handler(job):
    steps = job["input"]["steps"]
    raise ValueError(f"steps must be <= 100, got {steps}")
"""


def test_a_handler_cells_frame_is_named_by_its_cell_and_the_line_the_user_sees(shell):
    number = shell.ip.execution_count  # the %%rp_handler cell's In[n]
    shell.run(HANDLER)
    shell.run("def helper(job):\n    return 1 / job['input']['d']")  # an ordinary cell
    helper_cell = number + 1
    shell.run("import rp_jupyter\nrp_jupyter.register(lambda job: helper(job), name='div')")
    job = shell.run('job = %rp_run broken {"input": {"steps": 500}}\njob.wait(10)')
    traceback = JobView(job).result["error"]["traceback"]
    assert f"Cell In[{number}], line 4, in handler" in traceback, traceback  # line 4 of the cell as shown
    assert "ipython-input" not in traceback and "ipykernel_" not in traceback
    assert "ipython-input" in job.error  # RunPod's raw error string is RunPod's, untouched

    div = shell.run('%rp_run div {"input": {"d": 0}} --sync')
    view = JobView(shell.ip.user_ns["rp_jupyter"].get_runtime().get(div["id"]))
    assert f"Cell In[{helper_cell}], line 2, in helper" in view.result["error"]["traceback"]
