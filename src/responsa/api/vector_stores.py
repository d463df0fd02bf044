"""/v1/vector_stores: vector stores, their files, file batches and search.

Attaching a file answers at once with the vector store file `in_progress`; ingestion runs in
the background (retrieval/ingest.py) and polling clients (the SDK's `*_and_poll`) are told to
come back soon through `openai-poll-after-ms`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from responsa.api.files import existing_file, services_of, store_of
from responsa.api.json import deleted_response, json_response
from responsa.api.listing import list_object, page_params
from responsa.errors import InvalidRequestError, NotFoundError
from responsa.ids import new_id
from responsa.protocol.conversations import parse_body
from responsa.protocol.vector_stores import (
    Attributes,
    ChunkingStrategy,
    CreateFileBatchRequest,
    CreateVectorStoreFileRequest,
    CreateVectorStoreRequest,
    ExpiresAfter,
    SearchRequest,
    UpdateVectorStoreFileRequest,
    UpdateVectorStoreRequest,
    chunking_object,
)
from responsa.retrieval.extract import ExtractionError, extract_text
from responsa.retrieval.search import hybrid_search
from responsa.store.base import JSONDict
from responsa.store.files import STATUSES, expiry_fields

POLL_AFTER = {"openai-poll-after-ms": "100"}
DEFAULT_RESULTS = 10


def vector_store_not_found(vector_store_id: str) -> NotFoundError:
    return NotFoundError(f"No vector store found with id '{vector_store_id}'.")


def _polled(obj: JSONDict) -> Response:
    return json_response(obj, headers=POLL_AFTER if obj["status"] == "in_progress" else None)


async def _existing(request: Request) -> JSONDict:
    vector_store_id = request.path_params["vector_store_id"]
    found = await store_of(request).get_vector_store(vector_store_id)
    if found is None:
        raise vector_store_not_found(vector_store_id)
    return found


def _expiry(expires_after: ExpiresAfter | None, last_active_at: int) -> JSONDict:
    return expiry_fields(expires_after.to_json_dict() if expires_after else None, last_active_at)


# -- vector stores ---------------------------------------------------------------------------


async def create_vector_store(request: Request) -> Response:
    body = parse_body(CreateVectorStoreRequest, await request.body())
    chunking_object(body.chunking_strategy)  # refused even with no files to chunk
    now = int(time.time())
    stored = {"id": new_id("vs"), "created_at": now, "name": body.name or "",
              "description": body.description, "metadata": body.metadata or {},
              "last_active_at": now, **_expiry(body.expires_after, now)}
    files = await _new_files(request, stored["id"], [
        CreateVectorStoreFileRequest(file_id=file_id, chunking_strategy=body.chunking_strategy)
        for file_id in body.file_ids or ()], "file_ids")
    store = store_of(request)
    await store.create_vector_store(stored)
    await _attach(request, stored["id"], files)
    return json_response(await store.get_vector_store(stored["id"]))


async def list_vector_stores(request: Request) -> Response:
    after, limit, order = page_params(request.query_params)
    page = await store_of(request).list_vector_stores(after=after, limit=limit, order=order)
    return json_response(list_object(page))


async def retrieve_vector_store(request: Request) -> Response:
    return json_response(await _existing(request))


async def update_vector_store(request: Request) -> Response:
    body = parse_body(UpdateVectorStoreRequest, await request.body())
    current = await _existing(request)
    given = body.model_fields_set
    fields: JSONDict = {}
    if "name" in given:
        fields["name"] = body.name or ""
    if "metadata" in given:
        fields["metadata"] = body.metadata or {}
    if "expires_after" in given:
        fields.update(_expiry(body.expires_after, current["last_active_at"] or current[
            "created_at"]))
    updated = await store_of(request).update_vector_store(current["id"], fields)
    if updated is None:
        raise vector_store_not_found(current["id"])
    return json_response(updated)


async def delete_vector_store(request: Request) -> Response:
    vector_store_id = request.path_params["vector_store_id"]
    if not await store_of(request).delete_vector_store(vector_store_id):
        raise vector_store_not_found(vector_store_id)
    return deleted_response(vector_store_id, "vector_store.deleted")


async def search(request: Request) -> Response:
    body = parse_body(SearchRequest, await request.body())
    current = await _existing(request)
    queries = body.queries()
    if not any(q.strip() for q in queries):
        raise InvalidRequestError("Invalid 'query': the query must not be empty.",
                                  param="query", code="invalid_value")
    hits = await hybrid_search(
        store_of(request), services_of(request).embedder, [current["id"]], queries,
        max_results=body.max_num_results or DEFAULT_RESULTS,
        filters=body.filters.to_json_dict() if body.filters else None,
        ranking_options=body.ranking_options.to_json_dict() if body.ranking_options else None)
    return json_response({
        "object": "vector_store.search_results.page", "search_query": queries,
        "data": [{"file_id": hit.file_id, "filename": hit.filename, "score": hit.score,
                  "attributes": hit.attributes, "content": [{"type": "text", "text": hit.text}]}
                 for hit in hits],
        "has_more": False, "next_page": None})


# -- vector store files ----------------------------------------------------------------------


async def _new_files(request: Request, vector_store_id: str,
                     wanted: list[CreateVectorStoreFileRequest], param: str,
                     attributes: Attributes | None = None,
                     chunking: ChunkingStrategy | None = None) -> list[JSONDict]:
    """The VectorStoreFile objects to attach, each file checked to exist."""
    now = int(time.time())
    files = []
    for index, entry in enumerate(wanted):
        where = f"{param}[{index}]" if param != "file_id" else param
        await existing_file(request, entry.file_id, where)
        files.append({
            "id": entry.file_id, "object": "vector_store.file", "usage_bytes": 0,
            "created_at": now, "vector_store_id": vector_store_id, "status": "in_progress",
            "last_error": None,
            "chunking_strategy": chunking_object(entry.chunking_strategy or chunking, param),
            "attributes": entry.attributes if entry.attributes is not None else (
                attributes or {})})
    return files


async def _attach(request: Request, vector_store_id: str, files: list[JSONDict],
                  batch: JSONDict | None = None) -> None:
    if not await store_of(request).add_vector_store_files(vector_store_id, files, batch):
        raise vector_store_not_found(vector_store_id)
    ingestor = services_of(request).ingestor
    for file in files:
        ingestor.submit(vector_store_id, file["id"])


async def create_vector_store_file(request: Request) -> Response:
    body = parse_body(CreateVectorStoreFileRequest, await request.body())
    current = await _existing(request)
    [file] = await _new_files(request, current["id"], [body], "file_id")
    await _attach(request, current["id"], [file])
    return _polled(file)


async def list_vector_store_files(request: Request) -> Response:
    after, limit, order = page_params(request.query_params)
    status = _status_filter(request)
    page = await store_of(request).list_vector_store_files(
        request.path_params["vector_store_id"], status=status,
        batch_id=request.path_params.get("batch_id"), after=after, limit=limit, order=order)
    if page is None:
        raise vector_store_not_found(request.path_params["vector_store_id"])
    return json_response(list_object(page))


def _status_filter(request: Request) -> str | None:
    status = request.query_params.get("filter")
    if status is not None and status not in STATUSES:
        supported = ", ".join(f"'{s}'" for s in STATUSES)
        raise InvalidRequestError(f"Invalid value: '{status}'. Supported values are: "
                                  f"{supported}.", param="filter", code="invalid_value")
    return status


async def _existing_file(request: Request) -> JSONDict:
    vector_store_id = request.path_params["vector_store_id"]
    file_id = request.path_params["file_id"]
    found = await store_of(request).get_vector_store_file(vector_store_id, file_id)
    if found is None:
        await _existing(request)
        raise NotFoundError(f"No file found with id '{file_id}' in vector store "
                            f"'{vector_store_id}'.")
    return found


async def retrieve_vector_store_file(request: Request) -> Response:
    return _polled(await _existing_file(request))


async def update_vector_store_file(request: Request) -> Response:
    body = parse_body(UpdateVectorStoreFileRequest, await request.body())
    current = await _existing_file(request)
    updated = await store_of(request).update_vector_store_file(
        current["vector_store_id"], current["id"], {"attributes": body.attributes or {}})
    if updated is None:
        raise NotFoundError(f"No file found with id '{current['id']}'.")
    return json_response(updated)


async def delete_vector_store_file(request: Request) -> Response:
    current = await _existing_file(request)
    await store_of(request).delete_vector_store_file(current["vector_store_id"], current["id"])
    return deleted_response(current["id"], "vector_store.file.deleted")


async def vector_store_file_content(request: Request) -> Response:
    """The file's text as search sees it (extracted again from the stored bytes)."""
    current = await _existing_file(request)
    file = await store_of(request).get_file(current["id"])
    data = await services_of(request).blobs.read(current["id"])
    text = ""
    if file is not None and data is not None:
        with contextlib.suppress(ExtractionError):
            text = await asyncio.to_thread(extract_text, data, str(file.get("filename") or ""))
    return json_response({"object": "vector_store.file_content.page",
                          "data": [{"type": "text", "text": text}] if text else [],
                          "has_more": False, "next_page": None})


# -- file batches ----------------------------------------------------------------------------


async def create_file_batch(request: Request) -> Response:
    body = parse_body(CreateFileBatchRequest, await request.body())
    current = await _existing(request)
    if body.file_ids and body.files:
        raise InvalidRequestError("Provide either 'file_ids' or 'files', not both.",
                                  param="files", code="invalid_value")
    if not body.file_ids and not body.files:
        raise InvalidRequestError("Missing required parameter: 'file_ids'.", param="file_ids",
                                  code="missing_required_parameter")
    wanted = body.files or [CreateVectorStoreFileRequest(file_id=file_id)
                            for file_id in body.file_ids or ()]
    param = "files" if body.files else "file_ids"
    files = await _new_files(request, current["id"], wanted, param, body.attributes,
                             body.chunking_strategy)
    batch = {"id": new_id("vsfb"), "object": "vector_store.files_batch",
             "created_at": int(time.time()), "vector_store_id": current["id"]}
    await _attach(request, current["id"], files, batch)
    return _polled(await _batch(request, batch["id"]))


async def _batch(request: Request, batch_id: str | None = None) -> JSONDict:
    vector_store_id = request.path_params["vector_store_id"]
    batch_id = batch_id or request.path_params["batch_id"]
    found = await store_of(request).get_file_batch(vector_store_id, batch_id)
    if found is None:
        raise NotFoundError(f"No file batch found with id '{batch_id}'.")
    return found


async def retrieve_file_batch(request: Request) -> Response:
    return _polled(await _batch(request))


async def cancel_file_batch(request: Request) -> Response:
    await _batch(request)
    cancelled = await store_of(request).cancel_file_batch(
        request.path_params["vector_store_id"], request.path_params["batch_id"])
    assert cancelled is not None
    return json_response(cancelled)


async def list_batch_files(request: Request) -> Response:
    await _batch(request)
    return await list_vector_store_files(request)


_STORE = "/v1/vector_stores/{vector_store_id}"
_FILE = _STORE + "/files/{file_id}"
_BATCH = _STORE + "/file_batches/{batch_id}"
routes = [
    Route("/v1/vector_stores", create_vector_store, methods=["POST"]),
    Route("/v1/vector_stores", list_vector_stores, methods=["GET"]),
    Route(_STORE, retrieve_vector_store, methods=["GET"]),
    Route(_STORE, update_vector_store, methods=["POST"]),
    Route(_STORE, delete_vector_store, methods=["DELETE"]),
    Route(_STORE + "/search", search, methods=["POST"]),
    Route(_STORE + "/files", create_vector_store_file, methods=["POST"]),
    Route(_STORE + "/files", list_vector_store_files, methods=["GET"]),
    Route(_FILE, retrieve_vector_store_file, methods=["GET"]),
    Route(_FILE, update_vector_store_file, methods=["POST"]),
    Route(_FILE, delete_vector_store_file, methods=["DELETE"]),
    Route(_FILE + "/content", vector_store_file_content, methods=["GET"]),
    Route(_STORE + "/file_batches", create_file_batch, methods=["POST"]),
    Route(_BATCH, retrieve_file_batch, methods=["GET"]),
    Route(_BATCH + "/cancel", cancel_file_batch, methods=["POST"]),
    Route(_BATCH + "/files", list_batch_files, methods=["GET"]),
]
