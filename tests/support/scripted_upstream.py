"""A chat-completions upstream that plays exact scripts, for protocol edge cases.

The real engine (llama.cpp) covers ordinary behaviour; this one covers what a random tiny model
cannot be made to do on cue: specific deltas, reasoning fields, refusals, upstream errors, slow
or broken streams. It is a real HTTP server on 127.0.0.1 (uvicorn in a thread). The request's
`model` names the script, so `scripted/<name>` through responsa plays `<name>`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from tests.support.asgi import ThreadedAsgiServer, answer_lifespan, read_body


@dataclass
class Pause:
    seconds: float


@dataclass
class Drop:
    """Stop sending mid-body: the connection ends without a complete response."""


@dataclass
class Refusal:
    """An answer given instead of the script, once (retry tests): status, headers, body."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=lambda: {"error": {"message": "try later"}})


@dataclass
class Script:
    # dicts (sent as `data:` JSON), raw bytes, Pause or Drop
    chunks: list[Any] = field(default_factory=list)
    status: int = 200
    error: dict[str, Any] | None = None  # body for a non-2xx answer
    done: bool = True  # send `data: [DONE]` at the end
    # Answered first, one per request, before the script itself plays.
    refusals: list[Refusal] = field(default_factory=list)


def chunk(delta: dict[str, Any] | None = None, *, finish: str | None = None,
          usage: dict[str, Any] | None = None, logprobs: Any = None) -> dict[str, Any]:
    choices = [] if delta is None and finish is None else [
        {"index": 0, "delta": delta or {}, "finish_reason": finish, "logprobs": logprobs}]
    body: dict[str, Any] = {"id": "chatcmpl-1", "object": "chat.completion.chunk",
                            "created": 0, "model": "scripted", "choices": choices}
    if usage is not None:
        body["usage"] = usage
    return body


def usage(prompt: int = 5, completion: int = 7, **details: int) -> dict[str, Any]:
    result: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion,
                              "total_tokens": prompt + completion}
    if "cached" in details:
        result["prompt_tokens_details"] = {"cached_tokens": details["cached"]}
    if "reasoning" in details:
        result["completion_tokens_details"] = {"reasoning_tokens": details["reasoning"]}
    return result


def text_script(*pieces: str, finish: str = "stop") -> Script:
    chunks: list[Any] = [chunk({"role": "assistant", "content": ""})]
    chunks += [chunk({"content": piece}) for piece in pieces]
    chunks += [chunk(finish=finish), chunk(usage=usage())]
    return Script(chunks)


def calls_script(*calls: tuple[str, str], pieces: int = 3, ids: str = "call_") -> Script:
    """The model calls each (function, arguments), the arguments streamed in `pieces`; the
    calls' ids are `ids` and their position (`call_0`, `call_1` …)."""
    chunks: list[Any] = [chunk({"role": "assistant", "content": None})]
    for index, (name, arguments) in enumerate(calls):
        size = max(1, len(arguments) // pieces + 1)
        parts = [arguments[i:i + size] for i in range(0, len(arguments), size)]
        chunks.append(chunk({"tool_calls": [{"index": index, "id": f"{ids}{index}",
                                             "type": "function",
                                             "function": {"name": name, "arguments": ""}}]}))
        chunks += [chunk({"tool_calls": [{"index": index, "function": {"arguments": part}}]})
                   for part in parts]
    return Script([*chunks, chunk(finish="tool_calls"), chunk(usage=usage())])


class ScriptedUpstream(ThreadedAsgiServer):
    def __init__(self) -> None:
        self.scripts: dict[str, Script] = {}
        self._queued: dict[str, list[Script]] = {}  # later calls' scripts (`play` with several)
        self.requests: list[dict[str, Any]] = []
        self.arrivals: list[tuple[str, float]] = []  # (model, time.monotonic()) per request

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def play(self, script: Script, *later: Script) -> str:
        """Register `script` under a fresh name; returns the model to ask responsa for. With
        `later` scripts, each further call of that model plays the next one (the last repeats),
        as a response that runs hosted tools calls its model more than once."""
        name = f"script{len(self.scripts)}"
        self.scripts[name] = script
        self._queued[name] = list(later)
        return f"scripted/{name}"

    def last_request(self, model: str) -> dict[str, Any]:
        """The last body received for `model` (`name` or `scripted/name`)."""
        model = model.removeprefix("scripted/")
        return next(body for body in reversed(self.requests) if body.get("model") == model)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await answer_lifespan(receive, send)
            return
        body = await read_body(receive)
        if scope["path"].endswith("/models"):
            await _send_json(send, 200, {"object": "list", "data": [
                {"id": name, "object": "model", "created": 0, "owned_by": "scripted"}
                for name in self.scripts]})
            return
        request = orjson.loads(body)
        self.requests.append(request)
        self.arrivals.append((request.get("model", ""), time.monotonic()))
        script = self.scripts.get(request.get("model", ""))
        queued = self._queued.get(request.get("model", ""))
        if queued:
            self.scripts[request["model"]] = queued.pop(0)
        if script is None:
            await _send_json(send, 404, {"error": {"message": "no such script", "type": "x"}})
            return
        if script.refusals:
            refusal = script.refusals.pop(0)
            await _send_json(send, refusal.status, refusal.body, refusal.headers)
            return
        if script.status != 200:
            await _send_json(send, script.status, script.error or {"error": {"message": "boom"}})
            return
        if not request.get("stream"):
            await _send_whole(send, script)
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream")]})
        for item in script.chunks:
            if isinstance(item, Pause):
                await asyncio.sleep(item.seconds)
                continue
            if isinstance(item, Drop):
                return  # uvicorn closes the connection on an unfinished body
            data = item if isinstance(item, bytes) else b"data: " + orjson.dumps(item) + b"\n\n"
            await send({"type": "http.response.body", "body": data, "more_body": True})
        tail = b"data: [DONE]\n\n" if script.done else b""
        await send({"type": "http.response.body", "body": tail, "more_body": False})


async def _send_whole(send: Any, script: Script) -> None:
    """A non-streamed request gets the script's chunks merged into one chat completion; the
    script's breakages (drops, raw bytes, no end) break that body the same way."""
    message: dict[str, Any] = {"role": "assistant", "content": None}
    completion: dict[str, Any] = {"id": "chatcmpl-1", "object": "chat.completion", "created": 0,
                                  "model": "scripted", "choices": [
                                      {"index": 0, "message": message, "finish_reason": None}]}
    calls: dict[int, dict[str, Any]] = {}
    for item in script.chunks:
        if isinstance(item, Pause):
            await asyncio.sleep(item.seconds)
        elif isinstance(item, Drop):
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b'{"id": "cha', "more_body": True})
            return
        elif isinstance(item, bytes):
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": item})
            return
        else:
            completion["usage"] = item.get("usage") or completion.get("usage")
            for choice in item["choices"]:
                delta = choice["delta"]
                for key in ("content", "reasoning_content", "reasoning", "refusal"):
                    if delta.get(key):
                        message[key] = (message.get(key) or "") + delta[key]
                for call in delta.get("tool_calls") or ():
                    merged = calls.setdefault(call["index"], {"id": call.get("id"),
                                                              "type": "function", "function": {
                                                                  "name": "", "arguments": ""}})
                    for key, value in (call.get("function") or {}).items():
                        merged["function"][key] += value or ""
                if choice["finish_reason"]:
                    completion["choices"][0]["finish_reason"] = choice["finish_reason"]
    if calls:
        message["tool_calls"] = [calls[index] for index in sorted(calls)]
    body = orjson.dumps(completion)
    await _send_json(send, 200, body if script.done else body[: len(body) // 2])


async def _send_json(send: Any, status: int, body: Any,
                     headers: dict[str, str] | None = None) -> None:
    extra = [(name.encode(), value.encode()) for name, value in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), *extra]})
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    await send({"type": "http.response.body", "body": raw})
