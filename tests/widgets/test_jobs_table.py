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
