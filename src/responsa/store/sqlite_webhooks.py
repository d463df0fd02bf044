"""Webhook deliveries on SQLite (mixed into `SQLiteStore`)."""

from __future__ import annotations

import abc
import sqlite3
import time
from collections.abc import Callable
from typing import TypeVar

from responsa.store.webhooks import WebhookDelivery

T = TypeVar("T")

# SQLite has one writer at a time, so this single statement claims each row for one caller.
_CLAIM = """
UPDATE webhook_deliveries SET owner = ?, lease_until = ?
WHERE webhook_id IN (
    SELECT webhook_id FROM webhook_deliveries
    WHERE next_attempt_at <= ? AND (lease_until IS NULL OR lease_until < ?)
    ORDER BY next_attempt_at LIMIT ?
)
RETURNING webhook_id, endpoint, body, attempts
"""

_RETRY = """
UPDATE webhook_deliveries
SET attempts = attempts + 1, next_attempt_at = ?, owner = NULL, lease_until = NULL
WHERE webhook_id = ? AND owner = ?
"""


class SQLiteWebhooks(abc.ABC):
    """The webhook half of SQLiteStore, which supplies `_run`."""

    @abc.abstractmethod
    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` on the store's database thread."""

    async def enqueue_webhooks(self, deliveries: list[WebhookDelivery]) -> None:
        now = time.time()
        rows = [(d.webhook_id, d.endpoint, d.body, d.attempts, now) for d in deliveries]
        await self._run(lambda conn: conn.executemany(
            "INSERT INTO webhook_deliveries"
            " (webhook_id, endpoint, body, attempts, next_attempt_at) VALUES (?, ?, ?, ?, ?)",
            rows))

    async def claim_webhooks(self, owner: str, *, lease_seconds: float,
                             limit: int) -> list[WebhookDelivery]:
        now = time.time()
        rows = await self._run(lambda conn: conn.execute(
            _CLAIM, (owner, now + lease_seconds, now, now, limit)).fetchall())
        return [WebhookDelivery(*row) for row in rows]

    async def retry_webhook(self, webhook_id: str, owner: str, *, delay_seconds: float) -> None:
        due = time.time() + delay_seconds
        await self._run(lambda conn: conn.execute(_RETRY, (due, webhook_id, owner)))

    async def delete_webhook(self, webhook_id: str) -> None:
        await self._run(lambda conn: conn.execute(
            "DELETE FROM webhook_deliveries WHERE webhook_id = ?", (webhook_id,)))

    async def release_webhooks(self, owner: str) -> None:
        await self._run(lambda conn: conn.execute(
            "UPDATE webhook_deliveries SET owner = NULL, lease_until = NULL WHERE owner = ?",
            (owner,)))
