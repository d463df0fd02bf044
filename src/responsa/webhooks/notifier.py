"""Announcing finished background responses: when one ends, a delivery per subscribed endpoint
goes into the store's durable queue, and the delivery loop (delivery.py) POSTs it from there.

The notice is OpenAI's: `{"id": "evt_…", "object": "event", "type": "response.completed",
"created_at": …, "data": {"id": "resp_…"}}` with the Standard Webhooks headers. Queued in the
store, a notice outlives a restart or a crash of the replica that ended the run, and any
replica may deliver it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import orjson

from responsa.config import WebhookConfig
from responsa.ids import new_id
from responsa.store.webhooks import WebhookDelivery, WebhookStore
from responsa.webhooks.delivery import DeliveryLoop

# A background response's final status → the event that announces it.
EVENT_TYPES = {
    "completed": "response.completed",
    "failed": "response.failed",
    "cancelled": "response.cancelled",
    "incomplete": "response.incomplete",
}


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
    def __init__(self, store: WebhookStore, endpoints: Sequence[WebhookConfig], *,
                 poll_seconds: float = 10.0, shutdown_grace_seconds: float = 5.0) -> None:
        self._store = store
        self._endpoints = list(endpoints)
        # Every replica runs the loop, endpoints or not: it also drops the deliveries left
        # for endpoints no longer configured.
        self._deliveries = DeliveryLoop(store, endpoints, poll_seconds=poll_seconds,
                                        shutdown_grace_seconds=shutdown_grace_seconds)

    async def start(self) -> None:
        await self._deliveries.start()

    async def notify(self, response: dict[str, Any]) -> None:
        """Queue the announcement of a finished background response for every endpoint
        subscribed to its event: one insert, then the delivery goes on in the background."""
        event = notice(response)
        if event is None:
            return
        body = orjson.dumps(event).decode()
        deliveries = [WebhookDelivery(new_id("wh"), config.url, body)
                      for config in self._endpoints if event["type"] in config.events]
        if deliveries:
            await self._store.enqueue_webhooks(deliveries)
            self._deliveries.wake()

    async def aclose(self) -> None:
        await self._deliveries.aclose()
