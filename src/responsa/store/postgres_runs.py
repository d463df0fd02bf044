"""Background runs on PostgreSQL (mixed into `PostgresStore`).

Claims use `FOR UPDATE SKIP LOCKED`, so replicas sweeping at once never claim the same run;
leases are on the database clock. Notices travel by `NOTIFY` and are received on a dedicated
connection: the pool skips its reset query, so a pooled connection must never `LISTEN`.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from responsa.store._rows import discontinuity, dumps, loads, to_batch
from responsa.store.runs import (
    NOTICE_CHANNEL,
    ClaimedRun,
    JSONDict,
    NoticeCallback,
    decode_notice,
    encode_notice,
)

_LEASE = "clock_timestamp() + make_interval(secs => $2)"

_ENQUEUE = f"""
INSERT INTO background_runs (response_id, owner, lease_until, created_at, body)
VALUES ($3, $1, {_LEASE}, $4, $5)
"""

_PUBLISH = ("SELECT known, appended, stored_last"
            " FROM responsa_publish_run_events($1, $2, $3, $4, $5, $6)")

_RENEW = f"""
UPDATE background_runs SET lease_until = {_LEASE}
WHERE owner = $1 AND response_id = ANY($3::text[])
RETURNING response_id, cancel_requested
"""

_CLAIM = f"""
UPDATE background_runs AS run SET owner = $1, lease_until = {_LEASE}
FROM (
    SELECT response_id FROM background_runs WHERE lease_until < clock_timestamp()
    ORDER BY lease_until LIMIT $3 FOR UPDATE SKIP LOCKED
) AS due
WHERE run.response_id = due.response_id
RETURNING run.response_id, run.created_at, run.body, run.cancel_requested, EXISTS (
    SELECT 1 FROM responses AS r JOIN event_batches AS b ON b.response_pk = r.pk
    WHERE r.id = run.response_id
)
"""

# Data-modifying CTEs: the notice is sent only when the row existed, delivered at commit.
_CANCEL = f"""
WITH run AS (
    UPDATE background_runs SET cancel_requested = true WHERE response_id = $1
    RETURNING response_id
)
SELECT pg_notify('{NOTICE_CHANNEL}', 'cancel:' || response_id) IS NULL FROM run
"""

_FINISH = f"""
WITH run AS (DELETE FROM background_runs WHERE response_id = $1)
SELECT pg_notify('{NOTICE_CHANNEL}', $2)
"""


class PostgresRuns(abc.ABC):
    """The background-run half of PostgresStore, which supplies `pool` and `dsn`."""

    dsn: str

    @property
    @abc.abstractmethod
    def pool(self) -> asyncpg.Pool:
        """The store's connection pool."""

    async def enqueue_run(self, response_id: str, created_at: int, body: JSONDict, *,
                          owner: str, lease_seconds: float) -> None:
        await self.pool.execute(_ENQUEUE, owner, lease_seconds, response_id, created_at,
                                dumps(body))

    async def publish_run_events(self, response: JSONDict, events: list[JSONDict]) -> None:
        batch = to_batch(events)
        response_id = str(response["id"])
        row = await self.pool.fetchrow(
            _PUBLISH, response_id, response["status"], dumps(response),
            *((batch.first_sequence_number, batch.last_sequence_number, batch.events)
              if batch is not None else (None, None, None)))
        assert row is not None  # the function returns exactly one row
        if not row["known"]:
            raise KeyError(response_id)
        if batch is not None and not row["appended"]:
            raise discontinuity(batch, row["stored_last"])

    async def renew_runs(self, owner: str, response_ids: list[str], *,
                         lease_seconds: float) -> dict[str, bool]:
        if not response_ids:
            return {}
        rows = await self.pool.fetch(_RENEW, owner, lease_seconds, response_ids)
        return {row[0]: bool(row[1]) for row in rows}

    async def claim_expired_runs(self, owner: str, *, lease_seconds: float,
                                 limit: int) -> list[ClaimedRun]:
        rows = await self.pool.fetch(_CLAIM, owner, lease_seconds, limit)
        return [ClaimedRun(row[0], row[1], loads(row[2]), bool(row[4]), bool(row[3]))
                for row in rows]

    async def request_cancel(self, response_id: str) -> bool:
        return await self.pool.fetchrow(_CANCEL, response_id) is not None

    async def finish_run(self, response_id: str) -> None:
        await self.pool.execute(_FINISH, response_id, encode_notice("done", response_id))

    async def listen_runs(self, callback: NoticeCallback) -> Callable[[], Awaitable[None]]:
        conn: asyncpg.Connection = await asyncpg.connect(self.dsn)

        def on_notify(_conn: Any, _pid: int, _channel: str, payload: object) -> None:
            notice = decode_notice(str(payload))
            if notice is not None:
                callback(notice)

        await conn.add_listener(NOTICE_CHANNEL, on_notify)

        async def stop() -> None:
            with contextlib.suppress(asyncpg.InterfaceError, OSError):  # already gone
                await conn.remove_listener(NOTICE_CHANNEL, on_notify)
            await conn.close()
        return stop

