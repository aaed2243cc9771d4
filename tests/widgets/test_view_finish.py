"""The finished view left in the notebook is the job's end, whichever thread sees the end first."""

from __future__ import annotations

import threading

from IPython.utils.capture import capture_output

from rp_jupyter.widgets import _job_view
from rp_jupyter.widgets._job_view import JobView


class HeldClock:
    """A clock that never flushes: the view's own flush has not come yet when ``show()`` runs."""

    def __init__(self) -> None:
        self.marked: list[object] = []

    def mark(self, view: object, urgent: bool = False) -> None:
        self.marked.append(view)


def test_a_job_ending_before_the_first_flush_leaves_its_final_state_not_the_one_rendered_at_creation(
        shell, runtime, monkeypatch, settle):
    clock = HeldClock()
    monkeypatch.setattr(_job_view, "CLOCK", clock)
    gate = threading.Event()

    def handler(job):
        gate.wait(10)
        raise ValueError("late failure")

    runtime.register(handler, "broken")
    job = runtime.submit("broken", {"input": {}})
    view = JobView(job)  # rendered while the job runs
    assert view.header["status"] in ("IN_QUEUE", "IN_PROGRESS")
    gate.set()
    job.wait(10)
    settle(runtime)  # the view's listener has seen the end
    assert clock.marked  # the end was marked for a flush that has not run
    with capture_output() as shown:
        view.show()
    final = shown.outputs[-1].data["text/html"]  # the update that replaced the widget
    assert ">FAILED<" in final and "ValueError: late failure" in final and "IN_PROGRESS" not in final
    assert view.header["status"] == "FAILED" and view.result["error"]["type"] == "ValueError"
    view.flush()  # the clock's flush, late: nothing more to send
    assert view.flushes == 2
    view.close()
