"""``%rp_serve [--host H] [--port P] [--api-key K] [--allow-origin URL ...] | --stop``: RunPod's API
served from the kernel."""

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


def serve_banner(base_url: str, handlers: list[str], with_key: bool, *, generated_key: str | None = None,
                 proxy_url: str | None = None, loopback: bool = True, origins: tuple[str, ...] = ()) -> str:
    """What ``%rp_serve`` prints: where, a ready-to-paste curl line, and the official client's setup.

    A key the user gave is never printed (notebook outputs get shared); a generated one is, once.
    """
    name = handlers[0] if handlers else "<handler>"
    auth = ' -H "Authorization: Bearer $RP_SERVE_KEY"' if with_key else ""
    served = ", ".join(handlers) if handlers else "none yet (handlers registered later are served too)"
    body = shlex.quote('{"input": {}}')
    key = "<your --api-key>" if with_key else '"local" (any value: no --api-key was given)'
    lines = [f"rp_jupyter: serving RunPod's endpoint API at {base_url}/<handler>/... for: {served}"]
    if generated_key is not None:
        lines += [f"  API key (generated, shown once): {generated_key}",
                  "  every request needs it; clear this output before you share the notebook",
                  "  (or choose your own with --api-key)"]
    lines += [
        f"  curl -s -X POST {base_url}/{name}/runsync -H 'Content-Type: application/json'{auth} -d {body}",
        f"  official client: RUNPOD_ENDPOINT_BASE_URL={base_url} (set before `import runpod`),",
        f"                   runpod.api_key = {key},",
        f"                   runpod.Endpoint({name!r}).run_sync({{...}})",
    ]
    if loopback:
        allowed = f"; web pages allowed: {', '.join(origins)}" if origins else (
            "; web pages may not call it (--allow-origin URL allows one)")
        lines.append(f"  this machine only{allowed}")
    lines += _pod_lines(proxy_url, loopback)
    lines.append("  stop with %rp_serve --stop")
    return "\n".join(lines)


def _pod_lines(proxy_url: str | None, loopback: bool) -> list[str]:
    """On a RunPod Pod: where RunPod's HTTP proxy reaches the server (docs.runpod.io, "Expose ports")."""
    if proxy_url is None:
        return []
    port = proxy_url.rsplit("-", 1)[1].split(".", 1)[0]
    if loopback:
        return [f"  on this RunPod Pod: to reach it from outside, add {port} to the Pod's exposed HTTP ports and",
                f"  serve on --host 0.0.0.0 (with an API key); it is then {proxy_url}"]
    return [f"  through RunPod's HTTP proxy (port {port} exposed as HTTP in the Pod's settings): {proxy_url}",
            "  that address is public: every request needs the API key; the proxy ends a request after",
            "  100 s, so use /runsync?wait=90000 or less, or /run then /status"]


@magics_class
class ServeMagics(Magics):
    """``%rp_serve``: the kernel answers RunPod's HTTP API for every registered handler."""

    @magic_arguments()
    @argument("--host", default="127.0.0.1",
              help="interface to bind (default 127.0.0.1: this machine only; others get an API key)")
    @argument("--port", type=int, default=8000, help="port (default 8000; 0 = any free port)")
    @argument("--api-key", dest="api_key", metavar="KEY", help="require Authorization: <KEY> or Bearer <KEY>")
    @argument("--allow-origin", dest="allow_origin", metavar="URL", action="append", default=[],
              help="let web pages from this origin call the server (CORS); repeatable")
    @argument("--stop", action="store_true", help="stop the server")
    @line_magic
    def rp_serve(self, line: str) -> Any:
        """%rp_serve [--host H] [--port P] [--api-key K] [--allow-origin URL ...] | --stop"""
        args = parse_flags(self.rp_serve, line)
        if args.stop:
            print("rp_jupyter: server stopped" if session.stop_serving() else "rp_jupyter: no server was running")
            return None
        before = session._server
        try:
            server = session.serve(args.host, args.port, args.api_key, allow_origins=tuple(args.allow_origin))
        except RpJupyterError as exc:
            raise UsageError(str(exc)) from None
        if server is before:
            print(f"rp_jupyter: already serving at {server.base_url} with these settings (nothing changed)")
            return server
        print(serve_banner(server.base_url, sorted(session.get_runtime().handlers), server.api_key is not None,
                           generated_key=server.api_key if server.generated_key else None,
                           proxy_url=server.proxy_url, loopback=server.loopback, origins=tuple(args.allow_origin)))
        return server


def unload(ipython: Any) -> None:
    """Remove ``%rp_serve`` (the server itself is stopped by the session's shutdown)."""
    ipython.magics_manager.magics["line"].pop("rp_serve", None)
