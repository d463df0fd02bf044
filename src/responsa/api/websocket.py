"""WebSocket mode on `/v1/responses`: one socket, sequential `response.create` turns.

Each client message is a `response.create` event: the POST body plus `type`, without the HTTP
transport fields (`stream`, `stream_options`, `background`). Its response streams back as the
same events SSE carries, one JSON text frame each. Messages sent while a response runs wait
their turn (turns never overlap on a connection), up to `MAX_QUEUED`.

Anything wrong with a message is answered with an `error` event (the spec's
`WebSocketErrorEvent`) and the socket stays open. Responses with `store: false` are kept in a
bounded connection-local cache so `previous_response_id` continues them on this socket; a
continuation that fails evicts the response it named, as the spec asks. Connections last at
most `websocket_max_age_seconds` (60 minutes, as OpenAI's), counted between turns: then an
`error` event with `websocket_connection_limit_reached` and the server closes the socket.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import Any

import orjson
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from responsa.engine.run import Engine, ResponseRun
from responsa.engine.snapshot import render_event
from responsa.errors import InvalidRequestError, ResponsaError
from responsa.protocol.request import validate_create_request
from responsa.protocol.validation_errors import INVALID_JSON_MESSAGE

JSONDict = dict[str, Any]
logger = logging.getLogger(__name__)

MAX_QUEUED = 16  # creates waiting behind the running one
CACHED_RESPONSES = 32  # connection-local histories kept for `previous_response_id`
CACHED_BYTES = 64 * 1024 * 1024  # … and their size, as JSON
# HTTP transport fields the spec forbids in `response.create`, and what to say about each.
_TRANSPORT_FIELDS = {
    "stream": "responses are always streamed over a WebSocket",
    "stream_options": "it only applies to HTTP streaming",
    "background": "background responses are not supported over a WebSocket",
}
_CONTINUABLE = frozenset({"completed", "incomplete"})
_POLICY_CLOSE = 1008


class LocalHistory(Mapping[str, list[JSONDict]]):
    """The histories (every item up to and including the output) of this connection's
    responses that the store cannot continue. Kept as JSON, so each lookup gets fresh items as
    from the store; bounded by count and by size, the least recently used going first (the
    newest always stays)."""

    def __init__(self, capacity: int = CACHED_RESPONSES,
                 max_bytes: int = CACHED_BYTES) -> None:
        self._entries: OrderedDict[str, bytes] = OrderedDict()
        self._capacity = capacity
        self._max_bytes = max_bytes
        self._size = 0

    def __getitem__(self, response_id: str) -> list[JSONDict]:
        self._entries.move_to_end(response_id)
        items: list[JSONDict] = orjson.loads(self._entries[response_id])
        return items

    def __contains__(self, response_id: object) -> bool:
        return response_id in self._entries  # without decoding the history

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def keep(self, response_id: str, items: list[JSONDict]) -> None:
        self.evict(response_id)
        data = orjson.dumps(items)
        self._entries[response_id] = data
        self._size += len(data)
        while len(self._entries) > 1 and (len(self._entries) > self._capacity
                                          or self._size > self._max_bytes):
            _, dropped = self._entries.popitem(last=False)
            self._size -= len(dropped)

    def evict(self, response_id: str | None) -> None:
        dropped = self._entries.pop(response_id, None) if response_id is not None else None
        if dropped is not None:
            self._size -= len(dropped)


def parse_client_event(text: str | bytes) -> JSONDict:
    """A `response.create` message → the create body the engine takes (always streamed)."""
    try:
        event = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise InvalidRequestError(INVALID_JSON_MESSAGE, code="invalid_json") from None
    if not isinstance(event, dict):
        raise InvalidRequestError("Expected the event to be a JSON object.", code="invalid_type")
    kind = event.pop("type", None)
    if kind != "response.create":
        shown = "" if kind is None else f": '{kind}'"
        raise InvalidRequestError(
            f"Invalid value{shown}. Supported values are: 'response.create'.",
            param="type", code="missing_required_parameter" if kind is None else "invalid_value")
    for name, why in _TRANSPORT_FIELDS.items():
        if name in event:
            raise InvalidRequestError(
                f"The '{name}' parameter is not allowed in WebSocket mode: {why}.",
                param=name, code="unsupported_parameter")
    # OpenAI's extensions of the event: lanes and warm-up requests are not implemented.
    if "stream_id" in event:
        raise InvalidRequestError("Multiplexed WebSocket streams ('stream_id') are not "
                                  "supported.", param="stream_id", code="unsupported_parameter")
    if event.pop("generate", True) is not True:
        raise InvalidRequestError("Warm-up requests ('generate: false') are not supported.",
                                  param="generate", code="unsupported_parameter")
    body = validate_create_request(event).canonical_body()
    body["stream"] = True  # the upstream call streams, as for an SSE request
    return body


def error_event(error: ResponsaError) -> JSONDict:
    """The spec's `WebSocketErrorEvent`: the HTTP status and OpenAI's error object. The spec
    requires a string `code`, so an error without one carries its type there."""
    detail = error.to_dict()
    if detail["code"] is None:
        detail["code"] = detail["type"]
    return {"type": "error", "status": error.status_code, "error": detail}


class ResponsesSocket:
    """One accepted connection: a reader that queues messages and notices the client leaving,
    and a worker that runs them one at a time."""

    def __init__(self, websocket: WebSocket, engine: Engine, *, max_age: float) -> None:
        self._ws = websocket
        self._engine = engine
        self._history = LocalHistory()
        self._inbox: asyncio.Queue[str | bytes] = asyncio.Queue()
        self._send_lock = asyncio.Lock()
        self._deadline = asyncio.get_running_loop().time() + max_age

    async def serve(self) -> None:
        """Until the client leaves or the connection is over. A response still running then
        stops, and is stored as its SSE twin is when the client goes away."""
        tasks = [asyncio.ensure_future(self._read()), asyncio.ensure_future(self._work())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, Exception) and not isinstance(outcome, WebSocketDisconnect):
                raise outcome

    async def _read(self) -> None:
        while True:
            message = await self._ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("text")
            if data is None:
                data = message.get("bytes") or b""
            if self._inbox.qsize() >= MAX_QUEUED:
                await self._send(error_event(InvalidRequestError(
                    f"Too many response.create events waiting: at most {MAX_QUEUED} may wait "
                    "for the running response.", code="too_many_pending_requests")))
                continue
            self._inbox.put_nowait(data)

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            data: str | bytes | None
            try:
                data = await asyncio.wait_for(self._inbox.get(), self._deadline - loop.time())
            except TimeoutError:
                data = None  # idle at the limit: the connection ends now
            if data is None or loop.time() >= self._deadline:  # never cut a response short
                await self._send(error_event(InvalidRequestError(
                    "Responses websocket connection limit reached. Create a new websocket "
                    "connection to continue.", code="websocket_connection_limit_reached")))
                await self._ws.close(_POLICY_CLOSE)
                return
            await self._turn(data)

    async def _turn(self, data: str | bytes) -> None:
        previous_id: str | None = None
        try:
            body = parse_client_event(data)
            previous_id = body.get("previous_response_id")
            from_history = previous_id in self._history
            run = await self._engine.create(body, local=self._history)
        except ResponsaError as exc:
            self._history.evict(previous_id)  # a failed continuation evicts what it named
            await self._send(error_event(exc))
            return
        except Exception:  # a bug: answered like the HTTP path's 500, the socket stays usable
            logger.exception("response.create failed on a WebSocket")
            await self._send(error_event(ResponsaError(
                "The server had an error while processing your request.")))
            return
        await self._stream(run, frozenset(body.get("include") or ()))
        response = run.response
        if response["status"] not in _CONTINUABLE:
            self._history.evict(previous_id)
        elif not response["store"] or from_history:
            # Unstored, or stored on top of an unstored chain the store cannot rebuild.
            self._history.keep(response["id"], [*run.context.items, *response["output"]])

    async def _stream(self, run: ResponseRun, include: frozenset[str]) -> None:
        events = run.events()
        try:
            async for event in events:
                await self._send(render_event(event, include))
        finally:
            await events.aclose()  # type: ignore[attr-defined]

    async def _send(self, event: JSONDict) -> None:
        async with self._send_lock:
            await self._ws.send_text(orjson.dumps(event).decode())


async def responses_socket(websocket: WebSocket) -> None:
    await websocket.accept()
    max_age = websocket.app.state.settings.websocket_max_age_seconds
    await ResponsesSocket(websocket, websocket.app.state.engine, max_age=max_age).serve()


routes = [WebSocketRoute("/v1/responses", responses_socket)]
