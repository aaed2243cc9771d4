"""Webhooks as RunPod sends them: POST the job's body on completion; retried twice, 10 s apart.

A delivery counts when the receiver answers 200. The body is RunPod's cloud webhook body:
``{delayTime, executionTime, id, input, output, status, webhook}`` (``error`` instead of or beside
``output`` for a failed job), keys in that (alphabetical) order.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..runtime import Job

__all__ = ["WebhookSender", "webhook_body"]

log = logging.getLogger("rp_jupyter")


def webhook_body(job: Job, url: str) -> dict[str, Any]:
    body = dict(job.to_status(), input=job.job.get("input"), webhook=url)
    return dict(sorted(body.items()))


class WebhookSender:
    """Delivers webhooks from the runtime's loop; ``retry_delay`` is injectable (tests use 0)."""

    def __init__(self, retry_delay: float = 10.0, attempts: int = 3, timeout: float = 10.0) -> None:
        self.retry_delay, self.attempts, self.timeout = retry_delay, attempts, timeout
        self._client: Any = None
        self._tasks: set[asyncio.Task[bool]] = set()

    def send(self, url: str, body: dict[str, Any]) -> asyncio.Task[bool]:
        """Start delivering (on the running loop); the task's result says whether it arrived."""
        task = asyncio.get_running_loop().create_task(self._deliver(url, body))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _deliver(self, url: str, body: dict[str, Any]) -> bool:
        import httpx

        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout)
        for attempt in range(self.attempts):
            if attempt:
                await asyncio.sleep(self.retry_delay)
            try:
                response = await self._client.post(url, json=body)
            except httpx.HTTPError as exc:
                log.warning("webhook %s for job %s failed: %s", url, body.get("id"), exc)
                continue
            if response.status_code == 200:
                return True
            log.warning("webhook %s for job %s answered %d", url, body.get("id"), response.status_code)
        return False

    async def aclose(self) -> None:
        """Cancel deliveries still waiting and close the HTTP client."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None
