"""The error hierarchy. Each error knows how OpenAI would render it.

    ResponsaError                      500 server_error
    ├── InvalidRequestError            400 invalid_request_error (validation, bad references)
    │   └── ContextLengthExceededError 400 code=context_length_exceeded
    ├── AuthenticationError            401 invalid_request_error, code=invalid_api_key
    │   └── MissingAPIKeyError         401 code=null
    ├── NotFoundError                  404 invalid_request_error
    └── UpstreamError                  502 server_error — the provider misbehaved
        ├── UpstreamConnectionError        could not connect / connection dropped
        ├── UpstreamTimeoutError           no answer in time
        ├── UpstreamStatusError            non-2xx answer (keeps the upstream status)
        └── UpstreamProtocolError          an answer we cannot parse

Before a response starts streaming an error is rendered as an HTTP error envelope; after, the
engine turns it into `response.failed` (see engine/run.py).
"""

from __future__ import annotations

from typing import Any


class ResponsaError(Exception):
    status_code: int = 500
    error_type: str = "server_error"
    default_code: str | None = "server_error"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code if code is not None else self.default_code

    def to_dict(self) -> dict[str, Any]:
        """The body of OpenAI's `{"error": {...}}` envelope: all four keys, always."""
        return {"message": self.message, "type": self.error_type, "param": self.param,
                "code": self.code}


class InvalidRequestError(ResponsaError):
    status_code = 400
    error_type = "invalid_request_error"
    default_code: str | None = None


class ContextLengthExceededError(InvalidRequestError):
    default_code: str | None = "context_length_exceeded"


class AuthenticationError(ResponsaError):
    status_code = 401
    error_type = "invalid_request_error"
    default_code: str | None = "invalid_api_key"


class MissingAPIKeyError(AuthenticationError):
    default_code: str | None = None


class NotFoundError(ResponsaError):
    status_code = 404
    error_type = "invalid_request_error"
    default_code: str | None = None


class UpstreamError(ResponsaError):
    """The provider failed. `provider` names it so operators know where to look."""

    status_code = 502
    default_code: str | None = "server_error"

    def __init__(self, provider: str, message: str, *, code: str | None = None) -> None:
        super().__init__(f"Provider '{provider}': {message}", code=code)
        self.provider = provider


class UpstreamConnectionError(UpstreamError):
    pass


class UpstreamTimeoutError(UpstreamError):
    pass


class UpstreamStatusError(UpstreamError):
    def __init__(self, provider: str, upstream_status: int, message: str) -> None:
        super().__init__(provider, f"HTTP {upstream_status}: {message}")
        self.upstream_status = upstream_status

    @property
    def is_client_error(self) -> bool:
        """A 4xx that is about the request itself (not our credentials, not rate limits)."""
        status = self.upstream_status
        return 400 <= status < 500 and status not in (401, 403, 408, 429)


class UpstreamProtocolError(UpstreamError):
    pass
