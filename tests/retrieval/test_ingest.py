"""Background ingestion on a real SQLite store: files finish `completed` or `failed`, files left
`in_progress` by a stopped server are taken up on start, and a cancelled file stays cancelled."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from responsa.retrieval.blobs import FileBlobs
from responsa.retrieval.ingest import Ingestor
from responsa.retrieval.vectors import Matrix
from responsa.store.sqlite import SQLiteStore


class GatedEmbedder:
    """Embeds once the test opens the gate: the test decides when ingestion can finish."""

    name = "test/gated"

    def __init__(self) -> None:
        self.gate = asyncio.Event()

    async def embed(self, texts: list[str]) -> Matrix:
        await self.gate.wait()
        return np.ones((len(texts), 4), np.float32) / 2

    async def aclose(self) -> None:
        return None


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "db.sqlite")
    await store.open()
    await store.create_vector_store({"id": "vs_1", "created_at": 1})
    yield store
    await store.close()


async def attach(store: SQLiteStore, blobs: FileBlobs, file_id: str, data: bytes) -> None:
    await blobs.write(file_id, data)
    await store.create_file({"id": file_id, "purpose": "assistants", "filename": f"{file_id}.txt"})
    await store.add_vector_store_files("vs_1", [{"id": file_id, "status": "in_progress",
                                                 "usage_bytes": 0, "chunking_strategy": None}])


async def settled(store: SQLiteStore, file_id: str) -> str:
    for _ in range(200):
        item = await store.get_vector_store_file("vs_1", file_id)
        assert item is not None
        if item["status"] != "in_progress":
            return str(item["status"])
        await asyncio.sleep(0.01)
    raise AssertionError("still in progress")


async def test_resume_finish_fail_and_cancel(store: SQLiteStore, tmp_path: Path) -> None:
    blobs = FileBlobs(tmp_path / "files")
    embedder = GatedEmbedder()
    for file_id, data in (("file-a", b"alpha text"), ("file-b", b"\x00binary"),
                          ("file-c", b"gamma text")):
        await attach(store, blobs, file_id, data)
    ingestor = Ingestor(store, embedder, blobs)
    await ingestor.resume()  # what a restarted server does: all three were left in_progress
    assert await settled(store, "file-b") == "failed"  # no embedding needed to fail
    await store.update_vector_store_file("vs_1", "file-c", {"status": "cancelled"})
    embedder.gate.set()
    assert await settled(store, "file-a") == "completed"
    await ingestor.aclose()
    a = await store.get_vector_store_file("vs_1", "file-a")
    assert a is not None and a["usage_bytes"] == len(b"alpha text") + 16
    c = await store.get_vector_store_file("vs_1", "file-c")
    assert c is not None and c["status"] == "cancelled"  # finishing did not overwrite it
    keys = [f.key for f in await store.searchable_files(["vs_1"])]
    assert [hit.text for hit in await store.text_search(keys, ["gamma", "alpha"], 5)] == [
        "alpha text"]
