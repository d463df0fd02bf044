"""Code interpreter containers in the store: the protocol, and the objects both stores build.

A container (`cntr_…`) is a row; its files (`cfile_…`) are rows naming a path under
/mnt/data, their bytes live in the container's folder on disk (responsa/sandbox/folder.py). A
file's `stamp` (size and modification time, opaque here) tells a new version the code wrote from
the one already recorded.

Expiry is `expires_minutes` after `last_active_at`; the service marks such containers `expired`
(responsa/sandbox/containers.py), the store only answers which ones are due.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from responsa.store.base import ItemPage, Order

JSONDict = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ContainerRow:
    id: str
    name: str
    created_at: int
    last_active_at: int
    expires_minutes: int
    memory_limit: str
    status: str  # "running" or "expired"


@dataclass(frozen=True, slots=True)
class ContainerFileRow:
    id: str
    container_id: str
    path: str  # absolute, under /mnt/data
    bytes: int
    created_at: int
    source: str  # "user" (uploaded) or "assistant" (written by the code)
    stamp: str


class ContainerStore(Protocol):
    async def create_container(self, container: ContainerRow) -> None: ...

    async def get_container(self, container_id: str) -> ContainerRow | None: ...

    async def list_containers(self, *, after: str | None, limit: int, order: Order,
                              name: str | None = None) -> ItemPage:
        """A page of Container objects in creation order, only those called `name` if given.
        `after` is a container id (an unknown one gives an empty page)."""

    async def touch_container(self, container_id: str, at: int) -> None:
        """Set `last_active_at` (a running container's idle time starts again)."""

    async def set_container_status(self, container_id: str, status: str) -> None: ...

    async def due_containers(self, now: int) -> list[str]:
        """Running containers whose idle time is past their expiry."""

    async def delete_container(self, container_id: str) -> bool:
        """Delete the container with its file rows; False if it did not exist."""

    async def put_container_file(self, file: ContainerFileRow) -> ContainerFileRow:
        """Record a file; a file already at that path keeps its id and `created_at` and takes
        the new size, source and stamp. Returns the stored row."""

    async def get_container_file(self, container_id: str,
                                 file_id: str) -> ContainerFileRow | None: ...

    async def list_container_files(self, container_id: str, *, after: str | None, limit: int,
                                   order: Order) -> ItemPage:
        """A page of Container File objects in creation order."""

    async def container_files(self, container_id: str) -> list[ContainerFileRow]:
        """All of the container's files, oldest first."""

    async def delete_container_files(self, container_id: str, file_ids: list[str]) -> int:
        """Delete those file rows; how many existed."""


def container_object(row: ContainerRow) -> JSONDict:
    return {"id": row.id, "object": "container", "created_at": row.created_at,
            "status": row.status,
            "expires_after": {"anchor": "last_active_at", "minutes": row.expires_minutes},
            "last_active_at": row.last_active_at, "memory_limit": row.memory_limit,
            "name": row.name, "network_policy": {"type": "disabled"}}


def container_file_object(row: ContainerFileRow) -> JSONDict:
    return {"id": row.id, "object": "container.file", "bytes": row.bytes,
            "container_id": row.container_id, "created_at": row.created_at, "path": row.path,
            "source": row.source}
