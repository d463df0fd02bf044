"""/v1/prompts: responsa's own prompt-template API (an extension; the real API manages prompts
in its dashboard). Create a prompt (its version "1"), add versions, list, retrieve (the latest
or `?version=`), delete."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from responsa.api.json import deleted_response, json_response
from responsa.api.query import int_param, order_param
from responsa.errors import NotFoundError
from responsa.ids import new_id
from responsa.protocol.conversations import parse_body
from responsa.protocol.prompts import PromptTemplateRequest
from responsa.store.base import Store


def _store(request: Request) -> Store:
    store: Store = request.app.state.engine.store
    return store


def prompt_not_found(prompt_id: str, version: str | None = None) -> NotFoundError:
    if version is None:
        return NotFoundError(f"Prompt with id '{prompt_id}' not found.")
    return NotFoundError(f"Prompt with id '{prompt_id}' has no version '{version}'.",
                         param="version")


async def create_prompt(request: Request) -> Response:
    body = parse_body(PromptTemplateRequest, await request.body())
    prompt = await _store(request).create_prompt(new_id("pmpt"), int(time.time()),
                                                 body.template())
    return json_response(prompt)


async def create_version(request: Request) -> Response:
    prompt_id = request.path_params["prompt_id"]
    body = parse_body(PromptTemplateRequest, await request.body())
    prompt = await _store(request).add_prompt_version(prompt_id, int(time.time()),
                                                      body.template())
    if prompt is None:
        raise prompt_not_found(prompt_id)
    return json_response(prompt)


async def retrieve_prompt(request: Request) -> Response:
    prompt_id = request.path_params["prompt_id"]
    version = request.query_params.get("version")
    store = _store(request)
    prompt = await store.get_prompt(prompt_id, version)
    if prompt is None:
        if version is not None and await store.get_prompt(prompt_id) is not None:
            raise prompt_not_found(prompt_id, version)
        raise prompt_not_found(prompt_id)
    return json_response(prompt)


async def list_prompts(request: Request) -> Response:
    query = request.query_params
    limit = int_param(query, "limit", default=20, minimum=1, maximum=100)
    assert limit is not None
    page = await _store(request).list_prompts(
        after=query.get("after"), limit=limit,
        order="desc" if order_param(query) == "desc" else "asc")
    data = page.data
    return json_response({
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": page.has_more,
    })


async def delete_prompt(request: Request) -> Response:
    prompt_id = request.path_params["prompt_id"]
    if not await _store(request).delete_prompt(prompt_id):
        raise prompt_not_found(prompt_id)
    return deleted_response(prompt_id, "prompt.deleted")


routes = [
    Route("/v1/prompts", create_prompt, methods=["POST"]),
    Route("/v1/prompts", list_prompts, methods=["GET"]),
    Route("/v1/prompts/{prompt_id}", retrieve_prompt, methods=["GET"]),
    Route("/v1/prompts/{prompt_id}", delete_prompt, methods=["DELETE"]),
    Route("/v1/prompts/{prompt_id}/versions", create_version, methods=["POST"]),
]
