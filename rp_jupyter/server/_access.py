"""Who may talk to the server: same-machine safety for a server that runs the kernel's code.

``AccessGuard`` wraps the ASGI app and refuses, with a 403 JSON error, before any route runs:

- on a loopback bind, a request whose ``Host`` is not a loopback name or address (DNS rebinding: a
  page at ``attacker.example`` whose name now points at 127.0.0.1 sends ``Host: attacker.example``);
- a request from a web page (``Origin`` present, or ``Sec-Fetch-Site: cross-site|same-site``) whose
  origin the user did not allow with ``--allow-origin``.

Preflights (``OPTIONS`` with ``Access-Control-Request-Method``) are answered only for allowed origins,
and only allowed origins get CORS headers. Jupyter Server does the same for local access (a Host
allow-list, and a token plus XSRF check). The API key (401) and ``application/json`` (415) checks
live with the routes (``_io``).
"""

from __future__ import annotations

import functools
import ipaddress
import secrets
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from starlette.datastructures import Headers

from ..exceptions import ServerError
from ._io import error_response

__all__ = ["AccessGuard", "check_api_key", "check_origins", "is_loopback", "new_api_key"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_LOCAL_NAMES = ("localhost",)
PREFLIGHT_MAX_AGE = 600


@functools.lru_cache(maxsize=256)
def is_loopback(host: str) -> bool:
    """``127.0.0.0/8``, ``::1`` or ``localhost`` (not ``0.0.0.0``: that is every interface)."""
    name = host.strip("[]").lower()
    if name in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_api_key(key: str | None) -> None:
    """A key a client can send in an ``Authorization`` header: printable ASCII, no spaces, not empty."""
    if key is None:
        return
    if not isinstance(key, str):
        raise ServerError(f"an API key is a string, got {type(key).__name__}")
    if not key:
        raise ServerError("an empty API key would let in any request with an empty Authorization header: "
                          "give a real key, or none")
    bad = next((ch for ch in key if not "!" <= ch <= "~"), None)
    if bad is not None:
        raise ServerError(f"the API key holds {bad!r}: use printable ASCII without spaces (HTTP headers carry "
                          "ASCII, so no client could send this key)")


def new_api_key() -> str:
    """A fresh key for a server bound beyond loopback without one (as Jupyter makes its token)."""
    return secrets.token_urlsafe(24)


def check_origins(origins: Iterable[str], api_key: str | None) -> frozenset[str]:
    """``--allow-origin`` values, each ``scheme://host[:port]`` (or ``*`` with an API key)."""
    allowed = set()
    for origin in origins:
        if origin == "*":
            if api_key is None:
                raise ServerError("--allow-origin '*' without an API key would let every web page you visit run "
                                  "jobs: name the origin, or set --api-key")
            allowed.add(origin)
            continue
        parts = urllib.parse.urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/") \
                or parts.query or parts.fragment:
            raise ServerError(f"--allow-origin takes an origin like http://localhost:3000 (scheme, host and "
                              f"port, no path), got {origin!r}")
        allowed.add(f"{parts.scheme}://{parts.netloc.lower()}")
    return frozenset(allowed)


class AccessGuard:
    """ASGI middleware: the Host, Origin and Fetch-Metadata checks, preflights and CORS headers."""

    def __init__(self, app: ASGIApp, *, loopback: bool, origins: frozenset[str] = frozenset()) -> None:
        self.app, self.loopback, self.origins = app, loopback, origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _Wanted(scope["headers"])
        origin = headers.get("origin")
        refusal = self._refusal(headers, origin)
        if refusal is not None:
            await error_response(403, refusal)(scope, receive, send)
        elif scope["method"] == "OPTIONS" and origin and "access-control-request-method" in headers:
            await self._preflight(Headers(scope=scope), origin)(scope, receive, send)
        elif origin and self._allowed(origin):
            await self.app(scope, receive, _with_cors(send, origin))
        else:
            await self.app(scope, receive, send)

    def _allowed(self, origin: str) -> bool:
        return "*" in self.origins or origin.lower() in self.origins

    def _refusal(self, headers: _Wanted, origin: str | None) -> str | None:
        host = headers.get("host")
        if self.loopback and host is not None and not is_loopback(_host_name(host)):
            return (f"refused: Host {host[:100]!r} is not this machine; the server is bound to a loopback address "
                    "and answers only requests for localhost or 127.0.0.1 (a foreign Host is how DNS rebinding "
                    "reaches local servers)")
        if origin is not None and not self._allowed(origin):
            return (f"refused: requests from web pages at {origin[:100]!r} are not allowed (a page you visit must "
                    f"not run jobs); allow that origin with %rp_serve --allow-origin {origin[:100]}")
        site = headers.get("sec-fetch-site")
        if origin is None and site in ("cross-site", "same-site"):
            return (f"refused: a {site} request from a web page (Sec-Fetch-Site) without an allowed Origin; "
                    "allow the page's origin with %rp_serve --allow-origin URL")
        return None

    def _preflight(self, headers: Headers, origin: str) -> Any:
        from starlette.responses import Response

        allow = {
            "access-control-allow-origin": origin,
            "access-control-allow-methods": "GET, POST",
            "access-control-allow-headers": headers.get("access-control-request-headers", "authorization, content-type"),
            "access-control-max-age": str(PREFLIGHT_MAX_AGE),
            "vary": "Origin",
        }
        if headers.get("access-control-request-private-network") == "true":
            allow["access-control-allow-private-network"] = "true"
        return Response(status_code=204, headers=allow)


_WANTED = {b"host", b"origin", b"sec-fetch-site", b"access-control-request-method"}


class _Wanted(dict[str, str]):
    """The few request headers the guard reads (the first of each), in one pass over the raw list."""

    def __init__(self, raw: Iterable[tuple[bytes, bytes]]) -> None:
        super().__init__()
        for name, value in raw:
            if name in _WANTED:
                self.setdefault(name.decode("latin-1"), value.decode("latin-1"))


def _host_name(host: str) -> str:
    """The name in a ``Host`` header, without the port (``[::1]:8000`` -> ``::1``)."""
    host = host.strip()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _with_cors(send: Send, origin: str) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            headers += [(b"access-control-allow-origin", origin.encode("latin-1")), (b"vary", b"Origin")]
            message["headers"] = headers
        await send(message)

    return sending
