"""The MCP output items in the exact shape of the real API, the function names the model is
offered for a server's tools, and how stored MCP items read to the model on later turns."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import orjson
from mcp_types import Tool

from responsa.ids import new_id

JSONDict = dict[str, Any]

_FUNCTION_NAME = re.compile(r"[^a-zA-Z0-9_-]")
_MAX_FUNCTION_NAME = 64  # what every chat dialect accepts
AWAITING_APPROVAL = "Not run yet: the call waits for the user's approval."


def function_name(server_label: str, tool_name: str) -> str:
    """`label__tool`: unique across servers (labels are), valid in every dialect."""
    raw = f"{server_label}__{tool_name}"
    clean = _FUNCTION_NAME.sub("_", raw)
    if clean == raw and len(clean) <= _MAX_FUNCTION_NAME:
        return clean
    digest = hashlib.sha256(raw.encode()).hexdigest()[:8]  # keeps cleaned-up names apart
    return f"{clean[:_MAX_FUNCTION_NAME - 9]}_{digest}"


def listed_tool(tool: Tool) -> JSONDict:
    """One entry of `mcp_list_tools.tools`."""
    hint = tool.annotations.read_only_hint if tool.annotations is not None else None
    return {"name": tool.name, "description": tool.description,
            "input_schema": tool.input_schema,
            "annotations": None if hint is None else {"read_only": hint}}


def list_tools_item(server_label: str) -> JSONDict:
    return {"type": "mcp_list_tools", "id": new_id("mcpl"), "server_label": server_label,
            "tools": [], "error": None}


def call_item(server_label: str, name: str, arguments: str,
              approval_request_id: str | None) -> JSONDict:
    return {"type": "mcp_call", "id": new_id("mcp"), "status": "in_progress",
            "server_label": server_label, "name": name, "arguments": arguments,
            "output": None, "error": None, "approval_request_id": approval_request_id}


def approval_request_item(server_label: str, name: str, arguments: str) -> JSONDict:
    return {"type": "mcp_approval_request", "id": new_id("mcpr"),
            "server_label": server_label, "name": name, "arguments": arguments}


# ---- replays (tools/registry.py REPLAYS) -----------------------------------------------------


def replay_call(item: JSONDict) -> list[JSONDict]:
    """An `mcp_call` reads as the function call the model made and what it got back."""
    output = item.get("output")
    if item.get("error") is not None:
        output = failure_text(item["error"])
    return _pair(item["id"], item, output or "")


def replay_approval_request(item: JSONDict) -> list[JSONDict]:
    """The model asked for the call; it was held for approval (its run, if approved, follows
    as an `mcp_call`)."""
    return _pair(item["id"], item, AWAITING_APPROVAL)


def replay_approval_response(item: JSONDict) -> list[JSONDict]:
    """An approval reads as nothing (the `mcp_call` it released says it all); a denial is
    what the user said about the call that waited."""
    if item.get("approve"):
        return []
    reason = item.get("reason")
    text = "I denied the tool call that was waiting for my approval; do not run it."
    return [{"type": "message", "role": "user",
             "content": [{"type": "input_text",
                          "text": f"{text} Reason: {reason}" if reason else text}]}]


def replay_nothing(item: JSONDict) -> list[JSONDict]:
    """`mcp_list_tools`: the tools are offered as functions on every turn anyway."""
    return []


def failure_text(error: JSONDict) -> str:
    """What the model reads about a failed call."""
    if error.get("type") == "mcp_tool_execution_error":
        return "The tool failed: " + orjson.dumps(error.get("content")).decode()
    return f"The tool call failed: {error.get('message', 'unknown error')}"


def _pair(call_id: str, item: JSONDict, output: str) -> list[JSONDict]:
    name = function_name(item["server_label"], item["name"])
    return [{"type": "function_call", "call_id": call_id, "name": name,
             "arguments": item["arguments"]},
            {"type": "function_call_output", "call_id": call_id, "output": output}]
