"""The Response object: its initial snapshot from a request, and what `include` shows of it."""

from __future__ import annotations

import time
from typing import Any

from responsa.ids import new_id

JSONDict = dict[str, Any]

LOGPROBS = "message.output_text.logprobs"
WEB_SEARCH_SOURCES = "web_search_call.action.sources"
FILE_SEARCH_RESULTS = "file_search_call.results"
INPUT_IMAGE_URLS = "message.input_image.image_url"
CODE_OUTPUTS = "code_interpreter_call.outputs"


def initial_response(body: JSONDict, *, model: str) -> JSONDict:
    """A fresh `in_progress` Response echoing the request, every field present as the real API
    sends it (api-surface §5.1; the Open Responses spec requires them all)."""
    text = body.get("text") or {}
    reasoning = body.get("reasoning") or {}
    conversation = body.get("conversation")
    return {
        "id": new_id("resp"),
        "object": "response",
        "created_at": int(time.time()),
        "status": "in_progress",
        "background": bool(body.get("background")),
        "completed_at": None,
        "conversation": _conversation(conversation),
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "max_tool_calls": body.get("max_tool_calls"),
        "model": model,
        "output": [],
        "parallel_tool_calls": _default(body.get("parallel_tool_calls"), True),
        "previous_response_id": body.get("previous_response_id"),
        "prompt": body.get("prompt"),
        "prompt_cache_key": body.get("prompt_cache_key"),
        "prompt_cache_retention": body.get("prompt_cache_retention"),
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "safety_identifier": body.get("safety_identifier"),
        "service_tier": "default",
        "store": _default(body.get("store"), True),
        "temperature": _default(body.get("temperature"), 1.0),
        "text": {"format": text.get("format") or {"type": "text"},
                 "verbosity": text.get("verbosity") or "medium"},
        "tool_choice": _default(body.get("tool_choice"), "auto"),
        "tools": [_echo_tool(tool) for tool in body.get("tools") or ()],
        "top_logprobs": _default(body.get("top_logprobs"), 0),
        "top_p": _default(body.get("top_p"), 1.0),
        "presence_penalty": _default(body.get("presence_penalty"), 0.0),
        "frequency_penalty": _default(body.get("frequency_penalty"), 0.0),
        "truncation": _default(body.get("truncation"), "disabled"),
        "usage": None,
        "user": body.get("user"),
        "metadata": body.get("metadata") or {},
    }


def _echo_tool(tool: JSONDict) -> JSONDict:
    """Function tools come back with every field present, nulls included, as the real API and
    the Open Responses spec have them. An MCP server's credentials are never echoed (nor
    stored with the response)."""
    if tool["type"] == "mcp":
        return {k: v for k, v in tool.items() if k not in _MCP_CREDENTIALS}
    if tool["type"] != "function":
        return tool
    return {"type": "function", "name": tool["name"], "description": tool.get("description"),
            "parameters": tool.get("parameters"), "strict": tool.get("strict"),
            **{k: v for k, v in tool.items() if k not in _FUNCTION_TOOL_KEYS}}


_FUNCTION_TOOL_KEYS = frozenset({"type", "name", "description", "parameters", "strict"})
_MCP_CREDENTIALS = frozenset({"authorization", "headers"})


def _default(value: Any, default: Any) -> Any:
    return default if value is None else value


def _conversation(value: Any) -> JSONDict | None:
    if value is None:
        return None
    return {"id": value} if isinstance(value, str) else {"id": value["id"]}


def render_response(response: JSONDict, include: frozenset[str]) -> JSONDict:
    """A Response as `include` shows it: logprobs, web search sources, file search results and
    code interpreter outputs only when asked. All are stored whole; this is the one place they
    are left out on the way to a client."""
    output = response["output"]
    rendered = [render_output_item(item, include) for item in output]
    if all(new is old for new, old in zip(rendered, output, strict=True)):
        return response
    return {**response, "output": rendered}


def render_output_item(item: JSONDict, include: frozenset[str]) -> JSONDict:
    kind = item.get("type")
    if kind == "message" and LOGPROBS not in include:
        return _without_logprobs(item)
    if (kind == "file_search_call" and FILE_SEARCH_RESULTS not in include
            and item.get("results") is not None):
        return {**item, "results": None}
    if kind == "web_search_call" and WEB_SEARCH_SOURCES not in include:
        action = item.get("action")
        if isinstance(action, dict) and "sources" in action:
            return {**item, "action": {k: v for k, v in action.items() if k != "sources"}}
    if kind == "code_interpreter_call" and CODE_OUTPUTS not in include and item.get("outputs"):
        return {**item, "outputs": None}
    return item


def render_event(event: JSONDict, include: frozenset[str]) -> JSONDict:
    """A stream event as `include` shows it (its item or response snapshot rendered)."""
    if "item" in event:
        item = render_output_item(event["item"], include)
        return event if item is event["item"] else {**event, "item": item}
    if "response" in event:
        response = render_response(event["response"], include)
        return event if response is event["response"] else {**event, "response": response}
    return event


def _without_logprobs(item: JSONDict) -> JSONDict:
    content = item.get("content") or ()
    if not any(part.get("logprobs") for part in content):
        return item
    return {**item, "content": [{**part, "logprobs": []} if part.get("logprobs") else part
                                for part in content]}


def render_input_item(item: JSONDict, include: frozenset[str]) -> JSONDict:
    """Input items as `input_items.list` shows them: image URLs only when asked."""
    if INPUT_IMAGE_URLS in include or item.get("type") != "message":
        return item
    content = item.get("content")
    if not isinstance(content, list) or not any(
            part.get("type") == "input_image" and part.get("image_url") for part in content):
        return item
    parts = [{**part, "image_url": None} if part.get("type") == "input_image" else part
             for part in content]
    return {**item, "content": parts}
