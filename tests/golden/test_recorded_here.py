"""Cases recorded from the real SDK (runpod 1.12.0, a deployed worker against a mock job API, with
``golden/tools/run_worker.py``) for questions the shared recordings do not answer; kept in
``tests/golden/recorded/``.

``sync_generator_concurrency3``: three jobs of a sync generator taken at once with
``concurrency_modifier`` 3. Each chunk carries the time it was yielded. The order of the jobs' steps
varies from run to run (it follows which chunk's post completes first), so what is compared is what
holds in every run: the jobs take turns at their yields (a job yields its first chunk before another
yields its last), and no two steps run at once (each 0.2 s step starts after the previous ended).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import rp_jupyter
from rp_jupyter.session import get_runtime

RECORDED = Path(__file__).parent / "recorded"
STEP = 0.2


def _yields(chunks_by_job: dict[str, list[str]]) -> list[tuple[float, str, int]]:
    """(time yielded, job, step) for every chunk, in time order."""
    found = []
    for job, chunks in chunks_by_job.items():
        for chunk in chunks:
            name_step, _, at = chunk.partition("@")
            found.append((float(at), job, int(name_step.rsplit("-", 1)[1])))
    return sorted(found)


def _check(yields: list[tuple[float, str, int]], jobs: int, steps: int) -> None:
    assert len(yields) == jobs * steps
    firsts = {job: at for at, job, step in yields if step == 0}
    lasts = {job: at for at, job, step in yields if step == steps - 1}
    assert min(lasts.values()) > max(firsts.values()), "the jobs did not take turns: one ended before another began"
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(yields)]
    assert min(gaps) >= STEP * 0.9, f"two steps overlapped: {gaps}"  # each step sleeps 0.2 s on the one thread


def test_sync_generator_jobs_take_turns_at_yields_as_the_recorded_sdk_did(shell):
    case = RECORDED / "sync_generator_concurrency3"
    recording = json.loads((case / "recording.json").read_text())
    names = {job["id"]: job["input"]["name"] for job in recording["jobs_served"]}
    posted: dict[str, list[str]] = {name: [] for name in names.values()}
    for request in recording["requests"]:
        if "/job-stream/" in request["path"]:
            job_id = request["path"].rsplit("/", 1)[1]
            posted[names[job_id]].append(json.loads(request["body"])["output"])
    _check(_yields(posted), jobs=3, steps=3)  # the oracle satisfies the property

    shell.run(f"%%rp_handler gen3\n{(case / 'handler.py').read_text()}")  # pasted unchanged
    # Queued in one turn of the runtime's loop, as the recorded worker fetched them: all three are
    # running before the first one's first step ends (a job alone would stream on in one turn).
    jobs = get_runtime()._loop.call(lambda: [rp_jupyter.run("gen3", {"input": {"name": name}})
                                             for name in names.values()])
    ours = {job.request["input"]["name"]: job.wait(30).stream for job in jobs}
    _check(_yields(ours), jobs=3, steps=3)
    assert all(job.status.value == "COMPLETED" and job.output == [] for job in jobs)  # no aggregate: []
