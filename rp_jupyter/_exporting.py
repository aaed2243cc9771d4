"""Export glue: gathers plain data (handler config, executed cells, finished jobs) for the exporter,
and runs verification against the worker face. Part of the session layer; ``session`` re-exports it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .runtime import HandlerSpec, Job, Runtime

__all__ = ["check_export", "export", "replay", "set_cell_source", "verify"]


def get_runtime() -> Runtime:
    from .session import get_runtime as current

    return current()


CellSource = Callable[[], "tuple[list[Any], str | None]"]
_cell_source: CellSource | None = None


def set_cell_source(provider: CellSource | None) -> None:
    """Where :func:`export` finds the executed cells: ``provider() -> (cells, notebook name)``.
    The magics install the kernel's history; ``None`` removes it."""
    global _cell_source
    _cell_source = provider


def export(
    name: str,
    out_dir: str | None = None,
    *,
    cells: list[Any] | None = None,
    notebook: str | None = None,
    base_image: str | None = None,
    verify: bool = False,
    timeout: float = 60.0,
    force: bool = False,
    hub: bool = False,
    category: str | None = None,
) -> Any:
    """Write handler ``name`` as a RunPod worker (handler.py, Dockerfile, requirements.txt, ...) to
    ``out_dir`` (default ``<name>-worker``; ``~`` and ``$VARS`` expand); with ``verify``, run it under
    the real SDK too. With ``hub``, also the RunPod Hub's ``.runpod/hub.json`` and ``tests.json``
    (``category``: audio, embedding, language, video or image; default: guessed from the imports).

    Never destroys a file: a file export did not write stops it, a generated file edited by hand is
    kept (its diff shown); ``force`` replaces both, keeping each old one as ``NAME.bak``.
    ``cells``: the executed cells as strings or :class:`rp_jupyter.exporter.Cell` (default: the
    kernel's history when the extension is loaded, else the handler's own source file).
    """
    from .exporter import expand_path, write_export

    directory = expand_path(out_dir or f"{name}-worker")
    built = _build_export(name, cells, notebook, base_image, _hub(name, hub, category, directory))
    result = write_export(built, directory, force=force)
    if verify:
        result.report = _verify(name, directory, timeout)
    return result


def check_export(
    name: str, directory: str, *, cells: list[Any] | None = None, notebook: str | None = None,
    base_image: str | None = None,
) -> Any:
    """How ``directory`` differs from what :func:`export` would write now (a ``Drift``; ``.ok``)."""
    import os

    from .exporter import drift, expand_path

    directory = expand_path(directory)
    hub = _hub(name, os.path.isfile(os.path.join(directory, ".runpod", "hub.json")), None, directory)  # made with --hub
    return drift(_build_export(name, cells, notebook, base_image, hub), directory)


def verify(name: str, directory: str, *, jobs: list[Any] | None = None, timeout: float = 60.0) -> Any:
    """Run ``directory/handler.py`` under the real ``runpod`` SDK in deployed-worker mode against the
    notebook's finished jobs of handler ``name`` (or ``jobs``: Job objects or ids); a ``VerifyReport``
    comparing them job by job. Jobs run before the handler's code last changed diverge, as they should."""
    from .exporter import expand_path

    return _verify(name, expand_path(directory), timeout, jobs)


def _hub(name: str, wanted: bool, category: str | None, directory: str) -> tuple[Any, list[str]] | None:
    """The kernel's facts for the Hub's files (issue 14), and notes on them; None without ``--hub``.
    Without ``category``, the one the folder's hub.json already has stays."""
    from ._hubbing import CATEGORIES, category_in, hub_facts
    from .exceptions import ExportError

    if category is not None and category not in CATEGORIES:
        raise ExportError(f"unknown Hub category {category!r}: use one of {', '.join(CATEGORIES)}")
    return hub_facts(get_runtime(), name, category or category_in(directory)) if wanted else None


def _build_export(name: str, cells: list[Any] | None, notebook: str | None, base_image: str | None,
                  hub: tuple[Any, list[str]] | None = None) -> Any:
    from .exporter import build_export, probe_environment

    runtime = get_runtime()
    spec = runtime.handler(name)
    _refuse_nested(spec)
    found, found_notebook = _export_cells(spec, cells)
    done = [j for j in runtime.jobs if j.handler == name and j.status.value == "COMPLETED"]
    built = build_export(
        _handler_config(spec), found, probe_environment(), request=done[-1].request if done else None,
        notebook=notebook or found_notebook, base_image=base_image, hub=hub[0] if hub else None,
    )
    built.notes += hub[1] if hub else []
    return built


def _refuse_nested(spec: HandlerSpec) -> None:
    """A handler made inside another function (a closure, a factory's product) has no ``def`` of its
    own in any cell: say so, rather than that its cell was edited."""
    from .exceptions import ExportError

    hooks = [("prestart hook", hook) for hook in spec.all_prestart_hooks]
    for what, fn in (("handler", spec.fn), ("concurrency_modifier", spec.concurrency_modifier), *hooks):
        qualname = getattr(_defined_function(fn), "__qualname__", "") if fn is not None else ""
        if "<locals>" in qualname and not getattr(fn, "fixed_concurrency", None):
            maker = qualname.split(".<locals>")[0]
            raise ExportError(
                f"the {what} of {spec.name!r} is {qualname}, a function made inside {maker}() when it ran: "
                "handler.py needs a def at module level. Define it with def in the cell (reading what "
                f"{maker}() gave it from module-level names), run the cell, then export"
            )


def _export_cells(spec: HandlerSpec, cells: list[Any] | None) -> tuple[list[Any], str | None]:
    import inspect
    import os

    from .exceptions import ExportError
    from .exporter import Cell

    if cells is not None:
        return [c if isinstance(c, Cell) else Cell(f"cell {i}", str(c)) for i, c in enumerate(cells, 1)], None
    if _cell_source is not None:
        return _cell_source()
    try:
        path = inspect.getsourcefile(spec.fn)
    except TypeError:
        path = None
    if path is None or not os.path.isfile(path):
        raise ExportError(f"cannot find the cells of handler {spec.name!r}: load the extension or pass cells=[...]")
    with open(path, encoding="utf-8") as handle:
        return [Cell(os.path.basename(path), handle.read())], None


def _handler_config(spec: HandlerSpec) -> Any:
    import inspect

    from .exporter import HandlerConfig

    def source(fn: Any) -> str | None:
        try:
            return inspect.getsource(fn)
        except (OSError, TypeError):
            return None

    modifier = spec.concurrency_modifier
    fixed = getattr(modifier, "fixed_concurrency", None)  # %%rp_handler --concurrency N
    named = modifier is not None and fixed is None
    fn = _defined_function(spec.fn)
    hooks = tuple((getattr(hook, "__name__", ""), source(hook)) for hook in map(_defined_function, spec.all_prestart_hooks))
    return HandlerConfig(
        spec.name, getattr(fn, "__name__", ""), source(fn), str(spec.kind),
        spec.return_aggregate_stream, spec.refresh_worker,
        getattr(modifier, "__name__", None) if named else None, source(modifier) if named else None,
        fixed, spec.execution_timeout, hooks, spec.prestart_timeout,
    )


def _defined_function(fn: Any) -> Any:
    """The function a handler's ``def`` made, under what decorated it: ``functools.wraps`` wrappers
    (``__wrapped__``) and callable objects holding it, such as ``rp_debugger.FunctionTimer``."""
    for _ in range(10):
        if hasattr(fn, "__code__"):
            return fn
        inner = getattr(fn, "__wrapped__", None) or getattr(fn, "function", None) or getattr(fn, "func", None)
        if inner is None or inner is fn:
            return fn
        fn = inner
    return fn


def _verify(name: str, directory: str, timeout: float, only: list[Any] | None = None) -> Any:
    import os

    from ._testing import worker_replay
    from .exceptions import ExportError

    runtime = get_runtime()
    runtime.handler(name)
    if not os.path.isfile(os.path.join(directory, "handler.py")):
        raise ExportError(f"{directory} has no handler.py: export it first (%rp_export {name} --out {directory})")
    jobs, skipped = _verifiable_jobs(runtime, name)
    if only is not None:
        wanted = {getattr(j, "id", j) for j in only}
        jobs = [j for j in jobs if j.id in wanted]
    tests = worker_replay(name) if only is None else None  # the kept tests: in the notebook now, then the worker
    if not jobs and tests is None:
        raise ExportError(f"handler {name!r} has no finished job to verify against: run some first (%rp_run {name} ...)")
    expected = [_wire(j) for j in jobs]
    return replay(name, directory, [_job_dict(j) for j in jobs], expected, timeout=timeout, skipped=skipped, tests=tests)


def replay(name: str, directory: str, requests: list[dict[str, Any]], expected: list[Any], *,
           timeout: float = 60.0, skipped: list[str] | None = None, tests: Any = None) -> Any:
    """Run ``directory/handler.py`` in the clean room against ``requests`` (RunPod job dicts: ``id``,
    ``input``, ...) and compare what it posts with ``expected`` (one ``exporter.JobWire`` per request,
    same ids): the ``VerifyReport``, cold start included. :func:`verify` feeds it the notebook's jobs;
    other sources of requests plug in here. ``tests``: the kept tests (a ``_testing.WorkerReplay``), fed
    to the same worker and judged against their recordings (``report.tests``)."""
    import importlib.metadata
    import time

    from .exporter import VerifyReport, compare_jobs
    from .server import HttpServer, WorkerFace

    runtime = get_runtime()
    progress = {wire.id: len(wire.progress) for wire in expected}
    if tests is not None:
        requests, progress = [*requests, *tests.jobs], {**progress, **tests.expect_progress}
    face = WorkerFace(requests, expect_progress=progress)
    started = time.perf_counter()
    server = HttpServer(face.app, runtime).start()
    try:
        run, events, room, env = _run_in_clean_room(directory, face, server.url, timeout)
    finally:
        server.stop()
    checks = compare_jobs(expected, {wire.id: _wire_of(face, wire.id) for wire in expected})
    report = VerifyReport(name, directory, checks, time.perf_counter() - started, run.starts,
                          importlib.metadata.version("runpod"), skipped=list(skipped or []),
                          tests=tests.record(face) if tests is not None else None)
    report.log_tail = "" if report.ok else run.log_tail
    _rehearsal(report, directory, face, run, events, room, env)
    return report


def _run_in_clean_room(directory: str, face: Any, url: str, timeout: float) -> tuple[Any, list[Any], Any, Any]:
    """``handler.py`` under the import guard (only what the image holds), its events read back."""
    import json
    import os
    import tempfile

    from .exporter import BOOT, clean_room, probe_environment, read_events, run_worker, worker_env

    env = probe_environment()
    room = clean_room(directory, env)
    with tempfile.TemporaryDirectory(prefix="rp-jupyter-verify-") as scratch:
        events, settings = os.path.join(scratch, "events.jsonl"), os.path.join(scratch, "settings.json")
        with open(settings, "w", encoding="utf-8") as handle:
            json.dump(room.settings(events), handle)
        run = run_worker(directory, worker_env(face.worker_urls(url)), face.settled, lambda: face.has_untaken,
                         timeout, script=(BOOT, settings))
        return run, read_events(events), room, env


def _rehearsal(report: Any, directory: str, face: Any, run: Any, events: list[Any], room: Any, env: Any) -> None:
    """The clean room's findings (refused imports that failed the worker, and those its code caught) and
    the first start's cold start, onto the report."""
    import json
    import os

    from .exporter import blocked_imports, cold_start

    with open(os.path.join(directory, "handler.py"), encoding="utf-8") as handle:
        text = handle.read()
    boots = [i for i, e in enumerate(events) if e.get("event") == "boot"]
    first = events[: boots[1]] if len(boots) > 1 else events
    takes = [r.at for r in face.records if r.kind.startswith("job-take") and r.body]
    if run.spawned:
        report.cold_start = cold_start(first, run.spawned[0], min(takes) if takes else None, text)
    refused = blocked_imports(events, room, text, env)
    errors = "\n".join([run.log_tail, *(str(e.get("error")) for e in events if e.get("event") == "failed"),
                        *(json.dumps(r.body) for r in face.records if r.job_id)])
    report.blocked = [b for b in refused if b.failed(errors)]
    report.caught = [b for b in refused if not b.failed(errors)]
    report.clean_room_notes = list(room.notes)


def _verifiable_jobs(runtime: Runtime, name: str) -> tuple[list[Job], list[str]]:
    """Finished jobs with a result RunPod would post; rp_jupyter's deliberate failures are skipped."""
    jobs, skipped = [], []
    current = runtime.handler(name)
    for job in runtime.jobs:
        if job.handler != name or job.status.value not in ("COMPLETED", "FAILED") or job.result_body is None:
            continue
        if job.spec is not current:
            skipped.append(f"job {job.id}: ran an earlier version of the handler")
        elif '"event": "prestart_failed"' in str(job.error or "")[:40]:
            skipped.append(f"job {job.id}: failed in the prestart phase (a deployed worker exits there; fix the hook "
                           "and run jobs again)")
        elif str(job.error or "").startswith("rp_jupyter:"):
            skipped.append(f"job {job.id}: failed on purpose in rp_jupyter (RunPod would post nothing)")
        else:
            jobs.append(job)
    return jobs, skipped


def _job_dict(job: Job) -> dict[str, Any]:
    extra = {k: v for k, v in job.request.items() if k not in ("id", "input")}
    return {"id": job.id, "input": job.request["input"], **extra}


def _wire(job: Job) -> Any:
    from .exporter import JobWire

    return JobWire(job.id, job.result_body, list(job.stream), list(job.progress_history))


def _wire_of(face: Any, job_id: str) -> Any:
    from .exporter import JobWire

    return JobWire(job_id, face.final(job_id), face.stream(job_id), face.progress(job_id))
