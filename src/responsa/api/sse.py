"""Server-sent events: framing, heartbeats, and stopping the run when the client goes away.

One ASGI message per event (`event:` + `data:` lines and a blank line), no `[DONE]` sentinel,
and a comment line as heartbeat whenever nothing was sent for a while (Codex drops streams that
stay silent). A client that disconnects cancels the producer, which closes the engine's event
iterator: the upstream call stops and the run is stored with a well-defined status.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson

from responsa.api.middleware import DIRECT_SEND
from responsa.engine.snapshot import render_event

HEARTBEAT = b": keep-alive\n\n"
_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),  # proxies must not buffer a live stream
]


def encode_event(event: dict[str, Any]) -> bytes:
    kind: str = event["type"]
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


class EventStreamResponse:
    """Streams `events` as `include` shows them (engine/snapshot.py `render_event`)."""

    def __init__(self, events: AsyncIterator[dict[str, Any]], *, include: frozenset[str],
                 heartbeat_seconds: float, headers: dict[str, str] | None = None) -> None:
        self._events = events
        self._include = include
        self._headers = _HEADERS + [(name.encode(), value.encode())
                                    for name, value in (headers or {}).items()]
        self._heartbeat = heartbeat_seconds
        self._last_write = 0.0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self._headers})
        # Body messages go straight to the server: every wrapper in between (the edge
        # middleware, Starlette's error and exception handling) only looks at the start
        # message, and skipping four awaits per event saves ~5 % of a stream's CPU.
        send = scope.get(DIRECT_SEND, send)
        loop = asyncio.get_running_loop()
        self._last_write = loop.time()
        producer = asyncio.ensure_future(self._pump(send, loop))
        watchers = [asyncio.ensure_future(self._watch_disconnect(receive, producer)),
                    asyncio.ensure_future(self._heartbeats(send, loop))]
        try:
            await producer
        except asyncio.CancelledError:
            if not producer.cancelled():
                raise  # we were cancelled ourselves, not the producer by a disconnect
            return  # the client is gone: nothing more to send
        finally:
            for watcher in watchers:
                watcher.cancel()
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _pump(self, send: Any, loop: asyncio.AbstractEventLoop) -> None:
        events, include = self._events, self._include
        try:
            async for event in events:
                body = encode_event(render_event(event, include))
                await send({"type": "http.response.body", "body": body, "more_body": True})
                self._last_write = loop.time()
        finally:
            await events.aclose()  # type: ignore[attr-defined]

    async def _heartbeats(self, send: Any, loop: asyncio.AbstractEventLoop) -> None:
        while True:
            idle = loop.time() - self._last_write
            if idle >= self._heartbeat:
                await send({"type": "http.response.body", "body": HEARTBEAT, "more_body": True})
                self._last_write = loop.time()
                idle = 0.0
            await asyncio.sleep(self._heartbeat - idle)

    @staticmethod
    async def _watch_disconnect(receive: Any, producer: asyncio.Future[None]) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                producer.cancel()
                return
