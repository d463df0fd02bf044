"""MCP as a hosted tool (`{"type": "mcp", …}`), with approvals; see tool.py.

Registers the `mcp` factory and the replays of the four MCP item types.
"""

from __future__ import annotations

from typing import Any

from responsa.tools.base import HostedTool, ToolServices
from responsa.tools.mcp.endpoint import resolve_endpoint
from responsa.tools.mcp.items import (
    replay_approval_request,
    replay_approval_response,
    replay_call,
    replay_nothing,
)
from responsa.tools.mcp.tool import McpHostedTool
from responsa.tools.registry import FACTORIES, REPLAYS

JSONDict = dict[str, Any]


def build(tool: JSONDict, index: int, services: ToolServices) -> HostedTool:
    settings = services.settings
    return McpHostedTool(tool, resolve_endpoint(tool, index, settings.mcp_servers,
                                                settings.mcp_server_urls))


FACTORIES["mcp"] = build
REPLAYS["mcp_call"] = replay_call
REPLAYS["mcp_list_tools"] = replay_nothing
REPLAYS["mcp_approval_request"] = replay_approval_request
REPLAYS["mcp_approval_response"] = replay_approval_response
