"""Code interpreter containers on SQLite (mixed into `SQLiteStore`)."""

from __future__ import annotations

import abc
import dataclasses
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from responsa.store.base import ItemPage, Order
from responsa.store.containers import (
    ContainerFileRow,
    ContainerRow,
    container_file_object,
    container_object,
)

T = TypeVar("T")

_CONTAINER = "id, name, created_at, last_active_at, expires_minutes, memory_limit, status"
_FILE = "f.id, c.id, f.path, f.bytes, f.created_at, f.source, f.stamp"
_FILES = "container_files AS f JOIN containers AS c ON c.pk = f.container_pk"

# A file written again keeps its id and `created_at`.
_PUT_FILE = """
INSERT INTO container_files (id, container_pk, path, bytes, created_at, source, stamp)
SELECT ?, pk, ?, ?, ?, ?, ? FROM containers WHERE id = ?
ON CONFLICT (container_pk, path) DO UPDATE
SET bytes = excluded.bytes, source = excluded.source, stamp = excluded.stamp
RETURNING id, created_at
"""


class SQLiteContainers(abc.ABC):
    """The container half of SQLiteStore, which supplies `_run`."""

    @abc.abstractmethod
    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` on the store's database thread."""

    async def create_container(self, container: ContainerRow) -> None:
        c = container
        await self._run(lambda conn: conn.execute(
            f"INSERT INTO containers ({_CONTAINER}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (c.id, c.name, c.created_at, c.last_active_at, c.expires_minutes, c.memory_limit,
             c.status)))

    async def get_container(self, container_id: str) -> ContainerRow | None:
        row = await self._run(lambda conn: conn.execute(
            f"SELECT {_CONTAINER} FROM containers WHERE id = ?", (container_id,)).fetchone())
        return None if row is None else ContainerRow(*row)

    async def list_containers(self, *, after: str | None, limit: int, order: Order,
                              name: str | None = None) -> ItemPage:
        rows = await self._run(lambda conn: _page(
            conn, f"SELECT {_CONTAINER} FROM containers WHERE (? IS NULL OR name = ?) AND",
            (name, name), "containers", "pk", after, limit + 1, order))
        return ItemPage([container_object(ContainerRow(*r)) for r in rows[:limit]],
                        has_more=len(rows) > limit)

    async def touch_container(self, container_id: str, at: int) -> None:
        await self._run(lambda conn: conn.execute(
            "UPDATE containers SET last_active_at = max(last_active_at, ?) WHERE id = ?",
            (at, container_id)))

    async def set_container_status(self, container_id: str, status: str) -> None:
        await self._run(lambda conn: conn.execute(
            "UPDATE containers SET status = ? WHERE id = ?", (status, container_id)))

    async def due_containers(self, now: int) -> list[str]:
        rows = await self._run(lambda conn: conn.execute(
            "SELECT id FROM containers WHERE status = 'running'"
            " AND last_active_at + expires_minutes * 60 <= ?", (now,)).fetchall())
        return [row[0] for row in rows]

    async def delete_container(self, container_id: str) -> bool:
        # Its file rows go by ON DELETE CASCADE.
        return await self._run(lambda conn: conn.execute(
            "DELETE FROM containers WHERE id = ? RETURNING pk", (container_id,)
        ).fetchone() is not None)

    async def put_container_file(self, file: ContainerFileRow) -> ContainerFileRow:
        f = file
        row = await self._run(lambda conn: conn.execute(
            _PUT_FILE, (f.id, f.path, f.bytes, f.created_at, f.source, f.stamp, f.container_id)
        ).fetchone())
        if row is None:
            raise KeyError(file.container_id)
        return dataclasses.replace(file, id=row[0], created_at=row[1])

    async def get_container_file(self, container_id: str,
                                 file_id: str) -> ContainerFileRow | None:
        row = await self._run(lambda conn: conn.execute(
            f"SELECT {_FILE} FROM {_FILES} WHERE c.id = ? AND f.id = ?",
            (container_id, file_id)).fetchone())
        return None if row is None else ContainerFileRow(*row)

    async def list_container_files(self, container_id: str, *, after: str | None, limit: int,
                                   order: Order) -> ItemPage:
        rows = await self._run(lambda conn: _page(
            conn, f"SELECT {_FILE} FROM {_FILES} WHERE c.id = ? AND", (container_id,),
            "container_files", "f.pk", after, limit + 1, order))
        return ItemPage([container_file_object(ContainerFileRow(*r)) for r in rows[:limit]],
                        has_more=len(rows) > limit)

    async def container_files(self, container_id: str) -> list[ContainerFileRow]:
        rows = await self._run(lambda conn: conn.execute(
            f"SELECT {_FILE} FROM {_FILES} WHERE c.id = ? ORDER BY f.pk",
            (container_id,)).fetchall())
        return [ContainerFileRow(*row) for row in rows]

    async def delete_container_files(self, container_id: str, file_ids: list[str]) -> int:
        if not file_ids:
            return 0
        marks = ",".join("?" * len(file_ids))
        rows = await self._run(lambda conn: conn.execute(
            f"DELETE FROM container_files WHERE id IN ({marks}) AND container_pk ="
            " (SELECT pk FROM containers WHERE id = ?) RETURNING 1",
            (*file_ids, container_id)).fetchall())
        return len(rows)


def _page(conn: sqlite3.Connection, select: str, args: tuple[Any, ...], table: str, key: str,
          after: str | None, limit: int, order: Order) -> list[tuple[Any, ...]]:
    """`select` (ending in `WHERE … AND`) keyset-paged on `key` after the row with id `after`."""
    if after is None:
        cursor = -1 if order == "asc" else 2**63 - 1
    else:
        found = conn.execute(f"SELECT pk FROM {table} WHERE id = ?", (after,)).fetchone()
        if found is None:  # an unknown cursor: nothing comes after it
            return []
        cursor = int(found[0])
    compare, direction = (">", "ASC") if order == "asc" else ("<", "DESC")
    return conn.execute(f"{select} {key} {compare} ? ORDER BY {key} {direction} LIMIT ?",
                        (*args, cursor, limit)).fetchall()
