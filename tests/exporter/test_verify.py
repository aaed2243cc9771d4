"""Round trips: export from a real IPython shell, run the export under the real runpod SDK worker
(deployed mode, against the worker face on 127.0.0.1), compare job by job with the notebook."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any as Shell  # the `shell` fixture (tests/conftest.py)

import pytest

import rp_jupyter

pytestmark = pytest.mark.slow


def run_jobs(shell: Shell, name: str, *inputs: object) -> None:
    for value in inputs:
        shell.run(f"%rp_run {name} {json.dumps({'input': value})}")
    for job in rp_jupyter.jobs():
        job.wait(20)


def export_verified(shell: Shell, name: str) -> rp_jupyter.exporter.VerifyReport:
    result = shell.run(f"%rp_export {name} --out {name}-worker --verify")
    report = result.report
    assert report.ok, repr(report)
    return report


def test_a_plain_handler_with_progress_updates_and_an_exception(shell: Shell) -> None:
    shell.run(
        "%%rp_handler greet\nimport runpod\n\nGREETING = 'hello'\n\n\n"
        "def handler(job):\n    name = job['input']['name']\n"
        "    runpod.serverless.progress_update(job, {'step': 1, 'name': name})\n"
        "    runpod.serverless.progress_update(job, 'half way')\n"
        "    if name == 'boom':\n        raise ValueError(f'cannot greet {name}')\n"
        "    return {'greeting': f'{GREETING} {name}', 'id': job['id']}\n\n\n"
        "runpod.serverless.start({'handler': handler})"
    )
    run_jobs(shell, "greet", {"name": "Ada"}, {"name": "boom"}, {"name": "Grace"})
    report = export_verified(shell, "greet")
    assert len(report.checks) == 3 and report.worker_starts == 1
    assert "all match the notebook" in repr(report)


def test_a_sync_generator_without_aggregation_and_one_raising_mid_stream(shell: Shell) -> None:
    shell.run(
        "%%rp_handler tokens\nimport runpod\n\n\ndef generate(job):\n"
        "    for i in range(job['input']['n']):\n        yield f'token-{i} '\n"
        "    if job['input'].get('fail'):\n        raise RuntimeError('the model fell over')\n\n\n"
        "runpod.serverless.start({'handler': generate})"
    )
    run_jobs(shell, "tokens", {"n": 3}, {"n": 2, "fail": True})
    export_verified(shell, "tokens")


def test_an_async_generator_with_aggregation(shell: Shell) -> None:
    shell.run(
        "%%rp_handler agen --aggregate\nimport asyncio\n\nimport runpod\n\n\nasync def stream(job):\n"
        "    for i in range(job['input']['n']):\n        await asyncio.sleep(0)\n"
        "        yield {'i': i, 'square': i * i}\n\n\n"
        "runpod.serverless.start({'handler': stream})"
    )
    run_jobs(shell, "agen", {"n": 3}, {"n": 0})
    export_verified(shell, "agen")


def test_refresh_worker_restarts_the_worker_for_each_job(shell: Shell) -> None:
    shell.run(
        "%%rp_handler fresh\nimport runpod\n\n\ndef handler(job):\n    return job['input']['x'] * 2\n\n\n"
        "runpod.serverless.start({'handler': handler, 'refresh_worker': True})"
    )
    run_jobs(shell, "fresh", {"x": 1}, {"x": 2})
    assert export_verified(shell, "fresh").worker_starts == 2


def test_an_export_that_no_longer_matches_the_notebook_is_caught(shell: Shell) -> None:
    cell = "%%rp_handler echo\nimport runpod\n\n\ndef handler(job):\n    return {{'echo': {}}}\n\n\nrunpod.serverless.start({{'handler': handler}})"
    shell.run(cell.format("job['input']"))
    run_jobs(shell, "echo", {"a": 1})
    shell.run("%rp_export echo --out echo-worker")
    shell.run(cell.format("job['input'] | {'edited': True}"))  # the notebook moves on after the export
    run_jobs(shell, "echo", {"a": 2})
    report = rp_jupyter.verify("echo", "echo-worker")
    assert not report.ok
    first = report.first_divergence
    assert first is not None and first.what == "final result"
    assert '-      "edited": true' in first.diff
    assert "diverge; first: job" in repr(report)
    assert (Path("echo-worker") / "handler.py").exists()


def test_kept_tests_replay_in_the_notebook_and_under_the_real_sdk_as_one_table(shell: Shell) -> None:
    source = (
        "%%rp_handler greet\nimport runpod\n\n\ndef handler(job):\n    name = job['input']['name']\n"
        "    runpod.serverless.progress_update(job, f'greeting {name}')\n"
        "    if name == 'boom':\n        raise ValueError('cannot greet boom')\n"
        "    return {'greeting': f'hello {name}', 'job': job['id']}\n"
    )
    shell.run(source)
    run_jobs(shell, "greet", {"name": "Ada"}, {"name": "boom"})
    shell.run("%rp_tests add greet " + " ".join(job.id for job in rp_jupyter.jobs()))
    report = export_verified(shell, "greet")
    assert [row.name for row in report.tests.rows] == ["greet_1", "greet_2"]
    assert all(r.verdict == "pass" for row in report.tests.rows for r in row.results.values())
    text = repr(report)
    assert "2 job(s) and 2 kept test(s) under the real runpod" in text and "test     notebook" in text and "worker" in text
    html = report._repr_html_()  # the kept tests as a table, not as text in the <pre>
    assert html.count("data-verdict='pass'") == 4 and "test     notebook" not in html
    # an edit the notebook has not replayed yet: both columns see it (the worker runs the new export)
    shell.run(source.replace("hello", "hi"))
    result = shell.run("%rp_export greet --out greet-worker --verify")
    report = result.report
    assert not report.ok
    verdicts = {row.name: (row.results["notebook"].verdict, row.results["worker"].verdict) for row in report.tests.rows}
    assert verdicts == {"greet_1": ("changed", "changed"), "greet_2": ("pass", "pass")}
    assert '-    "greeting": "hello Ada",' in report.tests.rows[0].results["worker"].diff
    assert "exported worker" in report.tests.rows[0].results["worker"].diff
