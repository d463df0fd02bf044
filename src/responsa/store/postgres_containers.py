"""Code interpreter containers on PostgreSQL (mixed into `PostgresStore`). Every method is one
round trip."""

from __future__ import annotations

import abc
import dataclasses

import asyncpg

from responsa.store.base import ItemPage, Order
from responsa.store.containers import (
    ContainerFileRow,
    ContainerRow,
    container_file_object,
    container_object,
)

_CONTAINER = "id, name, created_at, last_active_at, expires_minutes, memory_limit, status"
_FILE = "f.id, c.id, f.path, f.bytes, f.created_at, f.source, f.stamp"
_FILES = "container_files AS f JOIN containers AS c ON c.pk = f.container_pk"

# An unknown `after` makes the cursor NULL, so the page is empty.
_CURSOR = """COALESCE((SELECT a.pk FROM {table} AS a WHERE a.id = {after}),
                      CASE WHEN {after}::text IS NULL THEN {start} END)"""


def _paged(select: str, table: str, key: str, after: str, limit: str) -> dict[Order, str]:
    """`select` (ending in `WHERE … AND`) keyset-paged on `key`, per order."""
    def query(compare: str, start: int, direction: str) -> str:
        cursor = _CURSOR.format(table=table, after=after, start=start)
        return f"{select} {key} {compare} {cursor} ORDER BY {key} {direction} LIMIT {limit}"
    return {"asc": query(">", -1, "ASC"), "desc": query("<", 2**63 - 1, "DESC")}


_CONTAINER_PAGES = _paged(
    f"SELECT {_CONTAINER} FROM containers WHERE ($1::text IS NULL OR name = $1) AND",
    "containers", "pk", "$2", "$3")
_FILE_PAGES = _paged(f"SELECT {_FILE} FROM {_FILES} WHERE c.id = $1 AND",
                     "container_files", "f.pk", "$2", "$3")

# A file written again keeps its id and `created_at`.
_PUT_FILE = """
INSERT INTO container_files (id, container_pk, path, bytes, created_at, source, stamp)
SELECT $1, pk, $2, $3, $4, $5, $6 FROM containers WHERE id = $7
ON CONFLICT (container_pk, path) DO UPDATE
SET bytes = excluded.bytes, source = excluded.source, stamp = excluded.stamp
RETURNING id, created_at
"""


class PostgresContainers(abc.ABC):
    """The container half of PostgresStore, which supplies `pool`."""

    @property
    @abc.abstractmethod
    def pool(self) -> asyncpg.Pool:
        """The store's connection pool."""

    async def create_container(self, container: ContainerRow) -> None:
        c = container
        await self.pool.execute(
            f"INSERT INTO containers ({_CONTAINER}) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            c.id, c.name, c.created_at, c.last_active_at, c.expires_minutes, c.memory_limit,
            c.status)

    async def get_container(self, container_id: str) -> ContainerRow | None:
        row = await self.pool.fetchrow(
            f"SELECT {_CONTAINER} FROM containers WHERE id = $1", container_id)
        return None if row is None else ContainerRow(*row)

    async def list_containers(self, *, after: str | None, limit: int, order: Order,
                              name: str | None = None) -> ItemPage:
        rows = await self.pool.fetch(_CONTAINER_PAGES[order], name, after, limit + 1)
        return ItemPage([container_object(ContainerRow(*r)) for r in rows[:limit]],
                        has_more=len(rows) > limit)

    async def touch_container(self, container_id: str, at: int) -> None:
        await self.pool.execute(
            "UPDATE containers SET last_active_at = GREATEST(last_active_at, $2) WHERE id = $1",
            container_id, at)

    async def set_container_status(self, container_id: str, status: str) -> None:
        await self.pool.execute("UPDATE containers SET status = $2 WHERE id = $1",
                                container_id, status)

    async def due_containers(self, now: int) -> list[str]:
        rows = await self.pool.fetch(
            "SELECT id FROM containers WHERE status = 'running'"
            " AND last_active_at + expires_minutes * 60 <= $1", now)
        return [row[0] for row in rows]

    async def delete_container(self, container_id: str) -> bool:
        # Its file rows go by ON DELETE CASCADE.
        deleted = await self.pool.fetchval(
            "DELETE FROM containers WHERE id = $1 RETURNING true", container_id)
        return deleted is not None

    async def put_container_file(self, file: ContainerFileRow) -> ContainerFileRow:
        f = file
        row = await self.pool.fetchrow(_PUT_FILE, f.id, f.path, f.bytes, f.created_at, f.source,
                                       f.stamp, f.container_id)
        if row is None:
            raise KeyError(file.container_id)
        return dataclasses.replace(file, id=row[0], created_at=row[1])

    async def get_container_file(self, container_id: str,
                                 file_id: str) -> ContainerFileRow | None:
        row = await self.pool.fetchrow(
            f"SELECT {_FILE} FROM {_FILES} WHERE c.id = $1 AND f.id = $2", container_id, file_id)
        return None if row is None else ContainerFileRow(*row)

    async def list_container_files(self, container_id: str, *, after: str | None, limit: int,
                                   order: Order) -> ItemPage:
        rows = await self.pool.fetch(_FILE_PAGES[order], container_id, after,
                                     limit + 1)
        return ItemPage([container_file_object(ContainerFileRow(*r)) for r in rows[:limit]],
                        has_more=len(rows) > limit)

    async def container_files(self, container_id: str) -> list[ContainerFileRow]:
        rows = await self.pool.fetch(
            f"SELECT {_FILE} FROM {_FILES} WHERE c.id = $1 ORDER BY f.pk", container_id)
        return [ContainerFileRow(*row) for row in rows]

    async def delete_container_files(self, container_id: str, file_ids: list[str]) -> int:
        if not file_ids:
            return 0
        rows = await self.pool.fetch(
            "DELETE FROM container_files WHERE id = ANY($2::text[]) AND container_pk ="
            " (SELECT pk FROM containers WHERE id = $1) RETURNING 1", container_id, file_ids)
        return len(rows)
