"""Native Responses upstreams (`kind = "openai-responses"`): OpenAI, Azure-style deployments,
any Open Responses provider, the `/v1/responses` of vLLM or llama.cpp.

`base_url` includes the version prefix, as for the other dialects; requests go to
`{base_url}/responses`, statelessly (`store: false`, the full input every time: responsa keeps
the chains). The mapping itself lives in `responses_translation.py`.

Input-token counts are exact from the upstream's `POST {base_url}/responses/input_tokens`
(OpenAI has it) when `capabilities.input_tokens_endpoint` is set for the provider; otherwise
`providers.token_estimate`'s documented estimate, with no upstream call.

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
from responsa.providers.base import Capabilities, ModelInfo, ModelRequest
from responsa.providers.chat_translation import build_chat_body
from responsa.providers.deltas import Delta
from responsa.providers.responses_translation import (
    EventDecoder,
    build_responses_body,
    decode_response,
)
from responsa.providers.sse_decoder import sse_data
from responsa.providers.token_estimate import estimate_chat_tokens

DEFAULT_BASE_URL = "https://api.openai.com/v1"
# Markers engines put in a 400 when the prompt does not fit (OpenAI, vLLM, llama.cpp).
_CONTEXT_MARKERS = ("context_length_exceeded", "exceed_context_size", "maximum context length",
                    "context window")
_JSON = {"Content-Type": "application/json"}
# What `/responses/input_tokens` does not take.
_NOT_COUNTED = ("stream", "store", "temperature", "top_p", "presence_penalty",
                "frequency_penalty", "max_output_tokens", "include", "top_logprobs", "user")


class ResponsesProvider:
    def __init__(self, config: ProviderConfig) -> None:
        self.name = config.name
        self.capabilities: Capabilities = replace(config.capabilities, reasoning=True)
        self.context_window = config.context_window
        self._base_url = (config.base_url or DEFAULT_BASE_URL).rstrip("/")
        self._headers = {"Accept": "application/json", **config.headers}
        if config.api_key:
            self._headers["Authorization"] = f"Bearer {config.api_key}"
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
        body = orjson.dumps(build_responses_body(request))
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
        url = f"{self._base_url}/responses"
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
                if decoder.finished:
                    return
        if not decoder.finished:
            raise UpstreamProtocolError(self.name, "the stream ended before the response did")

    async def _whole(self, upstream: aiohttp.ClientResponse) -> AsyncIterator[Delta]:
        with self._transport_errors():
            raw = await upstream.read()
        for delta in decode_response(self.name, raw):
            yield delta

    def _status_error(self, status: int, raw: bytes) -> ResponsaError:
        message = _error_message(raw)
        text = raw.decode(errors="replace").lower()  # markers hide in the message or the code
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
        if not self.capabilities.input_tokens_endpoint:
            return estimate_chat_tokens(build_chat_body(replace(request, stream=False),
                                                        self.capabilities))
        body = build_responses_body(replace(request, stream=False))
        for key in _NOT_COUNTED:
            body.pop(key, None)
        with self._transport_errors():
            async with self.session.post(f"{self._base_url}/responses/input_tokens",
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
        return self.context_window  # configured; Responses does not report it

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


def _error_message(raw: bytes) -> str:
    """`{"error": {"message": …, "code": …}}`, or whatever a proxy sent."""
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
