"""Responses ⇄ a native Responses upstream, without I/O: request bodies out, deltas in.

responsa stays the source of truth for state: it resolves `previous_response_id` and
conversations itself, so every upstream call is stateless — the full effective input goes up
with `store: false`, and nothing the upstream keeps is ever referred to again.

Request mapping (documented in the README):

- `model`, `input`, `instructions`, `tools`, `tool_choice`, `parallel_tool_calls`,
  `temperature`, `top_p`, `presence_penalty`, `frequency_penalty`, `max_output_tokens`,
  `text.format`, `reasoning`, `top_logprobs` and `user` go up as they are (they are Responses
  already); logprobs add `include: ["message.output_text.logprobs"]`; `store` is always false.
- Input items go up without their `id`: the ids are responsa's own (`msg_`, `fc_` …) and an
  upstream that stores nothing could not resolve its own ones anyway. Every other field of an
  item is kept, item types this module does not know included (the upstream validates them).
- `reasoning` items go up only as `{type, summary, encrypted_content}` with the upstream's
  own `encrypted_content`, restored from responsa's sealed one (engine/reasoning_items.py) when
  this provider produced it; for that, `include: ["reasoning.encrypted_content"]` from the
  client is asked of the upstream too. Other reasoning items are left out: an upstream cannot
  use reasoning it did not produce, and OpenAI refuses reasoning items it cannot resolve when
  `store` is false.
- Fields responsa accepts but does not act on (`text` with its `verbosity`, `service_tier`,
  `prompt_cache_key`, `prompt_cache_retention`, `prompt_cache_options`, `safety_identifier`,
  `moderation`, `image`, Codex's `client_metadata`) arrive in `ModelRequest.passthrough` and
  go up as sent.

Stream mapping: `response.output_text.delta` (with its logprobs) → text;
`response.refusal.delta` → refusal; `response.reasoning_text.delta` and
`response.reasoning.delta` (Open Responses' name) → reasoning text;
`response.reasoning_summary_text.delta` → summary text of its `summary_index` (the builder
emits the summary part events itself); a finished reasoning item's `encrypted_content` →
reasoning state (sealed into responsa's own); a `function_call` item → a tool call, its
`response.function_call_arguments.delta` → arguments (or the arguments of its
`output_item.done` when none were streamed); a `custom_tool_call` (with its `namespace`) and
its `response.custom_tool_call_input.delta` likewise; finished `apply_patch_call`,
`shell_call`, `local_shell_call` and `computer_call` items → one whole call of their kind;
finished `tool_search_call` and `tool_search_output` items (the upstream's own tool search,
server- or client-executed) → relayed as they are.
Codex's tool declarations (`custom`, `namespace`, `apply_patch`, `shell` …), `tool_search` and
deferred tools (`defer_loading`) go up unchanged.
`response.completed` / `response.incomplete` end
the stream: `max_output_tokens` → length, `content_filter` → content_filter, any function call
→ tool_calls, else stop; their `usage` (with cached and reasoning details) → usage.
`response.output_text.annotation.added` → the annotation, as sent (citations of an upstream's
own web or file search reach the client).
`response.failed` and `error` become protocol errors naming the provider. Other events
(lifecycle, `*.done`, `content_part.*`, events added later) carry nothing new.
"""

from __future__ import annotations

from typing import Any

import orjson

from responsa.errors import UpstreamProtocolError
from responsa.providers.base import ModelRequest
from responsa.providers.deltas import (
    REASONING_STATE_KEY,
    AnnotationDelta,
    Delta,
    Finish,
    FinishReason,
    ReasoningDelta,
    ReasoningState,
    ReasoningSummaryDelta,
    RefusalDelta,
    RelayedItem,
    TextDelta,
    ToolCallDelta,
    ToolKind,
    Usage,
)
from responsa.providers.sse_decoder import json_object
from responsa.providers.tool_surface import as_function_call, kind_of_call

JSONDict = dict[str, Any]

LOGPROBS_INCLUDE = "message.output_text.logprobs"
ENCRYPTED_REASONING_INCLUDE = "reasoning.encrypted_content"
_INCOMPLETE_REASONS: dict[str, FinishReason] = {
    "max_output_tokens": "length",
    "content_filter": "content_filter",
}
_REASONING_DELTAS = frozenset({"response.reasoning_text.delta", "response.reasoning.delta"})
_TERMINAL = frozenset({"response.completed", "response.incomplete"})
# Call items whose arguments (input) stream, by their delta events.
_STREAMED_CALLS: dict[str, ToolKind] = {"function_call": "function", "custom_tool_call": "custom"}
_CALL_DELTAS = frozenset({"response.function_call_arguments.delta",
                          "response.custom_tool_call_input.delta"})
# Items of the upstream's own making, relayed whole.
_RELAYED = frozenset({"tool_search_call", "tool_search_output"})


def build_responses_body(request: ModelRequest) -> JSONDict:
    body: JSONDict = {"model": request.model, "input": upstream_input(request.input),
                      "store": False, "stream": request.stream}
    if request.instructions is not None:
        body["instructions"] = request.instructions
    if request.tools:
        body["tools"] = request.tools
        body["tool_choice"] = request.tool_choice
        body["parallel_tool_calls"] = request.parallel_tool_calls
    optional = {
        "temperature": request.temperature,
        "top_p": request.top_p,
        "presence_penalty": request.presence_penalty,
        "frequency_penalty": request.frequency_penalty,
        "max_output_tokens": request.max_output_tokens,
        "reasoning": request.reasoning,
        "user": request.user,
    }
    body.update({key: value for key, value in optional.items() if value is not None})
    # Forwarded as sent: `text` whole (its `verbosity` too), cache keys, service tier …
    body.update(request.passthrough)
    if request.text_format is not None and "text" not in body:
        body["text"] = {"format": request.text_format}
    include = []
    if request.logprobs:
        include.append(LOGPROBS_INCLUDE)
        if request.top_logprobs is not None:
            body["top_logprobs"] = request.top_logprobs
    if request.encrypted_reasoning:
        include.append(ENCRYPTED_REASONING_INCLUDE)
    if include:
        body["include"] = include
    return body


def upstream_input(items: list[JSONDict]) -> list[JSONDict]:
    """The items as a stateless upstream can take them: no ids, reasoning only with the
    upstream's own encrypted content (see above)."""
    result = []
    for item in items:
        if item.get("type") == "local_shell_call_output":
            result.append(item)  # its `id` is the call's call_id, not one of responsa's own
            continue
        if item.get("type") != "reasoning":
            result.append({key: value for key, value in item.items() if key != "id"})
            continue
        upstream_blob = (item.get(REASONING_STATE_KEY) or {}).get("encrypted_content")
        if upstream_blob:
            result.append({"type": "reasoning", "summary": item.get("summary") or [],
                           "encrypted_content": upstream_blob})
    return result


# -- responses ---------------------------------------------------------------------------------


def decode_response(provider: str, raw: bytes) -> list[Delta]:
    """A whole (non-streamed) Response object as the deltas a stream would have carried."""
    try:
        response = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise UpstreamProtocolError(provider, "unparseable response") from exc
    if not isinstance(response, dict) or not isinstance(response.get("output"), list):
        raise UpstreamProtocolError(provider, "unparseable response")
    try:
        return _decode_response(provider, response)
    except (KeyError, TypeError, AttributeError) as exc:
        raise UpstreamProtocolError(provider, "malformed response output") from exc


def _decode_response(provider: str, response: JSONDict) -> list[Delta]:
    _raise_if_failed(provider, response)
    deltas: list[Delta] = []
    tool_index = 0
    for item in response["output"]:
        kind = item.get("type")
        if kind == "message":
            for part in item.get("content") or ():
                if part["type"] == "output_text" and (part.get("text") or part.get("logprobs")):
                    deltas.append(TextDelta(part["text"], _logprobs(part.get("logprobs"))))
                if part["type"] == "output_text":
                    deltas += [AnnotationDelta(annotation)
                               for annotation in part.get("annotations") or ()]
                elif part["type"] == "refusal" and part.get("refusal"):
                    deltas.append(RefusalDelta(part["refusal"]))
        elif kind == "reasoning":
            deltas += _reasoning(item)
        elif kind in _RELAYED:
            deltas.append(RelayedItem(item))
        elif (call := whole_call(tool_index, item)) is not None:
            deltas.append(call)
            tool_index += 1
    return [*deltas, *_ending(provider, response, tool_calls=tool_index > 0)]


def whole_call(index: int, item: JSONDict) -> ToolCallDelta | None:
    """A finished client tool call item as one tool-call delta of its kind (None for other
    items): the builder makes the same item of it again."""
    kind = kind_of_call(item["type"])
    mapped = as_function_call(item)
    if kind is None or mapped is None:
        return None
    arguments = item["input"] if kind == "custom" else mapped[2]
    name = item.get("name") if kind in ("function", "custom") else None
    return ToolCallDelta(index=index, arguments=arguments, name=name, call_id=mapped[0],
                         kind=kind, namespace=item.get("namespace"))


def _reasoning(item: JSONDict) -> list[Delta]:
    deltas: list[Delta] = [ReasoningSummaryDelta(part["text"], index)
                           for index, part in enumerate(item.get("summary") or ())
                           if part.get("text")]
    text = "".join(part.get("text") or "" for part in item.get("content") or ())
    if text:
        deltas.append(ReasoningDelta(text))
    if item.get("encrypted_content"):
        deltas.append(ReasoningState(encrypted_content=item["encrypted_content"]))
    return deltas


def _raise_if_failed(provider: str, response: JSONDict) -> None:
    if response.get("status") == "failed":
        error = response.get("error") or {}
        raise UpstreamProtocolError(provider, f"the response failed: {_error_text(error)}")


def _ending(provider: str, response: JSONDict, *, tool_calls: bool) -> list[Delta]:
    status = response.get("status")
    if status == "incomplete":
        reason = (response.get("incomplete_details") or {}).get("reason")
        finish: FinishReason = _INCOMPLETE_REASONS.get(reason or "", "length")
    elif status in ("completed", None):
        finish = "tool_calls" if tool_calls else "stop"
    else:
        raise UpstreamProtocolError(provider, f"the response ended with status '{status}'")
    deltas: list[Delta] = [Finish(finish)]
    if isinstance(response.get("usage"), dict):
        deltas.append(_usage(response["usage"]))
    return deltas


class EventDecoder:
    """Turns Responses stream events (one `data:` payload each) into deltas."""

    __slots__ = ("_args_seen", "_count", "_tools", "finished", "provider")

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.finished = False
        # upstream item id and output_index → the call's ordinal among this response's calls
        self._tools: dict[str | int, int] = {}
        self._count = 0
        self._args_seen: set[int] = set()

    def decode(self, data: bytes) -> list[Delta]:
        event = json_object(self.provider, data)
        try:
            return self._decode(event)
        except (KeyError, TypeError, AttributeError) as exc:
            raise UpstreamProtocolError(
                self.provider, f"malformed '{event.get('type')}' event") from exc

    def _decode(self, event: JSONDict) -> list[Delta]:
        kind = event.get("type")
        if kind == "response.output_text.delta":
            logprobs = _logprobs(event.get("logprobs"))
            return [TextDelta(event["delta"], logprobs)] if event["delta"] or logprobs else []
        if kind == "response.output_text.annotation.added":
            return [AnnotationDelta(event["annotation"])]
        if kind == "response.refusal.delta":
            return [RefusalDelta(event["delta"])] if event["delta"] else []
        if kind in _REASONING_DELTAS:
            return [ReasoningDelta(event["delta"])] if event["delta"] else []
        if kind == "response.reasoning_summary_text.delta":
            return ([ReasoningSummaryDelta(event["delta"], int(event.get("summary_index") or 0))]
                    if event["delta"] else [])
        if kind in _CALL_DELTAS:
            ordinal = self._tool(event.get("item_id"), event.get("output_index"))
            if not event["delta"]:
                return []
            self._args_seen.add(ordinal)
            return [ToolCallDelta(index=ordinal, arguments=event["delta"])]
        if kind == "response.output_item.added":
            item = event["item"]
            if item["type"] not in _STREAMED_CALLS:
                return []
            ordinal = self._count
            self._count += 1
            # Some engines (llama.cpp) leave out output_index: item ids tell calls apart too.
            for key in (item.get("id"), event.get("output_index")):
                if key is not None:
                    self._tools[key] = ordinal
            return [ToolCallDelta(index=ordinal, name=item["name"], call_id=item["call_id"],
                                  kind=_STREAMED_CALLS[item["type"]],
                                  namespace=item.get("namespace"))]
        if kind == "response.output_item.done":
            item = event["item"]
            if item["type"] == "reasoning" and item.get("encrypted_content"):
                return [ReasoningState(encrypted_content=item["encrypted_content"])]
            if item["type"] in _RELAYED:
                return [RelayedItem(item)]
            if item["type"] not in _STREAMED_CALLS:
                # Shell, apply_patch and computer calls come whole, as the builder adds them.
                call = whole_call(self._count, item)
                self._count += call is not None
                return [call] if call is not None else []
            ordinal = self._tool(item.get("id"), event.get("output_index"))
            if ordinal in self._args_seen:
                return []
            # Nothing was streamed: the finished item's arguments (input) are the whole of them.
            self._args_seen.add(ordinal)
            arguments = item.get("arguments") or item.get("input") or ""
            return [ToolCallDelta(index=ordinal, arguments=arguments)] if arguments else []
        if kind in _TERMINAL:
            self.finished = True
            return _ending(self.provider, event["response"], tool_calls=self._count > 0)
        if kind == "response.failed":
            error = (event.get("response") or {}).get("error") or {}
            raise UpstreamProtocolError(self.provider,
                                        f"the response failed: {_error_text(error)}")
        if kind == "error":
            raise UpstreamProtocolError(self.provider,
                                        f"error in stream: {_error_text(event)}")
        return []  # lifecycle, *.done, content parts, and later event types

    def _tool(self, item_id: str | None, output_index: int | None) -> int:
        for key in (item_id, output_index):
            if key is not None and key in self._tools:
                return self._tools[key]
        raise KeyError(item_id or output_index)


def _error_text(error: JSONDict) -> str:
    code = error.get("code")
    message = error.get("message") or "no details"
    return f"{code}: {message}" if code else str(message)


def _logprobs(entries: Any) -> list[JSONDict]:
    """Responses logprobs in the OpenAI shape the deltas carry (`bytes` filled in if absent)."""
    if not entries:
        return []
    return [{"token": entry["token"], "logprob": entry["logprob"],
             "bytes": entry.get("bytes") or list(entry["token"].encode()),
             "top_logprobs": [{"token": top["token"], "logprob": top["logprob"],
                               "bytes": top.get("bytes") or list(top["token"].encode())}
                              for top in entry.get("top_logprobs") or ()]}
            for entry in entries]


def _usage(usage: JSONDict) -> Usage:
    input_details = usage.get("input_tokens_details") or {}
    output_details = usage.get("output_tokens_details") or {}
    return Usage(input_tokens=int(usage.get("input_tokens") or 0),
                 output_tokens=int(usage.get("output_tokens") or 0),
                 cached_tokens=int(input_details.get("cached_tokens") or 0),
                 reasoning_tokens=int(output_details.get("reasoning_tokens") or 0))
