"""Files, vector stores and chunk search on PostgreSQL (mixed into `PostgresStore`).

Full-text search is `tsvector @@ tsquery` over a generated column with a GIN index, ranked by
`ts_rank_cd`. Vectors are `real[]`, ranked by an exact dot product in SQL: pgvector is not
packaged for Debian 12's PostgreSQL 15, and an exact scan is fine at the sizes this serves.
"""

from __future__ import annotations

import abc
import re
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from responsa.retrieval.vectors import Matrix, from_blobs, to_floats
from responsa.store._rows import dumps, loads
from responsa.store.base import ItemPage, JSONDict, Order
from responsa.store.files import (
    ChunkHit,
    NewChunk,
    SearchableFile,
    batch_object,
    vector_store_object,
)

Conn = asyncpg.Connection | PoolConnectionProxy

_COUNTS = """
SELECT status, count(*), coalesce(sum(usage_bytes), 0) FROM vector_store_files
WHERE vector_store_pk = $1 GROUP BY status
"""
_VSF = """
SELECT f.pk, f.item FROM vector_store_files AS f JOIN vector_stores AS s ON s.pk = f.vector_store_pk
WHERE s.id = $1 AND f.file_id = $2
"""
_SEARCHABLE = """
SELECT f.pk, s.id, f.file_id, coalesce(u.file->>'filename', f.file_id), f.item
FROM vector_store_files AS f
JOIN vector_stores AS s ON s.pk = f.vector_store_pk
LEFT JOIN files AS u ON u.id = f.file_id
WHERE s.id = ANY($1::text[]) AND f.status = 'completed'
ORDER BY f.pk
"""
_TEXT_SEARCH = """
SELECT vector_store_file_pk, position, text FROM file_chunks
WHERE vector_store_file_pk = ANY($1::bigint[]) AND tsv @@ to_tsquery('english', $2)
ORDER BY ts_rank_cd(tsv, to_tsquery('english', $2)) DESC, pk LIMIT $3
"""
# The dot product in float8: products of small real components underflow, which PostgreSQL
# refuses rather than rounding to zero.
_VECTOR_SEARCH = """
SELECT vector_store_file_pk, position, text FROM file_chunks AS c
WHERE vector_store_file_pk = ANY($1::bigint[]) AND cardinality(embedding) = cardinality($2::real[])
ORDER BY (SELECT sum(a::float8 * b) FROM unnest(c.embedding, $2::real[]) AS t (a, b)) DESC, pk
LIMIT $3
"""
_WORD = re.compile(r"\w+")


class PostgresFiles(abc.ABC):
    """The files half of PostgresStore, which supplies `pool`."""

    @property
    @abc.abstractmethod
    def pool(self) -> asyncpg.Pool:
        """The store's connection pool."""

    # -- files ---------------------------------------------------------------------------------

    async def create_file(self, file: JSONDict) -> None:
        await self.pool.execute("INSERT INTO files (id, purpose, file) VALUES ($1, $2, $3)",
                                file["id"], file["purpose"], dumps(file))

    async def get_file(self, file_id: str) -> JSONDict | None:
        text = await self.pool.fetchval("SELECT file FROM files WHERE id = $1", file_id)
        return None if text is None else loads(text)

    async def list_files(self, *, purpose: str | None, after: str | None, limit: int,
                         order: Order) -> ItemPage:
        rows = await _page(self.pool, "files", "file", "($1::text IS NULL OR purpose = $1)",
                           [purpose], after, limit + 1, order)
        return ItemPage([loads(row[0]) for row in rows[:limit]], len(rows) > limit)

    async def delete_file(self, file_id: str) -> bool:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("DELETE FROM vector_store_files WHERE file_id = $1", file_id)
            return await conn.fetchval(
                "DELETE FROM files WHERE id = $1 RETURNING true", file_id) is not None

    async def delete_expired_files(self, now: int) -> list[str]:
        async with self.pool.acquire() as conn, conn.transaction():
            ids = [row["id"] for row in await conn.fetch(
                "DELETE FROM files WHERE (file->>'expires_at')::bigint <= $1 RETURNING id", now)]
            await conn.execute("DELETE FROM vector_store_files WHERE file_id = ANY($1::text[])",
                               ids)
            return ids

    # -- vector stores ---------------------------------------------------------------------------

    async def create_vector_store(self, store: JSONDict) -> None:
        await self.pool.execute("INSERT INTO vector_stores (id, store) VALUES ($1, $2)",
                                store["id"], dumps(store))

    async def get_vector_store(self, vector_store_id: str) -> JSONDict | None:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow("SELECT pk, store FROM vector_stores WHERE id = $1",
                                      vector_store_id)
            return None if row is None else await _vector_store(conn, row[0], row[1])

    async def list_vector_stores(self, *, after: str | None, limit: int,
                                 order: Order) -> ItemPage:
        async with self.pool.acquire() as conn:
            rows = await _page(conn, "vector_stores", "pk, store", "$1::text IS NULL", [None],
                               after, limit + 1, order)
            found = [await _vector_store(conn, row[0], row[1]) for row in rows]
        return ItemPage(found[:limit], len(found) > limit)

    async def update_vector_store(self, vector_store_id: str,
                                  fields: JSONDict) -> JSONDict | None:
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "SELECT pk, store FROM vector_stores WHERE id = $1 FOR UPDATE", vector_store_id)
            if row is None:
                return None
            text = dumps({**loads(row[1]), **fields})
            await conn.execute("UPDATE vector_stores SET store = $1 WHERE pk = $2", text, row[0])
            return await _vector_store(conn, row[0], text)

    async def delete_vector_store(self, vector_store_id: str) -> bool:
        return await self.pool.fetchval("DELETE FROM vector_stores WHERE id = $1 RETURNING true",
                                        vector_store_id) is not None

    # -- vector store files and batches -----------------------------------------------------------

    async def add_vector_store_files(self, vector_store_id: str, files: list[JSONDict],
                                     batch: JSONDict | None = None) -> bool:
        async with self.pool.acquire() as conn, conn.transaction():
            pk = await conn.fetchval("SELECT pk FROM vector_stores WHERE id = $1 FOR SHARE",
                                     vector_store_id)
            if pk is None:
                return False
            if batch is not None:
                await conn.execute("INSERT INTO vector_store_file_batches"
                                   " (id, vector_store_pk, batch) VALUES ($1, $2, $3)",
                                   batch["id"], pk, dumps(batch))
            # Re-attaching replaces the old row; its chunks go with it by cascade.
            await conn.execute("DELETE FROM vector_store_files WHERE vector_store_pk = $1"
                               " AND file_id = ANY($2::text[])", pk, [f["id"] for f in files])
            await conn.executemany(
                "INSERT INTO vector_store_files (vector_store_pk, file_id, batch_id, status,"
                " usage_bytes, item) VALUES ($1, $2, $3, $4, $5, $6)",
                [(pk, f["id"], batch["id"] if batch else None, f["status"], f["usage_bytes"],
                  dumps(f)) for f in files])
            return True

    async def get_vector_store_file(self, vector_store_id: str,
                                    file_id: str) -> JSONDict | None:
        row = await self.pool.fetchrow(_VSF, vector_store_id, file_id)
        return None if row is None else loads(row[1])

    async def list_vector_store_files(
        self, vector_store_id: str, *, status: str | None, batch_id: str | None,
        after: str | None, limit: int, order: Order,
    ) -> ItemPage | None:
        async with self.pool.acquire() as conn:
            pk = await conn.fetchval("SELECT pk FROM vector_stores WHERE id = $1",
                                     vector_store_id)
            if pk is None:
                return None
            cursor = None
            if after is not None:
                cursor = await conn.fetchval("SELECT pk FROM vector_store_files WHERE"
                                             " vector_store_pk = $1 AND file_id = $2", pk, after)
                if cursor is None:
                    return ItemPage([], False)
            rows = await _page_at(
                conn, "vector_store_files", "item",
                "vector_store_pk = $1 AND ($2::text IS NULL OR status = $2)"
                " AND ($3::text IS NULL OR batch_id = $3)", [pk, status, batch_id],
                cursor, limit + 1, order)
        return ItemPage([loads(row[0]) for row in rows[:limit]], len(rows) > limit)

    async def update_vector_store_file(self, vector_store_id: str, file_id: str,
                                       fields: JSONDict) -> JSONDict | None:
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(_VSF + " FOR UPDATE OF f", vector_store_id, file_id)
            if row is None:
                return None
            item = {**loads(row[1]), **fields}
            await _write_item(conn, row[0], item)
            return item

    async def finish_vector_store_file(self, vector_store_id: str, file_id: str,
                                       fields: JSONDict, chunks: list[NewChunk]) -> bool:
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(_VSF + " FOR UPDATE OF f", vector_store_id, file_id)
            if row is None or loads(row[1])["status"] != "in_progress":
                return False
            await conn.execute("DELETE FROM file_chunks WHERE vector_store_file_pk = $1", row[0])
            await conn.executemany(
                "INSERT INTO file_chunks (vector_store_file_pk, position, text, embedding)"
                " VALUES ($1, $2, $3, $4)",
                [(row[0], n, c.text, _floats(c.embedding)) for n, c in enumerate(chunks)])
            await _write_item(conn, row[0], {**loads(row[1]), **fields})
            return True

    async def delete_vector_store_file(self, vector_store_id: str, file_id: str) -> bool:
        return await self.pool.fetchval(
            "DELETE FROM vector_store_files WHERE file_id = $1 AND vector_store_pk ="
            " (SELECT pk FROM vector_stores WHERE id = $2) RETURNING true",
            file_id, vector_store_id) is not None

    async def pending_vector_store_files(self) -> list[tuple[str, str]]:
        rows = await self.pool.fetch(
            "SELECT s.id, f.file_id FROM vector_store_files AS f JOIN vector_stores AS s"
            " ON s.pk = f.vector_store_pk WHERE f.status = 'in_progress' ORDER BY f.pk")
        return [(row[0], row[1]) for row in rows]

    async def get_file_batch(self, vector_store_id: str, batch_id: str) -> JSONDict | None:
        async with self.pool.acquire() as conn:
            return await _batch(conn, vector_store_id, batch_id)

    async def cancel_file_batch(self, vector_store_id: str, batch_id: str) -> JSONDict | None:
        async with self.pool.acquire() as conn, conn.transaction():
            if await _batch(conn, vector_store_id, batch_id) is None:
                return None
            await conn.execute("UPDATE vector_store_file_batches SET cancelled = true"
                               " WHERE id = $1", batch_id)
            pending = await conn.fetch(
                "SELECT pk, item FROM vector_store_files WHERE batch_id = $1"
                " AND status = 'in_progress' FOR UPDATE", batch_id)
            for row in pending:
                await _write_item(conn, row[0], {**loads(row[1]), "status": "cancelled"})
            return await _batch(conn, vector_store_id, batch_id)

    # -- search ----------------------------------------------------------------------------------

    async def searchable_files(self, vector_store_ids: list[str]) -> list[SearchableFile]:
        rows = await self.pool.fetch(_SEARCHABLE, vector_store_ids)
        return [SearchableFile(row[0], row[1], row[2], row[3],
                               loads(row[4]).get("attributes") or {}) for row in rows]

    async def text_search(self, keys: list[int], terms: list[str],
                          limit: int) -> list[ChunkHit]:
        # Words only, ORed: any query text is a valid tsquery this way.
        words = [w for term in terms for w in _WORD.findall(term)]
        if not keys or not words:
            return []
        rows = await self.pool.fetch(_TEXT_SEARCH, keys, " | ".join(words), limit)
        return [ChunkHit(row[0], row[1], row[2]) for row in rows]

    async def vector_search(self, keys: list[int], embedding: Matrix,
                            limit: int) -> list[ChunkHit]:
        if not keys:
            return []
        rows = await self.pool.fetch(_VECTOR_SEARCH, keys, to_floats(embedding), limit)
        return [ChunkHit(row[0], row[1], row[2]) for row in rows]


def _floats(blob: bytes) -> list[float]:
    return to_floats(from_blobs([blob])[0])


async def _write_item(conn: Conn, pk: int, item: JSONDict) -> None:
    await conn.execute("UPDATE vector_store_files SET status = $1, usage_bytes = $2, item = $3"
                       " WHERE pk = $4", item["status"], item.get("usage_bytes", 0), dumps(item),
                       pk)


async def _vector_store(conn: Conn, pk: int, text: str) -> JSONDict:
    rows = await conn.fetch(_COUNTS, pk)
    return vector_store_object(loads(text), {row[0]: row[1] for row in rows},
                               sum(int(row[2]) for row in rows))


async def _batch(conn: Conn, vector_store_id: str, batch_id: str) -> JSONDict | None:
    row = await conn.fetchrow(
        "SELECT b.batch, b.cancelled FROM vector_store_file_batches AS b JOIN vector_stores AS s"
        " ON s.pk = b.vector_store_pk WHERE s.id = $1 AND b.id = $2", vector_store_id, batch_id)
    if row is None:
        return None
    counts = await conn.fetch("SELECT status, count(*) FROM vector_store_files"
                              " WHERE batch_id = $1 GROUP BY status", batch_id)
    return batch_object(loads(row[0]), {r[0]: r[1] for r in counts}, bool(row[1]))


async def _page(conn: Conn | asyncpg.Pool, table: str, columns: str, where: str,
                args: list[Any], after: str | None, limit: int, order: Order) -> list[Any]:
    cursor = None
    if after is not None:
        cursor = await conn.fetchval(f"SELECT pk FROM {table} WHERE id = $1", after)
        if cursor is None:  # an unknown cursor: nothing comes after it
            return []
    return await _page_at(conn, table, columns, where, args, cursor, limit, order)


async def _page_at(conn: Conn | asyncpg.Pool, table: str, columns: str, where: str,
                   args: list[Any], cursor: int | None, limit: int, order: Order) -> list[Any]:
    if cursor is None:
        cursor = -1 if order == "asc" else 2**63 - 1
    cmp, direction = (">", "ASC") if order == "asc" else ("<", "DESC")
    n = len(args)
    return list(await conn.fetch(
        f"SELECT {columns} FROM {table} WHERE {where} AND pk {cmp} ${n + 1}"
        f" ORDER BY pk {direction} LIMIT ${n + 2}", *args, cursor, limit))
