"""The normalized vocabulary every provider speaks to the engine.

Providers translate their dialect's stream into these small values; only the response builder
turns them into Responses events, items, indexes and sequence numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

FinishReason = Literal["stop", "length", "tool_calls", "content_filter"]
# What a tool call comes back as (providers/tool_surface.py): `function_call`,
# `custom_tool_call`, `apply_patch_call`, `shell_call`, `local_shell_call`, `computer_call`,
# `tool_search_call` (a client-executed tool search).
ToolKind = Literal["function", "custom", "apply_patch", "shell", "local_shell", "computer",
                   "tool_search"]


@dataclass(slots=True)
class TextDelta:
    text: str
    # OpenAI-shaped logprob entries: {token, bytes, logprob, top_logprobs:[{token, bytes, logprob}]}
    logprobs: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class AnnotationDelta:
    """An annotation (url_citation, file_citation …) on the output text being streamed, as the
    upstream gave it (native Responses upstreams)."""

    annotation: dict[str, Any]


@dataclass(slots=True)
class RefusalDelta:
    text: str


@dataclass(slots=True)
class ReasoningDelta:
    """Raw reasoning text (`reasoning_content` / `reasoning` on chat engines)."""

    text: str


@dataclass(slots=True)
class ReasoningSummaryDelta:
    """Reasoning summary text (native Responses upstreams); `index` tells summary parts apart."""

    text: str
    index: int = 0


# The key under which an opened reasoning input item carries its `ReasoningState` fields
# (`blocks`, `encrypted_content`) to the provider that produced it (engine/reasoning_items.py).
REASONING_STATE_KEY = "_reasoning_state"


@dataclass(slots=True)
class ReasoningState:
    """What the provider needs to take this reasoning back on a later turn, opaque to the
    client: Anthropic `thinking` blocks (with their signatures) and `redacted_thinking` blocks,
    or a native Responses upstream's own `encrypted_content`. It is sealed into the reasoning
    item's `encrypted_content` when the client asks for it (engine/reasoning_items.py)."""

    blocks: list[dict[str, Any]] = field(default_factory=list)
    encrypted_content: str | None = None


@dataclass(slots=True)
class ToolCallDelta:
    """A fragment of a tool call. `index` tells parallel calls apart; the first fragment of an
    index carries the name (and the call id when the upstream has one) and the `kind`.

    `arguments` are the function's JSON arguments, except for `custom` calls, where they are the
    raw input text. A `namespace` is set apart from the `name` of a namespaced tool."""

    index: int
    arguments: str = ""
    name: str | None = None
    call_id: str | None = None
    kind: ToolKind = "function"
    namespace: str | None = None


@dataclass(slots=True)
class RelayedItem:
    """A finished item a native Responses upstream made that has no delta of its own (its own
    tool search's `tool_search_call` and `tool_search_output`): the builder adds it as it is,
    under an id of its own."""

    item: dict[str, Any]


@dataclass(slots=True)
class Usage:
    input_tokens: int
    output_tokens: int
    cached_tokens: int = 0
    reasoning_tokens: int = 0


@dataclass(slots=True)
class Finish:
    reason: FinishReason


Delta = (TextDelta | AnnotationDelta | RefusalDelta | ReasoningDelta | ReasoningSummaryDelta
         | ReasoningState | ToolCallDelta | RelayedItem | Usage | Finish)
