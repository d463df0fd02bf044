"""The Anthropic Messages dialect (`kind = "anthropic-messages"`).

`base_url` includes the version prefix, as for chat-completions providers (default
`https://api.anthropic.com/v1`); requests go to `{base_url}/messages` with `x-api-key` and
`anthropic-version`. The mapping itself lives in `anthropic_translation.py`.

The stream's `event:` lines are redundant with each payload's own `type`, so only the `data:`
payloads are decoded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

import aiohttp
import orjson

from responsa.config import ProviderConfig
from responsa.errors import UpstreamProtocolError
from responsa.providers.anthropic_translation import (
    ANTHROPIC_VERSION,
    DEFAULT_MAX_TOKENS,
    EventDecoder,
    build_messages_body,
    decode_message,
)
from responsa.providers.base import Capabilities, ModelInfo, ModelRequest
from responsa.providers.deltas import Delta
from responsa.providers.http_upstream import HTTPUpstream
from responsa.providers.tool_surface import CallDecoder, ToolSurface

DEFAULT_BASE_URL = "https://api.anthropic.com/v1"
# What Messages says in a 400 when the prompt (with max_tokens) does not fit.
_CONTEXT_MARKERS = ("prompt is too long", "exceed context limit", "context window")
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
        headers = {"anthropic-version": ANTHROPIC_VERSION}
        if config.api_key:
            headers["x-api-key"] = config.api_key
        self._http = HTTPUpstream(config, base_url=config.base_url or DEFAULT_BASE_URL,
                                  headers=headers, context_markers=_CONTEXT_MARKERS)

    @asynccontextmanager
    async def open(self, request: ModelRequest) -> AsyncIterator[AsyncIterator[Delta]]:
        body = orjson.dumps(build_messages_body(request,
                                                default_max_tokens=self.default_max_tokens))
        async with self._http.exchange("messages", body) as upstream:
            calls = ToolSurface(request.tools).decoder()
            yield (self._deltas(upstream, calls) if request.stream
                   else self._whole(upstream, calls))

    async def _deltas(self, upstream: aiohttp.ClientResponse,
                      calls: CallDecoder) -> AsyncIterator[Delta]:
        decoder = EventDecoder(self.name)
        async for payload in self._http.sse_payloads(upstream):
            for delta in decoder.decode(payload):
                for mapped in calls.map(delta):
                    yield mapped
        if not decoder.finished:
            raise UpstreamProtocolError(self.name, "the stream ended before message_stop")

    async def _whole(self, upstream: aiohttp.ClientResponse,
                     calls: CallDecoder) -> AsyncIterator[Delta]:
        for delta in decode_message(self.name, await self._http.read(upstream)):
            for mapped in calls.map(delta):
                yield mapped

    async def count_input_tokens(self, request: ModelRequest) -> int:
        """Exact, from Messages' own `POST /messages/count_tokens` (free of charge upstream)."""
        body = build_messages_body(replace(request, stream=False),
                                   default_max_tokens=self.default_max_tokens)
        for key in _NOT_COUNTED:
            body.pop(key, None)
        answer = await self._http.request_json("POST", "messages/count_tokens", body=body)
        count = answer.get("input_tokens") if isinstance(answer, dict) else None
        if not isinstance(count, int):
            raise UpstreamProtocolError(self.name, "unparseable token count")
        return count

    async def context_window_of(self, model: str) -> int | None:
        return self.context_window  # configured; Messages does not report it

    async def list_models(self) -> list[ModelInfo]:
        return [ModelInfo(id=model_id, context_window=self.context_window)
                for model_id in await self._http.model_ids(params={"limit": "1000"})]

    async def aclose(self) -> None:
        await self._http.aclose()
