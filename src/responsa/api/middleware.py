"""Pure ASGI middleware for the edge: a request id on every response, and API keys.

Pure ASGI (not Starlette's BaseHTTPMiddleware) because it wraps every SSE message and must not
buffer or add a task per request.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from typing import Any

from responsa.api.errors import REQUEST_ID_HEADER, error_response, new_request_id
from responsa.errors import AuthenticationError, MissingAPIKeyError

_MISSING_KEY = ("You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")


class EdgeMiddleware:
    def __init__(self, app: Any, *, api_keys: Iterable[str] = ()) -> None:
        self.app = app
        self.api_keys = [key.encode() for key in api_keys]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id().encode()

        async def send_with_request_id(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", ()), (REQUEST_ID_HEADER, request_id)]
                message = {**message, "headers": headers}
            await send(message)

        if self.api_keys and scope["path"].startswith("/v1/"):
            failure = self._authenticate(scope)
            if failure is not None:
                await error_response(failure)(scope, receive, send_with_request_id)
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
