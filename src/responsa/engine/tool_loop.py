"""The hosted tools of one response: which are in play, what the model is offered, and running
the model's calls of them with their events streamed live (tools/base.py has the contract).

`ResponseRun` (engine/run.py) owns the loop itself: it streams a model call, keeps back the
calls that belong to hosted tools (`HostedCallCollector`), runs them through `HostedTools.run`,
feeds the results back and calls the model again until it answers without one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from responsa.engine.builder import Event, ResponseBuilder
from responsa.engine.deferred_tools import deferred_tools
from responsa.errors import InvalidRequestError
from responsa.ids import new_id
from responsa.providers.deltas import ToolCallDelta
from responsa.providers.tool_surface import is_client_tool
from responsa.tools.base import (
    CheckedTool,
    ChoosableTool,
    CitingTool,
    HostedCall,
    HostedOutcome,
    HostedTool,
    LoadingTool,
    OutputSink,
    ToolServices,
)
from responsa.tools.registry import FACTORIES

JSONDict = dict[str, Any]

# Hosted calls one response may make when the request sets no `max_tool_calls`: a model that
# never stops calling tools must still end.
DEFAULT_MAX_TOOL_CALLS = 32
BUDGET_SPENT = ("Not run: this response reached its limit of tool calls (max_tool_calls). "
                "Answer with what you have.")


def is_hosted_type(kind: str) -> bool:
    return kind in FACTORIES


class BuilderSink(OutputSink):
    """The OutputSink a tool writes to: the builder numbers the events, `emit` forwards them."""

    def __init__(self, builder: ResponseBuilder, emit: Callable[[list[Event]], None]) -> None:
        self._builder = builder
        self._emit = emit

    def open_item(self, item: JSONDict) -> None:
        self._emit(self._builder.open_hosted(item))

    def item_event(self, type_: str, **fields: Any) -> None:
        self._emit(self._builder.hosted_event(type_, **fields))

    def close_item(self, item: JSONDict) -> None:
        self._emit(self._builder.close_hosted(item))

    def add_item(self, item: JSONDict) -> None:
        self._emit(self._builder.add_item(item))


@dataclass(slots=True)
class HostedTools:
    """The request's hosted tools, built for this response."""

    tools: list[HostedTool]
    max_calls: int
    calls_made: int = 0

    @classmethod
    def from_request(cls, body: JSONDict, services: ToolServices, *,
                     skip: frozenset[str] = frozenset()) -> HostedTools:
        """The request's hosted tools, but for the `skip` types (declared, not offered) and
        those the client executes itself (a `tool_search` with `execution: "client"`)."""
        declared = body.get("tools") or ()
        tools = [FACTORIES[tool["type"]](tool, index, services)
                 for index, tool in enumerate(declared)
                 if tool["type"] in FACTORIES and tool["type"] not in skip
                 and not is_client_tool(tool)]
        for tool in tools:
            if isinstance(tool, LoadingTool):
                tool.defer(deferred_tools(declared))
        limit = body.get("max_tool_calls")
        return cls(tools, DEFAULT_MAX_TOOL_CALLS if limit is None else int(limit))

    def __bool__(self) -> bool:
        return bool(self.tools)

    def owner(self, name: str) -> HostedTool | None:
        return next((tool for tool in self.tools if tool.owns(name)), None)

    def functions(self) -> list[JSONDict]:
        """What the model is offered; nothing once the call budget is spent."""
        if self.calls_made >= self.max_calls:
            return []
        return [function for tool in self.tools for function in tool.functions()]

    def forced_function(self, tool_choice: object) -> str | None:
        """The function a `tool_choice` naming a hosted tool type forces (its tool's first)."""
        if not isinstance(tool_choice, dict) or not is_hosted_type(tool_choice.get("type", "")):
            return None
        for tool in self.tools:
            if tool.type != tool_choice["type"]:
                continue
            if isinstance(tool, ChoosableTool):
                if (chosen := tool.chosen_function(tool_choice)) is not None:
                    return chosen
            elif functions := tool.functions():
                return str(functions[0]["name"])
        raise InvalidRequestError(
            f"Tool choice '{tool_choice['type']}' not found in 'tools' parameter.",
            param="tool_choice")

    def citations(self, text: str) -> list[JSONDict]:
        """The annotations the tools put on one finished `output_text` part."""
        found = [annotation for tool in self.tools if isinstance(tool, CitingTool)
                 for annotation in tool.citations(text)]
        # url_citation spans text from `start_index`; file_citation points at one `index`.
        return sorted(found, key=lambda a: int(a.get("start_index", a.get("index")) or 0))

    async def check(self) -> None:
        """Refuse the request (before it starts) if a tool names what does not exist."""
        for tool in self.tools:
            if isinstance(tool, CheckedTool):
                await tool.check()

    async def prepare(self, history: list[JSONDict], sink: OutputSink) -> list[HostedCall]:
        calls: list[HostedCall] = []
        for tool in self.tools:
            calls += await tool.prepare(history, sink)
        return calls

    def run(self, call: HostedCall,
            builder: ResponseBuilder) -> tuple[AsyncIterator[Event], CallResult]:
        """Run `call`, streaming its events as the tool emits them; `CallResult` is filled in
        once the events are exhausted."""
        result = CallResult(call)
        tool = self.owner(call.name)
        if tool is None:  # approvals resolved by `prepare` always name a tool that owns them
            raise RuntimeError(f"no hosted tool owns {call.name!r}")
        if self.calls_made >= self.max_calls:
            result.model_output = BUDGET_SPENT
            return _no_events(), result
        self.calls_made += 1

        async def call_tool(sink: OutputSink) -> None:
            result.outcome = await tool.call(call, sink)
            result.model_output = result.outcome.model_output

        return _stream_while(call_tool, builder), result

    async def aclose(self) -> None:
        for tool in self.tools:
            with contextlib.suppress(Exception):
                await tool.aclose()


@dataclass(slots=True)
class CallResult:
    call: HostedCall
    outcome: HostedOutcome | None = None
    model_output: str | None = None

    @property
    def ran(self) -> bool:
        return self.outcome is not None

    @property
    def ends_response(self) -> bool:
        """The tool waits for the client (an approval): the model is not called again."""
        return self.outcome is not None and self.outcome.model_output is None

    def model_items(self) -> list[JSONDict]:
        """The call and its result as the model reads them on its next call."""
        call = self.call
        return [
            {"type": "function_call", "call_id": call.call_id, "name": call.name,
             "arguments": call.arguments},
            {"type": "function_call_output", "call_id": call.call_id,
             "output": self.model_output or ""},
        ]


@dataclass(slots=True)
class HostedCallCollector:
    """Splits one model call's tool-call fragments: hosted ones are kept back and assembled
    here, the client's own go on to the builder."""

    tools: HostedTools
    _hosted: dict[int, HostedCall] = field(default_factory=dict)
    _client: set[int] = field(default_factory=set)

    def take(self, delta: ToolCallDelta) -> bool:
        """Keep `delta` if it belongs to a hosted call; False means: pass it on. Hosted tools
        are plain functions: a client's custom or namespaced tool of the same name is its own."""
        call = self._hosted.get(delta.index)
        if call is None:
            if (delta.index in self._client or not delta.name or delta.kind != "function"
                    or delta.namespace is not None or not self.tools.owner(delta.name)):
                self._client.add(delta.index)
                return False
            call = HostedCall(call_id=delta.call_id or new_id("call"), name=delta.name,
                              arguments="")
            self._hosted[delta.index] = call
        call.arguments += delta.arguments
        return True

    @property
    def calls(self) -> list[HostedCall]:
        return [self._hosted[index] for index in sorted(self._hosted)]

    @property
    def client_called(self) -> bool:
        """The model also called a client-executed tool: the response ends for the client."""
        return bool(self._client)


async def _no_events() -> AsyncIterator[Event]:
    return
    yield  # an async generator that yields nothing


async def _stream_while(work: Callable[[OutputSink], Awaitable[None]],
                        builder: ResponseBuilder) -> AsyncIterator[Event]:
    """Run `work` with a sink whose events are yielded as they come, not when it returns."""
    queue: asyncio.Queue[list[Event]] = asyncio.Queue()
    task = asyncio.ensure_future(work(BuilderSink(builder, queue.put_nowait)))
    try:
        while not task.done() or not queue.empty():
            if queue.empty():
                getter = asyncio.ensure_future(queue.get())
                await asyncio.wait({task, getter}, return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    getter.cancel()
                    continue
                batch = getter.result()
            else:
                batch = queue.get_nowait()
            for event in batch:
                yield event
        task.result()  # a tool that broke its contract and raised fails the response
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
