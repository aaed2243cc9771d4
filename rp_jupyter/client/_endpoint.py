"""``EndpointClient``: RunPod's public API over one ``httpx.AsyncClient``.

Written once, async: the session runs it on the runtime's loop, so the sync face (``Endpoint.run``
from a cell) and the async face share every line. 429s are retried with backoff (``Retry-After``
honoured); every other failure is an ``EndpointError`` naming the endpoint and the status, with the
httpx error kept as its cause.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import httpx

from ..exceptions import EndpointError

__all__ = ["DEFAULT_BASE_URL", "EndpointClient", "endpoint_url"]

DEFAULT_BASE_URL = "https://api.runpod.ai/v2"
_HINTS = {
    401: "the API key was refused (set RUNPOD_API_KEY or pass api_key=...)",
    404: "no such endpoint or job (or the job's result expired)",
    413: "the request is over the endpoint's payload limit",
}


def endpoint_url(endpoint_id_or_url: str) -> str:
    """An endpoint id becomes ``$RUNPOD_ENDPOINT_BASE_URL/<id>`` (RunPod's API by default); a URL stays."""
    if endpoint_id_or_url.startswith(("http://", "https://")):
        return endpoint_id_or_url.rstrip("/")
    base = os.environ.get("RUNPOD_ENDPOINT_BASE_URL", DEFAULT_BASE_URL).rstrip("/")
    return f"{base}/{endpoint_id_or_url}"


class EndpointClient:
    """One endpoint's routes: ``run``, ``runsync``, ``status``, ``stream``, ``cancel``, ``retry``,
    ``purge_queue``, ``health``. Each returns RunPod's JSON body as a dict."""

    def __init__(self, endpoint_id_or_url: str, api_key: str | None = None, *, timeout: float = 30.0,
                 retries: int = 5, backoff: float = 0.5, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.url = endpoint_url(endpoint_id_or_url)
        key = api_key if api_key is not None else os.environ.get("RUNPOD_API_KEY")
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"  # as the official runpod client sends it
        self._http = httpx.AsyncClient(base_url=self.url, headers=headers, timeout=timeout, transport=transport)
        self.retries, self.backoff = retries, backoff

    async def run(self, request: Any) -> dict[str, Any]:
        return await self._call("POST", "/run", request)

    async def runsync(self, request: Any, wait_ms: int | None = None) -> dict[str, Any]:
        return await self._call("POST", "/runsync", request, params={"wait": wait_ms} if wait_ms else None)

    async def status(self, job_id: str) -> dict[str, Any]:
        return await self._call("GET", f"/status/{job_id}")

    async def stream(self, job_id: str) -> dict[str, Any]:
        return await self._call("GET", f"/stream/{job_id}")

    async def cancel(self, job_id: str) -> dict[str, Any]:
        return await self._call("POST", f"/cancel/{job_id}")

    async def retry(self, job_id: str) -> dict[str, Any]:
        return await self._call("POST", f"/retry/{job_id}")

    async def purge_queue(self) -> dict[str, Any]:
        return await self._call("POST", "/purge-queue")

    async def health(self) -> dict[str, Any]:
        return await self._call("GET", "/health")

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, body: Any = None, params: Any = None) -> dict[str, Any]:
        for attempt in range(self.retries + 1):
            response = await self._send(method, path, body, params)
            if response.status_code != 429 or attempt == self.retries:
                return self._parse(method, path, response)
            await asyncio.sleep(_retry_after(response, self.backoff * 2**attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send(self, method: str, path: str, body: Any, params: Any) -> httpx.Response:
        try:
            return await self._http.request(method, path, json=body, params=params)
        except httpx.TimeoutException as exc:
            raise EndpointError(f"{method} {self.url}{path}: timed out ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            raise EndpointError(f"{method} {self.url}{path}: cannot reach the endpoint ({exc})") from exc

    def _parse(self, method: str, path: str, response: httpx.Response) -> dict[str, Any]:
        try:
            response.raise_for_status()
            data = response.json()
        except httpx.HTTPStatusError as exc:
            code = response.status_code
            detail = _detail(response)
            hint = _HINTS.get(code, "rate limited: retries exhausted" if code == 429 else "")
            message = f"{method} {self.url}{path}: HTTP {code}" + (f" — {hint}" if hint else "")
            raise EndpointError(message + (f" ({detail})" if detail else ""), code) from exc
        except ValueError as exc:
            raise EndpointError(f"{method} {self.url}{path}: the answer is not JSON", response.status_code) from exc
        if not isinstance(data, dict):
            raise EndpointError(f"{method} {self.url}{path}: expected a JSON object, got {type(data).__name__}")
        return data


def _retry_after(response: httpx.Response, default: float) -> float:
    try:
        return min(30.0, max(0.0, float(response.headers.get("Retry-After", default))))
    except ValueError:
        return default


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        return str(body.get("error") or body.get("detail") or body.get("message") or "")[:200]
    return ""
