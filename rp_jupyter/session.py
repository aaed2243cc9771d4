"""The composition root and the plain-Python API: one runtime per process, the SDK bridge.

Works without IPython (scripts, tests). The magics are a thin layer over these functions.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from ._exporting import check_export, export, set_cell_source, verify
from ._prestart_hooks import CellCapture, HookBook
from ._sdk import SdkBridge
from .exceptions import RegistrationError
from .runtime import DEFAULT_EXECUTION_TIMEOUT, DEFAULT_STALL_THRESHOLD, HandlerSpec, Job, Runtime

__all__ = [
    "capture_starts",
    "check_export",
    "configure",
    "current_runtime",
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
_captures: list[CellCapture] = []
_CONFIG_KEYS = {"handler", "return_aggregate_stream", "concurrency_modifier", "refresh_worker", "rp_args"}
_PRESTART_KEYS = {"prestart_timeout"}  # runpod 2.x
_hooks = HookBook()
_settings: dict[str, Any] = {"stall_threshold": DEFAULT_STALL_THRESHOLD, "namer": None}


def _on_start(config: Any) -> None:
    """``runpod.serverless.start(config)`` from notebook code."""
    if not isinstance(config, dict) or "handler" not in config:
        raise RegistrationError(
            'runpod.serverless.start() takes a config dict with a "handler", '
            'e.g. runpod.serverless.start({"handler": handler})'
        )
    if _captures:
        _captures[-1].append(_hooks.started(_captures[-1], config))  # with the cell's hooks registered so far
        return
    spec = register_config(config)
    print(f"rp_jupyter: registered handler {spec.name!r} ({spec.describe()})")


def _on_progress(job: Any, progress: Any) -> None:
    """``runpod.serverless.progress_update(job, progress)`` from a handler."""
    get_runtime().progress(job["id"], progress)


def _on_prestart_hook(hook: Any) -> None:
    """``runpod.serverless.register_prestart_hook(hook)`` from notebook code (runpod 2.x)."""
    _hooks.registered(hook, _captures[-1] if _captures else None)


_bridge = SdkBridge(_on_start, _on_progress, _on_prestart_hook)


def get_runtime() -> Runtime:
    """The process's runtime, started on first use (with the SDK bridge installed)."""
    global _runtime
    with _lock:
        if _runtime is None or not _runtime.accepting:
            _runtime = Runtime(stall_threshold=_settings["stall_threshold"], after_job=_bridge.after_job)
            if _settings["namer"] is not None:
                _runtime.name_locations(_settings["namer"])
        _bridge.install()
        return _runtime


def configure(*, stall_threshold: float | None = None, namer: Callable[[str, int], str] | None = None) -> None:
    """Settings of the process's runtime, now and for a runtime started later: the watchdog's
    ``stall_threshold`` (s), and ``namer(filename, lineno)`` naming code places in warnings (cells)."""
    with _lock:
        if stall_threshold is not None:
            if isinstance(stall_threshold, bool) or not isinstance(stall_threshold, (int, float)) \
                    or not 0 < stall_threshold < float("inf"):
                raise RegistrationError(f"the stall threshold is a positive number of seconds, got {stall_threshold!r}")
            _settings["stall_threshold"] = float(stall_threshold)
            if _runtime is not None:
                _runtime.stall_threshold = float(stall_threshold)
        if namer is not None:
            _settings["namer"] = namer
            if _runtime is not None:
                _runtime.name_locations(namer)


def current_runtime() -> Runtime | None:
    """The process's runtime if one was started (None: nothing ran yet); starts nothing."""
    return _runtime


def install_bridge() -> None:
    """Route ``runpod.serverless.start``/``progress_update`` to rp_jupyter (cheap; no runtime yet)."""
    _bridge.install()


@contextlib.contextmanager
def capture_starts() -> Iterator[CellCapture]:
    """Collect ``runpod.serverless.start`` configs instead of registering them (``%%rp_handler``), and the
    prestart hooks the cell registers (``configs.handler_config(fn)`` for a cell without ``start()``)."""
    _bridge.install()
    captured = CellCapture()
    _captures.append(captured)
    try:
        yield captured
    finally:
        _captures.remove(captured)
        _hooks.cell_ended(captured)


def register(
    fn: Callable[..., Any],
    name: str | None = None,
    *,
    return_aggregate_stream: bool = False,
    concurrency_modifier: Callable[[int], int] | None = None,
    refresh_worker: bool = False,
    execution_timeout: float | None = DEFAULT_EXECUTION_TIMEOUT,
    tokenizer: Callable[[str], int] | None = None,
    prestart_hooks: Sequence[Callable[[], Any]] = (),
    prestart_timeout: float | None = None,
) -> HandlerSpec:
    """Register ``fn`` as a RunPod handler named ``name`` (default: the function's name).

    ``tokenizer(text) -> int`` counts tokens for the job views' tokens/s (default: whitespace tokens).
    ``prestart_hooks`` run (runpod 2.x's ``register_prestart_hook``) before the first job of each of
    its workers, after the hooks registered outside a handler cell since the last registration, within
    ``prestart_timeout`` s (docs/differences.md, "Prestart hooks").
    """
    runtime = get_runtime()
    resolved = name or getattr(fn, "__name__", None)
    run, kept = _hooks.for_registration(runtime.handlers.get(resolved) if isinstance(resolved, str) else None,
                                        prestart_hooks)
    spec = runtime.register(
        fn,
        name,
        return_aggregate_stream=return_aggregate_stream,
        concurrency_modifier=concurrency_modifier,
        refresh_worker=refresh_worker,
        execution_timeout=execution_timeout,
        tokenizer=tokenizer,
        prestart_hooks=run,
        prestart_timeout=prestart_timeout if run or kept else None,
        prestart_kept=kept,
    )
    _hooks.registered_as(spec)
    return spec


def register_config(config: dict[str, Any], name: str | None = None, **overrides: Any) -> HandlerSpec:
    """Register from a ``runpod.serverless.start`` config; ``overrides`` win over its keys.

    Keys the SDK does not read are ignored, as the SDK ignores them, with a warning naming them.
    The prestart hooks registered in the ``%%rp_handler`` cell before its ``start()`` are the handler's.
    """
    known = _CONFIG_KEYS | (_PRESTART_KEYS if _bridge.has_prestart_hooks() else set())
    unknown = sorted(map(str, set(config) - known))
    if unknown:
        print(
            f"rp_jupyter: warning: ignoring runpod.serverless.start config key(s) {', '.join(map(repr, unknown))}: "
            f"the SDK does not read them (it reads {', '.join(sorted(known - {'rp_args'}))})",
            file=sys.stderr,
        )
    options: dict[str, Any] = {
        "return_aggregate_stream": bool(config.get("return_aggregate_stream", False)),
        "concurrency_modifier": config.get("concurrency_modifier"),
        "refresh_worker": bool(config.get("refresh_worker", False)),
        "prestart_hooks": _hooks.of_config(config),
    }
    if "prestart_timeout" in known and config.get("prestart_timeout") is not None:
        options["prestart_timeout"] = config["prestart_timeout"]
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
    _close_served_jobs(timeout)
    if "rp_jupyter._remote" in sys.modules:  # endpoints' connections live on the runtime's loop
        sys.modules["rp_jupyter._remote"].close_all()
    with _lock:
        runtime, _runtime = _runtime, None
    _bridge.uninstall()
    _hooks.reset()
    return runtime.shutdown(timeout) if runtime is not None else []


_server: Any = None  # the running PublicServer, if any (rp_jupyter.server is imported on first use)
_stopped: Any = None  # the server stopped last: its jobs (expiry, webhooks) go on, and the next serve() adopts them


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    api_key: str | None = None,
    *,
    allow_origins: tuple[str, ...] | list[str] = (),
    **options: Any,
) -> Any:
    """Serve RunPod's public API (``/v2/{handler}/run``, ...) for every registered handler.

    Binds 127.0.0.1 unless told otherwise: then only this machine's clients are answered (foreign
    ``Host`` and web pages' ``Origin`` refused) unless ``allow_origins`` names the pages allowed. A host
    beyond loopback without ``api_key`` gets a generated one (``server.api_key``). With a key, requests
    need ``Authorization: <key>`` or ``Bearer <key>``. ``options``: ``retention_run`` /
    ``retention_runsync`` (s), ``max_retained_jobs`` / ``max_retained_bytes``, ``webhook_retry_delay`` (s).

    The same settings as the running server's: nothing happens (that server is returned). Other
    settings: the running server drains and stops, and the new one takes over its jobs. Returns the
    server.
    """
    global _server, _stopped
    from .server import PublicServer

    options = {"api_key": api_key, "allow_origins": tuple(allow_origins), **options}
    if _server is not None and _server.running and _server.settings == {"host": host, "port": port, **options}:
        return _server
    stop_serving()
    runtime = get_runtime()
    if _stopped is not None and _stopped.runtime is not runtime:
        _stopped.close_jobs()
        _stopped = None
    server = PublicServer(runtime, host, port, adopt=_stopped, **options).start()
    _server, _stopped = server, None
    return server


def stop_serving(timeout: float = 5.0) -> bool:
    """Stop the server started by :func:`serve` (draining it: clients waiting on ``/runsync`` get the
    job's status); False when none was running. Its jobs go on; the next :func:`serve` serves them."""
    global _server, _stopped
    server, _server = _server, None
    if server is None:
        return False
    if _stopped is not None:
        _stopped.close_jobs(timeout)
    server.stop(timeout, keep_jobs=True)
    _stopped = server
    return True


def _close_served_jobs(timeout: float) -> None:
    global _stopped
    stopped, _stopped = _stopped, None
    if stopped is not None:
        stopped.close_jobs(timeout)
