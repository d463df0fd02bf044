"""The scale-out store: PostgreSQL through an asyncpg pool, shared by any number of replicas.

Same tables and semantics as the SQLite store. JSON columns are `json` (kept as the exact text
we wrote), read back as `str` and parsed with orjson. Every method is one round trip.
"""

from __future__ import annotations

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from responsa.store._rows import (
    INPUT,
    MAX_CHAIN_DEPTH,
    OUTPUT,
    EventBatch,
    Rows,
    context_from_rows,
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
from responsa.store.migrations import migrate_postgres
from responsa.store.postgres_containers import PostgresContainers
from responsa.store.postgres_files import PostgresFiles
from responsa.store.postgres_prompts import PostgresPrompts
from responsa.store.postgres_runs import PostgresRuns
from responsa.store.postgres_webhooks import PostgresWebhooks

_SAVE = "SELECT responsa_save_response($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
_APPEND_CONVERSATION = "SELECT responsa_append_conversation_items($1, $2, $3)"
_APPEND = "SELECT known, appended, stored_last FROM responsa_append_events($1, $2, $3, $4)"

_CONTEXT = f"""
WITH RECURSIVE chain (pk, previous_response_id, depth, response) AS (
    SELECT pk, previous_response_id, 0, response FROM responses WHERE id = $1
    UNION ALL
    SELECT r.pk, r.previous_response_id, chain.depth + 1, r.response
    FROM responses AS r JOIN chain ON r.id = chain.previous_response_id
    WHERE chain.depth < {MAX_CHAIN_DEPTH}
)
SELECT chain.depth, {INPUT} AS kind, i.position, i.item AS body
FROM chain JOIN input_items AS i ON i.response_pk = chain.pk
UNION ALL
SELECT depth, {OUTPUT}, 0, response FROM chain
ORDER BY 1 DESC, 2, 3
"""

# Zero rows: no such response. One row with a NULL item: a response with nothing on this page.
# An unknown `after` ($2) makes the cursor NULL, so the page is empty.
_PAGE = """
SELECT page.item FROM responses AS r
LEFT JOIN LATERAL (
    SELECT i.item, i.position FROM input_items AS i
    WHERE i.response_pk = r.pk AND i.position {cmp} COALESCE(
        (SELECT min(a.position) FROM input_items AS a
         WHERE a.response_pk = r.pk AND a.item_id = $2),
        CASE WHEN $2::text IS NULL THEN {start} END
    )
    ORDER BY i.position {direction} LIMIT $3
) AS page ON true
WHERE r.id = $1
ORDER BY page.position {direction}
"""
_PAGE_ASC = _PAGE.format(cmp=">", start=-1, direction="ASC")
_PAGE_DESC = _PAGE.format(cmp="<", start=2**31 - 1, direction="DESC")

# The same over a conversation's items. A NULL limit ($3) means all of them.
_CONVERSATION_PAGE = """
SELECT page.item FROM conversations AS c
LEFT JOIN LATERAL (
    SELECT i.item, i.position FROM conversation_items AS i
    WHERE i.conversation_pk = c.pk AND i.position {cmp} COALESCE(
        (SELECT min(a.position) FROM conversation_items AS a
         WHERE a.conversation_pk = c.pk AND a.item_id = $2),
        CASE WHEN $2::text IS NULL THEN {start} END
    )
    ORDER BY i.position {direction} LIMIT $3
) AS page ON true
WHERE c.id = $1
ORDER BY page.position {direction}
"""
_CONVERSATION_PAGE_ASC = _CONVERSATION_PAGE.format(cmp=">", start=-1, direction="ASC")
_CONVERSATION_PAGE_DESC = _CONVERSATION_PAGE.format(cmp="<", start=2**31 - 1, direction="DESC")

# One statement: the data-modifying CTE inserts the conversation even when there are no items.
_CREATE_CONVERSATION = """
WITH c AS (
    INSERT INTO conversations (id, created_at, metadata) VALUES ($1, $2, $3) RETURNING pk
)
INSERT INTO conversation_items (conversation_pk, position, item_id, item)
SELECT c.pk, t.n - 1, t.item_id, t.item
FROM c, unnest($4::text[], $5::json[]) WITH ORDINALITY AS t (item_id, item, n)
"""

_CONVERSATION_ITEM = """
SELECT i.item FROM conversations AS c
JOIN conversation_items AS i ON i.conversation_pk = c.pk
WHERE c.id = $1 AND i.item_id = $2
ORDER BY i.position LIMIT 1
"""

_DELETE_CONVERSATION_ITEM = """
DELETE FROM conversation_items
WHERE item_id = $2 AND conversation_pk = (SELECT pk FROM conversations WHERE id = $1)
RETURNING true
"""

# Zero rows: no such response. One row of NULLs: a response with no events past $2.
_EVENTS = """
SELECT b.first_sequence_number, b.events FROM responses AS r
LEFT JOIN event_batches AS b ON b.response_pk = r.pk AND b.last_sequence_number > $2
WHERE r.id = $1
ORDER BY b.last_sequence_number
"""


def _batch_args(batch: EventBatch | None) -> tuple[int | None, int | None, str | None]:
    if batch is None:
        return None, None, None
    return batch.first_sequence_number, batch.last_sequence_number, batch.events


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Skip asyncpg's reset query on every release: a whole extra round trip per call. We never
    change session state (no SET, LISTEN, cursors or session-level advisory locks), and asyncpg
    still rolls back any transaction left open."""


class PostgresStore(PostgresPrompts, PostgresRuns, PostgresFiles, PostgresContainers,
                    PostgresWebhooks):
    """The Store protocol on PostgreSQL. `dsn` is a postgresql:// (or postgres://) URL."""

    def __init__(self, dsn: str, *, min_size: int = 1, max_size: int = 10) -> None:
        self.dsn = dsn
        self._min_size = min_size
        self._max_size = max_size
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        if self._pool is not None:
            return
        pool = await asyncpg.create_pool(
            self.dsn, min_size=self._min_size, max_size=self._max_size, reset=_keep_session
        )
        try:
            async with pool.acquire() as conn:
                await migrate_postgres(conn)
        except BaseException:
            await pool.close()
            raise
        self._pool = pool

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("PostgresStore is not open")
        return self._pool

    async def save_response(
        self, record: StoredResponse, *, conversation_id: str | None = None
    ) -> None:
        rows = to_rows(record)
        if conversation_id is None:
            await self._save(self.pool, rows)
            return
        items = to_item_rows(record.conversation_items)
        async with self.pool.acquire() as conn, conn.transaction():
            await self._save(conn, rows)
            await conn.fetchval(_APPEND_CONVERSATION, conversation_id, items.ids, items.items)

    @staticmethod
    async def _save(db: asyncpg.Pool | PoolConnectionProxy, rows: Rows) -> None:
        await db.execute(
            _SAVE,
            rows.id,
            rows.previous_response_id,
            rows.created_at,
            rows.status,
            rows.response,
            rows.item_ids,
            rows.items,
            *_batch_args(rows.events),
        )

    async def append_events(self, response_id: str, events: list[JSONDict]) -> None:
        batch = to_batch(events)
        row = await self.pool.fetchrow(_APPEND, response_id, *_batch_args(batch))
        assert row is not None  # the function returns exactly one row
        if not row["known"]:
            raise KeyError(response_id)
        if batch is not None and not row["appended"]:
            raise discontinuity(batch, row["stored_last"])

    async def delete_response(self, response_id: str) -> bool:
        # Items and event batches go by ON DELETE CASCADE.
        deleted = await self.pool.fetchval(
            "DELETE FROM responses WHERE id = $1 RETURNING true", response_id
        )
        return deleted is not None

    async def get_response(self, response_id: str) -> JSONDict | None:
        text = await self.pool.fetchval("SELECT response FROM responses WHERE id = $1", response_id)
        if text is None:
            return None
        response: JSONDict = loads(text)
        return response

    async def get_context(self, response_id: str) -> list[JSONDict] | None:
        rows = await self.pool.fetch(_CONTEXT, response_id)
        if not rows:
            return None
        return context_from_rows((row["kind"], row["body"]) for row in rows)

    async def list_input_items(
        self, response_id: str, *, after: str | None, limit: int, order: Order
    ) -> ItemPage | None:
        sql = _PAGE_ASC if order == "asc" else _PAGE_DESC
        rows = await self.pool.fetch(sql, response_id, after, limit + 1)
        if not rows:
            return None
        texts = [row["item"] for row in rows if row["item"] is not None]
        return ItemPage(data=[loads(t) for t in texts[:limit]], has_more=len(texts) > limit)

    async def get_events(
        self, response_id: str, *, starting_after: int | None
    ) -> list[JSONDict] | None:
        after = -1 if starting_after is None else starting_after
        rows = await self.pool.fetch(_EVENTS, response_id, after)
        if not rows:
            return None
        return events_from_batches(((row[0], row[1]) for row in rows), after)

    # -- conversations -----------------------------------------------------------------------

    async def create_conversation(self, conversation: JSONDict, items: list[JSONDict]) -> None:
        rows = to_item_rows(items)
        await self.pool.execute(
            _CREATE_CONVERSATION,
            str(conversation["id"]),
            int(conversation["created_at"]),
            dumps(conversation.get("metadata") or {}),
            rows.ids,
            rows.items,
        )

    async def get_conversation(self, conversation_id: str) -> JSONDict | None:
        row = await self.pool.fetchrow(
            "SELECT created_at, metadata FROM conversations WHERE id = $1", conversation_id
        )
        return None if row is None else conversation_object(conversation_id, row[0], row[1])

    async def update_conversation(
        self, conversation_id: str, metadata: JSONDict
    ) -> JSONDict | None:
        text = dumps(metadata)
        created_at = await self.pool.fetchval(
            "UPDATE conversations SET metadata = $2 WHERE id = $1 RETURNING created_at",
            conversation_id, text,
        )
        if created_at is None:
            return None
        return conversation_object(conversation_id, created_at, text)

    async def delete_conversation(self, conversation_id: str) -> bool:
        # Items go by ON DELETE CASCADE.
        deleted = await self.pool.fetchval(
            "DELETE FROM conversations WHERE id = $1 RETURNING true", conversation_id
        )
        return deleted is not None

    async def append_conversation_items(
        self, conversation_id: str, items: list[JSONDict]
    ) -> bool:
        rows = to_item_rows(items)
        known = await self.pool.fetchval(
            _APPEND_CONVERSATION, conversation_id, rows.ids, rows.items
        )
        return bool(known)

    async def get_conversation_items(self, conversation_id: str) -> list[JSONDict] | None:
        rows = await self.pool.fetch(_CONVERSATION_PAGE_ASC, conversation_id, None, None)
        if not rows:
            return None
        return [loads(row["item"]) for row in rows if row["item"] is not None]

    async def list_conversation_items(
        self, conversation_id: str, *, after: str | None, limit: int, order: Order
    ) -> ItemPage | None:
        sql = _CONVERSATION_PAGE_ASC if order == "asc" else _CONVERSATION_PAGE_DESC
        rows = await self.pool.fetch(sql, conversation_id, after, limit + 1)
        if not rows:
            return None
        texts = [row["item"] for row in rows if row["item"] is not None]
        return ItemPage(data=[loads(t) for t in texts[:limit]], has_more=len(texts) > limit)

    async def get_conversation_item(self, conversation_id: str, item_id: str) -> JSONDict | None:
        text = await self.pool.fetchval(_CONVERSATION_ITEM, conversation_id, item_id)
        if text is None:
            return None
        item: JSONDict = loads(text)
        return item

    async def delete_conversation_item(self, conversation_id: str, item_id: str) -> bool:
        deleted = await self.pool.fetchval(_DELETE_CONVERSATION_ITEM, conversation_id, item_id)
        return deleted is not None
