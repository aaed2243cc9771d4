"""The finished view left in the notebook is the job's end, whichever thread sees the end first."""

from __future__ import annotations

import threading

from IPython.utils.capture import capture_output

from rp_jupyter.runtime import Job
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


def test_a_view_made_while_its_job_is_ending_still_finishes(shell, runtime, monkeypatch) -> None:
    """The job's status is FAILED but its future is not done yet, and its "finished" event was not made
    (nobody listened): the view made in that moment shows the error with the status, and turns static
    once the future is done. It stayed a live FAILED view with no error before (a browser test's flake)."""
    clock = HeldClock()
    monkeypatch.setattr(_job_view, "CLOCK", clock)
    ending, release = threading.Event(), threading.Event()

    def handler(job):
        raise ValueError("fast failure")

    runtime.register(handler, "broken")
    real_finish = Job._finish

    def held_finish(self, status, result=None):  # the end as it is, held just before the future is set
        set_result = self.future.set_result

        def held(value):
            ending.set()
            release.wait(10)
            set_result(value)

        self.future.set_result = held
        return real_finish(self, status, result)

    monkeypatch.setattr(Job, "_finish", held_finish)
    job = runtime.submit("broken", {"input": {}})
    assert ending.wait(10) and job.status.value == "FAILED" and not job.done
    view = JobView(job)
    assert view.header["status"] == "FAILED" and view.result["error"]["type"] == "ValueError"  # with its error
    release.set()
    job.wait(10)
    assert view in clock.marked  # the future's callback asked for the flush that finishes it
    with capture_output():
        view.show()
        view.flush()
    assert view._finished
    view.close()
