"""Native Responses upstreams (`kind = "openai-responses"`): OpenAI, Azure-style deployments,
any Open Responses provider, the `/v1/responses` of vLLM or llama.cpp.

`base_url` includes the version prefix, as for the other dialects; requests go to
`{base_url}/responses`, statelessly (`store: false`, the full input every time: responsa keeps
the chains). The mapping itself lives in `responses_translation.py`.

Input-token counts are exact from the upstream's `POST {base_url}/responses/input_tokens`
(OpenAI has it) when `capabilities.input_tokens_endpoint` is set for the provider; otherwise
`providers.token_estimate`'s documented estimate, with no upstream call.

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
from responsa.providers.base import Capabilities, ModelInfo, ModelRequest
from responsa.providers.chat_translation import build_chat_body
from responsa.providers.deltas import Delta
from responsa.providers.http_upstream import HTTPUpstream
from responsa.providers.openai_chat import CONTEXT_MARKERS
from responsa.providers.responses_translation import (
    EventDecoder,
    build_responses_body,
    decode_response,
)
from responsa.providers.token_estimate import estimate_chat_tokens

DEFAULT_BASE_URL = "https://api.openai.com/v1"
# What `/responses/input_tokens` does not take.
_NOT_COUNTED = ("stream", "store", "temperature", "top_p", "presence_penalty",
                "frequency_penalty", "max_output_tokens", "include", "top_logprobs", "user")


class ResponsesProvider:
    def __init__(self, config: ProviderConfig) -> None:
        self.name = config.name
        self.capabilities: Capabilities = replace(config.capabilities, reasoning=True,
                                                           tool_search=True)
        self.context_window = config.context_window
        auth = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        self._http = HTTPUpstream(config, base_url=config.base_url or DEFAULT_BASE_URL,
                                  headers=auth,
                                  context_markers=(*CONTEXT_MARKERS, "context window"))

    @asynccontextmanager
    async def open(self, request: ModelRequest) -> AsyncIterator[AsyncIterator[Delta]]:
        body = orjson.dumps(build_responses_body(request))
        async with self._http.exchange("responses", body) as upstream:
            yield self._deltas(upstream) if request.stream else self._whole(upstream)

    async def _deltas(self, upstream: aiohttp.ClientResponse) -> AsyncIterator[Delta]:
        decoder = EventDecoder(self.name)
        async for payload in self._http.sse_payloads(upstream):
            for delta in decoder.decode(payload):
                yield delta
            if decoder.finished:
                return
        raise UpstreamProtocolError(self.name, "the stream ended before the response did")

    async def _whole(self, upstream: aiohttp.ClientResponse) -> AsyncIterator[Delta]:
        for delta in decode_response(self.name, await self._http.read(upstream)):
            yield delta

    async def count_input_tokens(self, request: ModelRequest) -> int:
        if not self.capabilities.input_tokens_endpoint:
            return estimate_chat_tokens(build_chat_body(replace(request, stream=False),
                                                        self.capabilities))
        body = build_responses_body(replace(request, stream=False))
        for key in _NOT_COUNTED:
            body.pop(key, None)
        answer = await self._http.request_json("POST", "responses/input_tokens", body=body)
        count = answer.get("input_tokens") if isinstance(answer, dict) else None
        if not isinstance(count, int):
            raise UpstreamProtocolError(self.name, "unparseable token count")
        return count

    async def context_window_of(self, model: str) -> int | None:
        return self.context_window  # configured; Responses does not report it

    async def list_models(self) -> list[ModelInfo]:
        return [ModelInfo(id=model_id, context_window=self.context_window)
                for model_id in await self._http.model_ids()]

    async def aclose(self) -> None:
        await self._http.aclose()
