"""The hosted-tool loop, driven through `Engine.create` on a real SQLite store with a provider
stand-in that plays one scripted delta list per model call and records what it was sent (each
hosted tool kind has its own end-to-end tests through the API with real engines)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from responsa.engine.run import Engine
from responsa.providers.base import Capabilities, ModelRequest
from responsa.providers.deltas import Delta, Finish, TextDelta, ToolCallDelta, Usage
from responsa.store.sqlite import SQLiteStore
from responsa.tools.base import HostedCall, HostedOutcome, OutputSink, ToolServices
from responsa.tools.registry import FACTORIES, REPLAYS
from tests.support.grammar import assert_valid_stream

JSONDict = dict[str, Any]


class ScriptedProvider:
    name = "p"
    capabilities = Capabilities()

    def __init__(self, turns: list[list[Delta]]) -> None:
        self.turns = turns
        self.requests: list[ModelRequest] = []

    @asynccontextmanager
    async def open(self, request: ModelRequest) -> AsyncIterator[AsyncIterator[Delta]]:
        self.requests.append(request)
        deltas = self.turns[len(self.requests) - 1]

        async def stream() -> AsyncIterator[Delta]:
            for delta in deltas:
                yield delta

        yield stream()

    def resolve(self, model: str) -> tuple[ScriptedProvider, str]:
        return self, model.split("/", 1)[1]


class EchoTool:
    """A hosted tool that upper-cases its `text` argument; `approval` makes it ask first."""

    type = "echo"

    def __init__(self, spec: JSONDict, index: int, services: ToolServices) -> None:
        self.needs_approval = bool(spec.get("approval"))
        self.closed = False

    def functions(self) -> list[JSONDict]:
        return [{"type": "function", "name": "echo", "description": "Upper-cases text.",
                 "parameters": {"type": "object", "properties": {"text": {"type": "string"}}},
                 "strict": False}]

    def owns(self, name: str) -> bool:
        return name == "echo"

    async def prepare(self, history: list[JSONDict], sink: OutputSink) -> list[HostedCall]:
        sink.add_item({"id": "el_1", "type": "echo_list", "tools": ["echo"]})
        return [HostedCall(item["call_id"], "echo", item["arguments"], approved=True)
                for item in history if item["type"] == "echo_approval"]

    async def call(self, call: HostedCall, sink: OutputSink) -> HostedOutcome:
        item = {"id": f"ec_{call.call_id}", "type": "echo_call", "status": "in_progress",
                "call_id": call.call_id, "arguments": call.arguments, "output": None}
        sink.open_item(item)
        if self.needs_approval and not call.approved:
            sink.close_item({**item, "status": "completed"})
            return HostedOutcome(item, None)
        sink.item_event("response.echo_call.running")
        output = json.loads(call.arguments)["text"].upper()
        done = {**item, "status": "completed", "output": output}
        sink.close_item(done)
        return HostedOutcome(done, output)

    async def aclose(self) -> None:
        self.closed = True


@pytest.fixture
def echo_tool() -> Iterator[None]:
    FACTORIES["echo"] = EchoTool
    REPLAYS["echo_call"] = lambda item: [
        {"type": "function_call", "call_id": item["call_id"], "name": "echo",
         "arguments": item["arguments"]},
        {"type": "function_call_output", "call_id": item["call_id"], "output": item["output"]}]
    REPLAYS["echo_list"] = lambda item: []
    yield
    for registry, key in ((FACTORIES, "echo"), (REPLAYS, "echo_call"), (REPLAYS, "echo_list")):
        registry.pop(key)  # type: ignore[attr-defined]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    store = SQLiteStore(str(tmp_path / "loop.db"))
    await store.open()
    yield store
    await store.close()


def call(text: str, index: int = 0, call_id: str = "call_a") -> ToolCallDelta:
    return ToolCallDelta(index, json.dumps({"text": text}), name="echo", call_id=call_id)


async def run(store: SQLiteStore, provider: ScriptedProvider, **body: Any) -> list[JSONDict]:
    engine = Engine(store, provider)  # type: ignore[arg-type]
    request = {"model": "p/m", "store": True,
               "tools": [{"type": "echo"}], **body}
    if isinstance(request.get("input", "hi"), str):
        request["input"] = [{"type": "message", "role": "user",
                             "content": request.get("input", "hi")}]
    run = await engine.create(request)
    events = [event async for event in run.events()]
    assert_valid_stream(events)
    return events


async def test_calls_the_tool_then_the_model_again(store: SQLiteStore, echo_tool: None) -> None:
    provider = ScriptedProvider([
        [TextDelta("Let me see."), call("abc"), Finish("tool_calls"), Usage(10, 5)],
        [TextDelta("It is ABC."), Finish("stop"), Usage(30, 4)],
    ])
    events = await run(store, provider)
    final = events[-1]["response"]
    assert final["status"] == "completed"
    assert [item["type"] for item in final["output"]] == [
        "echo_list", "message", "echo_call", "message"]
    assert final["output"][2]["output"] == "ABC"
    assert final["usage"]["input_tokens"] == 40 and final["usage"]["output_tokens"] == 9
    assert "response.echo_call.running" in [event["type"] for event in events]
    # The model was offered the tool as a function, and read its own words then the result.
    first, second = provider.requests
    assert [tool["name"] for tool in first.tools] == ["echo"]
    assert [item["type"] for item in second.input[-3:]] == [
        "message", "function_call", "function_call_output"]
    assert second.input[-1] == {"type": "function_call_output", "call_id": "call_a",
                                "output": "ABC"}
    # A later turn replays the stored call to the model as the function call it made.
    provider.turns.append([TextDelta("ok"), Finish("stop")])
    await run(store, provider, previous_response_id=final["id"], input="again")
    replayed = [item["type"] for item in provider.requests[2].input]
    assert "echo_call" not in replayed and "echo_list" not in replayed
    assert replayed.count("function_call_output") == 1


async def test_forced_choice_applies_to_the_first_call_only(store: SQLiteStore,
                                                            echo_tool: None) -> None:
    provider = ScriptedProvider([[call("x"), Finish("tool_calls")],
                                 [TextDelta("done"), Finish("stop")]])
    await run(store, provider, tool_choice={"type": "echo"})
    assert provider.requests[0].tool_choice == {"type": "function", "name": "echo"}
    assert provider.requests[1].tool_choice == "auto"


async def test_max_tool_calls_stops_offering_the_tool(store: SQLiteStore,
                                                      echo_tool: None) -> None:
    provider = ScriptedProvider([
        [call("a", 0, "c1"), call("b", 1, "c2"), Finish("tool_calls")],
        [TextDelta("enough"), Finish("stop")],
    ])
    events = await run(store, provider, max_tool_calls=1)
    output = events[-1]["response"]["output"]
    assert [item["type"] for item in output] == ["echo_list", "echo_call", "message"]
    second = provider.requests[1]
    assert second.tools == []
    assert "max_tool_calls" in second.input[-1]["output"]


async def test_client_tool_call_in_the_same_turn_ends_the_response(store: SQLiteStore,
                                                                   echo_tool: None) -> None:
    provider = ScriptedProvider([[
        call("a"), ToolCallDelta(1, "{}", name="lookup", call_id="call_b"), Finish("tool_calls")]])
    lookup = {"type": "function", "name": "lookup", "parameters": {"type": "object"}}
    events = await run(store, provider, tools=[{"type": "echo"}, lookup])
    output = events[-1]["response"]["output"]
    assert [item["type"] for item in output] == ["echo_list", "function_call", "echo_call"]
    assert len(provider.requests) == 1


async def test_approval_ends_the_turn_and_the_next_request_runs_the_call(
        store: SQLiteStore, echo_tool: None) -> None:
    provider = ScriptedProvider([[call("a"), Finish("tool_calls")]])
    events = await run(store, provider, tools=[{"type": "echo", "approval": True}])
    first = events[-1]["response"]
    assert first["status"] == "completed" and len(provider.requests) == 1
    # The approval comes back as input: the tool runs it before the model is called.
    provider.turns.append([TextDelta("A it is"), Finish("stop")])
    approval = {"type": "echo_approval", "call_id": "call_a", "arguments": '{"text": "a"}'}
    REPLAYS["echo_approval"] = lambda item: []
    try:
        events = await run(store, provider, tools=[{"type": "echo", "approval": True}],
                           input=[approval])
    finally:
        REPLAYS.pop("echo_approval")
    output = events[-1]["response"]["output"]
    assert [item["type"] for item in output] == ["echo_list", "echo_call", "message"]
    assert output[1]["output"] == "A"
    assert provider.requests[1].input[-1]["output"] == "A"


async def test_calls_past_the_budget_end_the_response(store: SQLiteStore,
                                                      echo_tool: None) -> None:
    """A model that keeps calling a tool it is no longer offered does not loop forever."""
    provider = ScriptedProvider([[call("a"), Finish("tool_calls")],
                                 [call("b", call_id="c2"), Finish("tool_calls")]])
    events = await run(store, provider, max_tool_calls=1)
    assert events[-1]["type"] == "response.completed"
    assert len(provider.requests) == 2
    assert [item["type"] for item in events[-1]["response"]["output"]] == [
        "echo_list", "echo_call"]


async def test_a_client_tool_named_like_a_hosted_function_is_the_clients(
        store: SQLiteStore, echo_tool: None) -> None:
    """A custom (or namespaced) tool called `echo` is the client's, not the hosted echo's."""
    provider = ScriptedProvider([
        [ToolCallDelta(0, "shout", name="echo", call_id="call_c", kind="custom"),
         ToolCallDelta(1, "{}", name="echo", call_id="call_n", namespace="ns"),
         Finish("tool_calls")],
    ])
    events = await run(store, provider, tools=[
        {"type": "echo"}, {"type": "custom", "name": "echo"},
        {"type": "namespace", "name": "ns", "description": "d",
         "tools": [{"type": "function", "name": "echo"}]}])
    output = events[-1]["response"]["output"]
    assert [(item["type"], item.get("namespace")) for item in output] == [
        ("echo_list", None), ("custom_tool_call", None), ("function_call", "ns")]
    assert output[1]["input"] == "shout"
    assert len(provider.requests) == 1  # nothing ran here: the response ends for the client
