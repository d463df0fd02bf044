"""A pass-through HTTP proxy that records what a client and responsa exchange.

Put between a client that cannot be instrumented (the Codex CLI) and responsa: every request
body, the status answered and, for event streams, the events relayed. It is a real server on
127.0.0.1 (uvicorn in a thread) that streams through as it receives.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.support.asgi import ThreadedAsgiServer, answer_lifespan, read_body


@dataclass
class Exchange:
    method: str
    path: str
    headers: dict[str, str]
    body: Any  # the JSON request body (None when there was none)
    status: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)  # SSE `data:` payloads
    text: str = ""  # a non-stream answer


class RecordingProxy(ThreadedAsgiServer):
    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")  # e.g. http://127.0.0.1:PORT
        self.exchanges: list[Exchange] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await answer_lifespan(receive, send)
            return
        raw = await read_body(receive)
        headers = {key.decode(): value.decode() for key, value in scope["headers"]
                   if key.lower() not in (b"host", b"content-length")}
        exchange = Exchange(scope["method"], scope["path"], headers,
                            json.loads(raw) if raw else None)
        self.exchanges.append(exchange)
        url = self.target + scope["path"] + (
            "?" + scope["query_string"].decode() if scope["query_string"] else "")
        async with httpx.AsyncClient(timeout=120) as client, client.stream(
                scope["method"], url, headers=headers, content=raw) as reply:
            exchange.status = reply.status_code
            await send({"type": "http.response.start", "status": reply.status_code,
                        "headers": [(k.encode(), v.encode()) for k, v in reply.headers.items()
                                    if k.lower() not in ("content-length", "transfer-encoding",
                                                         "content-encoding")]})
            pending = ""
            async for piece in reply.aiter_text():
                if reply.headers.get("content-type", "").startswith("text/event-stream"):
                    pending += piece
                    *frames, pending = pending.split("\n\n")
                    exchange.events += [json.loads(line[6:]) for frame in frames
                                        for line in frame.split("\n") if line.startswith("data: ")]
                else:
                    exchange.text += piece
                await send({"type": "http.response.body", "body": piece.encode(),
                            "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    def responses(self) -> list[Exchange]:
        """The `POST …/responses` exchanges, in order."""
        return [e for e in self.exchanges if e.method == "POST" and e.path.endswith("/responses")]
