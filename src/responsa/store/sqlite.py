"""The embedded default store: one SQLite file, served by one dedicated thread.

All database work runs on a single worker thread that owns the only connection, so the event
loop never blocks on disk and SQLite never sees two writers from this process. WAL with
synchronous=NORMAL commits without fsync (a power loss may drop the last commits, never
corrupt the file); a process crash loses nothing that was committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from responsa.store._rows import (
    INPUT,
    MAX_CHAIN_DEPTH,
    OUTPUT,
    EventBatch,
    ItemRows,
    Rows,
    context_from_rows,
    continues,
    conversation_object,
    discontinuity,
    dumps,
    events_from_batches,
    loads,
    to_batch,
    to_item_rows,
    to_rows,
)
from responsa.store.base import ItemPage, JSONDict, Order, StoredResponse
from responsa.store.migrations import migrate_sqlite, rollback
from responsa.store.sqlite_containers import SQLiteContainers
from responsa.store.sqlite_files import SQLiteFiles
from responsa.store.sqlite_prompts import SQLitePrompts
from responsa.store.sqlite_runs import SQLiteRuns
from responsa.store.sqlite_webhooks import SQLiteWebhooks

T = TypeVar("T")

_BUSY_TIMEOUT = 10.0  # seconds to wait for another process's lock
_PendingSave = tuple[
    Rows, tuple[str, ItemRows] | None, asyncio.AbstractEventLoop, asyncio.Future[None]
]

_UPSERT_RESPONSE = """
INSERT INTO responses (id, previous_response_id, created_at, status, response)
VALUES (?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
    previous_response_id = excluded.previous_response_id,
    created_at = excluded.created_at,
    status = excluded.status,
    response = excluded.response
RETURNING pk
"""
# Not INSERT OR REPLACE: replacing deletes the row, and the cascade would take its children.

_CONTEXT = f"""
WITH RECURSIVE chain (pk, previous_response_id, depth, output) AS (
    SELECT pk, previous_response_id, 0, json_extract(response, '$.output')
    FROM responses WHERE id = ?
    UNION ALL
    SELECT r.pk, r.previous_response_id, chain.depth + 1, json_extract(r.response, '$.output')
    FROM responses AS r JOIN chain ON r.id = chain.previous_response_id
    WHERE chain.depth < {MAX_CHAIN_DEPTH}
)
SELECT chain.depth, {INPUT}, i.position, i.item
FROM chain JOIN input_items AS i ON i.response_pk = chain.pk
UNION ALL
SELECT depth, {OUTPUT}, 0, output FROM chain
ORDER BY 1 DESC, 2, 3
"""

_ITEMS_ASC = """
SELECT item FROM input_items
WHERE response_pk = ? AND position > ?
ORDER BY position LIMIT ?
"""
_ITEMS_DESC = """
SELECT item FROM input_items
WHERE response_pk = ? AND position < ?
ORDER BY position DESC LIMIT ?
"""

# Zero rows: no such response. One row of NULLs: a response with no events past `?`.
_EVENTS = """
SELECT b.first_sequence_number, b.events FROM responses AS r
LEFT JOIN event_batches AS b ON b.response_pk = r.pk AND b.last_sequence_number > ?
WHERE r.id = ?
ORDER BY b.last_sequence_number
"""

_LAST_SEQUENCE_NUMBER = """
SELECT r.pk, (SELECT max(b.last_sequence_number) FROM event_batches AS b
              WHERE b.response_pk = r.pk)
FROM responses AS r WHERE r.id = ?
"""

_CONVERSATION_ITEMS_ASC = """
SELECT item FROM conversation_items
WHERE conversation_pk = ? AND position > ?
ORDER BY position LIMIT ?
"""
_CONVERSATION_ITEMS_DESC = """
SELECT item FROM conversation_items
WHERE conversation_pk = ? AND position < ?
ORDER BY position DESC LIMIT ?
"""

_INSERT_BATCH = """
INSERT INTO event_batches (response_pk, first_sequence_number, last_sequence_number, events)
VALUES (?, ?, ?, ?)
"""


class _Worker:
    """A thread running submitted calls one at a time, in order, resolving asyncio futures."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[
            tuple[Callable[[], Any], asyncio.AbstractEventLoop | None, asyncio.Future[Any] | None]
            | None
        ] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    async def call(self, fn: Callable[[], T]) -> T:
        # Lighter than run_in_executor: no concurrent.futures.Future in between.
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((fn, loop, future))
        return await future

    def post(self, fn: Callable[[], None]) -> None:
        """Queue `fn` without waiting for it; it settles its own futures."""
        self._jobs.put((fn, None, None))

    def stop(self) -> None:
        self._jobs.put(None)
        self._thread.join()

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            fn, loop, future = job
            if loop is None or future is None:
                fn()
                continue
            try:
                result = fn()
            except BaseException as exc:
                _resolve(loop, future.set_exception, future, exc)
            else:
                _resolve(loop, future.set_result, future, result)


def _resolve(
    loop: asyncio.AbstractEventLoop,
    setter: Callable[[Any], None],
    future: asyncio.Future[Any],
    value: Any,
) -> None:
    def settle() -> None:
        if not future.done():  # the awaiting task may have been cancelled
            setter(value)

    with contextlib.suppress(RuntimeError):  # the loop closed while we worked: nobody waits
        loop.call_soon_threadsafe(settle)


class SQLiteStore(SQLitePrompts, SQLiteRuns, SQLiteFiles, SQLiteContainers, SQLiteWebhooks):
    """The Store protocol on a SQLite file (or ":memory:")."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._worker: _Worker | None = None
        self._conn: sqlite3.Connection | None = None
        # Saves waiting for the worker: it commits all that queued up in one transaction
        # (group commit), which halves the cost per save under concurrent load.
        self._pending_saves: list[_PendingSave] = []
        self._pending_lock = threading.Lock()
        self._listeners = []  # background-run notices stay in this process

    # -- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        if self._worker is not None:
            return
        worker = _Worker(f"responsa-sqlite:{self.path}")
        try:
            self._conn = await worker.call(self._connect)
        except BaseException:
            worker.stop()
            raise
        self._worker = worker

    async def close(self) -> None:
        worker, self._worker = self._worker, None
        if worker is None:
            return
        conn, self._conn = self._conn, None
        if conn is not None:
            await worker.call(conn.close)
        worker.stop()

    def _connect(self) -> sqlite3.Connection:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves. timeout is the busy timeout
        # for other processes holding the write lock (e.g. a second server on the same file).
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=_BUSY_TIMEOUT)
        try:
            _enable_wal(conn, deadline=time.monotonic() + _BUSY_TIMEOUT)
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            migrate_sqlite(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        worker, conn = self._worker, self._conn
        if worker is None or conn is None:
            raise RuntimeError("SQLiteStore is not open")
        return await worker.call(lambda: fn(conn))

    # -- writes ------------------------------------------------------------------------------

    async def save_response(
        self, record: StoredResponse, *, conversation_id: str | None = None
    ) -> None:
        rows = to_rows(record)  # serialize now, on the caller's thread
        extend = (
            None if conversation_id is None
            else (conversation_id, to_item_rows(record.conversation_items))
        )
        worker, conn = self._worker, self._conn
        if worker is None or conn is None:
            raise RuntimeError("SQLiteStore is not open")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._pending_lock:
            self._pending_saves.append((rows, extend, loop, future))
            first = len(self._pending_saves) == 1
        if first:  # later saves join the group this job will commit
            worker.post(lambda: self._commit_pending(conn))
        await future

    def _commit_pending(self, conn: sqlite3.Connection) -> None:
        with self._pending_lock:
            group, self._pending_saves = self._pending_saves, []
        outcomes = _save_group(conn, [(rows, extend) for rows, extend, _, _ in group])
        for (_, _, loop, future), error in zip(group, outcomes, strict=True):
            if error is None:
                _resolve(loop, future.set_result, future, None)
            else:
                _resolve(loop, future.set_exception, future, error)

    async def append_events(self, response_id: str, events: list[JSONDict]) -> None:
        batch = to_batch(events)  # serialize now, on the caller's thread
        await self._run(lambda conn: _append(conn, response_id, batch))

    async def delete_response(self, response_id: str) -> bool:
        return await self._run(lambda conn: _delete(conn, response_id))

    # -- reads -------------------------------------------------------------------------------

    async def get_response(self, response_id: str) -> JSONDict | None:
        text = await self._run(lambda conn: _fetch_response(conn, response_id))
        if text is None:
            return None
        response: JSONDict = loads(text)
        return response

    async def get_context(self, response_id: str) -> list[JSONDict] | None:
        rows = await self._run(
            lambda conn: [(row[1], row[3]) for row in conn.execute(_CONTEXT, (response_id,))]
        )
        return context_from_rows(rows) if rows else None

    async def list_input_items(
        self, response_id: str, *, after: str | None, limit: int, order: Order
    ) -> ItemPage | None:
        texts = await self._run(lambda conn: _page(conn, response_id, after, limit + 1, order))
        if texts is None:
            return None
        return ItemPage(data=[loads(t) for t in texts[:limit]], has_more=len(texts) > limit)

    async def get_events(
        self, response_id: str, *, starting_after: int | None
    ) -> list[JSONDict] | None:
        after = -1 if starting_after is None else starting_after
        rows: list[tuple[int | None, str | None]] = await self._run(
            lambda conn: conn.execute(_EVENTS, (after, response_id)).fetchall()
        )
        return events_from_batches(rows, after) if rows else None

    # -- conversations -----------------------------------------------------------------------

    async def create_conversation(self, conversation: JSONDict, items: list[JSONDict]) -> None:
        conversation_id = str(conversation["id"])
        created_at = int(conversation["created_at"])
        metadata = dumps(conversation.get("metadata") or {})
        rows = to_item_rows(items)
        await self._run(
            lambda conn: _create_conversation(conn, conversation_id, created_at, metadata, rows)
        )

    async def get_conversation(self, conversation_id: str) -> JSONDict | None:
        row = await self._run(
            lambda conn: conn.execute(
                "SELECT created_at, metadata FROM conversations WHERE id = ?", (conversation_id,)
            ).fetchone()
        )
        return None if row is None else conversation_object(conversation_id, row[0], row[1])

    async def update_conversation(
        self, conversation_id: str, metadata: JSONDict
    ) -> JSONDict | None:
        text = dumps(metadata)
        row = await self._run(lambda conn: _write(
            conn, "UPDATE conversations SET metadata = ? WHERE id = ? RETURNING created_at",
            (text, conversation_id)))
        return None if row is None else conversation_object(conversation_id, row[0], text)

    async def delete_conversation(self, conversation_id: str) -> bool:
        # Items go with it by ON DELETE CASCADE.
        row = await self._run(lambda conn: _write(
            conn, "DELETE FROM conversations WHERE id = ? RETURNING pk", (conversation_id,)))
        return row is not None

    async def append_conversation_items(
        self, conversation_id: str, items: list[JSONDict]
    ) -> bool:
        rows = to_item_rows(items)
        return await self._run(lambda conn: _append_conversation(conn, conversation_id, rows))

    async def get_conversation_items(self, conversation_id: str) -> list[JSONDict] | None:
        texts = await self._run(
            lambda conn: _conversation_page(conn, conversation_id, None, -1, "asc")
        )
        return None if texts is None else [loads(t) for t in texts]

    async def list_conversation_items(
        self, conversation_id: str, *, after: str | None, limit: int, order: Order
    ) -> ItemPage | None:
        texts = await self._run(
            lambda conn: _conversation_page(conn, conversation_id, after, limit + 1, order)
        )
        if texts is None:
            return None
        return ItemPage(data=[loads(t) for t in texts[:limit]], has_more=len(texts) > limit)

    async def get_conversation_item(self, conversation_id: str, item_id: str) -> JSONDict | None:
        row = await self._run(lambda conn: conn.execute(
            "SELECT i.item FROM conversations AS c JOIN conversation_items AS i"
            " ON i.conversation_pk = c.pk WHERE c.id = ? AND i.item_id = ?"
            " ORDER BY i.position LIMIT 1", (conversation_id, item_id)).fetchone())
        if row is None:
            return None
        item: JSONDict = loads(row[0])
        return item

    async def delete_conversation_item(self, conversation_id: str, item_id: str) -> bool:
        row = await self._run(lambda conn: _write(
            conn, "DELETE FROM conversation_items WHERE item_id = ? AND conversation_pk ="
            " (SELECT pk FROM conversations WHERE id = ?) RETURNING position",
            (item_id, conversation_id)))
        return row is not None


# -- worker-thread functions (each gets the connection; none touches the event loop) ----------


def _enable_wal(conn: sqlite3.Connection, *, deadline: float) -> None:
    # Switching a new file to WAL can fail with SQLITE_BUSY without consulting the busy
    # handler when several connections open it at once; the switch is persistent, so retry.
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _save_group(
    conn: sqlite3.Connection, group: list[tuple[Rows, tuple[str, ItemRows] | None]]
) -> list[BaseException | None]:
    """Save each record atomically (a savepoint each), all in one transaction: one commit,
    one WAL append, for however many saves queued up. Returns each save's error, or None."""
    outcomes: list[BaseException | None] = []
    # IMMEDIATE: take the write lock up front (waiting on busy_timeout) rather than fail with
    # SQLITE_BUSY_SNAPSHOT when another process writes between our read and our write.
    try:
        conn.execute("BEGIN IMMEDIATE")
        for rows, extend in group:
            conn.execute("SAVEPOINT save")
            try:
                _save(conn, rows, extend)
            except Exception as exc:
                conn.execute("ROLLBACK TO save")
                outcomes.append(exc)
            else:
                outcomes.append(None)
            conn.execute("RELEASE save")
        conn.execute("COMMIT")
    except BaseException as exc:
        rollback(conn)
        return [exc] * len(group)
    return outcomes


def _save(
    conn: sqlite3.Connection, rows: Rows, extend: tuple[str, ItemRows] | None
) -> None:
    """One record, inside the caller's transaction."""
    (pk,) = conn.execute(
        _UPSERT_RESPONSE,
        (rows.id, rows.previous_response_id, rows.created_at, rows.status, rows.response),
    ).fetchone()
    # Replace the children wholesale; on a first save these deletes are empty index probes.
    conn.execute("DELETE FROM input_items WHERE response_pk = ?", (pk,))
    conn.executemany(
        "INSERT INTO input_items (response_pk, position, item_id, item) VALUES (?, ?, ?, ?)",
        [
            (pk, position, item_id, item)
            for position, (item_id, item) in enumerate(
                zip(rows.item_ids, rows.items, strict=True)
            )
        ],
    )
    conn.execute("DELETE FROM event_batches WHERE response_pk = ?", (pk,))
    if rows.events is not None:
        _insert_batch(conn, pk, rows.events)
    if extend is not None:
        _insert_conversation_items(conn, *extend)


def _append(conn: sqlite3.Connection, response_id: str, batch: EventBatch | None) -> None:
    # IMMEDIATE: no other process may append between our continuity check and our insert.
    conn.execute("BEGIN IMMEDIATE")
    try:
        row = conn.execute(_LAST_SEQUENCE_NUMBER, (response_id,)).fetchone()
        if row is None:
            raise KeyError(response_id)
        pk, stored_last = row
        if batch is not None:
            if not continues(batch, stored_last):
                raise discontinuity(batch, stored_last)
            _insert_batch(conn, pk, batch)
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise


def _insert_batch(conn: sqlite3.Connection, pk: int, batch: EventBatch) -> None:
    conn.execute(
        _INSERT_BATCH,
        (pk, batch.first_sequence_number, batch.last_sequence_number, batch.events),
    )


def _delete(conn: sqlite3.Connection, response_id: str) -> bool:
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Items and event batches go with it by ON DELETE CASCADE.
        deleted = conn.execute("DELETE FROM responses WHERE id = ?", (response_id,)).rowcount
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise
    return deleted > 0


def _write(
    conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]
) -> tuple[Any, ...] | None:
    """One write statement in its own transaction; its first RETURNING row, or None."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        rows = conn.execute(sql, params).fetchall()
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise
    return tuple(rows[0]) if rows else None


def _create_conversation(
    conn: sqlite3.Connection, conversation_id: str, created_at: int, metadata: str,
    rows: ItemRows,
) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "INSERT INTO conversations (id, created_at, metadata) VALUES (?, ?, ?)",
            (conversation_id, created_at, metadata),
        )
        _insert_conversation_items(conn, conversation_id, rows)
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise


def _append_conversation(conn: sqlite3.Connection, conversation_id: str, rows: ItemRows) -> bool:
    conn.execute("BEGIN IMMEDIATE")
    try:
        known = _insert_conversation_items(conn, conversation_id, rows)
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise
    return known


def _insert_conversation_items(
    conn: sqlite3.Connection, conversation_id: str, rows: ItemRows
) -> bool:
    """Append after the last item, inside the caller's write transaction; False (adding
    nothing) if the conversation is not stored."""
    found = conn.execute(
        "SELECT c.pk, (SELECT max(i.position) FROM conversation_items AS i"
        " WHERE i.conversation_pk = c.pk) FROM conversations AS c WHERE c.id = ?",
        (conversation_id,),
    ).fetchone()
    if found is None:
        return False
    pk, last = found
    start = -1 if last is None else int(last)
    conn.executemany(
        "INSERT INTO conversation_items (conversation_pk, position, item_id, item)"
        " VALUES (?, ?, ?, ?)",
        [
            (pk, start + offset, item_id, item)
            for offset, (item_id, item) in enumerate(zip(rows.ids, rows.items, strict=True), 1)
        ],
    )
    return True


def _conversation_page(
    conn: sqlite3.Connection, conversation_id: str, after: str | None, limit: int, order: Order
) -> list[str] | None:
    """Like `_page`, over a conversation's items; a negative `limit` means no limit."""
    conn.execute("BEGIN")
    try:
        found = conn.execute(
            "SELECT pk FROM conversations WHERE id = ?", (conversation_id,)
        ).fetchone()
        if found is None:
            return None
        pk = int(found[0])
        if after is None:
            cursor = -1 if order == "asc" else 2**62
        else:
            row = conn.execute(
                "SELECT min(position) FROM conversation_items"
                " WHERE conversation_pk = ? AND item_id = ?",
                (pk, after),
            ).fetchone()
            if row[0] is None:  # an unknown cursor: nothing comes after it
                return []
            cursor = int(row[0])
        sql = _CONVERSATION_ITEMS_ASC if order == "asc" else _CONVERSATION_ITEMS_DESC
        return [r[0] for r in conn.execute(sql, (pk, cursor, limit))]
    finally:
        conn.execute("COMMIT")


def _fetch_response(conn: sqlite3.Connection, response_id: str) -> str | None:
    row = conn.execute("SELECT response FROM responses WHERE id = ?", (response_id,)).fetchone()
    return None if row is None else str(row[0])


def _page(
    conn: sqlite3.Connection, response_id: str, after: str | None, limit: int, order: Order
) -> list[str] | None:
    # A read transaction, so the existence check and the page see the same snapshot.
    conn.execute("BEGIN")
    try:
        found = conn.execute("SELECT pk FROM responses WHERE id = ?", (response_id,)).fetchone()
        if found is None:
            return None
        pk = int(found[0])
        if after is None:
            cursor = -1 if order == "asc" else 2**62
        else:
            row = conn.execute(
                "SELECT min(position) FROM input_items WHERE response_pk = ? AND item_id = ?",
                (pk, after),
            ).fetchone()
            if row[0] is None:  # an unknown cursor: nothing comes after it
                return []
            cursor = int(row[0])
        sql = _ITEMS_ASC if order == "asc" else _ITEMS_DESC
        return [r[0] for r in conn.execute(sql, (pk, cursor, limit))]
    finally:
        conn.execute("COMMIT")
