"""The Vector Stores API through the SDK: stores, files with chunking and attributes, file
batches, background ingestion (PDF, failures), hybrid search with filters, and the errors of
the real API. On SQLite and PostgreSQL, with the embedded embedding model."""

from __future__ import annotations

import io
import time

import httpx
import openai
import pytest
from openai import OpenAI

from tests.support.documents import DOCUMENTS, minimal_pdf
from tests.support.responsa_server import RunningResponsa


def upload(client: OpenAI, name: str, data: bytes | None = None) -> str:
    body = data if data is not None else DOCUMENTS[name].encode()
    return client.files.create(file=(name, body), purpose="assistants").id


@pytest.fixture(scope="module")
def corpus(server_any_db: RunningResponsa) -> tuple[str, dict[str, str]]:
    """A vector store holding the three documents, each tagged with its topic."""
    client = OpenAI(base_url=server_any_db.base_url, api_key="k", max_retries=0)
    store = client.vector_stores.create(name="corpus", metadata={"suite": "vs"})
    ids = {}
    for name in DOCUMENTS:
        topic = name.split(".")[0]
        done = client.vector_stores.files.upload_and_poll(
            vector_store_id=store.id, file=io.BytesIO(DOCUMENTS[name].encode()),
            poll_interval_ms=50)
        client.vector_stores.files.update(file_id=done.id, vector_store_id=store.id,
                                          attributes={"topic": topic, "words": len(
                                              DOCUMENTS[name].split())})
        ids[name] = done.id
    return store.id, ids


def test_files_are_ingested_and_counted(client_any_db: OpenAI,
                                        corpus: tuple[str, dict[str, str]]) -> None:
    store_id, ids = corpus
    store = client_any_db.vector_stores.retrieve(store_id)
    assert store.object == "vector_store" and store.status == "completed"
    assert store.name == "corpus" and store.metadata == {"suite": "vs"}
    assert (store.file_counts.completed, store.file_counts.total) == (3, 3)
    assert store.usage_bytes > sum(len(text) for text in DOCUMENTS.values())
    files = client_any_db.vector_stores.files.list(vector_store_id=store_id, filter="completed")
    assert sorted(f.id for f in files) == sorted(ids.values())
    one = client_any_db.vector_stores.files.retrieve(file_id=ids["tides.txt"],
                                                     vector_store_id=store_id)
    raw = client_any_db.vector_stores.files.with_raw_response.retrieve(
        file_id=ids["tides.txt"], vector_store_id=store_id).http_response.json()
    # Exactly as given: a whole number stays one on the wire.
    assert raw["attributes"] == {"topic": "tides", "words": len(DOCUMENTS["tides.txt"].split())}
    assert isinstance(raw["attributes"]["words"], int)
    assert one.chunking_strategy is not None and one.chunking_strategy.type == "static"
    content = client_any_db.vector_stores.files.content(file_id=ids["tides.txt"],
                                                        vector_store_id=store_id)
    assert [part.text for part in content] == [DOCUMENTS["tides.txt"]]


@pytest.mark.parametrize(("query", "expected"), [
    ("Why does the sea level rise and fall twice a day?", "tides.txt"),  # no shared keywords
    ("lava", "volcanoes.md"),
    ("how to bake bread with wild yeast", "sourdough.txt"),
])
def test_search_finds_the_right_file(client_any_db: OpenAI, corpus: tuple[str, dict[str, str]],
                                     query: str, expected: str) -> None:
    store_id, ids = corpus
    results = list(client_any_db.vector_stores.search(vector_store_id=store_id, query=query))
    assert results[0].file_id == ids[expected], [(r.filename, r.score) for r in results]
    assert 0 < results[0].score <= 1 and results[0].content[0].type == "text"
    assert results[0].content[0].text in DOCUMENTS[expected]


def test_search_filters_limits_and_thresholds(client_any_db: OpenAI,
                                              corpus: tuple[str, dict[str, str]]) -> None:
    store_id, ids = corpus
    query = ["volcano eruption", "moon"]
    only = client_any_db.vector_stores.search(
        vector_store_id=store_id, query=query,
        filters={"type": "or", "filters": [{"type": "eq", "key": "topic", "value": "tides"},
                                           {"type": "gt", "key": "words", "value": 1000}]})
    assert {r.file_id for r in only} == {ids["tides.txt"]}
    assert only.model_dump()["search_query"] == query  # type: ignore[attr-defined]
    one = client_any_db.vector_stores.search(vector_store_id=store_id, query="bread",
                                             max_num_results=1)
    assert len(one.data) == 1
    none = client_any_db.vector_stores.search(
        vector_store_id=store_id, query="zzz unrelated", ranking_options={"score_threshold": 1})
    assert none.data == []


def test_a_search_is_activity_that_moves_the_expiry(client: OpenAI) -> None:
    store = client.vector_stores.create(name="idle", expires_after={
        "anchor": "last_active_at", "days": 2})
    assert store.expires_at == store.last_active_at + 2 * 86_400  # type: ignore[operator]
    time.sleep(1.1)  # timestamps are whole seconds
    client.vector_stores.search(store.id, query="anything")
    searched = client.vector_stores.retrieve(store.id)
    assert searched.last_active_at > store.last_active_at  # type: ignore[operator]
    assert searched.expires_at == searched.last_active_at + 2 * 86_400  # type: ignore[operator]
    assert searched.status == "completed"


def test_pdf_batch_and_unsupported_file(client_any_db: OpenAI) -> None:
    store = client_any_db.vector_stores.create(
        name="mixed", expires_after={"anchor": "last_active_at", "days": 2})
    assert store.expires_at == store.last_active_at + 2 * 86_400  # type: ignore[operator]
    pdf = upload(client_any_db, "glaciers.pdf",
                 minimal_pdf("Glaciers are rivers of ice that carve valleys."))
    binary = upload(client_any_db, "blob.bin", b"\x00\x01\x02garbage")
    batch = client_any_db.vector_stores.file_batches.create_and_poll(
        vector_store_id=store.id, file_ids=[pdf, binary], attributes={"kind": "test"},
        chunking_strategy={"type": "static", "static": {"max_chunk_size_tokens": 100,
                                                        "chunk_overlap_tokens": 50}},
        poll_interval_ms=50)
    assert batch.object == "vector_store.files_batch" and batch.status == "completed"
    assert (batch.file_counts.completed, batch.file_counts.failed) == (1, 1)
    failed = client_any_db.vector_stores.files.retrieve(file_id=binary, vector_store_id=store.id)
    assert failed.status == "failed" and failed.last_error is not None
    assert failed.last_error.code == "unsupported_file"
    in_batch = client_any_db.vector_stores.file_batches.list_files(
        batch_id=batch.id, vector_store_id=store.id, filter="completed")
    assert [f.id for f in in_batch] == [pdf] and in_batch.data[0].attributes == {"kind": "test"}
    assert in_batch.data[0].chunking_strategy.static.max_chunk_size_tokens == 100  # type: ignore[union-attr]
    [hit] = client_any_db.vector_stores.search(vector_store_id=store.id, query="ice valleys")
    assert (hit.file_id, hit.filename) == (pdf, "glaciers.pdf")
    cancelled = client_any_db.vector_stores.file_batches.cancel(batch_id=batch.id,
                                                                vector_store_id=store.id)
    assert cancelled.status == "cancelled"
    # Deleting the file removes it from the vector store; deleting the store, the rest.
    client_any_db.files.delete(pdf)
    assert client_any_db.vector_stores.search(vector_store_id=store.id, query="ice").data == []
    assert client_any_db.vector_stores.files.delete(
        file_id=binary, vector_store_id=store.id).deleted
    renamed = client_any_db.vector_stores.update(store.id, name="renamed", metadata={"a": "b"})
    assert (renamed.name, renamed.metadata, renamed.file_counts.total) == ("renamed",
                                                                           {"a": "b"}, 0)
    assert client_any_db.vector_stores.delete(store.id).deleted
    with pytest.raises(openai.NotFoundError):
        client_any_db.vector_stores.retrieve(store.id)
    assert store.id not in [s.id for s in client_any_db.vector_stores.list(limit=100)]


def test_errors_name_the_param(server_any_db: RunningResponsa, client_any_db: OpenAI,
                               corpus: tuple[str, dict[str, str]]) -> None:
    store_id, _ = corpus
    with pytest.raises(openai.NotFoundError):
        client_any_db.vector_stores.search(vector_store_id="vs_missing", query="x")
    with pytest.raises(openai.NotFoundError) as caught:
        client_any_db.vector_stores.files.create(vector_store_id=store_id, file_id="file-nope")
    assert isinstance(caught.value.body, dict) and caught.value.body["param"] == "file_id"
    cases = [
        ("/vector_stores", {"chunking_strategy": {"type": "static", "static": {
            "max_chunk_size_tokens": 200, "chunk_overlap_tokens": 150}}},
         "chunking_strategy.static.chunk_overlap_tokens", "invalid_value"),
        ("/vector_stores", {"chunking_strategy": {"type": "static", "static": {
            "max_chunk_size_tokens": 5000, "chunk_overlap_tokens": 0}}},
         "chunking_strategy.static.max_chunk_size_tokens", "integer_above_max_value"),
        (f"/vector_stores/{store_id}/search", {"query": "x", "max_num_results": 51},
         "max_num_results", "integer_above_max_value"),
        (f"/vector_stores/{store_id}/search", {"query": "x", "filters": {"type": "near"}},
         "filters.type", "invalid_value"),
        (f"/vector_stores/{store_id}/file_batches", {}, "file_ids",
         "missing_required_parameter"),
    ]
    for path, body, param, code in cases:
        answer = httpx.post(server_any_db.base_url + path, json=body)
        assert answer.status_code == 400, (path, answer.text)
        error = answer.json()["error"]
        assert (error["type"], error["param"], error["code"]) == (
            "invalid_request_error", param, code), error
    wrong_filter = httpx.get(f"{server_any_db.base_url}/vector_stores/{store_id}/files",
                             params={"filter": "done"})
    assert wrong_filter.status_code == 400 and wrong_filter.json()["error"]["param"] == "filter"
