"""Hosted tools: the tools the server runs itself (MCP, file search, code interpreter, web search,
image generation, tool search), on any model.

A model on a chat engine only knows function calling, so each hosted tool offers the model one
or more plain function tools. When the model calls one of them, the engine does not emit a
`function_call` item: it hands the call to the tool, which streams its own output item
(`file_search_call`, `mcp_call`, …) with that item's events, and returns the text the model
reads as the result. The engine then calls the model again, until it answers without calling a
hosted tool (engine/tool_loop.py).

Later turns replay stored hosted items to the model as the function call and output it saw
(`replay` below), so a chain or conversation reads the same to the model as it did live.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from responsa.retrieval.services import FileServices
    from responsa.sandbox.containers import Containers
    from responsa.tools.image_generation import ImagesEndpoint
    from responsa.tools.search_backends import SearchBackend

JSONDict = dict[str, Any]


@dataclass(slots=True)
class HostedCall:
    """One call of a hosted tool, as the model made it (or as an approval released it)."""

    call_id: str  # the model's tool-call id: pairs the replayed function call with its output
    name: str  # the function name the model called (one of the tool's `functions()`)
    arguments: str  # JSON text exactly as the model wrote it; may be invalid JSON
    approved: bool = False  # already approved by an `mcp_approval_response` of the client


@dataclass(slots=True)
class HostedOutcome:
    """What running a call produced."""

    item: JSONDict  # the finished output item, final status set, exactly as stored and returned
    # What the model reads as the call's result. None ends the response after this turn without
    # calling the model again (a call that waits for the client's approval).
    model_output: str | None


class OutputSink(Protocol):
    """Where a hosted tool writes its output items; backed by the response builder, which owns
    `sequence_number` and `output_index`."""

    def open_item(self, item: JSONDict) -> None:
        """Emit `response.output_item.added` for `item` (status `in_progress`)."""

    def item_event(self, type_: str, **fields: Any) -> None:
        """Emit an event about the open item (`response.file_search_call.searching`, …); its
        `item_id` and `output_index` are filled in."""

    def close_item(self, item: JSONDict) -> None:
        """Emit `response.output_item.done` with the finished `item`."""

    def add_item(self, item: JSONDict) -> None:
        """A finished item with no events of its own (`mcp_list_tools`, approval requests)."""


class HostedTool(Protocol):
    """One entry of the request's `tools` that the server runs, built per response."""

    type: str  # the request's tool type: "file_search", "mcp", "code_interpreter", …

    def functions(self) -> list[JSONDict]:
        """Function tools offered to the model, in the Responses shape
        `{"type": "function", "name", "description", "parameters", "strict"}`. Empty until
        `prepare` ran for tools that discover theirs (MCP)."""

    def owns(self, name: str) -> bool:
        """Whether a model's call of function `name` belongs to this tool."""

    async def prepare(self, history: list[JSONDict], sink: OutputSink) -> list[HostedCall]:
        """Called once before the first model call with every item the model will see (the
        stored chain or conversation, then the new input). May emit items first (MCP lists its
        tools unless `history` already has that list) and returns calls to run before the model
        is asked (calls the client approved in its new input)."""

    async def call(self, call: HostedCall, sink: OutputSink) -> HostedOutcome:
        """Run one call: open its item on `sink`, stream its events, close it, and say what the
        model reads. Failures of the tool itself end in an item with status `failed` (or
        `incomplete`) and a model output that says what went wrong; they never raise."""

    async def aclose(self) -> None:
        """Release what the tool opened for this response (connections, sessions)."""


@runtime_checkable
class CitingTool(Protocol):
    """A hosted tool that annotates the model's answer (web search's `url_citation`s)."""

    def citations(self, text: str) -> list[JSONDict]:
        """Annotations for one finished `output_text` part, in text order."""


@runtime_checkable
class ChoosableTool(Protocol):
    """A hosted tool a `tool_choice` can name more narrowly than by type (MCP: a server, one of
    its tools)."""

    def chosen_function(self, tool_choice: JSONDict) -> str | None:
        """The function the choice forces, or None when it names something else."""


@runtime_checkable
class CheckedTool(Protocol):
    """A hosted tool whose references are checked before the response starts (file search's
    vector stores), so a bad one is a 400, not a failed response."""

    async def check(self) -> None:
        """Raise `InvalidRequestError` naming what does not exist."""


@runtime_checkable
class LoadingTool(Protocol):
    """A hosted tool that loads the request's deferred tools when the model asks for them
    (tool_search)."""

    def defer(self, tools: list[JSONDict]) -> None:
        """The request's deferred tools (engine/deferred_tools.py), given before any call."""


ToolFactory = Callable[[JSONDict, int, "ToolServices"], HostedTool]
"""Builds a tool from the request's tool object and its index in `tools` (for error `param`s).
Raises `InvalidRequestError` when the tool cannot run here (no backend configured, …)."""

Replay = Callable[[JSONDict], list[JSONDict]]
"""Turns a stored hosted item into what the model sees on a later turn: usually a
`function_call` and its `function_call_output`; nothing for bookkeeping items."""


@dataclass(slots=True)
class ToolServices:
    """The application's shared services that tools are built from. Each tool kind adds the
    typed field it needs."""

    settings: Any  # responsa.config.Settings (Any: this module must not import the app)
    store: Any  # responsa.store.base.Store
    web_search: SearchBackend | None = None  # `[web_search]`; None: web_search is not offered
    images: ImagesEndpoint | None = None  # `[image_generation]`; None: the tool is refused
    files: FileServices | None = None  # file bytes, embedder, ingestion (file_search)
    containers: Containers | None = None  # `[code_interpreter]`; None: the tool is refused


def string_argument(arguments: str, name: str) -> str | None:
    """The non-blank string `name` of a call's JSON `arguments`, stripped; None when the
    arguments are not JSON or it is missing, not a string, or blank."""
    try:
        parsed = json.loads(arguments or "{}")
    except json.JSONDecodeError:
        return None
    value = parsed.get(name) if isinstance(parsed, dict) else None
    return value.strip() or None if isinstance(value, str) else None


def failed_outcome(sink: OutputSink, item: JSONDict, reason: str) -> HostedOutcome:
    """Close `item` as `failed`; the model reads `reason`."""
    done = {**item, "status": "failed"}
    sink.close_item(done)
    return HostedOutcome(done, reason)
