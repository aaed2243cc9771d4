"""RunPod's HTTP API served from the kernel.

- ``_http``: an ASGI app served by uvicorn on the runtime's loop (shared by both faces).
- ``_serving``: :class:`PublicServer` — the public face on ``host:port``: safe binds (a key made for a
  public bind), draining stops, restarts that adopt the previous server's jobs; the RunPod Pod proxy.
- ``_public``: the public face's routes (``/v2/{endpoint}/run``, ``/runsync``, ``/status``,
  ``/status-sync``, ``/stream``, ``/cancel``, ``/retry``, ``/purge-queue``, ``/health``), with
  ``_access`` (Host, Origin and CORS checks), ``_book`` (jobs, expiry on the loop's timers, retention
  caps, health), ``_io`` (bodies, limits, auth, errors), ``_webhook`` and ``_openapi``;
- the worker face (job-take, job-done, job-stream, job-stop, ping) that a real ``runpod`` SDK worker
  pulls jobs from — used by export verification.
"""

from __future__ import annotations

from typing import Any

from ..runtime import Runtime
from ._http import HttpServer
from ._public import PublicApi
from ._serving import PublicServer, pod_proxy_url
from ._worker import WirePost, WorkerFace

__all__ = ["HttpServer", "PublicApi", "PublicServer", "pod_proxy_url", "serve"]
__all__ += ["WirePost", "WorkerFace"]  # the worker face (export verification)


def serve(
    runtime: Runtime, host: str = "127.0.0.1", port: int = 8000, api_key: str | None = None, **options: Any
) -> PublicServer:
    """Start serving RunPod's public API for ``runtime``'s handlers; returns the running server."""
    return PublicServer(runtime, host, port, api_key=api_key, **options).start()
