"""Responses ⇄ Chat Completions, without I/O: request bodies out, deltas in.

Kept apart from the HTTP adapter so the mapping can be read (and tested) on its own.

Tools: every client tool kind Codex sends (`custom`, `namespace`, `apply_patch`, `shell`,
`local_shell`, `computer`) is offered as a function, and its call and output items in the input
become assistant `tool_calls` and `tool` messages (providers/tool_surface.py); the adapter maps
the model's calls back to their kinds.

Reasoning (documented in the README):

- `reasoning.effort` becomes `reasoning_effort` as sent (OpenAI, vLLM, Ollama, DeepSeek). An
  engine with `effort_in_template` (llama.cpp) gets it through its chat template instead:
  `chat_template_kwargs: {"enable_thinking": effort != "none", "reasoning_effort": effort}`
  (Qwen-style and gpt-oss templates read these; others ignore them).
- `reasoning.summary` has no chat counterpart: nothing is sent, and the reasoning comes back as
  raw reasoning text (`reasoning_text` content), never as a summary.
- Reasoning items in the input become `reasoning_content` on the assistant message that follows
  them, for engines with `reasoning_input` (llama.cpp, DeepSeek); other engines get them
  dropped, as the chat dialect has no reasoning input and the model reasons afresh.
"""

from __future__ import annotations

from typing import Any

import orjson

from responsa.errors import InvalidRequestError, UpstreamProtocolError
from responsa.providers.base import Capabilities, ModelRequest
from responsa.providers.deltas import (
    Delta,
    Finish,
    FinishReason,
    ReasoningDelta,
    RefusalDelta,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from responsa.providers.sse_decoder import json_object
from responsa.providers.tool_surface import ToolSurface, as_function_call, as_function_output

JSONDict = dict[str, Any]

_FINISH_REASONS: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}
# Roles the chat dialect knows; `developer` is newer than most engines' templates.
_CHAT_ROLES = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system"}


def build_chat_body(request: ModelRequest, capabilities: Capabilities) -> JSONDict:
    body: JSONDict = {"model": request.model, "messages": to_chat_messages(
        request, reasoning_input=capabilities.reasoning_input)}
    if request.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    _add_tools(body, request, capabilities)
    for key in ("temperature", "top_p", "presence_penalty", "frequency_penalty"):
        value = getattr(request, key)
        if value is not None:
            body[key] = value
    if request.max_output_tokens is not None:
        body["max_tokens"] = request.max_output_tokens
    if request.logprobs:
        body["logprobs"] = True
        body["top_logprobs"] = request.top_logprobs or 0
    response_format = _response_format(request.text_format)
    # A forced tool call says no text: the format cannot apply to this turn, and an engine
    # that constrains output by grammar (llama.cpp) would let the format win over the call.
    if response_format is not None and body.get("tool_choice") in (None, "auto", "none"):
        body["response_format"] = response_format
    if request.user is not None:
        body["user"] = request.user
    _add_effort(body, request, capabilities)
    return body


def _add_effort(body: JSONDict, request: ModelRequest, capabilities: Capabilities) -> None:
    effort = (request.reasoning or {}).get("effort")
    if effort is None:
        return
    if capabilities.effort_in_template:
        body["chat_template_kwargs"] = {"enable_thinking": effort != "none",
                                        "reasoning_effort": effort}
    else:
        body["reasoning_effort"] = effort


def to_chat_messages(request: ModelRequest, *, reasoning_input: bool = False) -> list[JSONDict]:
    messages: list[JSONDict] = []
    reasoning: list[str] = []  # reasoning items' text, for the assistant message they precede
    if request.instructions:
        messages.append({"role": "system", "content": request.instructions})
    images: list[JSONDict] = []  # tool outputs' pictures, for the user turn after the results
    for index, item in enumerate(request.input):
        kind = item["type"]
        output = as_function_output(item)
        if images and output is None:
            messages.append(_tool_images(images))
        if kind == "message":
            messages.append(_message(item, index))
            if messages[-1]["role"] == "assistant":
                _attach_reasoning(messages[-1], reasoning)
            reasoning.clear()  # reasoning belongs to the assistant turn right after it
        elif (function_call := as_function_call(item)) is not None:
            call_id, name, arguments = function_call
            call = {"id": call_id, "type": "function",
                    "function": {"name": name, "arguments": arguments}}
            previous = messages[-1] if messages else None
            # Parallel calls (and text said before them) belong to one assistant turn.
            if previous is not None and previous["role"] == "assistant":
                previous.setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
                _attach_reasoning(messages[-1], reasoning)
        elif output is not None:
            text, pictures = _tool_output(output[1], index)
            messages.append({"role": "tool", "tool_call_id": output[0], "content": text})
            images += pictures
        elif kind == "reasoning":
            if reasoning_input:  # see the module docstring
                reasoning += [part.get("text") or "" for part in item.get("content") or ()]
        elif kind == "additional_tools":
            continue  # its tools are offered with the others (engine/deferred_tools.py)
        else:
            raise InvalidRequestError(
                f"Input items of type '{kind}' are not supported by chat-completions providers.",
                param=f"input[{index}]", code="unsupported_value")
    if images:
        messages.append(_tool_images(images))
    return messages


def _tool_images(images: list[JSONDict]) -> JSONDict:
    """Chat tool results hold text only: the pictures tool calls returned (a computer's
    screenshot, an image a function gave back) follow them as the user's, in order."""
    message = {"role": "user", "content": [
        {"type": "text", "text": "The images the tool calls above returned:"}, *images]}
    images.clear()
    return message


def _attach_reasoning(message: JSONDict, reasoning: list[str]) -> None:
    text = "".join(reasoning)
    reasoning.clear()
    if text:
        message["reasoning_content"] = text


def _message(item: JSONDict, index: int) -> JSONDict:
    role = _CHAT_ROLES[item["role"]]
    content = item["content"]
    if isinstance(content, str):
        return {"role": role, "content": content}
    parts: list[JSONDict] = []
    for part_index, part in enumerate(content):
        kind = part["type"]
        if kind in ("input_text", "output_text", "text"):
            parts.append({"type": "text", "text": part["text"]})
        elif kind == "refusal":
            parts.append({"type": "text", "text": part["refusal"]})
        elif kind == "input_image":
            url = part.get("image_url")
            if not url:
                raise InvalidRequestError(
                    "An image needs its 'image_url' or the 'file_id' of an upload.",
                    param=f"input[{index}].content[{part_index}]", code="unsupported_value")
            parts.append({"type": "image_url",
                          "image_url": {"url": url, "detail": part.get("detail") or "auto"}})
        elif kind == "input_file":
            file_data = part.get("file_data")
            if not file_data:
                raise InvalidRequestError(
                    "Files by 'file_url' are not supported; send 'file_data' or the 'file_id' "
                    "of an upload.",
                    param=f"input[{index}].content[{part_index}]", code="unsupported_value")
            file: JSONDict = {"file_data": file_data}
            if part.get("filename"):
                file["filename"] = part["filename"]
            parts.append({"type": "file", "file": file})
        else:
            raise InvalidRequestError(
                f"Content parts of type '{kind}' are not supported.",
                param=f"input[{index}].content[{part_index}]", code="unsupported_value")
    if all(part["type"] == "text" for part in parts):
        # Plain strings are what every engine's chat template understands.
        return {"role": role, "content": "".join(part["text"] for part in parts)}
    return {"role": role, "content": parts}


def _tool_output(output: str | list[JSONDict], index: int) -> tuple[str, list[JSONDict]]:
    """A tool output as the tool message's text and the pictures that must follow it."""
    if isinstance(output, str):
        return output, []
    texts: list[str] = []
    images: list[JSONDict] = []
    for part_index, part in enumerate(output):
        if part["type"] == "input_text":
            texts.append(part["text"])
        elif part["type"] == "input_image" and part.get("image_url"):
            images.append({"type": "image_url", "image_url": {
                "url": part["image_url"], "detail": part.get("detail") or "auto"}})
        else:
            raise InvalidRequestError(
                "Only text and images are supported in tool outputs for chat-completions "
                "providers.", param=f"input[{index}].output[{part_index}]",
                code="unsupported_value")
    text = "".join(texts)
    if images:
        text += f"{' ' if text else ''}[{len(images)} image(s), shown next]"
    return text, images


def _add_tools(body: JSONDict, request: ModelRequest, capabilities: Capabilities) -> None:
    surface = ToolSurface(request.tools)  # Codex's tool kinds, as functions
    tools = [_chat_tool(tool) for tool in surface.functions]
    choice = request.tool_choice
    if not tools:
        return
    if isinstance(choice, dict):
        if choice["type"] == "allowed_tools":
            allowed = {surface.choice_name(tool) for tool in choice["tools"]}
            tools = [tool for tool in tools if tool["function"]["name"] in allowed]
            choice = choice["mode"]
        elif (named := surface.choice_name(choice)) is not None:
            if capabilities.named_tool_choice:
                choice = {"type": "function", "function": {"name": named}}
            else:
                # Emulate: offer only the named tool and require a call.
                tools = [tool for tool in tools if tool["function"]["name"] == named]
                choice = "required"
    if choice == "none" and capabilities.tool_choice_none_drops_tools:
        return
    body["tools"] = tools
    body["tool_choice"] = choice
    body["parallel_tool_calls"] = request.parallel_tool_calls


def _chat_tool(tool: JSONDict) -> JSONDict:
    function: JSONDict = {"name": tool["name"],
                          "parameters": tool.get("parameters") or {"type": "object",
                                                                   "properties": {}}}
    if tool.get("description"):
        function["description"] = tool["description"]
    if tool.get("strict") is not None:
        function["strict"] = tool["strict"]
    return {"type": "function", "function": function}


def _response_format(text_format: JSONDict | None) -> JSONDict | None:
    if not text_format or text_format["type"] == "text":
        return None
    if text_format["type"] == "json_object":
        return {"type": "json_object"}
    schema: JSONDict = {"name": text_format["name"], "schema": text_format["schema"]}
    if text_format.get("strict") is not None:
        schema["strict"] = text_format["strict"]
    if text_format.get("description"):
        schema["description"] = text_format["description"]
    return {"type": "json_schema", "json_schema": schema}


def decode_completion(provider: str, raw: bytes) -> list[Delta]:
    """A whole (non-streamed) chat completion as the deltas a stream would have carried."""
    try:
        completion = orjson.loads(raw)
        choice = completion["choices"][0]
        message = choice["message"]
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError) as exc:
        raise UpstreamProtocolError(provider, "unparseable chat completion") from exc
    deltas: list[Delta] = []
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if reasoning:
        deltas.append(ReasoningDelta(reasoning))
    if message.get("content"):
        deltas.append(TextDelta(message["content"], _logprobs(choice.get("logprobs"))))
    if message.get("refusal"):
        deltas.append(RefusalDelta(message["refusal"]))
    for index, call in enumerate(message.get("tool_calls") or ()):
        function = call.get("function") or {}
        deltas.append(ToolCallDelta(index=index, arguments=function.get("arguments") or "",
                                    name=function.get("name"), call_id=call.get("id")))
    deltas.append(Finish(_FINISH_REASONS.get(choice.get("finish_reason") or "stop", "stop")))
    if completion.get("usage"):
        deltas.append(_usage(completion["usage"]))
    return deltas


class ChunkDecoder:
    """Turns chat-completion stream chunks (parsed JSON) into deltas."""

    __slots__ = ("finished", "provider")

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.finished = False

    def decode(self, data: bytes) -> list[Delta]:
        chunk = json_object(self.provider, data, "stream chunk")
        if chunk.get("error"):
            error = chunk["error"]
            message = error.get("message") if isinstance(error, dict) else str(error)
            raise UpstreamProtocolError(self.provider, f"error in stream: {message}")
        deltas: list[Delta] = []
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if reasoning:
                deltas.append(ReasoningDelta(reasoning))
            content = delta.get("content")
            if content:
                deltas.append(TextDelta(content, _logprobs(choice.get("logprobs"))))
            if delta.get("refusal"):
                deltas.append(RefusalDelta(delta["refusal"]))
            for call in delta.get("tool_calls") or ():
                function = call.get("function") or {}
                deltas.append(ToolCallDelta(index=call.get("index", 0),
                                            arguments=function.get("arguments") or "",
                                            name=function.get("name"), call_id=call.get("id")))
            reason = choice.get("finish_reason")
            if reason:
                self.finished = True
                deltas.append(Finish(_FINISH_REASONS.get(reason, "stop")))
        usage = chunk.get("usage")
        if usage:
            deltas.append(_usage(usage))
        return deltas


def _logprobs(logprobs: JSONDict | None) -> list[JSONDict]:
    if not logprobs or not logprobs.get("content"):
        return []
    return [
        {"token": entry["token"], "bytes": entry.get("bytes") or list(entry["token"].encode()),
         "logprob": entry["logprob"],
         "top_logprobs": [{"token": top["token"],
                           "bytes": top.get("bytes") or list(top["token"].encode()),
                           "logprob": top["logprob"]} for top in entry.get("top_logprobs") or ()]}
        for entry in logprobs["content"]
    ]


def _usage(usage: JSONDict) -> Usage:
    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    return Usage(
        input_tokens=usage.get("prompt_tokens") or 0,
        output_tokens=usage.get("completion_tokens") or 0,
        cached_tokens=prompt_details.get("cached_tokens") or 0,
        reasoning_tokens=completion_details.get("reasoning_tokens") or 0,
    )
