"""Background runs on SQLite (mixed into `SQLiteStore`): one node, so notices stay in-process."""

from __future__ import annotations

import abc
import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from responsa.store._rows import dumps, loads, to_batch
from responsa.store.runs import ClaimedRun, JSONDict, Notice, NoticeCallback, NoticeKind

T = TypeVar("T")

# SQLite has one writer at a time, so this single statement claims each row for one caller.
_CLAIM = """
UPDATE background_runs SET owner = ?, lease_until = ?
WHERE response_id IN (
    SELECT response_id FROM background_runs WHERE lease_until < ?
    ORDER BY lease_until LIMIT ?
)
RETURNING response_id, created_at, body, cancel_requested, EXISTS (
    SELECT 1 FROM responses AS r JOIN event_batches AS b ON b.response_pk = r.pk
    WHERE r.id = background_runs.response_id
)
"""


class SQLiteRuns(abc.ABC):
    """The background-run half of SQLiteStore, which supplies `_run`."""

    _listeners: list[NoticeCallback]

    @abc.abstractmethod
    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` on the store's database thread."""

    async def enqueue_run(self, response_id: str, created_at: int, body: JSONDict, *,
                          owner: str, lease_seconds: float) -> None:
        text = dumps(body)
        lease = time.time() + lease_seconds
        await self._run(lambda conn: conn.execute(
            "INSERT INTO background_runs (response_id, created_at, body, owner, lease_until)"
            " VALUES (?, ?, ?, ?, ?)", (response_id, created_at, text, owner, lease)))

    async def publish_run_events(self, response: JSONDict, events: list[JSONDict]) -> None:
        from responsa.store.sqlite import _append  # the module that mixes this class in

        response_id, status, text = str(response["id"]), response["status"], dumps(response)
        batch = to_batch(events)

        def publish(conn: sqlite3.Connection) -> None:
            # One job on the store's only thread: no save runs between the append and the
            # snapshot, and a batch refused as stale (the final save came first) changes nothing.
            _append(conn, response_id, batch)
            conn.execute("UPDATE responses SET status = ?, response = ? WHERE id = ?",
                         (status, text, response_id))
        await self._run(publish)
        self._notify("events", response_id)

    async def renew_runs(self, owner: str, response_ids: list[str], *,
                         lease_seconds: float) -> dict[str, bool]:
        if not response_ids:
            return {}
        lease = time.time() + lease_seconds
        marks = ",".join("?" * len(response_ids))
        rows = await self._run(lambda conn: conn.execute(
            f"UPDATE background_runs SET lease_until = ? WHERE owner = ?"
            f" AND response_id IN ({marks}) RETURNING response_id, cancel_requested",
            (lease, owner, *response_ids)).fetchall())
        return {row[0]: bool(row[1]) for row in rows}

    async def claim_expired_runs(self, owner: str, *, lease_seconds: float,
                                 limit: int) -> list[ClaimedRun]:
        now = time.time()
        rows = await self._run(lambda conn: conn.execute(
            _CLAIM, (owner, now + lease_seconds, now, limit)).fetchall())
        return [ClaimedRun(row[0], row[1], loads(row[2]), bool(row[4]), bool(row[3]))
                for row in rows]

    async def request_cancel(self, response_id: str) -> bool:
        row = await self._run(lambda conn: conn.execute(
            "UPDATE background_runs SET cancel_requested = 1 WHERE response_id = ?"
            " RETURNING 1", (response_id,)).fetchone())
        if row is None:
            return False
        self._notify("cancel", response_id)
        return True

    async def finish_run(self, response_id: str) -> None:
        await self._run(lambda conn: conn.execute(
            "DELETE FROM background_runs WHERE response_id = ?", (response_id,)))
        self._notify("done", response_id)

    async def listen_runs(self, callback: NoticeCallback) -> Callable[[], Awaitable[None]]:
        self._listeners.append(callback)

        async def stop() -> None:
            self._listeners.remove(callback)
        return stop

    def _notify(self, kind: NoticeKind, response_id: str) -> None:
        notice: Notice = (kind, response_id)
        loop = asyncio.get_running_loop()
        for callback in list(self._listeners):
            loop.call_soon(callback, notice)
