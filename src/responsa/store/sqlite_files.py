"""Files, vector stores and chunk search on SQLite (mixed into `SQLiteStore`).

Full-text search is FTS5 (porter stemming, bm25 ranking); vector search is an exact scan of the
scoped chunks' embeddings with numpy, fine for the sizes one SQLite file serves.
"""

from __future__ import annotations

import abc
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

from responsa.retrieval.vectors import Matrix, from_blobs
from responsa.store._rows import dumps, loads
from responsa.store.base import ItemPage, JSONDict, Order
from responsa.store.files import (
    ChunkHit,
    NewChunk,
    SearchableFile,
    batch_object,
    vector_store_object,
)
from responsa.store.migrations import rollback

T = TypeVar("T")

_COUNTS = """
SELECT status, count(*), coalesce(sum(usage_bytes), 0) FROM vector_store_files
WHERE vector_store_pk = ? GROUP BY status
"""
_BATCH_COUNTS = "SELECT status, count(*) FROM vector_store_files WHERE batch_id = ? GROUP BY status"
_VSF = """
SELECT f.pk, f.item FROM vector_store_files AS f JOIN vector_stores AS s ON s.pk = f.vector_store_pk
WHERE s.id = ? AND f.file_id = ?
"""
_SEARCHABLE = """
SELECT f.pk, s.id, f.file_id, coalesce(json_extract(u.file, '$.filename'), f.file_id),
       json_extract(f.item, '$.attributes')
FROM vector_store_files AS f
JOIN vector_stores AS s ON s.pk = f.vector_store_pk
LEFT JOIN files AS u ON u.id = f.file_id
WHERE s.id IN ({marks}) AND f.status = 'completed'
ORDER BY f.pk
"""


class SQLiteFiles(abc.ABC):
    """The files half of SQLiteStore, which supplies `_run`."""

    @abc.abstractmethod
    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` on the store's database thread."""

    # -- files ---------------------------------------------------------------------------------

    async def create_file(self, file: JSONDict) -> None:
        text = dumps(file)
        await self._run(lambda conn: conn.execute(
            "INSERT INTO files (id, purpose, file) VALUES (?, ?, ?)",
            (file["id"], file["purpose"], text)))

    async def get_file(self, file_id: str) -> JSONDict | None:
        row = await self._run(lambda conn: conn.execute(
            "SELECT file FROM files WHERE id = ?", (file_id,)).fetchone())
        return None if row is None else loads(row[0])

    async def list_files(self, *, purpose: str | None, after: str | None, limit: int,
                         order: Order) -> ItemPage:
        where, args = ("purpose = ?", [purpose]) if purpose else ("1", [])
        rows = await self._run(lambda conn: _page(
            conn, "files", "file", where, args, after, limit + 1, order))
        return ItemPage([loads(row) for row in rows[:limit]], len(rows) > limit)

    async def delete_file(self, file_id: str) -> bool:
        def delete(conn: sqlite3.Connection) -> bool:
            return _atomic(conn, lambda: (
                conn.execute("DELETE FROM vector_store_files WHERE file_id = ?", (file_id,)),
                conn.execute("DELETE FROM files WHERE id = ? RETURNING pk",
                             (file_id,)).fetchone() is not None)[1])
        return await self._run(delete)

    async def delete_expired_files(self, now: int) -> list[str]:
        def delete(conn: sqlite3.Connection) -> list[str]:
            def write() -> list[str]:
                ids = [row[0] for row in conn.execute(
                    "DELETE FROM files WHERE json_extract(file, '$.expires_at') <= ?"
                    " RETURNING id", (now,))]
                conn.executemany("DELETE FROM vector_store_files WHERE file_id = ?",
                                 [(file_id,) for file_id in ids])
                return ids
            return _atomic(conn, write)
        return await self._run(delete)

    # -- vector stores ---------------------------------------------------------------------------

    async def create_vector_store(self, store: JSONDict) -> None:
        text = dumps(store)
        await self._run(lambda conn: conn.execute(
            "INSERT INTO vector_stores (id, store) VALUES (?, ?)", (store["id"], text)))

    async def get_vector_store(self, vector_store_id: str) -> JSONDict | None:
        def get(conn: sqlite3.Connection) -> JSONDict | None:
            row = conn.execute("SELECT pk, store FROM vector_stores WHERE id = ?",
                               (vector_store_id,)).fetchone()
            return None if row is None else _vector_store(conn, row[0], row[1])
        return await self._run(get)

    async def list_vector_stores(self, *, after: str | None, limit: int,
                                 order: Order) -> ItemPage:
        def page(conn: sqlite3.Connection) -> list[JSONDict]:
            rows = _page(conn, "vector_stores", "pk, store", "1", [], after, limit + 1, order)
            return [_vector_store(conn, pk, text) for pk, text in rows]
        found = await self._run(page)
        return ItemPage(found[:limit], len(found) > limit)

    async def update_vector_store(self, vector_store_id: str,
                                  fields: JSONDict) -> JSONDict | None:
        def update(conn: sqlite3.Connection) -> JSONDict | None:
            row = conn.execute("SELECT pk, store FROM vector_stores WHERE id = ?",
                               (vector_store_id,)).fetchone()
            if row is None:
                return None
            text = dumps({**loads(row[1]), **fields})
            conn.execute("UPDATE vector_stores SET store = ? WHERE pk = ?", (text, row[0]))
            return _vector_store(conn, row[0], text)
        return await self._run(update)

    async def delete_vector_store(self, vector_store_id: str) -> bool:
        return await self._run(lambda conn: conn.execute(
            "DELETE FROM vector_stores WHERE id = ? RETURNING pk",
            (vector_store_id,)).fetchone() is not None)

    # -- vector store files and batches -----------------------------------------------------------

    async def add_vector_store_files(self, vector_store_id: str, files: list[JSONDict],
                                     batch: JSONDict | None = None) -> bool:
        rows = [(f["id"], batch["id"] if batch else None, f["status"], f["usage_bytes"],
                 dumps(f)) for f in files]
        batch_text = None if batch is None else dumps(batch)

        def add(conn: sqlite3.Connection) -> bool:
            found = conn.execute("SELECT pk FROM vector_stores WHERE id = ?",
                                 (vector_store_id,)).fetchone()
            if found is None:
                return False

            def write() -> bool:
                if batch is not None:
                    conn.execute("INSERT INTO vector_store_file_batches"
                                 " (id, vector_store_pk, batch) VALUES (?, ?, ?)",
                                 (batch["id"], found[0], batch_text))
                # Re-attaching replaces the old row; its chunks go with it by cascade.
                conn.executemany(
                    "DELETE FROM vector_store_files WHERE vector_store_pk = ? AND file_id = ?",
                    [(found[0], row[0]) for row in rows])
                conn.executemany(
                    "INSERT INTO vector_store_files (vector_store_pk, file_id,"
                    " batch_id, status, usage_bytes, item) VALUES (?, ?, ?, ?, ?, ?)",
                    [(found[0], *row) for row in rows])
                return True
            return _atomic(conn, write)
        return await self._run(add)

    async def get_vector_store_file(self, vector_store_id: str,
                                    file_id: str) -> JSONDict | None:
        row = await self._run(lambda conn: conn.execute(
            _VSF, (vector_store_id, file_id)).fetchone())
        return None if row is None else loads(row[1])

    async def list_vector_store_files(
        self, vector_store_id: str, *, status: str | None, batch_id: str | None,
        after: str | None, limit: int, order: Order,
    ) -> ItemPage | None:
        def page(conn: sqlite3.Connection) -> list[str] | None:
            found = conn.execute("SELECT pk FROM vector_stores WHERE id = ?",
                                 (vector_store_id,)).fetchone()
            if found is None:
                return None
            where, args = "vector_store_pk = ?", [found[0]]
            if status:
                where, args = f"{where} AND status = ?", [*args, status]
            if batch_id:
                where, args = f"{where} AND batch_id = ?", [*args, batch_id]
            cursor = None
            if after is not None:
                row = conn.execute("SELECT pk FROM vector_store_files WHERE vector_store_pk = ?"
                                   " AND file_id = ?", (found[0], after)).fetchone()
                if row is None:
                    return []
                cursor = row[0]
            return _page_at(conn, "vector_store_files", "item", where, args, cursor,
                            limit + 1, order)
        rows = await self._run(page)
        if rows is None:
            return None
        return ItemPage([loads(row) for row in rows[:limit]], len(rows) > limit)

    async def update_vector_store_file(self, vector_store_id: str, file_id: str,
                                       fields: JSONDict) -> JSONDict | None:
        def update(conn: sqlite3.Connection) -> JSONDict | None:
            row = conn.execute(_VSF, (vector_store_id, file_id)).fetchone()
            if row is None:
                return None
            item = {**loads(row[1]), **fields}
            _write_item(conn, row[0], item)
            return item
        return await self._run(update)

    async def finish_vector_store_file(self, vector_store_id: str, file_id: str,
                                       fields: JSONDict, chunks: list[NewChunk]) -> bool:
        def finish(conn: sqlite3.Connection) -> bool:
            def write() -> bool:
                row = conn.execute(_VSF, (vector_store_id, file_id)).fetchone()
                if row is None or loads(row[1])["status"] != "in_progress":
                    return False
                conn.execute("DELETE FROM file_chunks WHERE vector_store_file_pk = ?", (row[0],))
                conn.executemany(
                    "INSERT INTO file_chunks (vector_store_file_pk, position, text, embedding)"
                    " VALUES (?, ?, ?, ?)",
                    [(row[0], n, c.text, c.embedding) for n, c in enumerate(chunks)])
                _write_item(conn, row[0], {**loads(row[1]), **fields})
                return True
            return _atomic(conn, write)
        return await self._run(finish)

    async def delete_vector_store_file(self, vector_store_id: str, file_id: str) -> bool:
        return await self._run(lambda conn: conn.execute(
            "DELETE FROM vector_store_files WHERE file_id = ? AND vector_store_pk ="
            " (SELECT pk FROM vector_stores WHERE id = ?) RETURNING pk",
            (file_id, vector_store_id)).fetchone() is not None)

    async def pending_vector_store_files(self) -> list[tuple[str, str]]:
        rows = await self._run(lambda conn: conn.execute(
            "SELECT s.id, f.file_id FROM vector_store_files AS f JOIN vector_stores AS s"
            " ON s.pk = f.vector_store_pk WHERE f.status = 'in_progress' ORDER BY f.pk").fetchall())
        return [(row[0], row[1]) for row in rows]

    async def get_file_batch(self, vector_store_id: str, batch_id: str) -> JSONDict | None:
        return await self._run(lambda conn: _batch(conn, vector_store_id, batch_id))

    async def cancel_file_batch(self, vector_store_id: str, batch_id: str) -> JSONDict | None:
        def cancel(conn: sqlite3.Connection) -> JSONDict | None:
            def write() -> JSONDict | None:
                if _batch(conn, vector_store_id, batch_id) is None:
                    return None
                conn.execute("UPDATE vector_store_file_batches SET cancelled = 1 WHERE id = ?",
                             (batch_id,))
                pending = conn.execute(
                    "SELECT pk, item FROM vector_store_files WHERE batch_id = ?"
                    " AND status = 'in_progress'", (batch_id,)).fetchall()
                for pk, text in pending:
                    _write_item(conn, pk, {**loads(text), "status": "cancelled"})
                return _batch(conn, vector_store_id, batch_id)
            return _atomic(conn, write)
        return await self._run(cancel)

    # -- search ----------------------------------------------------------------------------------

    async def searchable_files(self, vector_store_ids: list[str]) -> list[SearchableFile]:
        if not vector_store_ids:
            return []
        query = _SEARCHABLE.format(marks=",".join("?" * len(vector_store_ids)))
        rows = await self._run(lambda conn: conn.execute(query, vector_store_ids).fetchall())
        return [SearchableFile(row[0], row[1], row[2], row[3], loads(row[4]) if row[4] else {})
                for row in rows]

    async def text_search(self, keys: list[int], terms: list[str],
                          limit: int) -> list[ChunkHit]:
        words = [t.replace('"', '""') for t in terms if t.strip()]
        if not keys or not words:
            return []
        match = " OR ".join(f'"{word}"' for word in words)
        marks = ",".join("?" * len(keys))
        rows = await self._run(lambda conn: conn.execute(
            "SELECT c.vector_store_file_pk, c.position, c.text FROM file_chunks_fts AS t"
            " JOIN file_chunks AS c ON c.pk = t.rowid"
            f" WHERE file_chunks_fts MATCH ? AND c.vector_store_file_pk IN ({marks})"
            " ORDER BY bm25(file_chunks_fts) LIMIT ?", (match, *keys, limit)).fetchall())
        return [ChunkHit(row[0], row[1], row[2]) for row in rows]

    async def vector_search(self, keys: list[int], embedding: Matrix,
                            limit: int) -> list[ChunkHit]:
        if not keys:
            return []
        marks = ",".join("?" * len(keys))
        size = embedding.size * 4
        rows = await self._run(lambda conn: conn.execute(
            "SELECT vector_store_file_pk, position, text, embedding FROM file_chunks"
            f" WHERE vector_store_file_pk IN ({marks}) AND length(embedding) = ?",
            (*keys, size)).fetchall())
        if not rows:
            return []
        scores = from_blobs([row[3] for row in rows]) @ embedding.astype(np.float32)
        best = np.argsort(-scores, kind="stable")[:limit]
        return [ChunkHit(rows[i][0], rows[i][1], rows[i][2]) for i in best]


def _atomic(conn: sqlite3.Connection, work: Callable[[], T]) -> T:
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = work()
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise
    return result


def _write_item(conn: sqlite3.Connection, pk: int, item: JSONDict) -> None:
    conn.execute("UPDATE vector_store_files SET status = ?, usage_bytes = ?, item = ?"
                 " WHERE pk = ?", (item["status"], item.get("usage_bytes", 0), dumps(item), pk))


def _vector_store(conn: sqlite3.Connection, pk: int, text: str) -> JSONDict:
    counts: dict[str, int] = {}
    usage = 0
    for status, count, size in conn.execute(_COUNTS, (pk,)):
        counts[status] = count
        usage += size
    return vector_store_object(loads(text), counts, usage)


def _batch(conn: sqlite3.Connection, vector_store_id: str, batch_id: str) -> JSONDict | None:
    row = conn.execute(
        "SELECT b.batch, b.cancelled FROM vector_store_file_batches AS b JOIN vector_stores AS s"
        " ON s.pk = b.vector_store_pk WHERE s.id = ? AND b.id = ?",
        (vector_store_id, batch_id)).fetchone()
    if row is None:
        return None
    counts = dict(conn.execute(_BATCH_COUNTS, (batch_id,)).fetchall())
    return batch_object(loads(row[0]), counts, bool(row[1]))


def _page(conn: sqlite3.Connection, table: str, columns: str, where: str, args: Sequence[Any],
          after: str | None, limit: int, order: Order) -> list[Any]:
    cursor = None
    if after is not None:
        found = conn.execute(f"SELECT pk FROM {table} WHERE id = ?", (after,)).fetchone()
        if found is None:  # an unknown cursor: nothing comes after it
            return []
        cursor = found[0]
    return _page_at(conn, table, columns, where, args, cursor, limit, order)


def _page_at(conn: sqlite3.Connection, table: str, columns: str, where: str,
             args: Sequence[Any], cursor: int | None, limit: int, order: Order) -> list[Any]:
    if cursor is None:
        cursor = -1 if order == "asc" else 2**63 - 1
    cmp, direction = (">", "ASC") if order == "asc" else ("<", "DESC")
    rows = conn.execute(
        f"SELECT {columns} FROM {table} WHERE {where} AND pk {cmp} ? ORDER BY pk {direction}"
        " LIMIT ?", (*args, cursor, limit)).fetchall()
    return [row if len(row) > 1 else row[0] for row in rows]
