"""Webhook deliveries in the store: the durable queue behind webhooks/delivery.py.

A delivery is a row from the moment a background response's end is announced until its
endpoint acknowledges it (or it is dropped): one per (endpoint, event), keyed by the
`webhook-id` every attempt carries. A replica claims due rows under a lease before it POSTs
them; a row whose lease lapsed belongs to a replica that died mid-attempt, and any replica may
claim it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    webhook_id: str
    endpoint: str  # the endpoint's URL, as configured
    body: str  # the notice's JSON, exactly as signed
    attempts: int = 0  # attempts that failed so far


class WebhookStore(Protocol):
    async def enqueue_webhooks(self, deliveries: list[WebhookDelivery]) -> None:
        """Add `deliveries`, due at once and claimed by nobody."""

    async def claim_webhooks(self, owner: str, *, lease_seconds: float,
                             limit: int) -> list[WebhookDelivery]:
        """Claim up to `limit` due deliveries that no live lease holds, each for one claimant
        only, the longest due first."""

    async def retry_webhook(self, webhook_id: str, owner: str, *, delay_seconds: float) -> None:
        """Count a failed attempt and make the delivery due again in `delay_seconds`, released;
        nothing if `owner` no longer holds it (its lease lapsed and another replica took it)."""

    async def delete_webhook(self, webhook_id: str) -> None:
        """Remove the delivery: acknowledged, or dropped."""

    async def release_webhooks(self, owner: str) -> None:
        """Release every delivery `owner` holds (it is shutting down mid-attempt), claimable
        at once by another replica or the restarted one."""
