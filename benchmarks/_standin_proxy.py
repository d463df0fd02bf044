"""The minimum possible Responses proxy: the floor responsa's own CPU per request is judged by.

    python benchmarks/_standin_proxy.py serve --host 127.0.0.1 --port 8000 \
        --database sqlite:///tmp/bench.db --provider fake=http://127.0.0.1:9000/v1

Same command line as `responsa serve`. Per `POST /v1/responses` (text input, `store: true`) it
makes one upstream chat-completions call, answers with a Responses object or the Responses SSE
event sequence (one `response.output_text.delta` per upstream chunk), and inserts the finished
response into SQLite. Nothing else: no validation, no conversation state, no tools. It runs on
the stack responsa uses (a raw ASGI callable on uvicorn with httptools and uvloop, aiohttp to
the upstream, orjson), so the gap between it and responsa is what responsa's features cost.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

import aiohttp
import orjson

JSON = dict[str, Any]
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

SSE_HEADERS = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
JSON_HEADERS = [(b"content-type", b"application/json")]


def new_id(prefix: str) -> str:
    return prefix + os.urandom(16).hex()


def messages(inp: str | list[JSON]) -> list[JSON]:
    """Responses input -> chat messages, for plain text and message items only."""
    if isinstance(inp, str):
        return [{"role": "user", "content": inp}]
    out = []
    for item in inp:
        content = item.get("content", "")
        if isinstance(content, list):
            content = "".join(p.get("text", "") for p in content)
        out.append({"role": item.get("role", "user"), "content": content})
    return out


def response_obj(
    resp_id: str,
    created: int,
    model: str,
    req: JSON,
    status: str,
    output: list[JSON],
    usage: JSON | None,
) -> JSON:
    return {
        "id": resp_id,
        "object": "response",
        "created_at": created,
        "status": status,
        "error": None,
        "incomplete_details": None,
        "instructions": req.get("instructions"),
        "max_output_tokens": None,
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": bool(req.get("store", True)),
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage,
        "user": None,
        "metadata": {},
    }


def message_item(msg_id: str, text: str | None) -> JSON:
    """The assistant message: in progress and empty while `text` is None."""
    if text is None:
        return {
            "id": msg_id,
            "type": "message",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }
    return {
        "id": msg_id,
        "type": "message",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def usage_of(u: JSON | None) -> JSON | None:
    if not u:
        return None
    return {
        "input_tokens": u.get("prompt_tokens", 0),
        "output_tokens": u.get("completion_tokens", 0),
        "total_tokens": u.get("total_tokens", 0),
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens_details": {"reasoning_tokens": 0},
    }


class Proxy:
    def __init__(self, db_path: str, providers: dict[str, str]) -> None:
        self.providers = providers
        # Synchronous sqlite3 on the loop: an insert in WAL mode costs tens of microseconds,
        # less than a hop to a thread would.
        self.db = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS responses "
            "(id TEXT PRIMARY KEY, created_at INTEGER, body BLOB)"
        )
        self.session: aiohttp.ClientSession | None = None

    def store(self, resp: JSON) -> None:
        self.db.execute(
            "INSERT INTO responses VALUES (?, ?, ?)",
            (resp["id"], resp["created_at"], orjson.dumps(resp)),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/health":
            await respond(send, 200, b'{"status":"ok"}')
        elif scope["path"] == "/v1/responses" and scope["method"] == "POST":
            body = b""
            while True:
                msg = await receive()
                body += msg.get("body", b"")
                if not msg.get("more_body"):
                    break
            await self.create(orjson.loads(body), send)
        else:
            await respond(send, 404, b'{"error":{"message":"not found"}}')

    async def create(self, req: JSON, send: Send) -> None:
        if self.session is None:  # created on the serving loop
            self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        provider, _, upstream_model = req["model"].partition("/")
        stream = bool(req.get("stream"))
        chat: JSON = {"model": upstream_model, "messages": messages(req["input"])}
        if stream:
            chat["stream"] = True
            chat["stream_options"] = {"include_usage": True}
        resp_id, msg_id, created = new_id("resp_"), new_id("msg_"), int(time.time())
        url = self.providers[provider] + "/chat/completions"
        async with self.session.post(
            url, data=orjson.dumps(chat), headers={"content-type": "application/json"}
        ) as up:
            if up.status != 200:
                await respond(send, 502, orjson.dumps({"error": {"message": await up.text()}}))
                return
            if not stream:
                data = orjson.loads(await up.read())
                text = data["choices"][0]["message"]["content"] or ""
                resp = response_obj(
                    resp_id,
                    created,
                    req["model"],
                    req,
                    "completed",
                    [message_item(msg_id, text)],
                    usage_of(data.get("usage")),
                )
                self.store(resp)
                await respond(send, 200, orjson.dumps(resp))
                return

            seq = 0

            async def event(kind: str, payload: JSON, more: bool = True) -> None:
                nonlocal seq
                data = orjson.dumps({"type": kind, "sequence_number": seq, **payload})
                seq += 1
                await send(
                    {
                        "type": "http.response.body",
                        "more_body": more,
                        "body": b"event: " + kind.encode() + b"\ndata: " + data + b"\n\n",
                    }
                )

            await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
            shell = response_obj(resp_id, created, req["model"], req, "in_progress", [], None)
            await event("response.created", {"response": shell})
            await event("response.in_progress", {"response": shell})
            where = {"item_id": msg_id, "output_index": 0, "content_index": 0}
            await event(
                "response.output_item.added",
                {"output_index": 0, "item": message_item(msg_id, None)},
            )
            await event(
                "response.content_part.added",
                {**where, "part": {"type": "output_text", "text": "", "annotations": []}},
            )
            parts: list[str] = []
            usage = None
            async for payload in sse_data(up.content):
                chunk = orjson.loads(payload)
                if chunk.get("usage"):
                    usage = usage_of(chunk["usage"])
                for choice in chunk["choices"]:
                    delta = choice["delta"].get("content")
                    if delta:
                        parts.append(delta)
                        await event(
                            "response.output_text.delta", {**where, "delta": delta, "logprobs": []}
                        )
        text = "".join(parts)
        part = {"type": "output_text", "text": text, "annotations": []}
        item = message_item(msg_id, text)
        await event("response.output_text.done", {**where, "text": text, "logprobs": []})
        await event("response.content_part.done", {**where, "part": part})
        await event("response.output_item.done", {"output_index": 0, "item": item})
        resp = response_obj(resp_id, created, req["model"], req, "completed", [item], usage)
        self.store(resp)
        await event("response.completed", {"response": resp}, more=False)


async def sse_data(content: aiohttp.StreamReader) -> AsyncIterator[bytes]:
    """The `data:` payloads of an SSE body up to `[DONE]`. Splits raw reads by hand: cheaper
    than aiohttp's line iterator (see http_clients.py)."""
    buf = b""
    async for data in content.iter_any():
        buf += data
        if b"\n" not in data:
            continue
        *lines, buf = buf.split(b"\n")
        for line in lines:
            if line.startswith(b"data: "):
                payload = line[6:].rstrip()
                if payload == b"[DONE]":
                    return
                yield payload


async def respond(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*JSON_HEADERS, (b"content-length", b"%d" % len(body))],
        }
    )
    await send({"type": "http.response.body", "body": body})


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--database", default="sqlite:///standin.db")
    serve.add_argument("--provider", action="append", default=[], help="name=base_url")
    args = ap.parse_args(argv)

    import uvicorn

    providers = dict(p.split("=", 1) for p in args.provider)
    app = Proxy(args.database.removeprefix("sqlite:///"), providers)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        ws="none",
        lifespan="off",
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
