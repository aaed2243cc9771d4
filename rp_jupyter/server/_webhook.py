"""Webhooks as RunPod documents them: checked when the job is submitted, POSTed when it ends.

RunPod (docs.runpod.io, "Send API requests" > "Webhook notifications"): when the job completes, a
POST to the ``webhook`` URL with the job's ``/status`` information; the receiver must answer
``200``; a failed call is retried up to 2 more times, 10 s apart. The body is RunPod's cloud webhook
body, ``{delayTime, executionTime, id, input, output, status, webhook}`` (``error`` for a failed
job), keys in that (alphabetical) order. RunPod documents no timeout per attempt: ours is 10 s.

Each delivery's outcome is kept in a :class:`Delivery` (``/status`` shows it as ``webhookDelivery``);
a delivery that fails in the end is a warning on the job and one log line, never a traceback.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import urllib.parse
from typing import Any

from ..runtime import Job

__all__ = ["Delivery", "WebhookSender", "check_webhook_url", "webhook_body"]

log = logging.getLogger("rp_jupyter")
MAX_URL_LENGTH = 2048


def check_webhook_url(value: Any) -> str | None:
    """The request's ``webhook`` if it is one RunPod could call: ``http(s)``, a host, a port in range.

    Returns None when there is none; raises ``ValueError`` with one line naming the problem.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f'"webhook" must be a URL string, got {type(value).__name__}')
    shown = value if len(value) <= 80 else value[:80] + "…"
    if len(value) > MAX_URL_LENGTH:
        raise ValueError(f'"webhook" is {len(value)} characters long; at most {MAX_URL_LENGTH} are accepted')
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError(f'"webhook" holds spaces or control characters: {shown!r}')
    try:
        parts = urllib.parse.urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f'"webhook" is not a valid URL ({exc}): {shown!r}') from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f'"webhook" must be an http:// or https:// URL, got {shown!r}')
    if not parts.hostname:
        raise ValueError(f'"webhook" has no host: {shown!r}')
    if port == 0:
        raise ValueError(f'"webhook" has port 0, which nothing can listen on: {shown!r}')
    import httpx

    try:
        httpx.URL(value)
    except httpx.InvalidURL as exc:
        raise ValueError(f'"webhook" is not a valid URL ({exc}): {shown!r}') from None
    return value


def webhook_body(job: Job, url: str) -> dict[str, Any]:
    body = dict(job.to_status(), input=job.job.get("input"), webhook=url)
    return dict(sorted(body.items()))


@dataclasses.dataclass
class Delivery:
    """What became of one job's webhook: ``state`` is PENDING, DELIVERED or FAILED."""

    url: str
    state: str = "PENDING"
    attempts: int = 0
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"attempts": self.attempts, "state": self.state, "url": self.url}
        if self.error is not None:
            body["error"] = self.error
        return body


class WebhookSender:
    """Delivers webhooks from the runtime's loop; ``retry_delay`` is injectable (tests use 0)."""

    def __init__(self, retry_delay: float = 10.0, attempts: int = 3, timeout: float = 10.0) -> None:
        self.retry_delay, self.attempts, self.timeout = retry_delay, attempts, timeout
        self._client: Any = None
        self._tasks: set[asyncio.Task[bool]] = set()

    def send(self, job: Job, delivery: Delivery) -> asyncio.Task[bool]:
        """Start delivering (on the running loop); the task's result says whether it arrived."""
        body = webhook_body(job, delivery.url)
        task = asyncio.get_running_loop().create_task(self._deliver(job, delivery, body))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _deliver(self, job: Job, delivery: Delivery, body: dict[str, Any]) -> bool:
        for attempt in range(self.attempts):
            if attempt:
                await asyncio.sleep(self.retry_delay)
            delivery.attempts = attempt + 1
            delivery.error = await self._attempt(delivery.url, body)
            if delivery.error is None:
                delivery.state = "DELIVERED"
                return True
        delivery.state = "FAILED"
        message = (f"webhook {delivery.url} not delivered after {delivery.attempts} attempts "
                   f"{self.retry_delay:g} s apart: {delivery.error}")
        job.warnings.append(message)
        log.warning("job %s: %s", job.id, message)
        return False

    async def _attempt(self, url: str, body: dict[str, Any]) -> str | None:
        """One POST; None when the receiver answered 200, else what went wrong (one line)."""
        import httpx

        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout)
        try:
            response = await self._client.post(url, json=body)
        except httpx.TimeoutException:
            return f"no answer within {self.timeout:g} s"
        except (httpx.HTTPError, ValueError, OSError) as exc:  # refused, unreachable, a URL httpx will not send to
            return f"{type(exc).__name__}: {exc}"[:300]
        if response.status_code == 200:
            return None
        return f"answered HTTP {response.status_code} (RunPod counts only 200)"

    async def aclose(self) -> None:
        """Cancel deliveries still waiting and close the HTTP client."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None
