"""The store contract for webhook deliveries (the durable queue): SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

from responsa.store.base import Store
from responsa.store.webhooks import WebhookDelivery
from tests.store.conftest import Backend

BODY = '{"id":"evt_1","object":"event","type":"response.completed","data":{"id":"resp_1"}}'


def _deliveries(*ids: str) -> list[WebhookDelivery]:
    return [WebhookDelivery(webhook_id, "http://127.0.0.1:9/hook", BODY) for webhook_id in ids]


async def test_a_delivery_is_claimed_by_one_replica_at_a_time(backend: Backend,
                                                               store: Store) -> None:
    await store.enqueue_webhooks(_deliveries("wh_1", "wh_2", "wh_3"))
    other = backend.new_store()
    await other.open()
    claims = await asyncio.gather(store.claim_webhooks("a", lease_seconds=30, limit=2),
                                  other.claim_webhooks("b", lease_seconds=30, limit=2))
    claimed = sorted(d.webhook_id for batch in claims for d in batch)
    assert claimed == ["wh_1", "wh_2", "wh_3"]  # each once, across both replicas
    assert await store.claim_webhooks("c", lease_seconds=30, limit=10) == []  # all leased
    (first, *_) = claims[0] or claims[1]
    assert first.body == BODY and first.endpoint == "http://127.0.0.1:9/hook"
    assert first.attempts == 0


async def test_a_failed_attempt_is_counted_and_due_after_its_delay(store: Store) -> None:
    await store.enqueue_webhooks(_deliveries("wh_1"))
    await store.claim_webhooks("a", lease_seconds=30, limit=10)
    await store.retry_webhook("wh_1", "b", delay_seconds=0)  # not b's: nothing changes
    assert await store.claim_webhooks("c", lease_seconds=30, limit=10) == []
    await store.retry_webhook("wh_1", "a", delay_seconds=0.3)
    assert await store.claim_webhooks("c", lease_seconds=30, limit=10) == []  # not due yet
    await asyncio.sleep(0.35)
    (again,) = await store.claim_webhooks("c", lease_seconds=30, limit=10)
    assert (again.webhook_id, again.attempts, again.body) == ("wh_1", 1, BODY)
    await store.retry_webhook("wh_1", "c", delay_seconds=0)
    (third,) = await store.claim_webhooks("a", lease_seconds=30, limit=10)
    assert third.attempts == 2


async def test_a_lapsed_lease_lets_another_replica_claim(backend: Backend, store: Store) -> None:
    await store.enqueue_webhooks(_deliveries("wh_1"))
    assert len(await store.claim_webhooks("dead", lease_seconds=0.1, limit=10)) == 1
    restarted = backend.new_store()  # the dead replica's store is never closed
    await restarted.open()
    assert await restarted.claim_webhooks("b", lease_seconds=30, limit=10) == []
    await asyncio.sleep(0.15)
    (taken,) = await restarted.claim_webhooks("b", lease_seconds=30, limit=10)
    assert (taken.webhook_id, taken.attempts) == ("wh_1", 0)  # the cut attempt is not counted
    await store.retry_webhook("wh_1", "dead", delay_seconds=0)  # too late: b holds it now
    assert await store.claim_webhooks("c", lease_seconds=30, limit=10) == []


async def test_released_and_deleted_deliveries(store: Store) -> None:
    await store.enqueue_webhooks(_deliveries("wh_1", "wh_2"))
    assert len(await store.claim_webhooks("a", lease_seconds=30, limit=10)) == 2
    await store.delete_webhook("wh_1")
    await store.release_webhooks("a")  # shutting down mid-attempt: claimable at once
    claimed = await store.claim_webhooks("b", lease_seconds=30, limit=10)
    assert [d.webhook_id for d in claimed] == ["wh_2"]
    await store.delete_webhook("wh_2")
    await store.release_webhooks("b")
    assert await store.claim_webhooks("c", lease_seconds=0, limit=10) == []


async def test_the_longest_due_is_claimed_first(store: Store) -> None:
    for webhook_id in ("wh_a", "wh_b", "wh_c"):
        await store.enqueue_webhooks(_deliveries(webhook_id))
        await asyncio.sleep(0.01)
    assert [d.webhook_id for d in await store.claim_webhooks("a", lease_seconds=30, limit=2)] \
        == ["wh_a", "wh_b"]
