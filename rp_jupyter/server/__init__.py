"""RunPod's HTTP API served from the kernel.

- ``_http``: an ASGI app served by uvicorn on the runtime's loop (shared by both faces).
- the public face (``/v2/{endpoint}/run``, ``/runsync``, ``/status``, ``/stream``, ...) — issue 5;
- the worker face (job-take, job-done, job-stream, job-stop, ping) that a real ``runpod`` SDK worker
  pulls jobs from — used by export verification.
"""

from ._http import HttpServer

__all__ = ["HttpServer"]
