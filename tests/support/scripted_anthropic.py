"""An Anthropic Messages upstream that plays exact scripts, as Anthropic documents the dialect.

`POST /v1/messages` streams `event: <type>` + `data: <json>` frames (or, without `stream`,
answers the whole Message assembled from the same events); `POST /v1/messages/count_tokens`
and `GET /v1/models` answer too. Every request is recorded with its path and headers. As in
`scripted_upstream.py` (whose server thread this reuses), the request's `model` names the
script, so `<provider>/<name>` through responsa plays `<name>`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson

from tests.support.asgi import read_body
from tests.support.scripted_upstream import Drop, Pause, ScriptedUpstream, _send_json

JSONDict = dict[str, Any]


@dataclass
class MessagesScript:
    # event dicts (sent as `event:` + `data:` frames), raw bytes, Pause or Drop
    events: list[Any] = field(default_factory=list)
    status: int = 200
    error: JSONDict | None = None  # body for a non-2xx answer


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: JSONDict


def message_start(input_tokens: int = 10, *, cache_read: int = 0,
                  cache_creation: int = 0) -> JSONDict:
    return {"type": "message_start", "message": {
        "id": "msg_01scripted", "type": "message", "role": "assistant", "content": [],
        "model": "scripted", "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": 1,
                  "cache_creation_input_tokens": cache_creation,
                  "cache_read_input_tokens": cache_read}}}


def block_start(index: int, block: JSONDict) -> JSONDict:
    return {"type": "content_block_start", "index": index, "content_block": block}


def block_delta(index: int, delta: JSONDict) -> JSONDict:
    return {"type": "content_block_delta", "index": index, "delta": delta}


def block_stop(index: int) -> JSONDict:
    return {"type": "content_block_stop", "index": index}


def message_end(stop_reason: str = "end_turn", output_tokens: int = 7) -> list[JSONDict]:
    return [{"type": "message_delta",
             "delta": {"stop_reason": stop_reason, "stop_sequence": None},
             "usage": {"output_tokens": output_tokens}},
            {"type": "message_stop"}]


def text_block(index: int, *pieces: str) -> list[JSONDict]:
    return [block_start(index, {"type": "text", "text": ""}),
            *(block_delta(index, {"type": "text_delta", "text": piece}) for piece in pieces),
            block_stop(index)]


def tool_block(index: int, tool_id: str, name: str, *json_pieces: str) -> list[JSONDict]:
    return [block_start(index, {"type": "tool_use", "id": tool_id, "name": name, "input": {}}),
            *(block_delta(index, {"type": "input_json_delta", "partial_json": piece})
              for piece in json_pieces),
            block_stop(index)]


def thinking_block(index: int, *pieces: str, signature: str = "c2lnbmF0dXJl") -> list[JSONDict]:
    return [block_start(index, {"type": "thinking", "thinking": ""}),
            *(block_delta(index, {"type": "thinking_delta", "thinking": piece})
              for piece in pieces),
            block_delta(index, {"type": "signature_delta", "signature": signature}),
            block_stop(index)]


def text_script(*pieces: str, stop_reason: str = "end_turn") -> MessagesScript:
    return MessagesScript([message_start(), {"type": "ping"}, *text_block(0, *pieces),
                           *message_end(stop_reason)])


class ScriptedAnthropic(ScriptedUpstream):
    def __init__(self, provider: str = "claude") -> None:
        super().__init__()
        self.provider = provider
        self.anthropic_scripts: dict[str, MessagesScript] = {}
        self.recorded: list[Recorded] = []
        self.token_count = 321  # what count_tokens answers

    def play(self, script: MessagesScript) -> str:  # type: ignore[override]
        name = f"claude{len(self.anthropic_scripts)}"
        self.anthropic_scripts[name] = script
        return f"{self.provider}/{name}"

    def last(self, model: str, path: str = "/v1/messages") -> Recorded:
        """The last request to `path` for `model` (`name` or `provider/name`)."""
        name = model.removeprefix(f"{self.provider}/")
        return next(r for r in reversed(self.recorded)
                    if r.path == path and r.body.get("model") == name)

    def last_request(self, model: str) -> JSONDict:
        return self.last(model).body

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await super().__call__(scope, receive, send)
            return
        raw = await read_body(receive)
        path = scope["path"]
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        if path == "/v1/models":
            await _send_json(send, 200, {"data": [
                {"type": "model", "id": name, "display_name": name,
                 "created_at": "2025-01-01T00:00:00Z"} for name in self.anthropic_scripts],
                "has_more": False, "first_id": None, "last_id": None})
            return
        body = orjson.loads(raw)
        self.recorded.append(Recorded(path, headers, body))
        if headers.get("anthropic-version") != "2023-06-01" or "x-api-key" not in headers:
            await _send_json(send, 401, _error("authentication_error", "invalid x-api-key"))
            return
        if path == "/v1/messages/count_tokens":
            await _send_json(send, 200, {"input_tokens": self.token_count})
            return
        script = self.anthropic_scripts.get(body.get("model", ""))
        if path != "/v1/messages" or script is None:
            await _send_json(send, 404, _error("not_found_error", f"no such script at {path}"))
            return
        if "max_tokens" not in body:
            await _send_json(send, 400, _error("invalid_request_error",
                                               "max_tokens: Field required"))
            return
        if script.status != 200:
            await _send_json(send, script.status,
                             script.error or _error("api_error", "Internal server error"))
            return
        if not body.get("stream"):
            await _send_whole(send, script)
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream")]})
        for item in script.events:
            if isinstance(item, Pause):
                await asyncio.sleep(item.seconds)
                continue
            if isinstance(item, Drop):
                return  # uvicorn closes the connection on an unfinished body
            data = item if isinstance(item, bytes) else (
                f"event: {item['type']}\n".encode() + b"data: " + orjson.dumps(item) + b"\n\n")
            await send({"type": "http.response.body", "body": data, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _error(kind: str, message: str) -> JSONDict:
    return {"type": "error", "error": {"type": kind, "message": message}}


async def _send_whole(send: Any, script: MessagesScript) -> None:
    """A non-streamed request gets the script's events assembled into one Message."""
    message: JSONDict = {}
    partial_json: dict[int, str] = {}
    for item in script.events:
        if isinstance(item, Pause):
            await asyncio.sleep(item.seconds)
            continue
        if isinstance(item, Drop | bytes):
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b'{"id": "ms'})
            return
        kind = item["type"]
        if kind == "message_start":
            message = {**item["message"], "content": []}
        elif kind == "content_block_start":
            message["content"].append(dict(item["content_block"]))
        elif kind == "content_block_delta":
            block, delta = message["content"][item["index"]], item["delta"]
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            elif delta["type"] == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif delta["type"] == "signature_delta":
                block["signature"] = delta["signature"]
            elif delta["type"] == "input_json_delta":
                partial_json[item["index"]] = (partial_json.get(item["index"], "")
                                               + delta["partial_json"])
        elif kind == "content_block_stop" and item["index"] in partial_json:
            message["content"][item["index"]]["input"] = orjson.loads(
                partial_json[item["index"]])
        elif kind == "message_delta":
            message.update(item["delta"])
            message["usage"] = {**message["usage"], **item["usage"]}
        elif kind == "error":
            await _send_json(send, 529, {"type": "error", "error": item["error"]})
            return
    await _send_json(send, 200, message)
