"""Delivering webhook notices: one signed POST per subscribed endpoint when a background
response ends, retried with exponential backoff, never in the way of the run.

The notice is OpenAI's: `{"id": "evt_…", "object": "event", "type": "response.completed",
"created_at": …, "data": {"id": "resp_…"}}` with the Standard Webhooks headers. One delivery
keeps its `webhook-id` across attempts (receivers deduplicate on it) and signs each attempt with
a fresh timestamp, so a late retry still passes the receiver's five-minute tolerance.
Deliveries live in memory: those still retrying at shutdown get a short grace, then are dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

import aiohttp
import orjson

from responsa import __version__
from responsa.config import WebhookConfig
from responsa.ids import new_id
from responsa.webhooks.signing import signed_headers, signing_key

logger = logging.getLogger(__name__)

# A background response's final status → the event that announces it.
EVENT_TYPES = {
    "completed": "response.completed",
    "failed": "response.failed",
    "cancelled": "response.cancelled",
    "incomplete": "response.incomplete",
}
USER_AGENT = f"responsa/{__version__} (webhooks)"


def notice(response: dict[str, Any]) -> dict[str, Any] | None:
    """The event announcing a background `response`'s end, or None while it has not ended
    (and for a foreground response, whose client already has the answer)."""
    kind = EVENT_TYPES.get(response.get("status") or "")
    if kind is None or not response.get("background"):
        return None
    ended_at = response.get("completed_at") or int(time.time())
    return {"id": new_id("evt"), "object": "event", "type": kind, "created_at": ended_at,
            "data": {"id": response["id"]}}


class WebhookNotifier:
    def __init__(self, endpoints: Sequence[WebhookConfig], *,
                 shutdown_grace_seconds: float = 5.0) -> None:
        self._endpoints = [(config, signing_key(config.secret)) for config in endpoints]
        self._grace = shutdown_grace_seconds
        self._session: aiohttp.ClientSession | None = None
        self._deliveries: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        if self._endpoints:  # a session belongs to the running loop: made here, not before
            self._session = aiohttp.ClientSession(headers={"User-Agent": USER_AGENT})

    async def notify(self, response: dict[str, Any]) -> None:
        """Announce a finished background response to every endpoint subscribed to its
        event. Returns at once: delivery (and its retries) goes on in the background."""
        event = notice(response)
        if event is None or self._session is None:
            return
        body = orjson.dumps(event)
        for config, key in self._endpoints:
            if event["type"] in config.events:
                task = asyncio.ensure_future(self._deliver(config, key, body, event))
                self._deliveries.add(task)
                task.add_done_callback(self._deliveries.discard)

    async def aclose(self) -> None:
        if self._deliveries:
            _, late = await asyncio.wait(self._deliveries, timeout=self._grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _deliver(self, config: WebhookConfig, key: bytes, body: bytes,
                       event: dict[str, Any]) -> None:
        webhook_id = new_id("wh")
        delay = config.backoff_seconds
        for attempt in range(1, config.max_attempts + 1):
            failure = await self._attempt(config, key, webhook_id, body)
            if failure is None:
                return
            if attempt == config.max_attempts:
                logger.warning("webhook %s for %s to %s dropped after %d attempts (last: %s)",
                               event["type"], event["data"]["id"], config.url, attempt, failure)
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, config.max_backoff_seconds)

    async def _attempt(self, config: WebhookConfig, key: bytes, webhook_id: str,
                       body: bytes) -> str | None:
        """One POST; None when the receiver acknowledged it (any 2xx), else why not."""
        assert self._session is not None
        headers = {"Content-Type": "application/json",
                   **signed_headers(key, webhook_id, int(time.time()), body)}
        try:
            # Redirects are not followed: like OpenAI, only a 2xx acknowledges.
            async with self._session.post(
                    config.url, data=body, headers=headers, allow_redirects=False,
                    timeout=aiohttp.ClientTimeout(total=config.timeout)) as reply:
                return None if 200 <= reply.status < 300 else f"HTTP {reply.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            return f"{type(exc).__name__}: {exc}"
