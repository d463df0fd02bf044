"""The delivery loop: on every replica, claims due webhook deliveries from the store and POSTs
them signed; an acknowledged one (any 2xx) is deleted, a failed one is due again after an
exponential backoff, and one that failed `max_attempts` times is dropped (logged).

Every attempt of a delivery carries its `webhook-id` (receivers deduplicate on it) and a fresh
timestamp, so a late retry still passes the receiver's five-minute tolerance. A claim is leased
for twice the longest attempt: a replica that dies mid-attempt leaves the delivery to whichever
replica sweeps after the lease lapses. Delivery is at least once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Sequence

import aiohttp
import orjson

from responsa import __version__
from responsa.config import WebhookConfig
from responsa.store.webhooks import WebhookDelivery, WebhookStore
from responsa.webhooks.signing import signed_headers, signing_key

logger = logging.getLogger(__name__)

USER_AGENT = f"responsa/{__version__} (webhooks)"
_IN_FLIGHT = 32  # attempts under way at once on one replica


class DeliveryLoop:
    def __init__(self, store: WebhookStore, endpoints: Sequence[WebhookConfig], *,
                 poll_seconds: float, shutdown_grace_seconds: float) -> None:
        self._store = store
        # Rows name their endpoint by URL, which the configuration keeps unique.
        self._endpoints = {config.url: (config, signing_key(config.secret))
                           for config in endpoints}
        self._lease = 2 * max((config.timeout for config in endpoints), default=1.0)
        self._poll = poll_seconds
        self._grace = shutdown_grace_seconds
        self._owner = uuid.uuid4().hex
        self._wake = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._attempts: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        # A session belongs to the running loop: made here, not before.
        self._session = aiohttp.ClientSession(headers={"User-Agent": USER_AGENT})
        self._sweeper = asyncio.create_task(self._sweep_forever())

    def wake(self) -> None:
        """Sweep now: a delivery was just enqueued (or one became due)."""
        self._wake.set()

    async def aclose(self) -> None:
        """Stop sweeping, give the attempts under way a short grace, then release what they
        still hold: the deliveries stay in the store for the next replica to sweep."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None
        if self._attempts:
            _, late = await asyncio.wait(self._attempts, timeout=self._grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        try:  # also what a sweep cut short had just claimed
            await self._store.release_webhooks(self._owner)
        except Exception:  # their leases lapse instead
            logger.exception("could not release webhook deliveries")
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _sweep_forever(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self._sweep()
            except Exception:  # the database may be briefly away; try again next sweep
                logger.exception("webhook delivery sweep failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll):
                    await self._wake.wait()

    async def _sweep(self) -> None:
        """Claim due deliveries while there is room for more attempts (a finished attempt
        wakes the loop to fill its place)."""
        while (room := _IN_FLIGHT - len(self._attempts)) > 0:
            claimed = await self._store.claim_webhooks(self._owner, lease_seconds=self._lease,
                                                       limit=room)
            for delivery in claimed:
                task = asyncio.create_task(self._deliver(delivery))
                self._attempts.add(task)
                task.add_done_callback(self._attempt_done)
            if len(claimed) < room:
                return

    def _attempt_done(self, task: asyncio.Task[None]) -> None:
        self._attempts.discard(task)
        self._wake.set()

    async def _deliver(self, delivery: WebhookDelivery) -> None:
        try:
            await self._settle(delivery)
        except Exception:  # the store is away: the lease lapses and the delivery comes back
            logger.exception("webhook delivery %s failed", delivery.webhook_id)

    async def _settle(self, delivery: WebhookDelivery) -> None:
        """One attempt, and what its outcome does to the delivery's row."""
        endpoint = self._endpoints.get(delivery.endpoint)
        if endpoint is None:
            logger.warning("webhook %s to %s dropped: the endpoint is no longer configured",
                           _describe(delivery), delivery.endpoint)
            await self._store.delete_webhook(delivery.webhook_id)
            return
        config, key = endpoint
        failure = await self._attempt(config, key, delivery)
        attempts = delivery.attempts + 1
        if failure is None:
            await self._store.delete_webhook(delivery.webhook_id)
        elif attempts >= config.max_attempts:
            logger.warning("webhook %s to %s dropped after %d attempts (last: %s)",
                           _describe(delivery), config.url, attempts, failure)
            await self._store.delete_webhook(delivery.webhook_id)
        else:
            delay = min(config.backoff_seconds * 2 ** (attempts - 1), config.max_backoff_seconds)
            await self._store.retry_webhook(delivery.webhook_id, self._owner,
                                            delay_seconds=delay)
            asyncio.get_running_loop().call_later(delay, self._wake.set)

    async def _attempt(self, config: WebhookConfig, key: bytes,
                       delivery: WebhookDelivery) -> str | None:
        """One POST; None when the receiver acknowledged it (any 2xx), else why not."""
        assert self._session is not None
        body = delivery.body.encode()
        headers = {"Content-Type": "application/json",
                   **signed_headers(key, delivery.webhook_id, int(time.time()), body)}
        try:
            # Redirects are not followed: like OpenAI, only a 2xx acknowledges.
            async with self._session.post(
                    config.url, data=body, headers=headers, allow_redirects=False,
                    timeout=aiohttp.ClientTimeout(total=config.timeout)) as reply:
                return None if 200 <= reply.status < 300 else f"HTTP {reply.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            return f"{type(exc).__name__}: {exc}"


def _describe(delivery: WebhookDelivery) -> str:
    """`response.completed for resp_…`, for the log."""
    event = orjson.loads(delivery.body)
    return f"{event['type']} for {event['data']['id']}"
