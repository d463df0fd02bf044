"""/v1/files: upload (multipart), list, retrieve, content, delete.

The File object lives in the store; the bytes on disk (retrieval/blobs.py). Deleting a file
also removes it from every vector store, as the real API does.
"""

from __future__ import annotations

import time

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from responsa.api.json import deleted_response, json_response
from responsa.api.listing import list_object, page_params
from responsa.errors import InvalidRequestError, NotFoundError
from responsa.ids import new_file_id
from responsa.retrieval.services import FileServices, expired
from responsa.store.base import JSONDict, Store

# What an upload may say it is for [FilePurpose in the SDK]; files list by any stored purpose.
UPLOAD_PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
MAX_BYTES = 512 * 1024 * 1024
MIN_EXPIRY, MAX_EXPIRY = 3600, 2_592_000  # seconds after `created_at`


def store_of(request: Request) -> Store:
    store: Store = request.app.state.engine.store
    return store


def services_of(request: Request) -> FileServices:
    services: FileServices = request.app.state.files
    return services


def file_not_found(file_id: str, param: str | None = None) -> NotFoundError:
    return NotFoundError(f"No such File object: {file_id}", param=param)


async def existing_file(request: Request, file_id: str, param: str | None = None) -> JSONDict:
    file = await services_of(request).file(file_id)
    if file is None:
        raise file_not_found(file_id, param)
    return file


async def upload_file(request: Request) -> Response:
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise InvalidRequestError("Uploads must be sent as multipart/form-data.",
                                  code="invalid_value")
    async with request.form(max_part_size=MAX_BYTES) as form:
        upload = form.get("file")
        purpose = form.get("purpose")
        expires: dict[str, object] = {key: form.get(f"expires_after[{key}]")
                                      for key in ("anchor", "seconds")}
        if not isinstance(upload, UploadFile):
            raise _missing("file")
        if not isinstance(purpose, str) or not purpose:
            raise _missing("purpose")
        if purpose not in UPLOAD_PURPOSES:
            supported = ", ".join(f"'{p}'" for p in UPLOAD_PURPOSES)
            raise InvalidRequestError(
                f"Invalid value: '{purpose}'. Supported values are: {supported}.",
                param="purpose", code="invalid_value")
        data = await upload.read()
        filename = upload.filename or "upload"
    created_at = int(time.time())
    file_id = new_file_id()
    file: JSONDict = {"id": file_id, "object": "file", "bytes": len(data), "created_at": created_at,
            "filename": filename, "purpose": purpose, "status": "processed",
            "expires_at": _expires_at(expires, created_at), "status_details": None}
    await services_of(request).blobs.write(file_id, data)
    await store_of(request).create_file(file)
    return json_response(file)


def _expires_at(expires: dict[str, object], created_at: int) -> int | None:
    anchor, seconds = expires["anchor"], expires["seconds"]
    if anchor is None and seconds is None:
        return None
    if anchor != "created_at":
        raise InvalidRequestError(
            f"Invalid value: '{anchor}'. Supported values are: 'created_at'.",
            param="expires_after.anchor", code="invalid_value")
    try:
        value = int(str(seconds))
    except ValueError:
        raise InvalidRequestError("Invalid type for 'expires_after.seconds': expected an "
                                  "integer.", param="expires_after.seconds",
                                  code="invalid_type") from None
    if not MIN_EXPIRY <= value <= MAX_EXPIRY:
        raise InvalidRequestError(
            f"Invalid 'expires_after.seconds': expected a value between {MIN_EXPIRY} and "
            f"{MAX_EXPIRY}, but got {value} instead.", param="expires_after.seconds",
            code="invalid_value")
    return created_at + value


def _missing(param: str) -> InvalidRequestError:
    return InvalidRequestError(f"Missing required parameter: '{param}'.", param=param,
                               code="missing_required_parameter")


async def list_files(request: Request) -> Response:
    after, limit, order = page_params(request.query_params, default_limit=10_000,
                                      max_limit=10_000)
    page = await store_of(request).list_files(purpose=request.query_params.get("purpose"),
                                              after=after, limit=limit, order=order)
    now = time.time()  # what the next sweep deletes is already gone for the client
    page.data[:] = [file for file in page.data if not expired(file, now)]
    return json_response(list_object(page))


async def retrieve_file(request: Request) -> Response:
    return json_response(await existing_file(request, request.path_params["file_id"]))


async def file_content(request: Request) -> Response:
    file_id = request.path_params["file_id"]
    await existing_file(request, file_id)
    data = await services_of(request).blobs.read(file_id)
    if data is None:
        raise file_not_found(file_id)
    return Response(data, media_type="application/octet-stream")


async def delete_file(request: Request) -> Response:
    file_id = request.path_params["file_id"]
    if not await store_of(request).delete_file(file_id):
        raise file_not_found(file_id)
    await services_of(request).blobs.delete(file_id)
    return deleted_response(file_id, "file")


routes = [
    Route("/v1/files", upload_file, methods=["POST"]),
    Route("/v1/files", list_files, methods=["GET"]),
    Route("/v1/files/{file_id}", retrieve_file, methods=["GET"]),
    Route("/v1/files/{file_id}", delete_file, methods=["DELETE"]),
    Route("/v1/files/{file_id}/content", file_content, methods=["GET"]),
]
