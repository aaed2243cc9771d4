"""Request reading and error answers of the public API: JSON bodies within limits, auth, 4xx as JSON.

Every refusal is an :class:`HttpError` carrying its status and a one-line message; the app turns it
into ``{"error": message}``, the shape RunPod's API answers errors with.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from ..exceptions import RequestError
from ..runtime import load_json

__all__ = ["HttpError", "JsonResponse", "authorized", "error_response", "read_json", "wait_seconds"]

EMPTY_BODY_LIMIT = 64 * 1024
"""Routes without a request body (cancel, retry, status, ...) still read up to this much, then refuse."""

WAIT_DEFAULT_MS, WAIT_MIN_MS, WAIT_MAX_MS = 90_000, 1_000, 300_000


class HttpError(Exception):
    """A request the API refuses: ``status`` and a one-line message for ``{"error": ...}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class JsonResponse(JSONResponse):
    """Starlette's ``JSONResponse``, UTF-8 as RunPod answers; a lone surrogate in a value (which UTF-8
    cannot carry) goes out as its ``\\udXXX`` escape instead of failing the response."""

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:
            return json.dumps(content, allow_nan=False, separators=(",", ":")).encode("ascii")


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JsonResponse({"error": message}, status_code=status, headers=headers)


def authorized(header: str | None, api_key: str) -> bool:
    """``Authorization: <key>`` or ``Authorization: Bearer <key>``, compared in constant time."""
    if header is None:
        return False
    value = header.strip()
    if value[:7].lower() == "bearer ":
        value = value[7:].strip()
    return hmac.compare_digest(value.encode(), api_key.encode())


async def read_json(request: Request, limit: int, route: str, *, required: bool) -> Any:
    """The JSON body (None when empty and not ``required``); 413, 415 or 400 otherwise.

    A POST must declare ``application/json`` (or ``+json``), and any body must: a web page can send a
    body without one, or as ``text/plain``, without the browser asking the server first (CORS), so
    such a request is how a page you visit would try to run a job. A POST with no body and no
    ``Content-Type`` (``curl -X POST .../cancel/ID``, as RunPod's docs show) is fine.
    """
    declared = request.headers.get("content-type")
    if declared is not None and request.method == "POST":
        _check_content_type(declared, route)
    raw = await _read_limited(request, limit, route)
    if not raw.strip():
        if required:
            raise HttpError(400, f'{route} needs a JSON body like {{"input": {{...}}}}')
        return None
    _check_content_type(declared, route)
    try:
        text = raw.decode("utf-8-sig")  # a BOM is tolerated, as json.loads of bytes does
    except UnicodeDecodeError as exc:
        raise HttpError(400, f"the body of {route} is not UTF-8 JSON: {exc.reason} at byte {exc.start}") from None
    try:
        return load_json(text, f"the body of {route}")
    except RequestError as exc:
        raise HttpError(400, str(exc)) from None


async def _read_limited(request: Request, limit: int, route: str) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise HttpError(413, _too_large(int(declared), limit, route))
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HttpError(413, _too_large(size, limit, route, at_least=True))
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(size: int, limit: int, route: str, at_least: bool = False) -> str:
    size_text = f"{'over ' if at_least else ''}{size / 1e6:.1f} MB"
    if limit < 1024 * 1024:
        return f"the body of {route} is {size_text}; this route accepts at most {limit // 1024} KB"
    return f"the body of {route} is {size_text}, over RunPod's {limit // (1024 * 1024)} MB payload limit for {route}"


def _check_content_type(value: str | None, route: str) -> None:
    media = (value or "").split(";", 1)[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise HttpError(415, f"{route} takes JSON: send Content-Type: application/json (got {media or 'none'})")


def wait_seconds(raw: str | None) -> float:
    """``?wait=ms`` of ``/runsync`` and ``/status-sync``: RunPod's default 90000, clamped to its range
    1000–300000."""
    if raw is None:
        return WAIT_DEFAULT_MS / 1000
    try:
        value = int(raw) if len(raw) <= 20 else int("x")
    except ValueError:
        raise HttpError(400, f"wait must be a whole number of milliseconds, got {raw[:40]!r}") from None
    return min(max(value, WAIT_MIN_MS), WAIT_MAX_MS) / 1000
