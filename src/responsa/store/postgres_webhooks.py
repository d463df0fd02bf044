"""Webhook deliveries on PostgreSQL (mixed into `PostgresStore`).

Claims use `FOR UPDATE SKIP LOCKED`, so replicas sweeping at once never claim the same
delivery; due times and leases are on the database clock.
"""

from __future__ import annotations

import abc

import asyncpg

from responsa.store.webhooks import WebhookDelivery

_ENQUEUE = """
INSERT INTO webhook_deliveries (webhook_id, endpoint, body, attempts, next_attempt_at)
SELECT t.webhook_id, t.endpoint, t.body, t.attempts, clock_timestamp()
FROM unnest($1::text[], $2::text[], $3::json[], $4::integer[])
    AS t (webhook_id, endpoint, body, attempts)
"""

_CLAIM = """
UPDATE webhook_deliveries AS d
SET owner = $1, lease_until = clock_timestamp() + make_interval(secs => $2)
FROM (
    SELECT webhook_id FROM webhook_deliveries
    WHERE next_attempt_at <= clock_timestamp()
        AND (lease_until IS NULL OR lease_until < clock_timestamp())
    ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED
) AS due
WHERE d.webhook_id = due.webhook_id
RETURNING d.webhook_id, d.endpoint, d.body, d.attempts
"""

_RETRY = """
UPDATE webhook_deliveries
SET attempts = attempts + 1, next_attempt_at = clock_timestamp() + make_interval(secs => $3),
    owner = NULL, lease_until = NULL
WHERE webhook_id = $1 AND owner = $2
"""


class PostgresWebhooks(abc.ABC):
    """The webhook half of PostgresStore, which supplies `pool`."""

    @property
    @abc.abstractmethod
    def pool(self) -> asyncpg.Pool:
        """The store's connection pool."""

    async def enqueue_webhooks(self, deliveries: list[WebhookDelivery]) -> None:
        await self.pool.execute(_ENQUEUE, [d.webhook_id for d in deliveries],
                                [d.endpoint for d in deliveries], [d.body for d in deliveries],
                                [d.attempts for d in deliveries])

    async def claim_webhooks(self, owner: str, *, lease_seconds: float,
                             limit: int) -> list[WebhookDelivery]:
        rows = await self.pool.fetch(_CLAIM, owner, lease_seconds, limit)
        return [WebhookDelivery(*row) for row in rows]

    async def retry_webhook(self, webhook_id: str, owner: str, *, delay_seconds: float) -> None:
        await self.pool.execute(_RETRY, webhook_id, owner, delay_seconds)

    async def delete_webhook(self, webhook_id: str) -> None:
        await self.pool.execute("DELETE FROM webhook_deliveries WHERE webhook_id = $1",
                                webhook_id)

    async def release_webhooks(self, owner: str) -> None:
        await self.pool.execute(
            "UPDATE webhook_deliveries SET owner = NULL, lease_until = NULL WHERE owner = $1",
            owner)
