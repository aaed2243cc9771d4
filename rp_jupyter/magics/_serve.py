"""``%rp_serve [--host H] [--port P] [--api-key K] | --stop``: RunPod's API served from the kernel."""

from __future__ import annotations

import shlex
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from .. import session
from ..exceptions import RpJupyterError
from ._args import parse_flags

__all__ = ["ServeMagics", "serve_banner"]


def serve_banner(base_url: str, handlers: list[str], with_key: bool) -> str:
    """What ``%rp_serve`` prints: where, a ready-to-paste curl line, and the official client's setup.

    The API key itself is never printed (notebook outputs get shared).
    """
    name = handlers[0] if handlers else "<handler>"
    auth = ' -H "Authorization: Bearer $RP_SERVE_KEY"' if with_key else ""
    served = ", ".join(handlers) if handlers else "none yet (handlers registered later are served too)"
    body = shlex.quote('{"input": {}}')
    key = "<your --api-key>" if with_key else '"local" (any value: no --api-key was given)'
    return "\n".join([
        f"rp_jupyter: serving RunPod's endpoint API at {base_url}/<handler>/... for: {served}",
        f"  curl -s -X POST {base_url}/{name}/runsync -H 'Content-Type: application/json'{auth} -d {body}",
        f"  official client: RUNPOD_ENDPOINT_BASE_URL={base_url} (set before `import runpod`),",
        f"                   runpod.api_key = {key},",
        f"                   runpod.Endpoint({name!r}).run_sync({{...}})",
        "  stop with %rp_serve --stop",
    ])


@magics_class
class ServeMagics(Magics):
    """``%rp_serve``: the kernel answers RunPod's HTTP API for every registered handler."""

    @magic_arguments()
    @argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1; others warn)")
    @argument("--port", type=int, default=8000, help="port (default 8000; 0 = any free port)")
    @argument("--api-key", dest="api_key", metavar="KEY", help="require Authorization: <KEY> or Bearer <KEY>")
    @argument("--stop", action="store_true", help="stop the server")
    @line_magic
    def rp_serve(self, line: str) -> Any:
        """%rp_serve [--host H] [--port P] [--api-key K] | --stop"""
        args = parse_flags(self.rp_serve, line)
        if args.stop:
            print("rp_jupyter: server stopped" if session.stop_serving() else "rp_jupyter: no server was running")
            return None
        try:
            server = session.serve(args.host, args.port, args.api_key)
        except RpJupyterError as exc:
            raise UsageError(str(exc)) from None
        print(serve_banner(server.base_url, sorted(session.get_runtime().handlers), args.api_key is not None))
        return server


def unload(ipython: Any) -> None:
    """Remove ``%rp_serve`` (the server itself is stopped by the session's shutdown)."""
    ipython.magics_manager.magics["line"].pop("rp_serve", None)
