"""/v1/containers: the code interpreter's containers and their files, as the real API has them.

Create (with `expires_after`, `memory_limit`, `file_ids`), list (`name`, pagination), retrieve,
delete; files: upload (multipart `file`, or JSON `file_id` when the server has a Files API),
list, retrieve, download (`/content`), delete.
"""

from __future__ import annotations

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from responsa.api.json import deleted_response, json_response
from responsa.api.query import int_param, order_param
from responsa.errors import InvalidRequestError
from responsa.protocol.containers import ContainerCreateRequest, ContainerFileCreateRequest
from responsa.protocol.conversations import parse_body
from responsa.sandbox.containers import Containers
from responsa.store.base import ItemPage, Order
from responsa.store.containers import container_file_object, container_object


def _containers(request: Request) -> Containers:
    containers: Containers = request.app.state.containers
    return containers


def _page(request: Request) -> tuple[str | None, int, Order]:
    query = request.query_params
    limit = int_param(query, "limit", default=20, minimum=1, maximum=100)
    assert limit is not None
    return query.get("after"), limit, "desc" if order_param(query) == "desc" else "asc"


def _list(page: ItemPage) -> Response:
    data = page.data
    return json_response({"object": "list", "data": data,
                          "first_id": data[0]["id"] if data else None,
                          "last_id": data[-1]["id"] if data else None,
                          "has_more": page.has_more})


async def create_container(request: Request) -> Response:
    body = parse_body(ContainerCreateRequest, await request.body())
    if body.network_policy is not None and body.network_policy.type != "disabled":
        raise InvalidRequestError(
            "Containers on this server have no network: only network_policy "
            "{'type': 'disabled'} is supported.", param="network_policy",
            code="unsupported_value")
    if body.skills:
        raise InvalidRequestError("Skills are not supported on this server.", param="skills",
                                  code="unsupported_value")
    row = await _containers(request).create(
        body.name, minutes=body.expires_after.minutes if body.expires_after else None,
        memory_limit=body.memory_limit or "1g", file_ids=body.file_ids or [])
    return json_response(container_object(row))


async def list_containers(request: Request) -> Response:
    after, limit, order = _page(request)
    store = _containers(request).store
    return _list(await store.list_containers(after=after, limit=limit, order=order,
                                             name=request.query_params.get("name")))


async def retrieve_container(request: Request) -> Response:
    row = await _containers(request).get(request.path_params["container_id"])
    return json_response(container_object(row))


async def delete_container(request: Request) -> Response:
    container_id = request.path_params["container_id"]
    await _containers(request).delete(container_id)
    return deleted_response(container_id, "container.deleted")


async def create_file(request: Request) -> Response:
    containers = _containers(request)
    container_id = request.path_params["container_id"]
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        async with request.form() as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise InvalidRequestError("Missing required parameter: 'file'.", param="file",
                                          code="missing_required_parameter")
            await containers.running(container_id)
            row = await containers.add_file(container_id, upload.filename or "",
                                            await upload.read())
    else:
        body = parse_body(ContainerFileCreateRequest, await request.body())
        await containers.running(container_id)
        row = await containers.add_file_id(container_id, body.file_id)
    return json_response(container_file_object(row))


async def list_files(request: Request) -> Response:
    containers = _containers(request)
    container_id = request.path_params["container_id"]
    await containers.get(container_id)
    after, limit, order = _page(request)
    return _list(await containers.store.list_container_files(
        container_id, after=after, limit=limit, order=order))


async def retrieve_file(request: Request) -> Response:
    containers = _containers(request)
    container_id = request.path_params["container_id"]
    await containers.get(container_id)
    row = await containers.file(container_id, request.path_params["file_id"])
    return json_response(container_file_object(row))


async def file_content(request: Request) -> Response:
    containers = _containers(request)
    container_id = request.path_params["container_id"]
    await containers.running(container_id)
    data = await containers.content(container_id, request.path_params["file_id"])
    return Response(data, media_type="application/octet-stream")


async def delete_file(request: Request) -> Response:
    containers = _containers(request)
    container_id = request.path_params["container_id"]
    file_id = request.path_params["file_id"]
    await containers.get(container_id)
    await containers.delete_file(container_id, file_id)
    return deleted_response(file_id, "container.file.deleted")


_CONTAINER = "/v1/containers/{container_id}"
_FILE = _CONTAINER + "/files/{file_id}"

routes = [
    Route("/v1/containers", create_container, methods=["POST"]),
    Route("/v1/containers", list_containers, methods=["GET"]),
    Route(_CONTAINER, retrieve_container, methods=["GET"]),
    Route(_CONTAINER, delete_container, methods=["DELETE"]),
    Route(_CONTAINER + "/files", create_file, methods=["POST"]),
    Route(_CONTAINER + "/files", list_files, methods=["GET"]),
    Route(_FILE, retrieve_file, methods=["GET"]),
    Route(_FILE, delete_file, methods=["DELETE"]),
    Route(_FILE + "/content", file_content, methods=["GET"]),
]
