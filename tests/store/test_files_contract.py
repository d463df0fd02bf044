"""The store contract for files, vector stores and chunk search: SQLite and PostgreSQL."""

from __future__ import annotations

import numpy as np

from responsa.retrieval.vectors import normalize, to_blob
from responsa.store.base import JSONDict, Store
from responsa.store.files import NewChunk


def file(file_id: str, purpose: str = "assistants", filename: str = "a.txt") -> JSONDict:
    return {"id": file_id, "object": "file", "bytes": 3, "created_at": 1, "filename": filename,
            "purpose": purpose, "status": "processed", "expires_at": None,
            "status_details": None}


def vs_file(file_id: str, status: str = "in_progress", **extra: object) -> JSONDict:
    return {"id": file_id, "object": "vector_store.file", "usage_bytes": 0, "created_at": 2,
            "vector_store_id": "vs_1", "status": status, "last_error": None,
            "chunking_strategy": None, "attributes": {}, **extra}


def vector(*values: float) -> bytes:
    return to_blob(normalize(np.array([values], dtype=np.float32))[0])


async def test_files_crud_and_pages(store: Store) -> None:
    for n in range(5):
        await store.create_file(file(f"file_{n}", "user_data" if n % 2 else "assistants"))
    assert await store.get_file("file_3") == file("file_3", "user_data")
    assert await store.get_file("file_x") is None
    page = await store.list_files(purpose=None, after=None, limit=2, order="desc")
    assert [f["id"] for f in page.data] == ["file_4", "file_3"] and page.has_more
    page = await store.list_files(purpose=None, after="file_3", limit=10, order="desc")
    assert [f["id"] for f in page.data] == ["file_2", "file_1", "file_0"] and not page.has_more
    page = await store.list_files(purpose="user_data", after=None, limit=10, order="asc")
    assert [f["id"] for f in page.data] == ["file_1", "file_3"]
    assert (await store.list_files(purpose=None, after="file_x", limit=5, order="asc")).data == []
    assert await store.delete_file("file_3") is True
    assert await store.delete_file("file_3") is False
    assert await store.get_file("file_3") is None


async def test_expired_files_are_deleted_with_their_vector_store_files(store: Store) -> None:
    await store.create_file({**file("file_old"), "expires_at": 100})
    await store.create_file({**file("file_new"), "expires_at": 200})
    await store.create_file(file("file_kept"))  # no expiry
    await store.create_vector_store({"id": "vs_1", "created_at": 5, "expires_after": None,
                                     "expires_at": None, "last_active_at": 5})
    assert await store.add_vector_store_files("vs_1", [vs_file("file_old"), vs_file("file_kept")])
    assert await store.delete_expired_files(99) == []
    assert await store.delete_expired_files(150) == ["file_old"]
    assert await store.get_file("file_old") is None and await store.get_file("file_new")
    assert await store.get_vector_store_file("vs_1", "file_old") is None
    assert await store.get_vector_store_file("vs_1", "file_kept") is not None
    assert sorted(await store.delete_expired_files(10**10)) == ["file_new"]


async def test_vector_store_counts_follow_its_files(store: Store) -> None:
    stored = {"id": "vs_1", "created_at": 5, "name": "docs", "metadata": {"k": "v"},
              "expires_after": None, "expires_at": None, "last_active_at": 5}
    await store.create_vector_store(stored)
    created = await store.get_vector_store("vs_1")
    assert created is not None
    assert created["object"] == "vector_store" and created["status"] == "completed"
    assert created["file_counts"] == {"in_progress": 0, "completed": 0, "cancelled": 0,
                                      "failed": 0, "total": 0}
    assert await store.add_vector_store_files("vs_1", [vs_file("file_a"), vs_file("file_b")])
    assert await store.add_vector_store_files("vs_missing", [vs_file("file_a")]) is False
    busy = await store.get_vector_store("vs_1")
    assert busy is not None and busy["status"] == "in_progress"
    assert busy["file_counts"]["in_progress"] == 2
    done = {"status": "completed", "usage_bytes": 100}
    chunk = NewChunk("alpha beta", vector(1, 0))
    assert await store.finish_vector_store_file("vs_1", "file_a", done, [chunk])
    # Only an in_progress file finishes: a second finish (or a cancelled one) changes nothing.
    assert not await store.finish_vector_store_file("vs_1", "file_a", done, [])
    assert await store.update_vector_store_file("vs_1", "file_b", {"status": "failed"})
    after = await store.get_vector_store("vs_1")
    assert after is not None and after["status"] == "completed" and after["usage_bytes"] == 100
    assert after["file_counts"] == {"in_progress": 0, "completed": 1, "cancelled": 0,
                                    "failed": 1, "total": 2}
    updated = await store.update_vector_store("vs_1", {"name": "renamed"})
    assert updated is not None and updated["name"] == "renamed" and updated["metadata"] == {
        "k": "v"}
    listed = await store.list_vector_store_files("vs_1", status="failed", batch_id=None,
                                                 after=None, limit=10, order="asc")
    assert listed is not None and [f["id"] for f in listed.data] == ["file_b"]
    assert await store.pending_vector_store_files() == []
    assert await store.delete_vector_store("vs_1")
    assert await store.get_vector_store("vs_1") is None
    assert await store.get_vector_store_file("vs_1", "file_a") is None


async def test_batches_cancel_only_what_is_pending(store: Store) -> None:
    await store.create_vector_store({"id": "vs_1", "created_at": 1})
    batch = {"id": "vsfb_1", "object": "vector_store.files_batch", "created_at": 1,
             "vector_store_id": "vs_1"}
    await store.add_vector_store_files("vs_1", [vs_file("f1"), vs_file("f2")], batch)
    await store.finish_vector_store_file("vs_1", "f1", {"status": "completed"}, [])
    assert await store.pending_vector_store_files() == [("vs_1", "f2")]
    got = await store.get_file_batch("vs_1", "vsfb_1")
    assert got is not None and got["status"] == "in_progress"
    cancelled = await store.cancel_file_batch("vs_1", "vsfb_1")
    assert cancelled is not None and cancelled["status"] == "cancelled"
    assert cancelled["file_counts"]["cancelled"] == 1 and cancelled["file_counts"]["completed"] == 1
    assert not await store.finish_vector_store_file("vs_1", "f2", {"status": "completed"}, [])
    assert await store.get_file_batch("vs_other", "vsfb_1") is None
    page = await store.list_vector_store_files("vs_1", status=None, batch_id="vsfb_1",
                                               after="f1", limit=10, order="asc")
    assert page is not None and [f["id"] for f in page.data] == ["f2"]


async def test_text_and_vector_search_are_scoped(store: Store) -> None:
    await store.create_file(file("file_a", filename="animals.md"))
    for vs in ("vs_1", "vs_2"):
        await store.create_vector_store({"id": vs, "created_at": 1})
    await store.add_vector_store_files("vs_1", [vs_file("file_a", attributes={"lang": "en"}),
                                                vs_file("file_b")])
    await store.add_vector_store_files("vs_2", [vs_file("file_c")])
    chunks = {"file_a": [NewChunk("Cats are running in the garden", vector(1, 0, 0)),
                         NewChunk("Dogs bark at the postman", vector(0, 1, 0))],
              "file_b": [NewChunk("Running a database server", vector(0.6, 0.8, 0))],
              "file_c": [NewChunk("cats and running everywhere", vector(1, 0, 0))]}
    for file_id, found in chunks.items():
        vs = "vs_2" if file_id == "file_c" else "vs_1"
        await store.finish_vector_store_file(vs, file_id, {"status": "completed"}, found)
    files = await store.searchable_files(["vs_1"])
    assert [(f.file_id, f.filename, f.attributes) for f in files] == [
        ("file_a", "animals.md", {"lang": "en"}), ("file_b", "file_b", {})]
    keys = [f.key for f in files]
    by_key = {f.key: f.file_id for f in files}
    hits = await store.text_search(keys, ["cat", "run"], 10)  # stemmed: cats, running
    assert {(by_key[h.key], h.position) for h in hits} == {("file_a", 0), ("file_b", 0)}
    assert hits[0].text == "Cats are running in the garden"  # matches both words
    assert await store.text_search(keys, ['"); DROP', "&|!"], 10) == []
    near = await store.vector_search(keys, normalize(np.array([[0.1, 1, 0]], np.float32))[0], 2)
    assert [(by_key[h.key], h.position) for h in near] == [("file_a", 1), ("file_b", 0)]
    other_dimension = await store.vector_search(keys, np.array([1.0, 0], np.float32), 5)
    assert other_dimension == []
    # Deleting a file takes it out of every vector store, chunks and full-text index included.
    assert await store.delete_file("file_a")
    assert await store.get_vector_store_file("vs_1", "file_a") is None
    hits = await store.text_search([f.key for f in await store.searchable_files(["vs_1"])],
                                   ["cats"], 10)
    assert hits == []
