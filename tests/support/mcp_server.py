"""An MCP server for the tests, written with the official `mcp` package: streamable HTTP (and
SSE) on 127.0.0.1, uvicorn in a thread, recording the headers each request carried."""

from __future__ import annotations

import asyncio
import contextlib

import orjson
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from starlette.types import Message, Receive, Scope, Send

from tests.support.asgi import ThreadedAsgiServer

# What `lookup` knows: the tests ask for these keys by exact arguments.
DIRECTORY = {"alice": "alice@example.com", "bob": "bob@example.com"}


def build_server() -> MCPServer:
    server: MCPServer = MCPServer("responsa-test")

    @server.tool(description="Add two integers.", annotations=ToolAnnotations(readOnlyHint=True))
    def add(a: int, b: int) -> int:
        return a + b

    @server.tool(description="Look up a person's e-mail address by name.",
                 annotations=ToolAnnotations(readOnlyHint=True))
    def lookup(name: str) -> str:
        return DIRECTORY.get(name.lower(), f"no entry for {name}")

    @server.tool(description="Delete a person's entry (always fails here).")
    def delete(name: str) -> str:
        raise ToolError(f"refusing to delete {name}")

    @server.tool(description="Wait the given number of seconds, then answer.")
    async def wait(seconds: float) -> str:
        await asyncio.sleep(seconds)
        return "waited"

    return server


class McpTestServer(ThreadedAsgiServer):
    """The server on both transports: streamable HTTP at `/mcp`, SSE at `/sse`."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []  # headers of every HTTP request, in order
        self.methods: list[str] = []  # JSON-RPC methods called, in order
        mcp = build_server()
        self._http = mcp.streamable_http_app(stateless_http=True, json_response=True)
        self._sse = mcp.sse_app()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    @property
    def sse_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/sse"

    def headers_seen(self, name: str) -> list[str]:
        return [headers[name] for headers in self.requests if name in headers]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._http(scope, receive, send)  # runs the session manager
            return
        if scope["type"] == "http":
            self.requests.append({key.decode().lower(): value.decode()
                                  for key, value in scope["headers"]})
            receive = self._recording(receive)
        app = self._http if scope["path"].startswith("/mcp") else self._sse
        await app(scope, receive, send)

    def _recording(self, receive: Receive) -> Receive:
        """Notes the JSON-RPC method of every request body that passes."""
        body = bytearray()

        async def recording() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                body.extend(message.get("body", b""))
                if not message.get("more_body") and body:
                    with contextlib.suppress(ValueError):
                        parsed = orjson.loads(bytes(body))
                        for request in parsed if isinstance(parsed, list) else [parsed]:
                            if isinstance(request, dict) and "method" in request:
                                self.methods.append(request["method"])
            return message

        return recording

