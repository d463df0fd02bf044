"""The provider protocol: what an upstream adapter must offer the engine."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from responsa.providers.deltas import Delta

JSONDict = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What an upstream can do natively; the engine and adapter emulate or refuse the rest."""

    tools: bool = True
    named_tool_choice: bool = True  # {"type":"function","name":…}; else emulated with "required"
    tool_choice_none_drops_tools: bool = False  # engines that render tools even with "none"
    json_schema: bool = True
    logprobs: bool = True
    images: bool = True
    reasoning: bool = False
    # Takes reasoning back as `reasoning_content` on assistant messages (llama.cpp hands it to
    # the chat template; DeepSeek requires it); other chat engines get it dropped.
    reasoning_input: bool = False
    # `reasoning.effort` goes to the chat template (`chat_template_kwargs`: `enable_thinking`,
    # `reasoning_effort`) rather than as the `reasoning_effort` field (llama.cpp).
    effort_in_template: bool = False
    # llama.cpp's `/apply-template` + `/tokenize` at the server root: exact input-token counts.
    tokenize_endpoint: bool = False
    # A native Responses upstream's `POST /responses/input_tokens` (OpenAI has it).
    input_tokens_endpoint: bool = False
    # Runs `tool_search` and deferred loading itself (native Responses upstreams): the
    # declarations go up unchanged and its items come back to be relayed.
    tool_search: bool = False


@dataclass(slots=True)
class ModelRequest:
    """One model call, in Responses terms. Adapters translate it into their dialect.

    `input` is the effective context (previous turns included), as Responses input items with a
    `type` on every item, oldest first. `tools` are Responses tool declarations.
    """

    model: str
    input: list[JSONDict]
    # Whether the client watches tokens arrive. When it does not, an adapter may fetch the whole
    # answer at once (cheaper) and hand it over as the same deltas.
    stream: bool = True
    instructions: str | None = None
    tools: list[JSONDict] = field(default_factory=list)
    tool_choice: str | JSONDict = "auto"
    parallel_tool_calls: bool = True
    temperature: float | None = None
    top_p: float | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    max_output_tokens: int | None = None
    top_logprobs: int | None = None
    logprobs: bool = False
    # `include: ["reasoning.encrypted_content"]`: an upstream that has its own encrypted
    # reasoning is asked for it, so the item can be restored on a later stateless turn.
    encrypted_reasoning: bool = False
    text_format: JSONDict | None = None
    reasoning: JSONDict | None = None
    user: str | None = None
    # Request fields responsa accepts without acting on them itself (cache keys, service tier,
    # verbosity …): dialects that have them (native Responses upstreams) forward them as sent.
    passthrough: JSONDict = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ModelInfo:
    id: str  # as the upstream knows it (without the provider prefix)
    context_window: int | None = None


class Provider(Protocol):
    """An upstream. `open()` sends the request and raises an `UpstreamError` if the upstream
    refuses it before streaming (so a 4xx can still become an HTTP error); iterating the opened
    stream yields deltas and raises `UpstreamError` on failures mid-stream."""

    name: str
    capabilities: Capabilities

    def open(self, request: ModelRequest) -> AbstractAsyncContextManager[AsyncIterator[Delta]]: ...

    async def count_input_tokens(self, request: ModelRequest) -> int:
        """How many tokens the model would read for `request` (before any output): exact where
        the upstream can tokenize, else `providers.token_estimate`'s documented estimate."""
        ...

    async def list_models(self) -> list[ModelInfo]: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class KnowsContextWindow(Protocol):
    """A provider that can say how many tokens `model` reads at most (input and output
    together): configured (`ProviderConfig.context_window`) or asked of the upstream. A provider
    without this method, or answering None, gets no context-window check before sending."""

    async def context_window_of(self, model: str) -> int | None: ...
