"""Talking to one MCP server with the official `mcp` client: list its tools, call one.

Each operation opens its own session (streamable HTTP, falling back to the older SSE
transport) and closes it before returning. The engine prepares, calls and closes a hosted tool
from different tasks, and the SDK's sessions are anyio task groups that must be left in the task
that entered them; a session per operation keeps every one of them inside a single `await`.
Everything is bounded by the endpoint's timeout, and every failure becomes an `McpFailure`
carrying the item `error` the Responses API defines, with credentials scrubbed from its text.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx2
import orjson
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, Tool

from responsa.tools.mcp.endpoint import McpEndpoint

JSONDict = dict[str, Any]
T = TypeVar("T")
logger = logging.getLogger(__name__)

# JSON-RPC codes the MCP SDK uses for a closed connection and a request that timed out.
CONNECTION_CLOSED = -32000
REQUEST_TIMEOUT = -32001


class McpFailure(Exception):
    """An operation failed; `error` is the item's `error` object, `message` its text."""

    def __init__(self, error: JSONDict, message: str) -> None:
        super().__init__(message)
        self.error = error
        self.message = message


@dataclass(frozen=True, slots=True)
class ToolResult:
    output: str  # the text the client and the model read
    is_error: bool
    content: JSONDict  # the result as the server sent it, for `mcp_tool_execution_error`


async def list_tools(endpoint: McpEndpoint) -> list[Tool]:
    async def fetch(client: Client) -> list[Tool]:
        tools: list[Tool] = []
        cursor: str | None = None
        while True:
            page = await client.list_tools(cursor=cursor)
            tools += page.tools
            cursor = page.next_cursor
            if not cursor:
                return tools

    return await _with_session(endpoint, fetch)


async def call_tool(endpoint: McpEndpoint, name: str, arguments: JSONDict) -> ToolResult:
    async def call(client: Client) -> CallToolResult:
        return await client.call_tool(name, arguments, read_timeout_seconds=endpoint.timeout)

    result = await _with_session(endpoint, call)
    return ToolResult(output=_result_text(result), is_error=bool(result.is_error),
                      content=result.model_dump(mode="json", by_alias=True, exclude_none=True,
                                                include={"content", "structured_content",
                                                         "is_error"}))


async def _with_session(endpoint: McpEndpoint, work: Callable[[Client], Awaitable[T]]) -> T:
    try:
        async with asyncio.timeout(endpoint.timeout):
            try:
                return await _over_streamable_http(endpoint, work)
            except _NotConnected as exc:
                if _unreachable(exc.cause):
                    raise exc.cause from None  # SSE would not get further
                logger.debug("MCP server %s: streamable HTTP failed (%s), trying SSE",
                             endpoint.label, type(exc.cause).__name__)
            try:
                return await _over_sse(endpoint, work)
            except _NotConnected as exc:
                raise exc.cause from None
    except TimeoutError:
        raise McpFailure({"type": "mcp_protocol_error", "code": REQUEST_TIMEOUT,
                          "message": f"Timed out after {endpoint.timeout:g}s"},
                         f"The MCP server did not answer within {endpoint.timeout:g}s.") from None
    except Exception as exc:  # the SDK raises from deep in its task groups
        raise _failure(endpoint, _leaf(exc)) from None


class _NotConnected(Exception):
    """The session could not be opened (as opposed to an operation failing once open)."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


async def _over_streamable_http(endpoint: McpEndpoint,
                                work: Callable[[Client], Awaitable[T]]) -> T:
    http = httpx2.AsyncClient(headers=endpoint.headers, timeout=httpx2.Timeout(endpoint.timeout))
    async with http:
        transport = streamable_http_client(endpoint.url, http_client=http)
        return await _over(Client(transport, read_timeout_seconds=endpoint.timeout), work)


async def _over_sse(endpoint: McpEndpoint, work: Callable[[Client], Awaitable[T]]) -> T:
    transport = sse_client(endpoint.url, headers=endpoint.headers, timeout=endpoint.timeout,
                           sse_read_timeout=endpoint.timeout)
    return await _over(Client(transport, read_timeout_seconds=endpoint.timeout), work)


async def _over(client: Client, work: Callable[[Client], Awaitable[T]]) -> T:
    connected = False
    try:
        async with client:
            connected = True
            return await work(client)
    except Exception as exc:
        if connected:
            raise
        raise _NotConnected(_leaf(exc)) from None


def _unreachable(exc: BaseException) -> bool:
    return isinstance(exc, httpx2.TransportError) and not isinstance(
        exc, httpx2.RemoteProtocolError)


def _leaf(exc: BaseException) -> BaseException:
    """The first real error inside the SDK's exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _failure(endpoint: McpEndpoint, exc: BaseException) -> McpFailure:
    if isinstance(exc, MCPError):
        message = _scrub(exc.error.message, endpoint)
        return McpFailure({"type": "mcp_protocol_error", "code": exc.error.code,
                           "message": message}, message)
    if isinstance(exc, httpx2.HTTPStatusError):
        status = exc.response.status_code
        message = f"The MCP server answered HTTP {status} {exc.response.reason_phrase}".strip()
        return McpFailure({"type": "http_error", "code": status, "message": message}, message)
    if isinstance(exc, httpx2.TransportError):
        message = f"Could not connect to the MCP server: {type(exc).__name__}"
    else:
        message = _scrub(f"MCP session failed: {type(exc).__name__}: {exc}", endpoint)
    return McpFailure({"type": "mcp_protocol_error", "code": CONNECTION_CLOSED,
                       "message": message}, message)


def _scrub(text: str, endpoint: McpEndpoint) -> str:
    for secret in endpoint.secrets:
        text = text.replace(secret, "***")
    return text


def _result_text(result: CallToolResult) -> str:
    parts = []
    for block in result.content:
        text = getattr(block, "text", None)
        parts.append(text if isinstance(text, str) else orjson.dumps(
            block.model_dump(mode="json", by_alias=True, exclude_none=True)).decode())
    if not parts and result.structured_content is not None:
        parts.append(orjson.dumps(result.structured_content).decode())
    return "\n".join(parts)
