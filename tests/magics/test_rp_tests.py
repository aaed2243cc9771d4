"""``%rp_tests`` in a real IPython shell: keep jobs, replay them, see what changed; bad input is one line."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any as Shell  # the `shell` fixture (tests/conftest.py)

import pytest
from IPython.core.error import UsageError

import rp_jupyter

GREET = '''%%rp_handler greet
import runpod


def handler(job):
    name = job["input"]["name"]
    runpod.serverless.progress_update(job, f"greeting {name}")
    if name == "boom":
        raise ValueError("cannot greet boom")
    return {"greeting": f"hello {name}", "job": job["id"]}
'''


def run(shell: Shell, name: str, value: object) -> rp_jupyter.Job:
    job = shell.run(f"%rp_run {name} {json.dumps({'input': value})}")
    return job.wait(30)


def test_keep_then_replay_reports_the_changed_output_with_its_diff(shell: Shell) -> None:
    shell.run(GREET)
    ada, grace = run(shell, "greet", {"name": "Ada"}), run(shell, "greet", {"name": "Grace"})
    kept = shell.run(f"%rp_tests add greet {ada.id} {grace.id}")
    assert [t.name for t in kept.tests] == ["greet_1", "greet_2"]
    assert "kept test 'greet_1' (runpod-tests/greet.json) from job" in repr(kept)
    stored = json.loads(Path("runpod-tests/greet.json").read_text())
    assert stored["tests"][0]["expected"]["progress"] == ["greeting Ada"]
    assert stored["tests"][0]["request"] == {"input": {"name": "Ada"}}
    assert stored["tests"][0]["recorded"]["status_body"] == ada.to_status()  # the final /status body, as seen

    table = shell.run("%rp_tests run greet")
    assert table.ok and table.counts() == {"pass": 2, "changed": 0, "failed": 0}  # job ids differ: not compared

    shell.run(GREET.replace('f"hello {name}"', 'f"hello {name}" if name != "Grace" else "hi Grace"'))
    table = shell.run("%rp_tests run greet")
    assert [r.results["notebook"].verdict for r in table.rows] == ["pass", "changed"]
    changed = table.rows[1].results["notebook"]
    assert changed.what == "final result"
    assert '-    "greeting": "hello Grace",' in changed.diff and '+    "greeting": "hi Grace",' in changed.diff
    text = repr(table)
    assert text.startswith("tests of 'greet' (runpod-tests/greet.json): 1 pass, 1 changed, 0 failed")
    assert "greet_2  changed" in text and "--- greet_2 (notebook): final result" in text
    assert "data-verdict='changed'" in table._repr_html_()


def test_a_handler_that_now_raises_fails_and_a_recorded_failure_passes(shell: Shell) -> None:
    shell.run(GREET)
    boom, ada = run(shell, "greet", {"name": "boom"}), run(shell, "greet", {"name": "Ada"})
    assert boom.status.value == "FAILED"
    shell.run(f"%rp_tests add greet {boom.id[:8]} {ada.id[:8]}")  # a unique prefix names a job
    shell.run(GREET.replace('return {"greeting"', 'return {"greeting": MISSING, "x"'))
    table = shell.run("%rp_tests run greet")
    boom_result, ada_result = (r.results["notebook"] for r in table.rows)
    assert boom_result.verdict == "pass"  # the same exception, from the same line of the handler
    assert ada_result.verdict == "failed" and ada_result.what == "the handler raised: NameError: name 'MISSING' is not defined"


def test_add_defaults_to_the_last_successful_job_and_updates_a_test_with_the_same_request(shell: Shell) -> None:
    shell.run(GREET)
    run(shell, "greet", {"name": "Ada"})
    run(shell, "greet", {"name": "boom"})
    first = shell.run("%rp_tests add greet")
    assert [t.request for t in first.tests] == [{"input": {"name": "Ada"}}]
    shell.run(GREET.replace("hello", "hey"))
    newer = run(shell, "greet", {"name": "Ada"})
    again = shell.run("%rp_tests add greet")  # the same request: the expectation is re-recorded
    assert "updated test 'greet_1'" in repr(again) and again.tests[0].job_id == newer.id
    assert len(again.tests) == 1
    named = shell.run(f"%rp_tests add greet {newer.id} --as ada_hey")
    assert [t.name for t in named.tests] == ["greet_1", "ada_hey"]
    listed = repr(shell.run("%rp_tests list greet"))
    assert "2 test(s) of 'greet' in runpod-tests/greet.json" in listed
    timeout = rp_jupyter.exporter.timeout_for(newer.execution_time) // 1000  # 10 s + 3x the recorded time
    assert f'greet_1: COMPLETED, 0 chunk(s), timeout {timeout} s, input {{"name": "Ada"}}' in listed
    shell.run("%rp_tests remove greet ada_hey")
    assert [t.name for t in rp_jupyter._testing.kept_tests("greet")] == ["greet_1"]


def test_retest_replays_after_the_handler_cell(shell: Shell, capsys: pytest.CaptureFixture[str]) -> None:
    shell.run(GREET)
    shell.run("%rp_tests add greet " + run(shell, "greet", {"name": "Ada"}).id)
    capsys.readouterr()
    shell.run(GREET.replace("%%rp_handler greet", "%%rp_handler greet --retest").replace("hello", "hey"))
    out = capsys.readouterr().out
    assert "replaced handler 'greet'" in out and "tests of 'greet'" in out and "0 pass, 1 changed" in out
    shell.run("%%rp_handler other --retest\ndef handler(job):\n    return 1\n")
    assert "no kept tests for 'other' to replay" in capsys.readouterr().out


def test_a_replay_is_cancelled_at_its_tests_timeout(shell: Shell, tmp_path: Path) -> None:
    shell.run("%%rp_handler wait\nimport threading\nGATE = threading.Event()\n\n\n"
              "def handler(job):\n    GATE.wait(job['input']['seconds'])\n    return 'done'\n")
    job = run(shell, "wait", {"seconds": 0})
    shell.run(f"%rp_tests add wait {job.id}")
    path = Path("runpod-tests/wait.json")
    data = json.loads(path.read_text())
    data["tests"][0]["timeout"] = 1000
    data["tests"][0]["request"]["input"]["seconds"] = 60  # the replay would wait a minute
    path.write_text(json.dumps(data))
    try:
        table = shell.run("%rp_tests run wait")
    finally:
        shell.ip.user_ns["GATE"].set()  # let the abandoned call return
    result = table.rows[0].results["notebook"]
    assert result.verdict == "failed" and result.what == "timed out: cancelled after 1 s (the test's timeout)"


@pytest.mark.parametrize(("line", "message"), [
    ("%rp_tests", "the following arguments are required: action, name"),
    ("%rp_tests frobnicate greet", "invalid choice: 'frobnicate'"),
    ("%rp_tests add nope", "no handler named 'nope' is registered"),
    ("%rp_tests run greet", "handler 'greet' has no kept tests (runpod-tests/greet.json): keep jobs first"),
    ("%rp_tests add greet deadbeefcafe", "job 'deadbeefcafe' is not among this kernel's jobs"),
    ("%rp_tests add greet", "handler 'greet' has no successful job to keep: run one first"),
    ("%rp_tests run greet x", "%rp_tests run takes only the handler's name"),
    ("%rp_tests list greet --as x", "--as goes with %rp_tests add"),
    ("%rp_tests remove greet", "name the tests to remove"),
    ("%rp_tests remove greet nope", "no test named 'nope' in runpod-tests/greet.json (tests: none)"),
])
def test_misuse_is_one_line(shell: Shell, line: str, message: str) -> None:
    shell.run(GREET)
    error = shell.fails(line)
    assert isinstance(error, UsageError) and message in str(error) and "\n" not in str(error), str(error)


def test_jobs_that_cannot_be_tests_are_refused(shell: Shell) -> None:
    shell.run(GREET)
    shell.run("%%rp_handler other\ndef handler(job):\n    return 1\n")
    other = run(shell, "other", {})
    assert "ran handler 'other', not 'greet'" in str(shell.fails(f"%rp_tests add greet {other.id}"))
    shell.run("%%rp_handler bad\ndef handler(job):\n    return {'x': object()}\n")
    bad = run(shell, "bad", {})
    assert "failed on purpose in rp_jupyter" in str(shell.fails(f"%rp_tests add bad {bad.id}"))
    gate = threading.Event()
    shell.ip.user_ns["GATE"] = gate
    shell.run("%%rp_handler slow\ndef handler(job):\n    GATE.wait(30)\n    return 1\n")
    slow = shell.run('%rp_run slow {"input": {}}')
    try:
        assert "keep it once it has ended" in str(shell.fails(f"%rp_tests add slow {slow.id}"))
        slow.cancel()
        assert "ended CANCELLED without a result" in str(shell.fails(f"%rp_tests add slow {slow.id}"))
    finally:
        gate.set()


def test_a_tests_file_that_is_not_ours_is_never_overwritten(shell: Shell) -> None:
    shell.run(GREET)
    job = run(shell, "greet", {"name": "Ada"})
    Path("runpod-tests").mkdir()
    Path("runpod-tests/greet.json").write_text('{"mine": true}')
    error = shell.fails(f"%rp_tests add greet {job.id}")
    assert "runpod-tests/greet.json: not rp_jupyter's tests file" in str(error) and "nothing was changed" in str(error)
    assert Path("runpod-tests/greet.json").read_text() == '{"mine": true}'


def test_the_folder_is_a_setting(shell: Shell) -> None:
    shell.run(GREET)
    job = run(shell, "greet", {"name": "Ada"})
    shell.run("%config TestsMagics.tests_dir = 'checks'")
    try:
        shell.run(f"%rp_tests add greet {job.id}")
        assert Path("checks/greet.json").exists() and not Path("runpod-tests").exists()
        shell.run("%rp_export greet --out w --hub")  # export reads the tests from the same folder
        assert '"name": "greet_1"' in Path("w/.runpod/tests.json").read_text()
    finally:
        shell.run("%config TestsMagics.tests_dir = 'runpod-tests'")


@pytest.mark.parametrize(("edit", "message"), [
    (lambda t: t.update(timeout=-5), '"timeout" must be a whole number of milliseconds > 0'),
    (lambda t: t.update(request={"no": "input"}), '"request" must be an object with an "input"'),
    (lambda t: t["expected"].update(status="WEIRD"), '"expected.status" must be COMPLETED or FAILED'),
    (lambda t: t["expected"].update(result="text"), '"expected.result" must be an object'),
    (lambda t: t["expected"].update(stream="abc"), '"expected.stream" and "expected.progress" must be lists'),
    (lambda t: t.pop("expected"), "a test is malformed: 'expected'"),
    (lambda t: t.update(name=""), "its name must be 1-100 printable characters"),
])
def test_a_hand_edited_tests_file_that_is_wrong_is_one_line(shell: Shell, edit, message) -> None:
    shell.run(GREET)
    shell.run("%rp_tests add greet " + run(shell, "greet", {"name": "Ada"}).id)
    path = Path("runpod-tests/greet.json")
    data = json.loads(path.read_text())
    edit(data["tests"][0])
    path.write_text(json.dumps(data))
    error = shell.fails("%rp_tests run greet")
    assert isinstance(error, UsageError) and message in str(error) and "\n" not in str(error), str(error)
    assert str(error).startswith("runpod-tests/greet.json: ") and str(error).endswith("nothing was changed")
    assert json.loads(path.read_text()) == data  # left as it is


def test_a_test_name_must_be_printable(shell: Shell) -> None:
    shell.run(GREET)
    job = run(shell, "greet", {"name": "Ada"})
    error = shell.fails(f"%rp_tests add greet {job.id} --as ' padded '")
    assert isinstance(error, UsageError) and "invalid test name ' padded '" in str(error)
