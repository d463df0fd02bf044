"""The OpenAI-compatible chat-completions dialect (vLLM, Ollama, llama.cpp, LM Studio, SGLang …).

Input-token counts (`count_input_tokens`) are exact when the engine is llama.cpp
(`capabilities.tokenize_endpoint`): its own chat template renders the very body a create would
send (`POST /apply-template`), and its own tokenizer counts the prompt (`POST /tokenize`), both
at the server root. Any other engine gets `providers.token_estimate`'s documented estimate
(about four characters per token plus a per-message overhead), with no upstream call.

The context window (`context_window_of`) is the configured `context_window`; with llama.cpp it
is also asked of the engine once (`GET /props` at the server root reports the `n_ctx` a request
may use), and the smaller of the two is the window.

aiohttp rather than httpx: on this path it costs about a fifth of the CPU per request and per
streamed chunk (benchmarks/http_clients.py), and the upstream call is most of our own overhead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace
from typing import Any

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
from responsa.providers.base import Capabilities, ModelInfo, ModelRequest
from responsa.providers.chat_translation import ChunkDecoder, build_chat_body, decode_completion
from responsa.providers.deltas import Delta
from responsa.providers.sse_decoder import sse_data
from responsa.providers.token_estimate import estimate_chat_tokens

# Markers engines put in a 400 when the prompt does not fit (OpenAI, vLLM, llama.cpp).
_CONTEXT_MARKERS = ("context_length_exceeded", "exceed_context_size", "maximum context length")
_JSON = {"Content-Type": "application/json"}


class ChatCompletionsProvider:
    def __init__(self, config: ProviderConfig) -> None:
        if not config.base_url:
            raise ValueError(f"provider '{config.name}' needs a base_url")
        self.name = config.name
        self.capabilities: Capabilities = config.capabilities
        self.context_window = config.context_window
        self._base_url = config.base_url.rstrip("/")
        self._headers = {"Accept": "application/json", **config.headers}
        if config.api_key:
            self._headers["Authorization"] = f"Bearer {config.api_key}"
        # sock_read bounds the silence between two reads, not the whole (long) generation.
        self._timeout = aiohttp.ClientTimeout(total=None, connect=config.connect_timeout,
                                              sock_read=config.timeout)
        self._session: aiohttp.ClientSession | None = None
        self._engine_window: int | None = None  # llama.cpp's n_ctx, once asked
        self._engine_window_known = not config.capabilities.tokenize_endpoint

    @property
    def session(self) -> aiohttp.ClientSession:
        # Created lazily: an aiohttp session belongs to the running event loop.
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers=self._headers, timeout=self._timeout, json_serialize=_dumps,
                connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300))
        return self._session

    @asynccontextmanager
    async def open(self, request: ModelRequest) -> AsyncIterator[AsyncIterator[Delta]]:
        body = orjson.dumps(build_chat_body(request, self.capabilities))
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
        url = f"{self._base_url}/chat/completions"
        try:
            return await self.session.post(url, data=body, headers=_JSON)
        except aiohttp.ServerDisconnectedError:
            # A pooled keep-alive connection the upstream had already closed: nothing was
            # consumed, so sending once more on a fresh connection is safe.
            return await self.session.post(url, data=body, headers=_JSON)

    async def _deltas(self, upstream: aiohttp.ClientResponse) -> AsyncIterator[Delta]:
        decoder = ChunkDecoder(self.name)
        with self._transport_errors():
            async for payload in sse_data(upstream.content.iter_any()):
                for delta in decoder.decode(payload):
                    yield delta
        if not decoder.finished:
            raise UpstreamProtocolError(self.name, "the stream ended before the model finished")

    async def _whole(self, upstream: aiohttp.ClientResponse) -> AsyncIterator[Delta]:
        with self._transport_errors():
            raw = await upstream.read()
        for delta in decode_completion(self.name, raw):
            yield delta

    def _status_error(self, status: int, raw: bytes) -> ResponsaError:
        message = _error_message(raw)
        text = raw.decode(errors="replace").lower()  # markers hide in the message or the type
        if status == 400 and any(marker in text for marker in _CONTEXT_MARKERS):
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
        body = build_chat_body(replace(request, stream=False), self.capabilities)
        if not self.capabilities.tokenize_endpoint:
            return estimate_chat_tokens(body)
        # Exactly what llama.cpp's chat endpoint does with the body: render, then tokenize with
        # special tokens added and parsed.
        rendered = await self._post_root("/apply-template", body)
        prompt = rendered.get("prompt")
        if not isinstance(prompt, str):
            raise UpstreamProtocolError(self.name, "apply-template answered without a prompt")
        tokenized = await self._post_root(
            "/tokenize", {"content": prompt, "add_special": True, "parse_special": True})
        tokens = tokenized.get("tokens")
        if not isinstance(tokens, list):
            raise UpstreamProtocolError(self.name, "tokenize answered without tokens")
        return len(tokens)

    async def _post_root(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """POST JSON to the engine's server root (llama.cpp's extras live outside `/v1`)."""
        root = self._base_url.removesuffix("/v1")
        with self._transport_errors():
            async with self.session.post(f"{root}{path}", data=orjson.dumps(payload),
                                         headers=_JSON) as reply:
                raw = await reply.read()
        if reply.status >= 400:
            raise self._status_error(reply.status, raw)
        try:
            answer = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise UpstreamProtocolError(self.name, f"unparseable answer from {path}") from exc
        if not isinstance(answer, dict):
            raise UpstreamProtocolError(self.name, f"unexpected answer from {path}")
        return answer

    async def context_window_of(self, model: str) -> int | None:
        if not self._engine_window_known:
            self._engine_window = await self._ask_engine_window()
            self._engine_window_known = True
        known = [size for size in (self.context_window, self._engine_window) if size]
        return min(known) if known else None

    async def _ask_engine_window(self) -> int | None:
        """llama.cpp's `n_ctx` per request (`GET /props`); None when the engine does not say.
        A transport failure raises (and is asked again next time): the create fails anyway."""
        root = self._base_url.removesuffix("/v1")
        with self._transport_errors():
            async with self.session.get(f"{root}/props") as reply:
                raw = await reply.read()
        if reply.status >= 400:
            return None
        try:
            n_ctx = orjson.loads(raw)["default_generation_settings"]["n_ctx"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return None
        return n_ctx if isinstance(n_ctx, int) and n_ctx > 0 else None

    async def list_models(self) -> list[ModelInfo]:
        with self._transport_errors():
            async with self.session.get(f"{self._base_url}/models") as reply:
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


def _dumps(value: object) -> str:
    return orjson.dumps(value).decode()


def _error_message(raw: bytes) -> str:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw[:500].decode(errors="replace") or "no details"
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return error
        if body.get("message"):
            return str(body["message"])
    return raw[:500].decode(errors="replace")
