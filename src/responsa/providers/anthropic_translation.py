"""Responses ⇄ Anthropic Messages, without I/O: request bodies out, deltas in.

Request mapping (documented in the README):

- `instructions`, then the text of every `system`/`developer` message (in order), joined with
  blank lines, become the top-level `system`: Messages has no system turns.
- `user`/`assistant` messages become turns of content blocks (`text`, `image` from a data URL
  or an https URL, `document` from a PDF or plain-text `file_data`); consecutive turns of one
  role are merged, as Messages requires alternation.
- `function_call` items become assistant `tool_use` blocks (`input` parsed from `arguments`);
  `function_call_output` items become user `tool_result` blocks, placed before any other block
  of their turn as Messages requires. Codex's other tool kinds (`custom`, `namespace`,
  `apply_patch`, `shell`, `local_shell`, `computer`) and their call and output items are
  offered and mapped as functions, exactly as on chat engines (providers/tool_surface.py).
- `reasoning` items go back as the `thinking` (with `signature`) and `redacted_thinking`
  blocks they were made of, leading their assistant turn, when the item carries them: a sealed
  `encrypted_content` this provider produced (`include: ["reasoning.encrypted_content"]`,
  engine/reasoning_items.py), or within one response's hosted-tool turns. Any other reasoning
  item is skipped: Messages takes a thinking block only with its signature. With thinking on,
  Messages also insists that an assistant turn answered by tool results starts with its
  thinking; when that thinking cannot be restored (a stored chain continued without the
  include), the call goes without extended thinking rather than fail.
- `max_tokens` is required by Messages: `max_output_tokens`, else the provider's default
  (plus the thinking budget, so a default answer still has room after thinking).
- `reasoning.effort` turns on extended thinking with a budget: minimal/low 1024, medium 4096,
  high 16384, xhigh 32768 tokens (`none` leaves it off). Thinking deltas become reasoning text;
  each finished thinking block (text and signature) and each redacted_thinking block also
  becomes a `ReasoningState`, sealed into the item when the client asks for it.
  `reasoning.summary` has no Messages counterpart: the thinking comes back as raw reasoning
  text (`reasoning_text` content), never as a summary.
  Messages refuses some settings with thinking (a `temperature` other than 1, a forced tool);
  that refusal reaches the client as the upstream's own 400.
- `tool_choice`: auto → auto, required → any, a named function → tool, none → none;
  `parallel_tool_calls: false` → `disable_parallel_tool_use`. `user` → `metadata.user_id`.
- Refused with a 400 naming the parameter: `text.format` other than `text` (Messages has no
  structured output), logprobs, `presence_penalty`, `frequency_penalty`.

Usage: Messages counts cached input apart from `input_tokens`; the Responses `input_tokens` is
the sum of `input_tokens`, `cache_read_input_tokens` and `cache_creation_input_tokens`, and
`cached_tokens` is `cache_read_input_tokens`.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from responsa.errors import InvalidRequestError, UpstreamProtocolError
from responsa.providers.base import ModelRequest
from responsa.providers.deltas import (
    REASONING_STATE_KEY,
    Delta,
    Finish,
    FinishReason,
    ReasoningDelta,
    ReasoningState,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from responsa.providers.sse_decoder import json_object
from responsa.providers.tool_surface import ToolSurface, as_function_call, as_function_output

JSONDict = dict[str, Any]

ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
THINKING_BUDGETS = {"minimal": 1024, "low": 1024, "medium": 4096, "high": 16384, "xhigh": 32768}
_MIN_THINKING_BUDGET = 1024

_STOP_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
_TOOL_CHOICES = {"auto": "auto", "required": "any", "none": "none"}
_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})


def build_messages_body(request: ModelRequest, *,
                        default_max_tokens: int = DEFAULT_MAX_TOKENS) -> JSONDict:
    _refuse_unsupported(request)
    system, messages = to_anthropic_messages(request)
    body: JSONDict = {"model": request.model, "messages": messages}
    if system:
        body["system"] = system
    budget = _thinking_budget(request) if _thinking_restorable(messages) else None
    if request.max_output_tokens is not None:
        body["max_tokens"] = request.max_output_tokens
        if budget is not None:
            # Responses counts reasoning inside max_output_tokens; Messages wants the budget below.
            budget = min(budget, request.max_output_tokens - 1)
            if budget < _MIN_THINKING_BUDGET:
                raise InvalidRequestError(
                    f"Extended thinking needs max_output_tokens above {_MIN_THINKING_BUDGET} on "
                    "Anthropic providers; raise it or leave reasoning.effort unset.",
                    param="max_output_tokens", code="integer_below_min_value")
    else:
        body["max_tokens"] = default_max_tokens + (budget or 0)
    if budget is not None:
        body["thinking"] = {"type": "enabled", "budget_tokens": budget}
    if request.stream:
        body["stream"] = True
    _add_tools(body, request)
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.user is not None:
        body["metadata"] = {"user_id": request.user}
    return body


def _refuse_unsupported(request: ModelRequest) -> None:
    text_format = request.text_format
    if text_format and text_format["type"] != "text":
        raise InvalidRequestError(
            f"text.format of type '{text_format['type']}' is not supported by Anthropic "
            "providers: the Messages API has no structured output.",
            param="text.format", code="unsupported_value")
    if request.logprobs:
        raise InvalidRequestError("Logprobs are not available from Anthropic providers.",
                                  param="include", code="unsupported_value")
    for param in ("presence_penalty", "frequency_penalty"):
        if getattr(request, param) is not None:
            raise InvalidRequestError(f"'{param}' is not supported by Anthropic providers.",
                                      param=param, code="unsupported_parameter")


def _thinking_budget(request: ModelRequest) -> int | None:
    effort = (request.reasoning or {}).get("effort")
    if effort is None or effort == "none":
        return None
    budget = THINKING_BUDGETS.get(effort)
    if budget is None:
        raise InvalidRequestError(f"reasoning.effort '{effort}' is not supported.",
                                  param="reasoning.effort", code="unsupported_value")
    return budget


def _thinking_restorable(messages: list[JSONDict]) -> bool:
    """False when the turn being continued is tool use whose thinking is missing (see above)."""
    if len(messages) < 2 or messages[-1]["role"] != "user":
        return True
    answered = any(block["type"] == "tool_result" for block in messages[-1]["content"])
    turn = messages[-2]["content"]
    return (not answered or turn[0]["type"] in ("thinking", "redacted_thinking")
            or not any(block["type"] == "tool_use" for block in turn))


# -- messages ----------------------------------------------------------------------------------


def to_anthropic_messages(request: ModelRequest) -> tuple[str, list[JSONDict]]:
    """The `system` text and the alternating `messages` for a request."""
    system: list[str] = [request.instructions] if request.instructions else []
    messages: list[JSONDict] = []
    for index, item in enumerate(request.input):
        kind = item["type"]
        if kind == "message":
            role = item["role"]
            if role in ("system", "developer"):
                system.append(_system_text(item, index))
            else:
                _append(messages, role, _blocks(item, index))
        elif (call := as_function_call(item)) is not None:
            _append(messages, "assistant", [{
                "type": "tool_use", "id": call[0], "name": call[1],
                "input": _tool_input(call[2], index)}])
        elif (output := as_function_output(item)) is not None:
            _append(messages, "user", [{
                "type": "tool_result", "tool_use_id": output[0],
                "content": _tool_result_content(output[1], index)}])
        elif kind == "reasoning":
            blocks = (item.get(REASONING_STATE_KEY) or {}).get("blocks")
            if blocks:  # else skipped: see the module docstring
                _append(messages, "assistant", [dict(block) for block in blocks])
        elif kind == "additional_tools":
            continue  # its tools are offered with the others (engine/deferred_tools.py)
        else:
            raise InvalidRequestError(
                f"Input items of type '{kind}' are not supported by Anthropic providers.",
                param=f"input[{index}]", code="unsupported_value")
    return "\n\n".join(system), messages


def _append(messages: list[JSONDict], role: str, blocks: list[JSONDict]) -> None:
    if not messages or messages[-1]["role"] != role:
        messages.append({"role": role, "content": blocks})
        return
    content: list[JSONDict] = messages[-1]["content"]
    for block in blocks:
        if block["type"] == "tool_result":
            # tool_result blocks must lead their user turn.
            at = next((i for i, b in enumerate(content) if b["type"] != "tool_result"),
                      len(content))
            content.insert(at, block)
        else:
            content.append(block)


def _system_text(item: JSONDict, index: int) -> str:
    content = item["content"]
    if isinstance(content, str):
        return content
    texts = []
    for part_index, part in enumerate(content):
        if part["type"] not in ("input_text", "text"):
            raise InvalidRequestError(
                f"Only text is supported in {item['role']} messages for Anthropic providers.",
                param=f"input[{index}].content[{part_index}]", code="unsupported_value")
        texts.append(part["text"])
    return "".join(texts)


def _blocks(item: JSONDict, index: int) -> list[JSONDict]:
    content = item["content"]
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    blocks: list[JSONDict] = []
    for part_index, part in enumerate(content):
        param = f"input[{index}].content[{part_index}]"
        kind = part["type"]
        if kind in ("input_text", "output_text", "text"):
            blocks.append({"type": "text", "text": part["text"]})
        elif kind == "refusal":
            blocks.append({"type": "text", "text": part["refusal"]})
        elif kind == "input_image":
            blocks.append(_image(part, param))
        elif kind == "input_file":
            blocks.append(_document(part, param))
        else:
            raise InvalidRequestError(f"Content parts of type '{kind}' are not supported.",
                                      param=param, code="unsupported_value")
    return blocks


def _image(part: JSONDict, param: str) -> JSONDict:
    url = part.get("image_url")
    if not url:
        raise InvalidRequestError(
            "An image needs its 'image_url' or the 'file_id' of an upload.", param=param,
            code="unsupported_value")
    if url.startswith("data:"):
        media_type, data = _data_url(url, param)
        if media_type not in _IMAGE_TYPES:
            raise InvalidRequestError(
                f"Images of type '{media_type}' are not supported by Anthropic providers "
                f"(supported: {', '.join(sorted(_IMAGE_TYPES))}).",
                param=param, code="unsupported_value")
        return {"type": "image",
                "source": {"type": "base64", "media_type": media_type, "data": data}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _document(part: JSONDict, param: str) -> JSONDict:
    file_data = part.get("file_data")
    if not file_data or not file_data.startswith("data:"):
        raise InvalidRequestError(
            "Files need 'file_data' as a data URL (data:application/pdf;base64,…) on Anthropic "
            "providers.", param=param, code="unsupported_value")
    media_type, data = _data_url(file_data, param)
    if media_type == "application/pdf":
        source: JSONDict = {"type": "base64", "media_type": media_type, "data": data}
    elif media_type == "text/plain":
        try:
            text = base64.b64decode(data, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise InvalidRequestError("The file's data is not base64-encoded UTF-8 text.",
                                      param=param, code="invalid_value") from exc
        source = {"type": "text", "media_type": media_type, "data": text}
    else:
        raise InvalidRequestError(
            f"Files of type '{media_type}' are not supported by Anthropic providers "
            "(supported: application/pdf, text/plain).", param=param, code="unsupported_value")
    block: JSONDict = {"type": "document", "source": source}
    if part.get("filename"):
        block["title"] = part["filename"]
    return block


def _data_url(url: str, param: str) -> tuple[str, str]:
    header, sep, data = url[5:].partition(",")
    media_type, _, encoding = header.partition(";")
    if not sep or encoding != "base64":
        raise InvalidRequestError("Expected a base64 data URL (data:<type>;base64,<data>).",
                                  param=param, code="invalid_value")
    return media_type, data


def _tool_input(arguments: str, index: int) -> JSONDict:
    if not arguments.strip():
        return {}
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequestError("Function call arguments must be a JSON object.",
                                  param=f"input[{index}].arguments",
                                  code="invalid_value") from exc
    if not isinstance(value, dict):
        raise InvalidRequestError("Function call arguments must be a JSON object.",
                                  param=f"input[{index}].arguments", code="invalid_value")
    return value


def _tool_result_content(output: str | list[JSONDict], index: int) -> str | list[JSONDict]:
    if isinstance(output, str):
        return output
    blocks: list[JSONDict] = []
    for part_index, part in enumerate(output):
        param = f"input[{index}].output[{part_index}]"
        if part["type"] == "input_text":
            blocks.append({"type": "text", "text": part["text"]})
        elif part["type"] == "input_image":
            blocks.append(_image(part, param))
        elif part["type"] == "input_file":
            blocks.append(_document(part, param))
        else:
            raise InvalidRequestError(f"Output parts of type '{part['type']}' are not supported.",
                                      param=param, code="unsupported_value")
    return blocks


# -- tools -------------------------------------------------------------------------------------


def _add_tools(body: JSONDict, request: ModelRequest) -> None:
    surface = ToolSurface(request.tools)  # Codex's tool kinds, as functions (as on chat)
    tools = [_anthropic_tool(tool) for tool in surface.functions]
    if not tools:
        return
    choice = request.tool_choice
    if isinstance(choice, dict) and choice["type"] == "allowed_tools":
        allowed = {surface.choice_name(tool) for tool in choice["tools"]}
        tools = [tool for tool in tools if tool["name"] in allowed]
        choice = choice["mode"]
    elif isinstance(choice, dict) and (named := surface.choice_name(choice)) is not None:
        choice = {"type": "function", "name": named}
    mapped = _tool_choice(choice)
    if not request.parallel_tool_calls and mapped["type"] != "none":
        mapped["disable_parallel_tool_use"] = True
    body["tools"] = tools
    body["tool_choice"] = mapped


def _tool_choice(choice: str | JSONDict) -> JSONDict:
    if isinstance(choice, dict):
        if choice["type"] == "function":
            return {"type": "tool", "name": choice["name"]}
    elif choice in _TOOL_CHOICES:
        return {"type": _TOOL_CHOICES[choice]}
    shown = choice["type"] if isinstance(choice, dict) else choice
    raise InvalidRequestError(f"tool_choice '{shown}' is not supported by Anthropic providers.",
                              param="tool_choice", code="unsupported_value")


def _anthropic_tool(tool: JSONDict) -> JSONDict:
    # `strict` has no Messages counterpart; the schema is still sent as the input schema.
    result: JSONDict = {"name": tool["name"],
                        "input_schema": tool.get("parameters") or {"type": "object",
                                                                   "properties": {}}}
    if tool.get("description"):
        result["description"] = tool["description"]
    return result


# -- responses ---------------------------------------------------------------------------------


def decode_message(provider: str, raw: bytes) -> list[Delta]:
    """A whole (non-streamed) Message as the deltas a stream would have carried."""
    try:
        message = orjson.loads(raw)
        blocks = message["content"]
        usage = message.get("usage") or {}
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise UpstreamProtocolError(provider, "unparseable message") from exc
    if not isinstance(blocks, list) or not isinstance(usage, dict):
        raise UpstreamProtocolError(provider, "unparseable message")
    deltas: list[Delta] = []
    tool_index = 0
    for block in blocks:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text" and block.get("text"):
            deltas.append(TextDelta(block["text"]))
        elif kind == "thinking":
            if block.get("thinking"):
                deltas.append(ReasoningDelta(block["thinking"]))
            deltas.append(ReasoningState(blocks=[_thinking(block.get("thinking") or "",
                                                           block.get("signature"))]))
        elif kind == "redacted_thinking":
            deltas.append(ReasoningState(blocks=[{"type": kind, "data": block.get("data")}]))
        elif kind == "tool_use":
            deltas.append(ToolCallDelta(index=tool_index, name=block.get("name"),
                                        call_id=block.get("id"),
                                        arguments=orjson.dumps(block.get("input") or {}).decode()))
            tool_index += 1
    reason = message.get("stop_reason")
    if not reason:
        raise UpstreamProtocolError(provider, "the message ended without a stop_reason")
    deltas.append(Finish(_STOP_REASONS.get(reason, "stop")))
    deltas.append(_usage(usage, usage))
    return deltas


class EventDecoder:
    """Turns Messages stream events (one `data:` payload each) into deltas."""

    __slots__ = ("_blocks", "_start_usage", "_thinking", "_tools", "finished", "provider")

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.finished = False
        self._start_usage: JSONDict = {}
        # Anthropic block index → (tool ordinal, input seen) for tool_use blocks.
        self._tools: dict[int, list[Any]] = {}
        self._blocks: dict[int, JSONDict] = {}
        # Anthropic block index → [thinking text pieces, signature] for thinking blocks.
        self._thinking: dict[int, list[Any]] = {}

    def decode(self, data: bytes) -> list[Delta]:
        event = json_object(self.provider, data)
        try:
            return self._decode(event)
        except (KeyError, TypeError, AttributeError) as exc:
            raise UpstreamProtocolError(
                self.provider, f"malformed '{event.get('type')}' event") from exc

    def _decode(self, event: JSONDict) -> list[Delta]:
        kind = event.get("type")
        if kind == "content_block_delta":
            return self._block_delta(event["index"], event["delta"])
        if kind == "content_block_start":
            index, block = event["index"], event["content_block"]
            self._blocks[index] = block
            if block["type"] == "tool_use":
                self._tools[index] = [len(self._tools), False]
                return [ToolCallDelta(index=self._tools[index][0], name=block["name"],
                                      call_id=block["id"])]
            if block["type"] == "text" and block.get("text"):
                return [TextDelta(block["text"])]
            if block["type"] == "thinking":
                self._thinking[index] = [[block.get("thinking") or ""], block.get("signature")]
                return [ReasoningDelta(block["thinking"])] if block.get("thinking") else []
            return []
        if kind == "content_block_stop":
            index = event["index"]
            thinking = self._thinking.pop(index, None)
            if thinking is not None:
                return [ReasoningState(blocks=[_thinking("".join(thinking[0]), thinking[1])])]
            if self._blocks[index]["type"] == "redacted_thinking":
                return [ReasoningState(blocks=[{"type": "redacted_thinking",
                                                "data": self._blocks[index]["data"]}])]
            tool = self._tools.get(index)
            if tool is not None and not tool[1]:
                # No input was streamed: the start block's input is the whole of it.
                start_input = self._blocks[index].get("input") or {}
                return [ToolCallDelta(index=tool[0],
                                      arguments=orjson.dumps(start_input).decode())]
            return []
        if kind == "message_start":
            self._start_usage = event["message"].get("usage") or {}
            return []
        if kind == "message_delta":
            deltas: list[Delta] = []
            reason = (event.get("delta") or {}).get("stop_reason")
            if reason:
                deltas.append(Finish(_STOP_REASONS.get(reason, "stop")))
            deltas.append(_usage(self._start_usage, event.get("usage") or {}))
            return deltas
        if kind == "message_stop":
            self.finished = True
            return []
        if kind == "error":
            error = event.get("error") or {}
            raise UpstreamProtocolError(
                self.provider, f"error in stream: {error.get('type', 'error')}: "
                               f"{error.get('message', 'no details')}")
        return []  # ping, and event types added later (the versioning policy allows them)

    def _block_delta(self, index: int, delta: JSONDict) -> list[Delta]:
        kind = delta["type"]
        if kind == "text_delta":
            return [TextDelta(delta["text"])] if delta["text"] else []
        if kind == "input_json_delta":
            tool = self._tools[index]
            if not delta["partial_json"]:
                return []
            tool[1] = True
            return [ToolCallDelta(index=tool[0], arguments=delta["partial_json"])]
        if kind == "thinking_delta":
            self._thinking[index][0].append(delta["thinking"])
            return [ReasoningDelta(delta["thinking"])] if delta["thinking"] else []
        if kind == "signature_delta":
            self._thinking[index][1] = delta["signature"]
            return []
        # citations_delta and later kinds carry nothing the deltas can express.
        return []


def _thinking(text: str, signature: str | None) -> JSONDict:
    """A thinking block as Messages takes it back: its text with its signature."""
    return {"type": "thinking", "thinking": text, "signature": signature or ""}


def _usage(start: JSONDict, final: JSONDict) -> Usage:
    """`final` (message_delta's usage) wins where it reports a count; it may repeat input."""
    def count(key: str) -> int:
        value = final.get(key)
        if value is None:
            value = start.get(key)
        return int(value or 0)

    cache_read = count("cache_read_input_tokens")
    return Usage(
        input_tokens=count("input_tokens") + cache_read + count("cache_creation_input_tokens"),
        output_tokens=count("output_tokens"),
        cached_tokens=cache_read,
    )
