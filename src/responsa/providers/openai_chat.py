"""The OpenAI-compatible chat-completions dialect (vLLM, Ollama, llama.cpp, LM Studio, SGLang …)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson

from responsa.config import ProviderConfig
from responsa.errors import (
    ContextLengthExceededError,
    UpstreamConnectionError,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamStatusError,
    UpstreamTimeoutError,
)
from responsa.providers.base import Capabilities, ModelInfo, ModelRequest
from responsa.providers.chat_translation import ChunkDecoder, build_chat_body
from responsa.providers.deltas import Delta

# Markers engines put in a 400 when the prompt does not fit (OpenAI, vLLM, llama.cpp).
_CONTEXT_MARKERS = ("context_length_exceeded", "exceed_context_size", "maximum context length")


class ChatCompletionsProvider:
    def __init__(self, config: ProviderConfig) -> None:
        if not config.base_url:
            raise ValueError(f"provider '{config.name}' needs a base_url")
        self.name = config.name
        self.capabilities: Capabilities = config.capabilities
        self.context_window = config.context_window
        headers = {"Accept": "application/json", **config.headers}
        if config.api_key:
            headers["Authorization"] = f"Bearer {config.api_key}"
        self._client = httpx.AsyncClient(
            base_url=config.base_url.rstrip("/") + "/",
            headers=headers,
            timeout=httpx.Timeout(config.timeout, connect=config.connect_timeout),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
        )

    @asynccontextmanager
    async def open(self, request: ModelRequest) -> AsyncIterator[AsyncIterator[Delta]]:
        body = orjson.dumps(build_chat_body(request, self.capabilities))
        with self._map_transport_errors():
            upstream = await self._send(body)
        try:
            if upstream.status_code >= 400:
                await upstream.aread()
                raise self._status_error(upstream)
            yield self._deltas(upstream)
        finally:
            await upstream.aclose()

    async def _send(self, body: bytes) -> httpx.Response:
        request = self._client.build_request(
            "POST", "chat/completions", content=body,
            headers={"Content-Type": "application/json"})
        try:
            return await self._client.send(request, stream=True)
        except (httpx.RemoteProtocolError, httpx.ReadError):
            # A pooled keep-alive connection the upstream had already closed: nothing was
            # consumed, so sending once more on a fresh connection is safe.
            return await self._client.send(request, stream=True)

    async def _deltas(self, upstream: httpx.Response) -> AsyncIterator[Delta]:
        decoder = ChunkDecoder(self.name)
        with self._map_transport_errors():
            async for line in upstream.aiter_lines():
                if not line.startswith("data:"):
                    continue  # comments, `event:` lines, blank separators
                data = line[5:].strip()
                if data == "[DONE]":
                    return
                for delta in decoder.decode(data.encode()):
                    yield delta
        if not decoder.finished:
            raise UpstreamProtocolError(self.name, "the stream ended before the model finished")

    def _status_error(self, upstream: httpx.Response) -> UpstreamError:
        message = _error_message(upstream)
        if upstream.status_code == 400 and any(m in message.lower() for m in _CONTEXT_MARKERS):
            raise ContextLengthExceededError(
                f"Your input exceeds the context window of this model. ({message})", param="input")
        return UpstreamStatusError(self.name, upstream.status_code, message)

    def _map_transport_errors(self) -> _TransportErrors:
        return _TransportErrors(self.name)

    async def list_models(self) -> list[ModelInfo]:
        with self._map_transport_errors():
            reply = await self._client.get("models")
        if reply.status_code >= 400:
            raise UpstreamStatusError(self.name, reply.status_code, _error_message(reply))
        data = reply.json().get("data") or []
        return [ModelInfo(id=str(model["id"]), context_window=self.context_window)
                for model in data if isinstance(model, dict) and "id" in model]

    async def aclose(self) -> None:
        await self._client.aclose()


class _TransportErrors:
    """Maps httpx's exceptions to ours, naming the provider."""

    __slots__ = ("provider",)

    def __init__(self, provider: str) -> None:
        self.provider = provider

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if exc is None or not isinstance(exc, httpx.HTTPError):
            return
        if isinstance(exc, httpx.TimeoutException):
            raise UpstreamTimeoutError(self.provider, f"timed out ({type(exc).__name__})") from exc
        if isinstance(exc, httpx.ConnectError):
            raise UpstreamConnectionError(self.provider, f"cannot connect: {exc}") from exc
        if isinstance(exc, httpx.TransportError):
            raise UpstreamConnectionError(self.provider, f"connection failed: {exc}") from exc
        raise UpstreamProtocolError(self.provider, str(exc)) from exc


def _error_message(upstream: httpx.Response) -> str:
    try:
        body = orjson.loads(upstream.content)
    except orjson.JSONDecodeError:
        return upstream.text[:500] or upstream.reason_phrase
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return error
        if body.get("message"):
            return str(body["message"])
    return upstream.text[:500]
