"""``PublicServer``: the public API on ``host:port``, started safe and stopped without dropping a client.

- Bound to a loopback address (127.0.0.1 by default) it answers this machine only (the
  :class:`AccessGuard` refuses foreign ``Host`` and ``Origin`` headers).
- Bound beyond loopback (``0.0.0.0``, a LAN address) without an API key, it makes one
  (``server.api_key``, ``server.generated_key``), as Jupyter makes its token; a warning says so.
- Stopping drains: new requests get 503, waiting ``/runsync`` and ``/status-sync`` clients get the
  job's status at once, then uvicorn closes. The jobs and their webhooks go on; a server started next
  on the same runtime adopts them (``adopt=``), so a restart loses none.
- On a RunPod Pod (``RUNPOD_POD_ID``), :func:`pod_proxy_url` is where RunPod's HTTP proxy reaches the
  port (docs.runpod.io, "Expose ports": ``https://{POD_ID}-{PORT}.proxy.runpod.net``).
"""

from __future__ import annotations

import os
import warnings
from typing import Any

from ..runtime import Runtime
from ._access import is_loopback, new_api_key
from ._http import HttpServer
from ._public import PublicApi

__all__ = ["PublicServer", "pod_proxy_url"]


def pod_proxy_url(port: int, environ: dict[str, str] | None = None) -> str | None:
    """``https://{pod}-{port}.proxy.runpod.net/v2`` on a RunPod Pod, else None."""
    pod = (environ if environ is not None else os.environ).get("RUNPOD_POD_ID", "").strip()
    return f"https://{pod}-{port}.proxy.runpod.net/v2" if pod else None


class PublicServer:
    """:class:`PublicApi` served on ``host:port`` (127.0.0.1 by default). ``settings`` are what it was
    asked for (a second ``serve`` with the same ones is a no-op)."""

    def __init__(self, runtime: Runtime, host: str = "127.0.0.1", port: int = 8000,
                 adopt: PublicServer | None = None, **options: Any) -> None:
        self.settings = {"host": host, "port": port, **options}
        self.loopback = is_loopback(host)
        self.generated_key = not self.loopback and options.get("api_key") is None
        if self.generated_key:
            options["api_key"] = new_api_key()
        previous: PublicApi | None = adopt.api if adopt is not None else None
        self.api: PublicApi = PublicApi(runtime, loopback=self.loopback, adopt=previous, **options)
        self.runtime = runtime
        self._http = HttpServer(self.api.app, runtime, host, port)

    @property
    def api_key(self) -> str | None:
        return self.api.api_key

    @property
    def url(self) -> str:
        return self._http.url

    @property
    def base_url(self) -> str:
        """What ``RUNPOD_ENDPOINT_BASE_URL`` should be for the official client."""
        return f"{self._http.url}/v2"

    @property
    def port(self) -> int:
        return self._http.port

    @property
    def proxy_url(self) -> str | None:
        """Where RunPod's HTTP proxy reaches this server on a Pod (once the port is exposed as HTTP)."""
        return pod_proxy_url(self.port)

    @property
    def running(self) -> bool:
        return self._http.running

    def start(self) -> PublicServer:
        if not self.loopback:
            how = ("with a generated API key (server.api_key): clients send Authorization: Bearer <key>"
                   if self.generated_key else "with your API key")
            warnings.warn(f"rp_jupyter is serving the notebook's handlers on {self._http.host}, reachable from "
                          f"other machines, {how}", UserWarning, stacklevel=2)
        self._http.start()
        return self

    def stop(self, timeout: float = 5.0, *, keep_jobs: bool = False) -> None:
        """Drain, then stop. ``keep_jobs``: leave the jobs' expiry and webhooks running, for a server
        that will ``adopt`` this one (else they stop with it)."""
        alive = self.runtime.accepting
        if alive and self.running:
            self.runtime.run_coroutine(self.api.drain()).result(timeout)
        self._http.stop(timeout)
        if keep_jobs and alive:
            return
        if alive:  # else the runtime's loop is gone, and the deliveries with it
            self.runtime.run_coroutine(self.api.aclose()).result(timeout)
        else:
            self.api.book.close()

    def close_jobs(self, timeout: float = 5.0) -> None:
        """Stop the expiry and webhooks of a server stopped with ``keep_jobs`` (nobody adopted it)."""
        if self.runtime.accepting:
            self.runtime.run_coroutine(self.api.aclose()).result(timeout)
        else:
            self.api.book.close()
