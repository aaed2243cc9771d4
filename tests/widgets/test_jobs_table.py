"""``%rp_jobs``: a concurrency-lab run is one line (its jobs on request), in a terminal and in the table."""

from __future__ import annotations

from rp_jupyter import lab
from rp_jupyter.widgets import JobsPanel, use_job_groups

HANDLER = "%%rp_handler fetch\nimport asyncio\nasync def handler(job):\n    await asyncio.sleep(0.01)\n    return 1\n"


def test_a_lab_run_is_one_line_of_rp_jobs_in_a_terminal(shell):
    shell.run(HANDLER)
    shell.run('%rp_run fetch {"input": 1} --sync')
    shell.run("%rp_bench fetch --concurrency 1,2 --jobs 4")
    table = repr(shell.run("%rp_jobs"))
    lines = table.splitlines()
    assert len(lines) == 3, table  # the header, the job, the lab run
    assert "fetch" in lines[1] and "COMPLETED" in lines[1]
    assert "lab run " in lines[2] and "8 jobs at concurrency 1, 2" in lines[2]


def test_the_table_hides_a_lab_runs_jobs_unless_asked(runtime):
    use_job_groups(lab.lab_run_of)
    try:
        runtime.register(lambda job: job["input"], "echo")
        runtime.submit("echo", {"input": 1}).wait(10)
        lab.measure(runtime, "echo", [{"input": 2}], levels=(1, 2), jobs=3)
        panel = JobsPanel(runtime)
        rows = panel.table.rows
        assert [row.get("lab") is not None for row in rows] == [False, True] and panel.table.lab_jobs == 6
        assert rows[1]["status"] == "COMPLETED" and "6 jobs at concurrency 1, 2" in rows[1]["lab"]
        panel.table.show_lab = True  # the table's checkbox
        assert len(panel.table.rows) == 7
        assert "rpj-fallback" in panel.live._copy() and "lab run" not in panel.live._copy()  # the copy follows
        panel.close()
    finally:
        use_job_groups(None)


def test_an_abandoned_call_is_a_line_under_the_table_until_it_returns(runtime):
    import threading
    import time

    entered, release = threading.Event(), threading.Event()
    runtime.register(lambda job: (entered.set(), release.wait(30)), "stuck")
    job = runtime.submit("stuck", {"input": {}, "policy": {"executionTimeout": 200}})
    assert entered.wait(10) and job.wait(10).status.value == "TIMED_OUT"
    deadline = time.monotonic() + 10
    while not runtime.abandoned and time.monotonic() < deadline:  # abandoned once it had its time to stop
        time.sleep(0.02)
    panel = JobsPanel(runtime)
    try:
        [line] = panel.table.abandoned
        assert "abandoned call of handler 'stuck'" in line and job.id in line and "release.wait(30)" in line
        assert line in panel._text()  # a terminal's %rp_jobs says it too, and the saved notebook's copy:
        assert 'class="rpj-warning"' in panel._static_html() and "handler &#x27;stuck&#x27;" in panel._static_html()
        release.set()
        while runtime.abandoned and time.monotonic() < deadline:
            time.sleep(0.02)
        panel.flush()
        assert panel.table.abandoned == [] and "still running since" not in panel._text()
    finally:
        release.set()
        panel.close()
