"""Pure ASGI middleware for the edge: a request id on every response, and API keys (on HTTP
requests and on WebSocket handshakes alike).

Pure ASGI (not Starlette's BaseHTTPMiddleware) because it wraps every SSE message and must not
buffer or add a task per request.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from typing import Any

import orjson

from responsa.api.errors import REQUEST_ID_HEADER, error_response, new_request_id
from responsa.errors import AuthenticationError, MissingAPIKeyError, ResponsaError

# The scope key holding the server's own `send`, for responses that stream many body messages
# past the wrappers (api/sse.py); only a response's start message needs them.
DIRECT_SEND = "responsa.direct_send"

_MISSING_KEY = ("You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")


class EdgeMiddleware:
    def __init__(self, app: Any, *, api_keys: Iterable[str] = ()) -> None:
        self.app = app
        self.api_keys = [key.encode() for key in api_keys]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = new_request_id().encode()
        scope[DIRECT_SEND] = send

        async def send_with_request_id(message: Any) -> None:
            if message["type"] in _HEADED_MESSAGES:
                headers = [*message.get("headers", ()), (REQUEST_ID_HEADER, request_id)]
                message = {**message, "headers": headers}
            await send(message)

        if self.api_keys and scope["path"].startswith("/v1/"):
            failure = self._authenticate(scope)
            if failure is not None:
                if kind == "http":
                    await error_response(failure)(scope, receive, send_with_request_id)
                else:
                    await _refuse_handshake(scope, failure, send_with_request_id)
                return
        await self.app(scope, receive, send_with_request_id)

    def _authenticate(self, scope: Any) -> AuthenticationError | None:
        header = next((value for name, value in scope["headers"] if name == b"authorization"), None)
        if not header:
            return MissingAPIKeyError(_MISSING_KEY)
        scheme, _, key = header.partition(b" ")
        key = key.strip()
        if scheme.lower() == b"bearer" and any(hmac.compare_digest(key, k) for k in self.api_keys):
            return None
        shown = key.decode(errors="replace")
        masked = f"{shown[:3]}***{shown[-4:]}" if len(shown) > 8 else "***"
        return AuthenticationError(f"Incorrect API key provided: {masked}.")


# The messages that open a response (or accept a WebSocket) and so carry headers.
_HEADED_MESSAGES = frozenset({"http.response.start", "websocket.accept",
                              "websocket.http.response.start"})


async def _refuse_handshake(scope: Any, error: ResponsaError, send: Any) -> None:
    """Answer the upgrade request with the same error envelope an HTTP request gets, where the
    server can send an HTTP response instead of accepting (every uvicorn WebSocket protocol
    can); else close before accepting, which clients see as a 403."""
    if "websocket.http.response" not in scope.get("extensions", {}):
        await send({"type": "websocket.close", "code": 1008})
        return
    body = orjson.dumps({"error": error.to_dict()})
    await send({"type": "websocket.http.response.start", "status": error.status_code,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "websocket.http.response.body", "body": body})
