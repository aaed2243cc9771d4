"""rp_jupyter: build RunPod Serverless workers inside a Jupyter notebook.

``%load_ext rp_jupyter`` for the magics; the same API from plain Python::

    import rp_jupyter
    rp_jupyter.register(handler)
    job = rp_jupyter.run("handler", {"input": {"prompt": "hi"}})
    job.wait().to_status()
"""

from __future__ import annotations

from typing import Any

from ._testing import keep as keep_tests
from ._testing import run_tests
from .exceptions import (
    EndpointError,
    ExportError,
    HandlerNotFoundError,
    JobStateError,
    JobWaitTimeout,
    MissingDependencyError,
    PayloadTooLargeError,
    RecordedTestsError,
    RegistrationError,
    RequestError,
    RpJupyterError,
    RuntimeStoppedError,
    UsageProblem,
)
from .runtime import HandlerKind, HandlerSpec, Job, JobEvent, JobStatus, Runtime
from .session import (
    export,
    get_runtime,
    handler,
    jobs,
    register,
    run,
    run_sync,
    serve,
    shutdown,
    stop_serving,
    verify,
)

__version__ = "0.1.0"

__all__ = [
    "Endpoint",
    "EndpointError",
    "ExportError",
    "HandlerKind",
    "HandlerNotFoundError",
    "HandlerSpec",
    "Job",
    "JobEvent",
    "JobStateError",
    "JobStatus",
    "JobWaitTimeout",
    "MissingDependencyError",
    "PayloadTooLargeError",
    "RecordedTestsError",
    "RegistrationError",
    "RequestError",
    "RpJupyterError",
    "Runtime",
    "RuntimeStoppedError",
    "UsageProblem",
    "__version__",
    "compare",
    "export",
    "get_runtime",
    "handler",
    "jobs",
    "keep_tests",
    "load_ipython_extension",
    "register",
    "run",
    "run_sync",
    "run_tests",
    "serve",
    "shutdown",
    "stop_serving",
    "unload_ipython_extension",
    "verify",
]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext rp_jupyter``: the magics, and the SDK routed to the runtime."""
    from .magics import load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext rp_jupyter``: stop the runtime in stages and restore the SDK untouched."""
    from .magics import unload

    unload(ipython)


def __getattr__(name: str) -> Any:
    """``Endpoint`` and ``compare`` load httpx: imported on first use, so ``import rp_jupyter`` stays light."""
    if name in ("Endpoint", "compare"):
        from . import _remote

        return getattr(_remote, name)
    raise AttributeError(f"module 'rp_jupyter' has no attribute {name!r}")
