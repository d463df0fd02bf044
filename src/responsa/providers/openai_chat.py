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

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

import aiohttp
import orjson

from responsa.config import ProviderConfig
from responsa.errors import UpstreamProtocolError, UpstreamStatusError
from responsa.providers.base import Capabilities, ModelInfo, ModelRequest
from responsa.providers.chat_translation import ChunkDecoder, build_chat_body, decode_completion
from responsa.providers.deltas import Delta
from responsa.providers.http_upstream import HTTPUpstream
from responsa.providers.token_estimate import estimate_chat_tokens
from responsa.providers.tool_surface import CallDecoder, ToolSurface

# Markers engines put in a 400 when the prompt does not fit (OpenAI, vLLM, llama.cpp).
CONTEXT_MARKERS = ("context_length_exceeded", "exceed_context_size", "maximum context length")


class ChatCompletionsProvider:
    def __init__(self, config: ProviderConfig) -> None:
        if not config.base_url:
            raise ValueError(f"provider '{config.name}' needs a base_url")
        self.name = config.name
        self.capabilities: Capabilities = config.capabilities
        self.context_window = config.context_window
        auth = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        self._http = HTTPUpstream(config, base_url=config.base_url, headers=auth,
                                  context_markers=CONTEXT_MARKERS)
        self._engine_window: int | None = None  # llama.cpp's n_ctx, once asked
        self._engine_window_known = not config.capabilities.tokenize_endpoint

    @asynccontextmanager
    async def open(self, request: ModelRequest) -> AsyncIterator[AsyncIterator[Delta]]:
        body = orjson.dumps(build_chat_body(request, self.capabilities))
        async with self._http.exchange("chat/completions", body) as upstream:
            calls = ToolSurface(request.tools).decoder()
            yield (self._deltas(upstream, calls) if request.stream
                   else self._whole(upstream, calls))

    async def _deltas(self, upstream: aiohttp.ClientResponse,
                      calls: CallDecoder) -> AsyncIterator[Delta]:
        decoder = ChunkDecoder(self.name)
        async for payload in self._http.sse_payloads(upstream):
            for delta in decoder.decode(payload):
                for mapped in calls.map(delta):
                    yield mapped
        if not decoder.finished:
            raise UpstreamProtocolError(self.name, "the stream ended before the model finished")

    async def _whole(self, upstream: aiohttp.ClientResponse,
                     calls: CallDecoder) -> AsyncIterator[Delta]:
        for delta in decode_completion(self.name, await self._http.read(upstream)):
            for mapped in calls.map(delta):
                yield mapped

    async def count_input_tokens(self, request: ModelRequest) -> int:
        body = build_chat_body(replace(request, stream=False), self.capabilities)
        if not self.capabilities.tokenize_endpoint:
            return estimate_chat_tokens(body)
        # Exactly what llama.cpp's chat endpoint does with the body: render, then tokenize with
        # special tokens added and parsed.
        rendered = await self._http.request_json("POST", "/apply-template", body=body)
        prompt = rendered.get("prompt") if isinstance(rendered, dict) else None
        if not isinstance(prompt, str):
            raise UpstreamProtocolError(self.name, "apply-template answered without a prompt")
        tokenized = await self._http.request_json(
            "POST", "/tokenize", body={"content": prompt, "add_special": True,
                                       "parse_special": True})
        tokens = tokenized.get("tokens") if isinstance(tokenized, dict) else None
        if not isinstance(tokens, list):
            raise UpstreamProtocolError(self.name, "tokenize answered without tokens")
        return len(tokens)

    async def context_window_of(self, model: str) -> int | None:
        if not self._engine_window_known:
            self._engine_window = await self._ask_engine_window()
            self._engine_window_known = True
        known = [size for size in (self.context_window, self._engine_window) if size]
        return min(known) if known else None

    async def _ask_engine_window(self) -> int | None:
        """llama.cpp's `n_ctx` per request (`GET /props`); None when the engine does not say.
        A transport failure raises (and is asked again next time): the create fails anyway."""
        try:
            props = await self._http.request_json("GET", "/props")
        except (UpstreamStatusError, UpstreamProtocolError):
            return None
        settings = props.get("default_generation_settings") if isinstance(props, dict) else None
        n_ctx = settings.get("n_ctx") if isinstance(settings, dict) else None
        return n_ctx if isinstance(n_ctx, int) and n_ctx > 0 else None

    async def list_models(self) -> list[ModelInfo]:
        # The same window the context check uses (llama.cpp's own `n_ctx` when it says).
        return [ModelInfo(id=model_id, context_window=await self.context_window_of(model_id))
                for model_id in await self._http.model_ids()]

    async def aclose(self) -> None:
        await self._http.aclose()

