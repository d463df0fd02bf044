"""The `mcp` hosted tool: one MCP server of a request, its tools offered to the model as
functions, their calls run on the server (or held for the client's approval).

`prepare` lists the server's tools into an `mcp_list_tools` item, unless the history already
has one for this server label (a continued chain or conversation reuses it), and releases the
calls the client approved in its new input. `call` runs one call as an `mcp_call` item, or
ends the response with an `mcp_approval_request` when the call needs approval.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from responsa.errors import InvalidRequestError
from responsa.ids import new_id
from responsa.tools.base import HostedCall, HostedOutcome, OutputSink
from responsa.tools.mcp import connection
from responsa.tools.mcp.endpoint import McpEndpoint
from responsa.tools.mcp.items import (
    approval_request_item,
    call_item,
    failure_text,
    function_name,
    list_tools_item,
    listed_tool,
)
from responsa.tools.mcp.policy import is_allowed, needs_approval

JSONDict = dict[str, Any]
logger = logging.getLogger(__name__)


class McpHostedTool:
    type = "mcp"

    def __init__(self, spec: JSONDict, endpoint: McpEndpoint) -> None:
        self._spec = spec
        self._endpoint = endpoint
        self._tools: dict[str, JSONDict] = {}  # offered function name → listed tool
        # Calls `prepare` released: their call id → the approval request they answer.
        self._approvals: dict[str, str] = {}

    @property
    def label(self) -> str:
        return self._endpoint.label

    def chosen_function(self, tool_choice: JSONDict) -> str | None:
        """`{"type": "mcp", "server_label", "name"?}`: this server's named tool, or its first."""
        if tool_choice.get("server_label") not in (None, self.label) or not self._tools:
            return None
        name = tool_choice.get("name")
        if name is None:
            return next(iter(self._tools))
        wanted = function_name(self.label, name)
        return wanted if wanted in self._tools else None

    def functions(self) -> list[JSONDict]:
        described = self._endpoint.description
        return [{"type": "function", "name": name,
                 "description": _description(tool, described),
                 "parameters": tool.get("input_schema") or {"type": "object", "properties": {}},
                 "strict": False}
                for name, tool in self._tools.items()]

    def owns(self, name: str) -> bool:
        return name in self._tools

    async def prepare(self, history: list[JSONDict], sink: OutputSink) -> list[HostedCall]:
        listed = _last_list(history, self.label)
        tools = listed["tools"] if listed is not None else await self._list(sink)
        self._tools = {function_name(self.label, tool["name"]): tool for tool in tools
                       if is_allowed(self._spec.get("allowed_tools"), tool)}
        return self._approved_calls(history)

    async def call(self, call: HostedCall, sink: OutputSink) -> HostedOutcome:
        tool = self._tools[call.name]
        approval_request_id = self._approvals.get(call.call_id)
        if not call.approved and needs_approval(self._spec.get("require_approval"), tool):
            request = approval_request_item(self.label, tool["name"], call.arguments)
            sink.add_item(request)
            return HostedOutcome(request, model_output=None)  # the client decides
        item = call_item(self.label, tool["name"], call.arguments, approval_request_id)
        sink.open_item({**item, "arguments": ""})  # the arguments stream in next
        sink.item_event("response.mcp_call.in_progress")
        sink.item_event("response.mcp_call_arguments.delta", delta=call.arguments)
        sink.item_event("response.mcp_call_arguments.done", arguments=call.arguments)
        try:
            result = await connection.call_tool(self._endpoint, tool["name"],
                                                _arguments(call.arguments))
        except connection.McpFailure as failure:
            item.update(status="failed", error=failure.error)
        else:
            if result.is_error:
                item.update(status="failed", output=result.output,
                            error={"type": "mcp_tool_execution_error", "content": result.content})
            else:
                item.update(status="completed", output=result.output)
        completed = item["status"] == "completed"
        sink.item_event("response.mcp_call.completed" if completed else "response.mcp_call.failed")
        sink.close_item(item)
        return HostedOutcome(item, item["output"] if completed else failure_text(item["error"]))

    async def aclose(self) -> None:
        """Nothing held: every operation opened and closed its own session."""

    async def _list(self, sink: OutputSink) -> list[JSONDict]:
        item = list_tools_item(self.label)
        sink.open_item(dict(item))
        sink.item_event("response.mcp_list_tools.in_progress")
        try:
            listed = [listed_tool(tool) for tool in await connection.list_tools(self._endpoint)]
        except connection.McpFailure as failure:
            logger.info("MCP server %s: listing tools failed: %s", self.label, failure.message)
            item["error"] = f"Error retrieving tool list from MCP server: '{self.label}'. " \
                            f"{failure.message}"
            sink.item_event("response.mcp_list_tools.failed")
            sink.close_item(item)
            return []
        # Like the real API, the list shows only what the request allows.
        item["tools"] = tools = [tool for tool in listed
                                 if is_allowed(self._spec.get("allowed_tools"), tool)]
        sink.item_event("response.mcp_list_tools.completed")
        sink.close_item(item)
        return tools

    def _approved_calls(self, history: list[JSONDict]) -> list[HostedCall]:
        """Calls of this server the client approved and that have not run yet."""
        requests = {item["id"]: item for item in history
                    if item.get("type") == "mcp_approval_request"}
        ran = {item.get("approval_request_id") for item in history
               if item.get("type") == "mcp_call"}
        calls = []
        for item in history:
            if item.get("type") != "mcp_approval_response":
                continue
            request_id = item["approval_request_id"]
            request = requests.get(request_id)
            if request is None:
                raise InvalidRequestError(
                    f"No approval request found with id '{request_id}'.", param="input",
                    code="invalid_value")
            if not item["approve"] or request_id in ran or request["server_label"] != self.label:
                continue
            name = function_name(self.label, request["name"])
            if name not in self._tools:
                continue  # no longer allowed: the model is offered it no more either
            call = HostedCall(call_id=new_id("call"), name=name, arguments=request["arguments"],
                              approved=True)
            self._approvals[call.call_id] = request_id
            calls.append(call)
        return calls


def _last_list(history: list[JSONDict], label: str) -> JSONDict | None:
    """The latest successful tool list of this server in the history."""
    for item in reversed(history):
        if (item.get("type") == "mcp_list_tools" and item.get("server_label") == label
                and not item.get("error")):
            return item
    return None


def _arguments(text: str) -> dict[str, Any]:
    """The model's arguments; anything but a JSON object is sent as no arguments, and the
    server's validation says what is missing."""
    try:
        value = orjson.loads(text or "{}")
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _description(tool: JSONDict, server_description: str | None) -> str:
    text = tool.get("description") or tool["name"]
    return f"{text} (MCP server: {server_description})" if server_description else text
