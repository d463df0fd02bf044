"""A native Responses upstream that plays exact scripts, with the event shapes OpenAI documents.

`POST /v1/responses` streams `event: <type>` + `data: <json>` frames (sequence numbers added
here), or, without `stream`, answers the Response object the script's terminal event carries;
`POST /v1/responses/input_tokens` and `GET /v1/models` answer too. Every request is recorded
with its path and headers. As in `scripted_upstream.py` (whose server thread this reuses), the
request's `model` names the script, so `<provider>/<name>` through responsa plays `<name>`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson

from tests.support.asgi import read_body
from tests.support.scripted_upstream import Drop, Pause, ScriptedUpstream, _send_json

JSONDict = dict[str, Any]
TERMINAL = ("response.completed", "response.incomplete", "response.failed")


@dataclass
class ResponsesScript:
    # event dicts (sent as `event:` + `data:` frames), raw bytes, Pause or Drop
    events: list[Any] = field(default_factory=list)
    status: int = 200
    error: JSONDict | None = None  # body for a non-2xx answer


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: JSONDict


def response(status: str = "in_progress", output: list[JSONDict] | None = None,
             **fields: Any) -> JSONDict:
    return {"id": "resp_upstream", "object": "response", "created_at": 0, "model": "scripted",
            "status": status, "output": output or [], "error": None,
            "incomplete_details": None, "usage": None, **fields}


def usage(input_tokens: int = 10, output_tokens: int = 7, *, cached: int = 0,
          reasoning: int = 0) -> JSONDict:
    return {"input_tokens": input_tokens, "input_tokens_details": {"cached_tokens": cached},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": input_tokens + output_tokens}


def opening() -> list[JSONDict]:
    return [{"type": "response.created", "response": response()},
            {"type": "response.in_progress", "response": response()}]


def message(index: int, *pieces: str, refusal: bool = False,
            logprobs: list[JSONDict] | None = None) -> tuple[list[JSONDict], JSONDict]:
    """The events of one assistant message at `output_index` `index`, and the finished item."""
    item_id = f"msg_up{index}"
    kind, key, delta = (("refusal", "refusal", "response.refusal.delta") if refusal else
                        ("output_text", "text", "response.output_text.delta"))
    part: JSONDict = {"type": kind, key: ""}
    if not refusal:
        part.update(annotations=[], logprobs=[])
    done_part = {**part, key: "".join(pieces)}
    if logprobs and not refusal:
        done_part["logprobs"] = logprobs
    item = {"type": "message", "id": item_id, "role": "assistant", "status": "completed",
            "content": [done_part]}
    ids = {"item_id": item_id, "output_index": index, "content_index": 0}
    events: list[JSONDict] = [
        {"type": "response.output_item.added", "output_index": index,
         "item": {**item, "status": "in_progress", "content": []}},
        {"type": "response.content_part.added", **ids, "part": part}]
    for number, piece in enumerate(pieces):
        event: JSONDict = {"type": delta, **ids, "delta": piece}
        if not refusal:
            event["logprobs"] = logprobs[number: number + 1] if logprobs else []
        events.append(event)
    events += [{"type": delta.replace(".delta", ".done"), **ids, key: "".join(pieces)},
               {"type": "response.content_part.done", **ids, "part": done_part},
               {"type": "response.output_item.done", "output_index": index, "item": item}]
    return events, item


def function_call(index: int, call_id: str, name: str,
                  *pieces: str) -> tuple[list[JSONDict], JSONDict]:
    item_id = f"fc_up{index}"
    item = {"type": "function_call", "id": item_id, "call_id": call_id, "name": name,
            "arguments": "".join(pieces), "status": "completed"}
    events: list[JSONDict] = [
        {"type": "response.output_item.added", "output_index": index,
         "item": {**item, "arguments": "", "status": "in_progress"}},
        *({"type": "response.function_call_arguments.delta", "item_id": item_id,
           "output_index": index, "delta": piece} for piece in pieces),
        {"type": "response.function_call_arguments.done", "item_id": item_id,
         "output_index": index, "arguments": "".join(pieces)},
        {"type": "response.output_item.done", "output_index": index, "item": item}]
    return events, item


def reasoning(index: int, *pieces: str, summary: bool = False) -> tuple[list[JSONDict], JSONDict]:
    """Raw reasoning text (vLLM, llama.cpp) or, with `summary`, a summary (OpenAI)."""
    item_id = f"rs_up{index}"
    text = "".join(pieces)
    ids = {"item_id": item_id, "output_index": index}
    if summary:
        item = {"type": "reasoning", "id": item_id,
                "summary": [{"type": "summary_text", "text": text}]}
        deltas = [{"type": "response.reasoning_summary_text.delta", **ids, "summary_index": 0,
                   "delta": piece} for piece in pieces]
    else:
        item = {"type": "reasoning", "id": item_id, "summary": [],
                "content": [{"type": "reasoning_text", "text": text}]}
        deltas = [{"type": "response.reasoning_text.delta", **ids, "content_index": 0,
                   "delta": piece} for piece in pieces]
    return [{"type": "response.output_item.added", "output_index": index,
             "item": {**item, "summary": [], "content": []}}, *deltas,
            {"type": "response.output_item.done", "output_index": index, "item": item}], item


def script(*parts: tuple[list[JSONDict], JSONDict], status: str = "completed",
           reason: str | None = None, use: JSONDict | None = None) -> ResponsesScript:
    """Opening, the parts in order, then the terminal event carrying the whole Response."""
    events = opening()
    for part_events, _ in parts:
        events += part_events
    final = response(status, [item for _, item in parts], usage=use or usage(),
                     incomplete_details={"reason": reason} if reason else None)
    events.append({"type": f"response.{status}", "response": final})
    return ResponsesScript(events)


def text_script(*pieces: str) -> ResponsesScript:
    return script(message(0, *pieces))


class ScriptedResponses(ScriptedUpstream):
    def __init__(self, provider: str = "native") -> None:
        super().__init__()
        self.provider = provider
        self.responses_scripts: dict[str, ResponsesScript] = {}
        self.recorded: list[Recorded] = []
        self.token_count = 123  # what /responses/input_tokens answers

    def play(self, script: ResponsesScript) -> str:  # type: ignore[override]
        name = f"resp{len(self.responses_scripts)}"
        self.responses_scripts[name] = script
        return f"{self.provider}/{name}"

    def last(self, model: str, path: str = "/v1/responses") -> Recorded:
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
            await _send_json(send, 200, {"object": "list", "data": [
                {"id": name, "object": "model", "created": 0, "owned_by": "scripted"}
                for name in self.responses_scripts]})
            return
        body = orjson.loads(raw)
        self.recorded.append(Recorded(path, headers, body))
        if headers.get("authorization") != "Bearer sk-test":
            await _send_json(send, 401, _error("invalid_api_key", "Incorrect API key"))
            return
        if path == "/v1/responses/input_tokens":
            await _send_json(send, 200, {"object": "response.input_tokens",
                                         "input_tokens": self.token_count})
            return
        found = self.responses_scripts.get(body.get("model", ""))
        if path != "/v1/responses" or found is None:
            await _send_json(send, 404, _error("not_found", f"no such script at {path}"))
            return
        if found.status != 200:
            await _send_json(send, found.status,
                             found.error or _error("server_error", "Internal server error"))
            return
        if not body.get("stream"):
            await _send_whole(send, found)
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream")]})
        sequence = 0
        for item in found.events:
            if isinstance(item, Pause):
                await asyncio.sleep(item.seconds)
                continue
            if isinstance(item, Drop):
                return  # uvicorn closes the connection on an unfinished body
            if isinstance(item, bytes):
                data = item
            else:
                event = {**item, "sequence_number": sequence}
                sequence += 1
                data = (f"event: {item['type']}\n".encode() + b"data: " + orjson.dumps(event)
                        + b"\n\n")
            await send({"type": "http.response.body", "body": data, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _error(code: str, message: str) -> JSONDict:
    return {"error": {"message": message, "type": "invalid_request_error", "param": None,
                      "code": code}}


async def _send_whole(send: Any, found: ResponsesScript) -> None:
    """A non-streamed request gets the Response the script's terminal event carries."""
    for item in found.events:
        if isinstance(item, Pause):
            await asyncio.sleep(item.seconds)
        elif isinstance(item, Drop | bytes):
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b'{"id": "re'})
            return
        elif item["type"] == "error":
            await _send_json(send, 500, {"error": {k: v for k, v in item.items()
                                                   if k != "type"}})
            return
        elif item["type"] in TERMINAL:
            await _send_json(send, 200, item["response"])
            return
    await _send_json(send, 200, response("in_progress"))
