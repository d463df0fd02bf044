"""/v1/conversations: create, retrieve, update, delete, and the conversation's items."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from responsa.api.json import deleted_response, json_response
from responsa.api.query import include_param, int_param, order_param
from responsa.engine.context import conversation_not_found, with_id
from responsa.engine.snapshot import render_input_item
from responsa.errors import InvalidRequestError, NotFoundError
from responsa.ids import new_id
from responsa.protocol.conversations import (
    AddItemsRequest,
    CreateConversationRequest,
    UpdateConversationRequest,
    parse_body,
)
from responsa.store.base import JSONDict, Store


def _store(request: Request) -> Store:
    store: Store = request.app.state.engine.store
    return store


def _item_not_found(item_id: str) -> NotFoundError:
    return NotFoundError(f"Item with id '{item_id}' not found.")


def _stored_items(items: list[JSONDict]) -> list[JSONDict]:
    """Items as a conversation keeps them: each with an id (and status where its list form
    has one), minted as for a response's input."""
    for index, item in enumerate(items):
        if item["type"] == "item_reference":
            raise InvalidRequestError(
                "Item references are not supported in conversations yet.",
                param=f"items[{index}]", code="unsupported_value")
    return [with_id(item) for item in items]


def _item_list(items: list[JSONDict], include: frozenset[str], *, has_more: bool) -> Response:
    data = [render_input_item(item, include) for item in items]
    return json_response({
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    })


async def create_conversation(request: Request) -> Response:
    body = parse_body(CreateConversationRequest, await request.body())
    items = _stored_items(body.items_json())
    conversation = {"id": new_id("conv"), "object": "conversation",
                    "created_at": int(time.time()), "metadata": body.metadata or {}}
    await _store(request).create_conversation(conversation, items)
    return json_response(conversation)


async def retrieve_conversation(request: Request) -> Response:
    conversation_id = request.path_params["conversation_id"]
    conversation = await _store(request).get_conversation(conversation_id)
    if conversation is None:
        raise conversation_not_found(conversation_id)
    return json_response(conversation)


async def update_conversation(request: Request) -> Response:
    conversation_id = request.path_params["conversation_id"]
    body = parse_body(UpdateConversationRequest, await request.body())
    conversation = await _store(request).update_conversation(conversation_id, body.metadata or {})
    if conversation is None:
        raise conversation_not_found(conversation_id)
    return json_response(conversation)


async def delete_conversation(request: Request) -> Response:
    conversation_id = request.path_params["conversation_id"]
    if not await _store(request).delete_conversation(conversation_id):
        raise conversation_not_found(conversation_id)
    return deleted_response(conversation_id, "conversation.deleted")


async def add_items(request: Request) -> Response:
    conversation_id = request.path_params["conversation_id"]
    include = include_param(request.query_params)
    body = parse_body(AddItemsRequest, await request.body())
    items = _stored_items(body.items_json())
    if not await _store(request).append_conversation_items(conversation_id, items):
        raise conversation_not_found(conversation_id)
    return _item_list(items, include, has_more=False)


async def list_items(request: Request) -> Response:
    conversation_id = request.path_params["conversation_id"]
    query = request.query_params
    include = include_param(query)
    limit = int_param(query, "limit", default=20, minimum=1, maximum=100)
    assert limit is not None
    page = await _store(request).list_conversation_items(
        conversation_id, after=query.get("after"), limit=limit,
        order="asc" if order_param(query) == "asc" else "desc")
    if page is None:
        raise conversation_not_found(conversation_id)
    return _item_list(page.data, include, has_more=page.has_more)


async def retrieve_item(request: Request) -> Response:
    conversation_id = request.path_params["conversation_id"]
    item_id = request.path_params["item_id"]
    include = include_param(request.query_params)
    store = _store(request)
    item = await store.get_conversation_item(conversation_id, item_id)
    if item is None:
        if await store.get_conversation(conversation_id) is None:
            raise conversation_not_found(conversation_id)
        raise _item_not_found(item_id)
    return json_response(render_input_item(item, include))


async def delete_item(request: Request) -> Response:
    """Answers with the parent Conversation, as the real API does."""
    conversation_id = request.path_params["conversation_id"]
    item_id = request.path_params["item_id"]
    store = _store(request)
    deleted = await store.delete_conversation_item(conversation_id, item_id)
    conversation = await store.get_conversation(conversation_id)
    if conversation is None:
        raise conversation_not_found(conversation_id)
    if not deleted:
        raise _item_not_found(item_id)
    return json_response(conversation)


routes = [
    Route("/v1/conversations", create_conversation, methods=["POST"]),
    Route("/v1/conversations/{conversation_id}", retrieve_conversation, methods=["GET"]),
    Route("/v1/conversations/{conversation_id}", update_conversation, methods=["POST"]),
    Route("/v1/conversations/{conversation_id}", delete_conversation, methods=["DELETE"]),
    Route("/v1/conversations/{conversation_id}/items", add_items, methods=["POST"]),
    Route("/v1/conversations/{conversation_id}/items", list_items, methods=["GET"]),
    Route("/v1/conversations/{conversation_id}/items/{item_id}", retrieve_item,
          methods=["GET"]),
    Route("/v1/conversations/{conversation_id}/items/{item_id}", delete_item,
          methods=["DELETE"]),
]
