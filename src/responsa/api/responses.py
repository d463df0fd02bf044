"""/v1/responses: create, retrieve (and replay), delete, cancel, input items, input tokens,
compact."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from responsa.api.json import deleted_response, json_response
from responsa.api.query import bool_param, include_param, int_param, order_param
from responsa.api.sse import EventStreamResponse
from responsa.engine.background import BackgroundRunner
from responsa.engine.compaction import compact
from responsa.engine.follow import RUNNING, TERMINAL_EVENTS
from responsa.engine.run import Engine
from responsa.engine.snapshot import render_input_item, render_response
from responsa.engine.tokens import count_input_tokens
from responsa.errors import InvalidRequestError, NotFoundError
from responsa.protocol.compact import parse_compact_request
from responsa.protocol.input_tokens import parse_input_tokens_request
from responsa.protocol.request import parse_create_request

JSONDict = dict[str, Any]


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def _runner(request: Request) -> BackgroundRunner:
    runner: BackgroundRunner = request.app.state.runner
    return runner


def _not_found(response_id: str) -> NotFoundError:
    return NotFoundError(f"Response with id '{response_id}' not found.")


async def create_response(request: Request) -> Any:
    body = parse_create_request(await request.body()).canonical_body()
    heartbeat = request.app.state.settings.heartbeat_seconds
    include = frozenset(body.get("include") or ())
    if body.get("background"):
        # The run belongs to the server now: a dropped stream only stops its follower.
        runner = _runner(request)
        queued = await runner.submit(body)
        if body.get("stream"):
            return EventStreamResponse(runner.follow(queued["id"], None), include=include,
                                       heartbeat_seconds=heartbeat)
        return json_response(render_response(queued, include))
    run = await _engine(request).create(body)
    # Declared tools the model was not offered (web_search with no search backend).
    headers = ({"x-responsa-tools-unavailable": ",".join(run.unavailable_tools)}
               if run.unavailable_tools else None)
    if body.get("stream"):
        return EventStreamResponse(run.events(), include=include, headers=headers,
                                   heartbeat_seconds=heartbeat)
    async for _ in run.events():
        pass
    return json_response(render_response(run.response, include), headers=headers)


async def retrieve_response(request: Request) -> Any:
    response_id = request.path_params["response_id"]
    query = request.query_params
    include = include_param(query)
    store = _engine(request).store
    if bool_param(query, "stream"):
        starting_after = int_param(query, "starting_after", default=None, minimum=-1)
        events = await store.get_events(response_id, starting_after=starting_after)
        if events is None:
            raise _not_found(response_id)
        heartbeat = request.app.state.settings.heartbeat_seconds
        if not (events and events[-1]["type"] in TERMINAL_EVENTS):
            response = await store.get_response(response_id)
            if response is not None and response["background"] and (
                    response["status"] in RUNNING):
                return EventStreamResponse(
                    _runner(request).follow(response_id, starting_after), include=include,
                    heartbeat_seconds=heartbeat)
        return EventStreamResponse(_replay(events), include=include, heartbeat_seconds=heartbeat)
    response = await store.get_response(response_id)
    if response is None:
        raise _not_found(response_id)
    return json_response(render_response(response, include))


async def _replay(events: list[JSONDict]) -> AsyncIterator[JSONDict]:
    for event in events:
        yield event


async def delete_response(request: Request) -> Response:
    response_id = request.path_params["response_id"]
    if not await _engine(request).store.delete_response(response_id):
        raise _not_found(response_id)
    return deleted_response(response_id, "response")


async def cancel_response(request: Request) -> Response:
    response_id = request.path_params["response_id"]
    response = await _engine(request).store.get_response(response_id)
    if response is None:
        raise _not_found(response_id)
    if not response.get("background"):
        raise InvalidRequestError("Cannot cancel a synchronous response.")
    if response["status"] in RUNNING:
        response = await _runner(request).cancel(response_id)
        if response is None:  # deleted meanwhile
            raise _not_found(response_id)
    elif response["status"] != "cancelled":  # cancelling twice returns the cancelled response
        raise InvalidRequestError("Cannot cancel a response that is not in progress.")
    return json_response(response)


async def list_input_items(request: Request) -> Response:
    response_id = request.path_params["response_id"]
    query = request.query_params
    include = include_param(query)
    limit = int_param(query, "limit", default=20, minimum=1, maximum=100)
    assert limit is not None
    page = await _engine(request).store.list_input_items(
        response_id, after=query.get("after"), limit=limit, order=order_param(query))  # type: ignore[arg-type]
    if page is None:
        raise _not_found(response_id)
    data = [render_input_item(item, include) for item in page.data]
    return json_response({
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": page.has_more,
    })


async def input_tokens(request: Request) -> Response:
    body = parse_input_tokens_request(await request.body()).canonical_body()
    engine = _engine(request)
    count = await count_input_tokens(engine.store, engine.providers, body, engine.sealer,
                                     engine.services.files)
    return json_response({"object": "response.input_tokens", "input_tokens": count})


async def compact_response(request: Request) -> Response:
    body = parse_compact_request(await request.body()).canonical_body()
    engine = _engine(request)
    return json_response(await compact(engine.store, engine.providers, engine.sealer, body))


routes = [
    Route("/v1/responses", create_response, methods=["POST"]),
    # Before the `{response_id}` routes, so the literal path never reads as an id.
    Route("/v1/responses/input_tokens", input_tokens, methods=["POST"]),
    Route("/v1/responses/compact", compact_response, methods=["POST"]),
    Route("/v1/responses/{response_id}", retrieve_response, methods=["GET"]),
    Route("/v1/responses/{response_id}", delete_response, methods=["DELETE"]),
    Route("/v1/responses/{response_id}/cancel", cancel_response, methods=["POST"]),
    Route("/v1/responses/{response_id}/input_items", list_input_items, methods=["GET"]),
]
