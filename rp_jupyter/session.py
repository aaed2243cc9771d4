"""The composition root and the plain-Python API: one runtime per process, the SDK bridge.

Works without IPython (scripts, tests). The magics are a thin layer over these functions.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from ._sdk import SdkBridge
from .exceptions import RegistrationError
from .runtime import DEFAULT_EXECUTION_TIMEOUT, HandlerSpec, Job, Runtime

__all__ = [
    "capture_starts",
    "check_export",
    "export",
    "get_runtime",
    "handler",
    "jobs",
    "register",
    "register_config",
    "run",
    "run_sync",
    "serve",
    "set_cell_source",
    "shutdown",
    "stop_serving",
    "verify",
]

F = TypeVar("F", bound=Callable[..., Any])

_lock = threading.Lock()
_runtime: Runtime | None = None
_captures: list[list[dict[str, Any]]] = []
_CONFIG_KEYS = {"handler", "return_aggregate_stream", "concurrency_modifier", "refresh_worker", "rp_args"}


def _on_start(config: Any) -> None:
    """``runpod.serverless.start(config)`` from notebook code."""
    if not isinstance(config, dict) or "handler" not in config:
        raise RegistrationError(
            'runpod.serverless.start() takes a config dict with a "handler", '
            'e.g. runpod.serverless.start({"handler": handler})'
        )
    if _captures:
        _captures[-1].append(config)
        return
    spec = register_config(config)
    print(f"rp_jupyter: registered handler {spec.name!r} ({spec.describe()})")


def _on_progress(job: Any, progress: Any) -> None:
    """``runpod.serverless.progress_update(job, progress)`` from a handler."""
    get_runtime().progress(job["id"], progress)


_bridge = SdkBridge(_on_start, _on_progress)


def get_runtime() -> Runtime:
    """The process's runtime, started on first use (with the SDK bridge installed)."""
    global _runtime
    with _lock:
        if _runtime is None or not _runtime.accepting:
            _runtime = Runtime()
        _bridge.install()
        return _runtime


def install_bridge() -> None:
    """Route ``runpod.serverless.start``/``progress_update`` to rp_jupyter (cheap; no runtime yet)."""
    _bridge.install()


@contextlib.contextmanager
def capture_starts() -> Iterator[list[dict[str, Any]]]:
    """Collect ``runpod.serverless.start`` configs instead of registering them (``%%rp_handler``)."""
    _bridge.install()
    captured: list[dict[str, Any]] = []
    _captures.append(captured)
    try:
        yield captured
    finally:
        _captures.remove(captured)


def register(
    fn: Callable[..., Any],
    name: str | None = None,
    *,
    return_aggregate_stream: bool = False,
    concurrency_modifier: Callable[[int], int] | None = None,
    refresh_worker: bool = False,
    execution_timeout: float | None = DEFAULT_EXECUTION_TIMEOUT,
) -> HandlerSpec:
    """Register ``fn`` as a RunPod handler named ``name`` (default: the function's name)."""
    return get_runtime().register(
        fn,
        name,
        return_aggregate_stream=return_aggregate_stream,
        concurrency_modifier=concurrency_modifier,
        refresh_worker=refresh_worker,
        execution_timeout=execution_timeout,
    )


def register_config(config: dict[str, Any], name: str | None = None, **overrides: Any) -> HandlerSpec:
    """Register from a ``runpod.serverless.start`` config; ``overrides`` win over its keys."""
    unknown = sorted(set(config) - _CONFIG_KEYS)
    if unknown:
        raise RegistrationError(
            f"unknown runpod.serverless.start config key(s): {', '.join(map(repr, unknown))} "
            f"(known: {', '.join(sorted(_CONFIG_KEYS - {'rp_args'}))})"
        )
    options: dict[str, Any] = {
        "return_aggregate_stream": bool(config.get("return_aggregate_stream", False)),
        "concurrency_modifier": config.get("concurrency_modifier"),
        "refresh_worker": bool(config.get("refresh_worker", False)),
    }
    options.update(overrides)
    return register(config["handler"], name, **options)


def handler(
    fn: F | None = None, /, *, name: str | None = None, **options: Any
) -> F | Callable[[F], F]:
    """Decorator form of :func:`register` (for editors that stumble on cell magics).

    ``@rp_jupyter.handler`` or ``@rp_jupyter.handler(name="echo", return_aggregate_stream=True)``.
    """
    def decorate(function: F) -> F:
        register(function, name, **options)
        return function

    return decorate(fn) if fn is not None else decorate


def run(name: str, request: Any) -> Job:
    """``POST /run``: queue a job for handler ``name``; returns the :class:`Job` at once."""
    return get_runtime().submit(name, request)


def run_sync(name: str, request: Any, *, wait: float | None = 90.0) -> dict[str, Any]:
    """``POST /runsync``: RunPod's body once the job ends, or its status after ``wait`` s."""
    return get_runtime().run_sync(name, request, wait=wait)


def jobs() -> list[Job]:
    """The jobs of this process's runtime, oldest first."""
    return get_runtime().jobs if _runtime is not None else []


def shutdown(timeout: float = 5.0) -> list[Job]:
    """Stop the runtime in stages and restore the SDK; returns the jobs that had to be cancelled."""
    global _runtime
    stop_serving()
    with _lock:
        runtime, _runtime = _runtime, None
    _bridge.uninstall()
    return runtime.shutdown(timeout) if runtime is not None else []


_server: Any = None  # the running PublicServer, if any (rp_jupyter.server is imported on first use)


def serve(host: str = "127.0.0.1", port: int = 8000, api_key: str | None = None, **options: Any) -> Any:
    """Serve RunPod's public API (``/v2/{handler}/run``, ...) for every registered handler.

    Binds 127.0.0.1 unless told otherwise (another host warns). With ``api_key``, requests need
    ``Authorization: <key>`` or ``Bearer <key>``. Replaces a server already running. ``options``:
    ``retention_run``/``retention_runsync`` (s), ``webhook_retry_delay`` (s). Returns the server.
    """
    global _server
    from .server import serve as start

    stop_serving()
    _server = start(get_runtime(), host, port, api_key, **options)
    return _server


def stop_serving(timeout: float = 5.0) -> bool:
    """Stop the server started by :func:`serve`; False when none was running."""
    global _server
    server, _server = _server, None
    if server is None:
        return False
    server.stop(timeout)
    return True


# ---- export (issue 4): the exporter works on plain data; this is where it is gathered ---------
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
) -> Any:
    """Write handler ``name`` as a RunPod worker (handler.py, Dockerfile, requirements.txt, ...) to
    ``out_dir`` (default ``<name>-worker``); with ``verify``, run it under the real SDK too.

    ``cells``: the executed cells as strings or :class:`rp_jupyter.exporter.Cell` (default: the
    kernel's history when the extension is loaded, else the handler's own source file).
    """
    from .exporter import write_export

    directory = out_dir or f"{name}-worker"
    result = write_export(_build_export(name, cells, notebook, base_image), directory)
    if verify:
        result.report = _verify(name, directory, timeout)
    return result


def check_export(
    name: str, directory: str, *, cells: list[Any] | None = None, notebook: str | None = None,
    base_image: str | None = None,
) -> Any:
    """How ``directory`` differs from what :func:`export` would write now (a ``Drift``; ``.ok``)."""
    from .exporter import drift

    return drift(_build_export(name, cells, notebook, base_image), directory)


def verify(name: str, directory: str, *, jobs: list[Any] | None = None, timeout: float = 60.0) -> Any:
    """Run ``directory/handler.py`` under the real ``runpod`` SDK in deployed-worker mode against the
    notebook's finished jobs of handler ``name`` (or ``jobs``: Job objects or ids); a ``VerifyReport``
    comparing them job by job. Jobs run before the handler's code last changed diverge, as they should."""
    return _verify(name, directory, timeout, jobs)


def _build_export(name: str, cells: list[Any] | None, notebook: str | None, base_image: str | None) -> Any:
    from .exporter import build_export, probe_environment

    runtime = get_runtime()
    spec = runtime.handler(name)
    found, found_notebook = _export_cells(spec, cells)
    done = [j for j in runtime.jobs if j.handler == name and j.status.value == "COMPLETED"]
    return build_export(
        _handler_config(spec), found, probe_environment(), request=done[-1].request if done else None,
        notebook=notebook or found_notebook, base_image=base_image,
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
    return HandlerConfig(
        spec.name, getattr(spec.fn, "__name__", ""), source(spec.fn), str(spec.kind),
        spec.return_aggregate_stream, spec.refresh_worker,
        getattr(modifier, "__name__", None) if named else None, source(modifier) if named else None,
        fixed, spec.execution_timeout,
    )


def _verify(name: str, directory: str, timeout: float, only: list[Any] | None = None) -> Any:
    import importlib.metadata
    import time

    from .exceptions import ExportError
    from .exporter import VerifyReport, compare_jobs, run_worker, worker_env
    from .server import HttpServer, WorkerFace

    runtime = get_runtime()
    runtime.handler(name)
    jobs, skipped = _verifiable_jobs(runtime, name)
    if only is not None:
        wanted = {getattr(j, "id", j) for j in only}
        jobs = [j for j in jobs if j.id in wanted]
    if not jobs:
        raise ExportError(f"handler {name!r} has no finished job to verify against: run some first (%rp_run {name} ...)")
    face = WorkerFace([_job_dict(j) for j in jobs], expect_progress={j.id: len(j.progress_history) for j in jobs})
    started = time.perf_counter()
    server = HttpServer(face.app, runtime).start()
    try:
        run = run_worker(directory, worker_env(face.worker_urls(server.url)), face.settled,
                         lambda: face.has_untaken, timeout)
    finally:
        server.stop()
    checks = compare_jobs([_wire(j) for j in jobs], {j.id: _wire_of(face, j.id) for j in jobs})
    report = VerifyReport(name, directory, checks, time.perf_counter() - started, run.starts,
                          importlib.metadata.version("runpod"), skipped=skipped)
    report.log_tail = "" if report.ok else run.log_tail
    return report


def _verifiable_jobs(runtime: Runtime, name: str) -> tuple[list[Job], list[str]]:
    """Finished jobs with a result RunPod would post; rp_jupyter's deliberate failures are skipped."""
    jobs, skipped = [], []
    current = runtime.handler(name)
    for job in runtime.jobs:
        if job.handler != name or job.status.value not in ("COMPLETED", "FAILED") or job.result_body is None:
            continue
        if job.spec is not current:
            skipped.append(f"job {job.id}: ran an earlier version of the handler")
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
