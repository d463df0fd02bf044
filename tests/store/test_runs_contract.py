"""The store contract for background runs (the durable queue): SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

from responsa.engine.snapshot import initial_response
from responsa.store.base import Store, StoredResponse
from responsa.store.runs import Notice
from tests.store.conftest import Backend

BODY = {"model": "scripted/x", "input": "hi", "background": True}


async def _queued(store: Store, owner: str, lease: float) -> str:
    response = {**initial_response(BODY, model="scripted/x"), "status": "queued"}
    await store.enqueue_run(response["id"], response["created_at"], BODY, owner=owner,
                            lease_seconds=lease)
    await store.save_response(StoredResponse(response))
    return str(response["id"])


async def test_leases_claims_and_recovery_flags(backend: Backend, store: Store) -> None:
    held = await _queued(store, "a", lease=30)
    expiring = await _queued(store, "a", lease=0.05)
    assert await store.renew_runs("a", [held], lease_seconds=30) == {held: False}
    assert await store.renew_runs("b", [held], lease_seconds=30) == {}  # not b's
    await asyncio.sleep(0.1)
    # Two replicas sweep at once: the expired run goes to exactly one of them.
    other = backend.new_store()
    await other.open()
    claims = await asyncio.gather(
        store.claim_expired_runs("b", lease_seconds=30, limit=10),
        other.claim_expired_runs("c", lease_seconds=30, limit=10))
    claimed = [claim for batch in claims for claim in batch]
    assert [claim.response_id for claim in claimed] == [expiring]
    assert claimed[0].body == BODY and claimed[0].started is False
    assert claimed[0].cancel_requested is False
    assert await store.claim_expired_runs("d", lease_seconds=30, limit=10) == []
    # A run that stored events is `started`: it cannot simply run again.
    await store.publish_run_events({**initial_response(BODY, model="x"), "id": held,
                                    "status": "in_progress"},
                                   [{"type": "response.created", "sequence_number": 0}])
    assert (await store.get_response(held) or {})["status"] == "in_progress"
    assert await store.request_cancel(held) is True
    assert await store.renew_runs("a", [held], lease_seconds=0.01) == {held: True}
    await asyncio.sleep(0.05)
    (claim,) = await store.claim_expired_runs("e", lease_seconds=30, limit=10)
    assert (claim.response_id, claim.started, claim.cancel_requested) == (held, True, True)


async def test_notices_reach_every_listener(backend: Backend, store: Store) -> None:
    response_id = await _queued(store, "a", lease=30)
    listener = store if backend.kind == "sqlite" else backend.new_store()  # another replica
    await listener.open()
    got: asyncio.Queue[Notice] = asyncio.Queue()
    stop = await listener.listen_runs(got.put_nowait)
    try:
        await store.publish_run_events({**initial_response(BODY, model="x"), "id": response_id},
                                       [{"type": "response.created", "sequence_number": 0}])
        assert await store.request_cancel(response_id) is True
        await store.finish_run(response_id)
        received = [await asyncio.wait_for(got.get(), 5) for _ in range(3)]
        assert received == [("events", response_id), ("cancel", response_id),
                            ("done", response_id)]
        assert await store.request_cancel(response_id) is False  # no longer running
    finally:
        await stop()


async def test_a_stale_flush_changes_nothing(store: Store) -> None:
    response_id = await _queued(store, "a", lease=30)
    final = {**initial_response(BODY, model="x"), "id": response_id, "status": "cancelled"}
    await store.save_response(StoredResponse(final, events=[
        {"type": "response.created", "sequence_number": 0},
        {"type": "response.in_progress", "sequence_number": 1}]))
    with pytest.raises(ValueError):
        await store.publish_run_events({**final, "status": "in_progress"},
                                       [{"type": "response.in_progress", "sequence_number": 1}])
    assert (await store.get_response(response_id) or {})["status"] == "cancelled"
