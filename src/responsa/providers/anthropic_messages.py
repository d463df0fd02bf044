"""The Anthropic Messages dialect (`kind = "anthropic-messages"`).

`base_url` includes the version prefix, as for chat-completions providers (default
`https://api.anthropic.com/v1`); requests go to `{base_url}/messages` with `x-api-key` and
`anthropic-version`. The mapping itself lives in `anthropic_translation.py`.

aiohttp, as in `openai_chat.py`, for the same CPU reasons; the stream's `event:` lines are
redundant with each payload's own `type`, so `sse_data` hands over the payloads alone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace

import aiohttp
import orjson

from responsa.config import ProviderConfig
from responsa.errors import (
    ContextLengthExceededError,
    ResponsaError,
    UpstreamConnectionError,
    UpstreamProtocolError,
    UpstreamStatusError,
    UpstreamTimeoutError,
)
from responsa.providers.anthropic_translation import (
    ANTHROPIC_VERSION,
    DEFAULT_MAX_TOKENS,
    EventDecoder,
    build_messages_body,
    decode_message,
)
from responsa.providers.base import Capabilities, ModelInfo, ModelRequest
from responsa.providers.deltas import Delta
from responsa.providers.sse_decoder import sse_data

DEFAULT_BASE_URL = "https://api.anthropic.com/v1"
# What Messages says in a 400 when the prompt (with max_tokens) does not fit.
_CONTEXT_MARKERS = ("prompt is too long", "exceed context limit", "context window")
_JSON = {"content-type": "application/json"}
# Sampling and output settings that count_tokens does not take.
_NOT_COUNTED = ("max_tokens", "stream", "temperature", "top_p", "metadata")


class AnthropicMessagesProvider:
    def __init__(self, config: ProviderConfig, *,
                 default_max_tokens: int = DEFAULT_MAX_TOKENS) -> None:
        self.name = config.name
        # No native structured output and no logprobs; thinking is reasoning.
        self.capabilities: Capabilities = replace(config.capabilities, json_schema=False,
                                                  logprobs=False, reasoning=True)
        self.context_window = config.context_window
        self.default_max_tokens = default_max_tokens
        self._base_url = (config.base_url or DEFAULT_BASE_URL).rstrip("/")
        self._headers = {"accept": "application/json", "anthropic-version": ANTHROPIC_VERSION,
                         **config.headers}
        if config.api_key:
            self._headers["x-api-key"] = config.api_key
        # sock_read bounds the silence between two reads, not the whole (long) generation.
        self._timeout = aiohttp.ClientTimeout(total=None, connect=config.connect_timeout,
                                              sock_read=config.timeout)
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        # Created lazily: an aiohttp session belongs to the running event loop.
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers=self._headers, timeout=self._timeout,
                connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300))
        return self._session

    @asynccontextmanager
    async def open(self, request: ModelRequest) -> AsyncIterator[AsyncIterator[Delta]]:
        body = orjson.dumps(build_messages_body(request,
                                                default_max_tokens=self.default_max_tokens))
        with self._transport_errors():
            upstream = await self._post(body)
        try:
            if upstream.status >= 400:
                with self._transport_errors():
                    raw = await upstream.read()
                raise self._status_error(upstream.status, raw)
            yield self._deltas(upstream) if request.stream else self._whole(upstream)
        finally:
            upstream.release()

    async def _post(self, body: bytes) -> aiohttp.ClientResponse:
        url = f"{self._base_url}/messages"
        try:
            return await self.session.post(url, data=body, headers=_JSON)
        except aiohttp.ServerDisconnectedError:
            # A pooled keep-alive connection the upstream had already closed: nothing was
            # consumed, so sending once more on a fresh connection is safe.
            return await self.session.post(url, data=body, headers=_JSON)

    async def _deltas(self, upstream: aiohttp.ClientResponse) -> AsyncIterator[Delta]:
        decoder = EventDecoder(self.name)
        with self._transport_errors():
            async for payload in sse_data(upstream.content.iter_any()):
                for delta in decoder.decode(payload):
                    yield delta
        if not decoder.finished:
            raise UpstreamProtocolError(self.name, "the stream ended before message_stop")

    async def _whole(self, upstream: aiohttp.ClientResponse) -> AsyncIterator[Delta]:
        with self._transport_errors():
            raw = await upstream.read()
        for delta in decode_message(self.name, raw):
            yield delta

    def _status_error(self, status: int, raw: bytes) -> ResponsaError:
        message = _error_message(raw)
        if status == 400 and any(marker in message.lower() for marker in _CONTEXT_MARKERS):
            return ContextLengthExceededError(
                f"Your input exceeds the context window of this model. ({message})", param="input")
        return UpstreamStatusError(self.name, status, message)

    @contextmanager
    def _transport_errors(self) -> Iterator[None]:
        """aiohttp's failures as ours, naming the provider."""
        try:
            yield
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise UpstreamTimeoutError(self.name, "timed out waiting for the upstream") from exc
        except aiohttp.ClientConnectorError as exc:
            raise UpstreamConnectionError(self.name, f"cannot connect: {exc}") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamConnectionError(
                self.name, f"connection failed: {exc or type(exc).__name__}") from exc

    async def count_input_tokens(self, request: ModelRequest) -> int:
        """Exact, from Messages' own `POST /messages/count_tokens` (free of charge upstream)."""
        body = build_messages_body(replace(request, stream=False),
                                   default_max_tokens=self.default_max_tokens)
        for key in _NOT_COUNTED:
            body.pop(key, None)
        with self._transport_errors():
            async with self.session.post(f"{self._base_url}/messages/count_tokens",
                                         data=orjson.dumps(body), headers=_JSON) as reply:
                raw = await reply.read()
        if reply.status >= 400:
            raise self._status_error(reply.status, raw)
        try:
            count = orjson.loads(raw)["input_tokens"]
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise UpstreamProtocolError(self.name, "unparseable token count") from exc
        if not isinstance(count, int):
            raise UpstreamProtocolError(self.name, "unparseable token count")
        return count

    async def context_window_of(self, model: str) -> int | None:
        return self.context_window  # configured; Messages does not report it

    async def list_models(self) -> list[ModelInfo]:
        with self._transport_errors():
            async with self.session.get(f"{self._base_url}/models",
                                        params={"limit": "1000"}) as reply:
                raw = await reply.read()
        if reply.status >= 400:
            raise UpstreamStatusError(self.name, reply.status, _error_message(raw))
        try:
            data = orjson.loads(raw).get("data") or []
        except (orjson.JSONDecodeError, AttributeError) as exc:
            raise UpstreamProtocolError(self.name, "unparseable model list") from exc
        return [ModelInfo(id=str(model["id"]), context_window=self.context_window)
                for model in data if isinstance(model, dict) and "id" in model]

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _error_message(raw: bytes) -> str:
    """`{"type": "error", "error": {"type": …, "message": …}}`, or whatever a proxy sent."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw[:500].decode(errors="replace") or "no details"
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        kind = error.get("type")
        return f"{kind}: {error['message']}" if kind else str(error["message"])
    return raw[:500].decode(errors="replace")
