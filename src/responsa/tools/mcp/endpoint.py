"""Which MCP server a request's `mcp` tool reaches, and with which headers.

A tool with a `server_url` reaches that URL with the request's own `headers`/`authorization`,
if the deployment allows it (`mcp_server_urls`: a server reachable from here may be one the
client could not reach itself).
A tool without one names a server of the deployment by its `server_label`
(`[mcp_servers.NAME]` in the config): the deployment's credentials for that server are added
here and nowhere else, so they reach only that server's URL. Connectors and tunnels are
ChatGPT-side services this server has no access to: they are refused.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from responsa.config import McpServerConfig
from responsa.errors import InvalidRequestError

JSONDict = dict[str, Any]

DEFAULT_TIMEOUT = 60.0  # seconds for connecting, listing, or one call


@dataclass(frozen=True, slots=True)
class McpEndpoint:
    label: str
    url: str
    headers: dict[str, str] = field(repr=False)  # credentials: never logged, echoed or stored
    description: str | None = None
    timeout: float = DEFAULT_TIMEOUT

    @property
    def secrets(self) -> list[str]:
        """Header values an error message must never show."""
        secrets = [value for value in self.headers.values() if value]
        # `Bearer abc` also leaks as `abc` alone.
        secrets += [value.split(" ", 1)[1] for value in secrets if " " in value]
        return [secret for secret in secrets if len(secret) >= 4]


def resolve_endpoint(tool: JSONDict, index: int, configured: Mapping[str, McpServerConfig],
                     allowed_urls: Sequence[str] | None = None) -> McpEndpoint:
    label = tool["server_label"]
    for key in ("connector_id", "tunnel_id"):
        if tool.get(key) is not None:
            raise InvalidRequestError(
                f"MCP {key.removesuffix('_id')}s are not supported by this server: connect to an "
                "MCP server with 'server_url', or name a server configured on this deployment "
                "by its 'server_label'.",
                param=f"tools[{index}].{key}", code="unsupported_value")
    headers = dict(tool.get("headers") or {})
    if tool.get("authorization"):
        headers["Authorization"] = f"Bearer {tool['authorization']}"
    url = tool.get("server_url")
    description = tool.get("server_description")
    if url:
        if allowed_urls is not None and not any(
                fnmatch.fnmatchcase(url, pattern) for pattern in allowed_urls):
            raise InvalidRequestError(
                f"Invalid 'tools[{index}].server_url': this deployment does not allow MCP "
                f"servers at '{url}'.", param=f"tools[{index}].server_url", code="invalid_value")
        return McpEndpoint(label, url, headers, description)
    server = configured.get(label)
    if server is None:
        raise InvalidRequestError(
            f"Missing required parameter: 'tools[{index}].server_url' (no MCP server named "
            f"'{label}' is configured on this deployment).",
            param=f"tools[{index}].server_url", code="missing_required_parameter")
    # The deployment's credentials win over same-named request headers.
    return McpEndpoint(label, server.url, {**headers, **server.headers},
                       description or server.description, server.timeout)
