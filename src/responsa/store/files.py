"""Files, vector stores and their chunks in the store: the protocol, the records searches use,
and the objects both stores build.

Files, vector stores, vector store files and batches are kept as their JSON objects. What a
vector store or batch says about its files (`file_counts`, `usage_bytes`, `status`) is counted
from the vector store files when read, so it can never drift from them. A vector store file's
chunks are replaced whole when its ingestion finishes; searches are scoped by the integer `key`
of the vector store files they may look in (after the attribute filters, retrieval/filters.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from responsa.retrieval.vectors import Matrix
    from responsa.store.base import ItemPage, Order

JSONDict = dict[str, Any]
STATUSES = ("in_progress", "completed", "cancelled", "failed")


@dataclass(frozen=True, slots=True)
class SearchableFile:
    key: int  # scopes text_search / vector_search
    vector_store_id: str
    file_id: str
    filename: str
    attributes: JSONDict


@dataclass(frozen=True, slots=True)
class ChunkHit:
    key: int  # the SearchableFile it belongs to
    position: int  # the chunk's place in its file
    text: str


@dataclass(frozen=True, slots=True)
class NewChunk:
    text: str
    embedding: bytes  # float32 little-endian (retrieval/vectors.py)


class FileStore(Protocol):
    # -- files -------------------------------------------------------------------------------
    async def create_file(self, file: JSONDict) -> None:
        """Insert the File object (its `id`, `purpose`, …)."""

    async def get_file(self, file_id: str) -> JSONDict | None: ...

    async def list_files(self, *, purpose: str | None, after: str | None, limit: int,
                         order: Order) -> ItemPage:
        """A page of files in upload order, of one `purpose` when given."""

    async def delete_file(self, file_id: str) -> bool:
        """Delete the file and remove it from every vector store; False if it did not exist."""

    async def delete_expired_files(self, now: int) -> list[str]:
        """Delete, as `delete_file` does, every file whose `expires_at` is at or before `now`;
        their ids."""

    # -- vector stores -------------------------------------------------------------------------
    async def create_vector_store(self, store: JSONDict) -> None:
        """Insert the stored fields of a vector store (see `vector_store_object`)."""

    async def get_vector_store(self, vector_store_id: str) -> JSONDict | None:
        """The VectorStore object, counts included."""

    async def list_vector_stores(self, *, after: str | None, limit: int,
                                 order: Order) -> ItemPage: ...

    async def update_vector_store(self, vector_store_id: str,
                                  fields: JSONDict) -> JSONDict | None:
        """Merge `fields` into the stored ones; the VectorStore object, or None."""

    async def delete_vector_store(self, vector_store_id: str) -> bool: ...

    # -- vector store files and batches ------------------------------------------------------------
    async def add_vector_store_files(self, vector_store_id: str, files: list[JSONDict],
                                     batch: JSONDict | None = None) -> bool:
        """Attach VectorStoreFile objects (re-attaching one replaces it and drops its chunks),
        with the batch that adds them when given; False if the vector store is not stored."""

    async def get_vector_store_file(self, vector_store_id: str,
                                    file_id: str) -> JSONDict | None: ...

    async def list_vector_store_files(
        self, vector_store_id: str, *, status: str | None, batch_id: str | None,
        after: str | None, limit: int, order: Order,
    ) -> ItemPage | None:
        """A page of the vector store's files; None if the vector store is not stored."""

    async def update_vector_store_file(self, vector_store_id: str, file_id: str,
                                       fields: JSONDict) -> JSONDict | None:
        """Merge `fields` into the object; the updated object, or None if not attached."""

    async def finish_vector_store_file(self, vector_store_id: str, file_id: str,
                                       fields: JSONDict, chunks: list[NewChunk]) -> bool:
        """Replace the file's chunks and merge `fields` (its final status), atomically, only
        while it is still `in_progress`; False (changing nothing) otherwise."""

    async def delete_vector_store_file(self, vector_store_id: str, file_id: str) -> bool: ...

    async def pending_vector_store_files(self) -> list[tuple[str, str]]:
        """(vector store id, file id) of every file still `in_progress`."""

    async def get_file_batch(self, vector_store_id: str, batch_id: str) -> JSONDict | None:
        """The VectorStoreFileBatch object, counts included."""

    async def cancel_file_batch(self, vector_store_id: str, batch_id: str) -> JSONDict | None:
        """Mark the batch cancelled and its files still `in_progress` `cancelled`."""

    # -- search ------------------------------------------------------------------------------------
    async def searchable_files(self, vector_store_ids: list[str]) -> list[SearchableFile]:
        """The `completed` files of those vector stores."""

    async def text_search(self, keys: list[int], terms: list[str],
                          limit: int) -> list[ChunkHit]:
        """Chunks of those files matching any of `terms`, best full-text match first."""

    async def vector_search(self, keys: list[int], embedding: Matrix,
                            limit: int) -> list[ChunkHit]:
        """Chunks of those files nearest to the unit vector `embedding` (cosine), nearest
        first; chunks embedded with another dimension are left out."""


# -- the objects ------------------------------------------------------------------------------


def expiry_fields(expires_after: JSONDict | None, last_active_at: int) -> JSONDict:
    """`expires_after` and the `expires_at` it sets, counted from the last activity."""
    expires_at = None if expires_after is None else last_active_at + expires_after["days"] * 86_400
    return {"expires_after": expires_after, "expires_at": expires_at}


def counts_object(counts: dict[str, int]) -> JSONDict:
    """`file_counts` from {status: count}."""
    found = {status: int(counts.get(status, 0)) for status in STATUSES}
    return {**found, "total": sum(found.values())}


def vector_store_object(stored: JSONDict, counts: dict[str, int], usage_bytes: int,
                        now: float | None = None) -> JSONDict:
    expires_at = stored.get("expires_at")
    if expires_at is not None and expires_at <= (now or time.time()):
        status = "expired"
    elif counts.get("in_progress"):
        status = "in_progress"
    else:
        status = "completed"
    return {"id": stored["id"], "object": "vector_store", "created_at": stored["created_at"],
            "name": stored.get("name") or "", "usage_bytes": int(usage_bytes),
            "file_counts": counts_object(counts), "status": status,
            "expires_after": stored.get("expires_after"), "expires_at": expires_at,
            "last_active_at": stored.get("last_active_at"),
            "metadata": stored.get("metadata") or {}}


def batch_object(stored: JSONDict, counts: dict[str, int], cancelled: bool) -> JSONDict:
    if cancelled:
        status = "cancelled"
    elif counts.get("in_progress"):
        status = "in_progress"
    elif counts.get("completed") or not counts.get("failed"):
        status = "completed"
    else:
        status = "failed"
    return {**stored, "status": status, "file_counts": counts_object(counts)}
