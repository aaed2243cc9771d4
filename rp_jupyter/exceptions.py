"""The error tree of rp_jupyter: one root, "you called it wrong" kept apart from "the job failed".

::

    RpJupyterError
    ├── UsageProblem                    you called it wrong (the magics show these as one line)
    │   ├── RequestError                a request RunPod would refuse: no ``input``, not JSON, ...
    │   │   └── PayloadTooLargeError    over RunPod's 10 MB (/run) or 20 MB (/runsync) limit
    │   ├── HandlerNotFoundError        no handler registered under that name
    │   ├── RegistrationError           not a usable handler / config
    │   ├── ExportError                 the handler cannot be exported as it is (hidden state, ...)
    │   ├── RecordedTestsError          kept tests that cannot be read, written or run as asked
    │   ├── MissingDependencyError      a feature needs a package the light install left out (an extra)
    │   └── JobStateError               the call does not fit the job's state
    ├── JobWaitTimeout                  ``job.wait(timeout)`` ran out (also a ``TimeoutError``)
    ├── ServerError                     the local HTTP server could not start (port busy, bad host)
    ├── EndpointError                   a RunPod endpoint refused or failed a call (status, endpoint named)
    └── RuntimeStoppedError             the runtime was shut down

A job that fails is *data*, not an exception: ``job.status`` is ``FAILED`` and ``job.error`` holds
RunPod's error value, exactly as a client of a deployed endpoint would see it.
"""

from __future__ import annotations

__all__ = [
    "EndpointError",
    "ExportError",
    "HandlerNotFoundError",
    "JobStateError",
    "JobWaitTimeout",
    "MissingDependencyError",
    "PayloadTooLargeError",
    "RecordedTestsError",
    "RegistrationError",
    "RequestError",
    "RpJupyterError",
    "RuntimeStoppedError",
    "ServerError",
    "UsageProblem",
]


class RpJupyterError(Exception):
    """Root of every error rp_jupyter raises on purpose."""


class UsageProblem(RpJupyterError):
    """The caller asked for something that cannot be done as asked."""

    def _render_traceback_(self) -> list[str]:
        """IPython shows misuse as one line, not a traceback wall (also when raised inside a cell)."""
        return [f"{type(self).__name__}: {self}"]


class RequestError(UsageProblem, ValueError):
    """A job request that RunPod's API would refuse."""


class PayloadTooLargeError(RequestError):
    """A request body over RunPod's payload limit for the route."""


class HandlerNotFoundError(UsageProblem, KeyError):
    """No handler is registered under the given name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class RegistrationError(UsageProblem, TypeError):
    """The object given as a handler (or its config) cannot be used."""


class ExportError(UsageProblem):
    """The handler cannot be exported as it is: names defined nowhere, no such cell, a bad image."""


class RecordedTestsError(UsageProblem):
    """A handler's kept tests (``%rp_tests``) cannot be read, written or run as asked: no such job or
    test, a tests file that is not rp_jupyter's, a folder that cannot be written."""
class MissingDependencyError(UsageProblem, ImportError):
    """A feature needs a package that is not installed; the message says what to install."""


class JobStateError(UsageProblem):
    """The operation does not fit the job's current state."""


class JobWaitTimeout(RpJupyterError, TimeoutError):
    """Waiting for a job ran past the caller's timeout (the job itself goes on)."""


class RuntimeStoppedError(RpJupyterError):
    """The runtime no longer accepts jobs."""


class ServerError(RpJupyterError):
    """The local HTTP server could not start or serve."""


class EndpointError(RpJupyterError):
    """A call to a RunPod endpoint (deployed, or served by ``%rp_serve``) failed.

    ``status`` is the HTTP status (``None`` for timeouts and connection errors); the httpx error is
    kept as ``__cause__``.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

    def _render_traceback_(self) -> list[str]:
        """One line in IPython; ``__cause__`` keeps httpx's error for whoever needs it."""
        return [f"{type(self).__name__}: {self}"]
