"""A fake OpenAI-compatible chat-completions upstream that costs as little CPU as possible.

    python benchmarks/fake_upstream.py [--port 0] [--tokens 200] [--token-interval-ms 1]

Prints the bound port on stdout (one line), then serves on 127.0.0.1 until killed:

- POST /v1/chat/completions: JSON, or with `"stream": true` SSE: a role chunk, N content chunks,
  a finish chunk, a usage chunk when `stream_options.include_usage`, then `data: [DONE]`.
- GET /v1/models, GET /health.

Every response body is built once per (model, include_usage) and cached, so a request costs one
HTTP parse, one `orjson.loads` of its body and the writes. Streamed chunks are paced by one
shared ticker, like a batching engine that emits one token for every live sequence per step:
each chunk then reaches the proxy as its own read, as with a real model. `--token-interval-ms 0`
writes the whole stream at once instead (cheapest, but flatters the proxy: chunks coalesce).

`--impl` picks the server: `protocol` (default; an asyncio protocol on uvloop with httptools'
parser), or `asgi` / `starlette` (the same app on uvicorn with httptools and uvloop), which
exist for the server-side comparison in http_clients.py. HTTP/1.1 keep-alive, no pipelining
(neither httpx nor aiohttp pipelines).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any, cast

import httptools
import orjson

CREATED = 1_700_000_000
PROMPT_TOKENS = 12
TOKEN_TEXT = " tok"

JSON = dict[str, Any]
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class Payloads:
    """Response bodies, built on first use per model and cached."""

    def __init__(self, tokens: int) -> None:
        self.tokens = tokens
        self._json: dict[str, bytes] = {}
        self._events: dict[tuple[str, bool], list[bytes]] = {}
        self.models = orjson.dumps(
            {
                "object": "list",
                "data": [
                    {"id": "bench", "object": "model", "created": CREATED, "owned_by": "bench"}
                ],
            }
        )

    def _usage(self) -> JSON:
        return {
            "prompt_tokens": PROMPT_TOKENS,
            "completion_tokens": self.tokens,
            "total_tokens": PROMPT_TOKENS + self.tokens,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
        }

    def completion(self, model: str) -> bytes:
        body = self._json.get(model)
        if body is None:
            body = self._json[model] = orjson.dumps(
                {
                    "id": "chatcmpl-bench",
                    "object": "chat.completion",
                    "created": CREATED,
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {
                                "role": "assistant",
                                "content": TOKEN_TEXT * self.tokens,
                                "refusal": None,
                                "annotations": [],
                            },
                            "logprobs": None,
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": self._usage(),
                    "system_fingerprint": None,
                }
            )
        return body

    def events(self, model: str, include_usage: bool) -> list[bytes]:
        """The SSE events of one stream, each `data: …\\n\\n`: role, N tokens, finish, [usage],
        [DONE]."""
        key = (model, include_usage)
        events = self._events.get(key)
        if events is None:

            def chunk(delta: JSON, finish: str | None = None) -> bytes:
                obj: JSON = {
                    "id": "chatcmpl-bench",
                    "object": "chat.completion.chunk",
                    "created": CREATED,
                    "model": model,
                    "system_fingerprint": None,
                    "choices": [
                        {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                    ],
                }
                if include_usage:
                    obj["usage"] = None  # as OpenAI sends on every chunk but the last
                return b"data: " + orjson.dumps(obj) + b"\n\n"

            token = chunk({"content": TOKEN_TEXT})
            events = [chunk({"role": "assistant", "content": ""})]
            events += [token] * self.tokens
            events.append(chunk({}, "stop"))
            if include_usage:
                usage = {
                    "id": "chatcmpl-bench",
                    "object": "chat.completion.chunk",
                    "created": CREATED,
                    "model": model,
                    "system_fingerprint": None,
                    "choices": [],
                    "usage": self._usage(),
                }
                events.append(b"data: " + orjson.dumps(usage) + b"\n\n")
            events.append(b"data: [DONE]\n\n")
            self._events[key] = events
        return events


def parse_request(body: bytes) -> tuple[str, bool, bool] | None:
    """(model, stream, include_usage) of a chat-completions body, None if it is not JSON."""
    try:
        req = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        return None
    if not isinstance(req, dict):
        return None
    opts = req.get("stream_options") or {}
    return str(req.get("model", "bench")), bool(req.get("stream")), bool(opts.get("include_usage"))


class Ticker:
    """One timer for all live streams: each tick, every subscriber gets its next chunk. Costs one
    wake-up per interval instead of one per stream per token."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._subscribers: dict[object, Callable[[], bool]] = {}
        self._handle: asyncio.TimerHandle | None = None
        self._waiters: asyncio.Future[None] | None = None

    def subscribe(self, key: object, step: Callable[[], bool]) -> None:
        """`step()` runs once per tick until it returns False."""
        self._subscribers[key] = step
        self._arm()

    def unsubscribe(self, key: object) -> None:
        self._subscribers.pop(key, None)

    def __contains__(self, key: object) -> bool:
        return key in self._subscribers

    async def wait(self) -> None:
        """For coroutine servers (ASGI): resumes at the next tick, shared by all waiters."""
        if self._waiters is None:
            self._waiters = asyncio.get_running_loop().create_future()
            self._arm()
        await asyncio.shield(self._waiters)

    def _arm(self) -> None:
        if self._handle is None:
            self._handle = asyncio.get_running_loop().call_later(self.interval_s, self._tick)

    def _tick(self) -> None:
        self._handle = None
        for key, step in list(self._subscribers.items()):
            if not step():
                self._subscribers.pop(key, None)
        waiters, self._waiters = self._waiters, None
        if waiters is not None and not waiters.done():
            waiters.set_result(None)
        if self._subscribers:
            self._arm()


# --- The protocol server: the cheap one ------------------------------------------------------

_STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
    b"transfer-encoding: chunked\r\n"
)


def _chunked(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


class UpstreamProtocol(asyncio.Protocol):
    """HTTP/1.1 over httptools' C parser; one request at a time per connection."""

    def __init__(self, payloads: Payloads, ticker: Ticker | None) -> None:
        self.payloads = payloads
        self.ticker = ticker
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.body: list[bytes] = []
        self.keep_alive = True

    # asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._respond(400, b"text/plain", b"bad request")
            self._close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.ticker is not None:
            self.ticker.unsubscribe(self)
        self.transport = None

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.url = b""
        self.body = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()
        method = self.parser.get_method()
        path = self.url.split(b"?", 1)[0]
        if method == b"POST" and path == b"/v1/chat/completions":
            self._chat(b"".join(self.body))
        elif method == b"GET" and path == b"/v1/models":
            self._respond(200, b"application/json", self.payloads.models)
        elif method == b"GET" and path == b"/health":
            self._respond(200, b"text/plain", b"ok")
        else:
            self._respond(404, b"application/json", b'{"error":{"message":"not found"}}')
        if not self.keep_alive and not self._streaming():
            self._close()

    # responses
    def _streaming(self) -> bool:
        return self.ticker is not None and self in self.ticker

    def _respond(self, status: int, content_type: bytes, body: bytes) -> None:
        if self.transport is None:
            return
        reason = {200: b"OK", 400: b"Bad Request", 404: b"Not Found"}[status]
        close = b"" if self.keep_alive else b"connection: close\r\n"
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %d\r\n%s\r\n%s"
            % (status, reason, content_type, len(body), close, body)
        )

    def _chat(self, body: bytes) -> None:
        parsed = parse_request(body)
        if parsed is None:
            self._respond(400, b"application/json", b'{"error":{"message":"invalid JSON"}}')
            return
        model, stream, include_usage = parsed
        if not stream:
            self._respond(200, b"application/json", self.payloads.completion(model))
            return
        assert self.transport is not None
        events = self.payloads.events(model, include_usage)
        head = _STREAM_HEAD + (b"\r\n" if self.keep_alive else b"connection: close\r\n\r\n")
        if self.ticker is None:  # burst: the whole stream in one write
            self.transport.write(head + b"".join(map(_chunked, events)) + b"0\r\n\r\n")
            return
        self.transport.write(head + _chunked(events[0]))
        # Tokens one per tick; finish, usage and [DONE] go out together after the last token.
        tail = b"".join(map(_chunked, events[1 + self.payloads.tokens :])) + b"0\r\n\r\n"
        pending = iter(events[1 : 1 + self.payloads.tokens])

        def step() -> bool:
            if self.transport is None:
                return False
            event = next(pending, None)
            if event is not None:
                self.transport.write(_chunked(event))
                return True
            self.transport.write(tail)
            if not self.keep_alive:
                self._close()
            return False

        self.ticker.subscribe(self, step)

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def serve_protocol(sock: socket.socket, payloads: Payloads, ticker: Ticker | None) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: UpstreamProtocol(payloads, ticker), sock=sock)
    async with server:
        await server.serve_forever()


# --- ASGI versions, for the server-side comparison --------------------------------------------


def asgi_app(
    payloads: Payloads, ticker: Ticker | None
) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """A raw ASGI callable: no framework between uvicorn and the handler."""

    async def send_body(send: Send, status: int, content_type: bytes, body: bytes) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", content_type),
                    (b"content-length", b"%d" % len(body)),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if method == "POST" and path == "/v1/chat/completions":
            body = b""
            while True:
                msg = await receive()
                body += msg.get("body", b"")
                if not msg.get("more_body"):
                    break
            parsed = parse_request(body)
            if parsed is None:
                await send_body(send, 400, b"application/json", b'{"error":{"message":"bad"}}')
                return
            model, stream, include_usage = parsed
            if not stream:
                await send_body(send, 200, b"application/json", payloads.completion(model))
                return
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"text/event-stream"),
                        (b"cache-control", b"no-cache"),
                    ],
                }
            )
            async for event in paced(
                payloads.events(model, include_usage), payloads.tokens, ticker
            ):
                await send({"type": "http.response.body", "body": event, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        elif method == "GET" and path == "/v1/models":
            await send_body(send, 200, b"application/json", payloads.models)
        elif method == "GET" and path == "/health":
            await send_body(send, 200, b"text/plain", b"ok")
        else:
            await send_body(send, 404, b"application/json", b'{"error":{"message":"not found"}}')

    return app


async def paced(events: list[bytes], tokens: int, ticker: Ticker | None) -> AsyncIterator[bytes]:
    """The events with the same pacing as the protocol server: role at once, a token per tick,
    the rest together after the last token."""
    if ticker is None:
        yield b"".join(events)
        return
    yield events[0]
    for event in events[1 : 1 + tokens]:
        await ticker.wait()
        yield event
    yield b"".join(events[1 + tokens :])


def starlette_app(payloads: Payloads, ticker: Ticker | None) -> Any:
    """The same endpoints as a plain Starlette app (routing, Request, Response classes)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response, StreamingResponse
    from starlette.routing import Route

    async def chat(request: Request) -> Response:
        parsed = parse_request(await request.body())
        if parsed is None:
            return Response(b'{"error":{"message":"bad"}}', 400, media_type="application/json")
        model, stream, include_usage = parsed
        if not stream:
            return Response(payloads.completion(model), media_type="application/json")
        return StreamingResponse(
            paced(payloads.events(model, include_usage), payloads.tokens, ticker),
            media_type="text/event-stream",
            headers={"cache-control": "no-cache"},
        )

    async def models(request: Request) -> Response:
        return Response(payloads.models, media_type="application/json")

    async def health(request: Request) -> Response:
        return Response(b"ok", media_type="text/plain")

    return Starlette(
        routes=[
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
            Route("/health", health, methods=["GET"]),
        ]
    )


# --- Entry point ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port (printed)")
    ap.add_argument("--tokens", type=int, default=200, help="content chunks per stream")
    ap.add_argument(
        "--token-interval-ms",
        type=float,
        default=1.0,
        help="pause between streamed tokens; 0 writes each stream at once",
    )
    ap.add_argument("--impl", choices=["protocol", "asgi", "starlette"], default="protocol")
    args = ap.parse_args(argv)

    import uvloop

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(4096)  # listening before the port is printed: clients may connect at once
    print(sock.getsockname()[1], flush=True)

    payloads = Payloads(args.tokens)
    interval = args.token_interval_ms / 1000

    async def run() -> None:
        ticker = Ticker(interval) if interval > 0 else None
        if args.impl == "protocol":
            await serve_protocol(sock, payloads, ticker)
            return
        import uvicorn

        app = (asgi_app if args.impl == "asgi" else starlette_app)(payloads, ticker)
        config = uvicorn.Config(
            app,
            loop="none",
            http="httptools",
            ws="none",
            lifespan="off",
            access_log=False,
            log_level="warning",
        )
        await uvicorn.Server(config).serve(sockets=[sock])

    uvloop.run(run())


if __name__ == "__main__":
    main()
