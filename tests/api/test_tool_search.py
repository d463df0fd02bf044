"""`tool_search` and deferred tools on a chat-completions upstream, through the official SDK:
the hosted search loads deferred tools for the next model call, a client's own search comes
back as its call item and is answered with the tools to load, `additional_tools` load tools
mid-context, and loaded tools stay loaded across turns, stored (SQLite and PostgreSQL) or sent
back whole with `store: false`."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from openai import OpenAI

from tests.support.scripted_upstream import ScriptedUpstream, calls_script, text_script
from tests.support.sdk import streamed_events

NOW = {"type": "function", "name": "list_files", "description": "List the files.",
       "parameters": {"type": "object", "properties": {}}, "strict": False}
WEATHER = {"type": "function", "name": "get_weather", "description": "The weather forecast.",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
           "strict": False, "defer_loading": True}
CRM = {"type": "namespace", "name": "crm", "description": "Customer records.", "tools": [
    {"type": "function", "name": "find_customer", "description": "Look a customer up.",
     "parameters": {"type": "object", "properties": {}}, "strict": False,
     "defer_loading": True},
    {"type": "function", "name": "add_note", "description": "Note something.",
     "parameters": {"type": "object", "properties": {}}, "strict": False}]}
TOOLS: list[dict[str, Any]] = [NOW, WEATHER, CRM, {"type": "tool_search"}]
CLIENT_SEARCH = {"type": "tool_search", "execution": "client", "description": "Find tools.",
                 "parameters": {"type": "object", "properties": {"goal": {"type": "string"}},
                                "required": ["goal"]}}
FORECAST = {"type": "function", "name": "get_forecast", "description": "A week's forecast.",
            "parameters": {"type": "object", "properties": {}}, "strict": False}


def _requests(scripted: ScriptedUpstream, model: str) -> list[dict[str, Any]]:
    name = model.removeprefix("scripted/")
    return [request for request in scripted.requests if request["model"] == name]


def _offered(request: dict[str, Any]) -> list[str]:
    return [tool["function"]["name"] for tool in request.get("tools") or ()]


def _tool_results(request: dict[str, Any]) -> list[tuple[str, str]]:
    return [(m["tool_call_id"], m["content"]) for m in request["messages"] if m["role"] == "tool"]


def _search_then_weather(scripted: ScriptedUpstream, *later: Any) -> str:
    return scripted.play(calls_script(("tool_search", '{"query": "weather forecast"}'), ids="s"),
                         calls_script(("get_weather", '{"city": "Paris"}'), ids="w"), *later)


def test_the_hosted_search_loads_deferred_tools(client: OpenAI,
                                                scripted: ScriptedUpstream) -> None:
    model = _search_then_weather(scripted)
    events = streamed_events(client, model=model, input="Weather in Paris?", tools=TOOLS)
    call, output, weather = events[-1]["response"]["output"]
    assert call["id"].startswith("tsc_") and output["id"].startswith("tso_")
    assert {key: value for key, value in call.items() if key != "id"} == {
        "type": "tool_search_call", "call_id": "s0", "execution": "server",
        "arguments": {"query": "weather forecast"}, "status": "completed"}
    assert {key: value for key, value in output.items() if key != "id"} == {
        "type": "tool_search_output", "call_id": "s0", "execution": "server",
        "status": "completed", "tools": [WEATHER]}
    assert (weather["type"], weather["name"], weather["call_id"]) == (
        "function_call", "get_weather", "w0")
    kinds = [(event["type"], event.get("output_index")) for event in events[2:8]]
    assert kinds == [("response.output_item.added", 0), ("response.output_item.done", 0),
                     ("response.output_item.added", 1), ("response.output_item.done", 1),
                     ("response.output_item.added", 2),
                     ("response.function_call_arguments.delta", 2)]
    # Deferred tools wait for the search; the next model call is offered what it loaded.
    first, second = _requests(scripted, model)
    assert _offered(first) == ["list_files", "crm__add_note", "tool_search"]
    assert _offered(second) == ["list_files", "crm__add_note", "get_weather", "tool_search"]
    assert _tool_results(second) == [("s0", "Tools loaded, callable from now on: get_weather")]


def test_a_search_finds_namespaced_tools_and_may_find_nothing(client: OpenAI,
                                                              scripted: ScriptedUpstream) -> None:
    model = scripted.play(calls_script(("tool_search", '{"query": "customer"}'),
                                       ("tool_search", '{"query": "spaceship"}'), ids="s"),
                          text_script("done"))
    response = client.responses.create(model=model, input="x", tools=TOOLS)  # type: ignore[arg-type]
    outputs = [item.model_dump(mode="json", exclude_none=True) for item in response.output
               if item.type == "tool_search_output"]
    assert [output["tools"] for output in outputs] == [
        [{**CRM, "tools": [CRM["tools"][0]]}], []]
    last = _requests(scripted, model)[-1]
    assert "crm__find_customer" in _offered(last)
    assert _tool_results(last) == [
        ("s0", "Tools loaded, callable from now on: crm__find_customer"),
        ("s1", "No tools found.")]


def test_loaded_tools_stay_loaded_through_previous_response_id(
        client_any_db: OpenAI, scripted: ScriptedUpstream) -> None:
    model = _search_then_weather(scripted, text_script("Sunny."))
    first = client_any_db.responses.create(model=model, input="Weather?", tools=TOOLS)  # type: ignore[arg-type]
    assert [item.type for item in first.output] == ["tool_search_call", "tool_search_output",
                                                    "function_call"]
    answer = client_any_db.responses.create(
        model=model, previous_response_id=first.id, tools=TOOLS,  # type: ignore[arg-type]
        input=[{"type": "function_call_output", "call_id": "w0", "output": "sunny"}])
    assert answer.output_text == "Sunny."
    last = _requests(scripted, model)[-1]
    assert "get_weather" in _offered(last)
    assistant = [m for m in last["messages"] if m.get("tool_calls")]
    assert [[c["function"]["name"] for c in m["tool_calls"]] for m in assistant] == [
        ["tool_search"], ["get_weather"]]
    assert [call_id for call_id, _ in _tool_results(last)] == ["s0", "w0"]
    listed = client_any_db.responses.input_items.list(first.id, order="asc")
    assert [item.type for item in listed.data] == ["message"]


def test_loaded_tools_stay_loaded_in_full_input(client: OpenAI,
                                                scripted: ScriptedUpstream) -> None:
    model = _search_then_weather(scripted, text_script("Sunny."))
    first = client.responses.create(model=model, input="Weather?", tools=TOOLS, store=False)  # type: ignore[arg-type]
    history = [{"role": "user", "content": "Weather?"},
               *[item.model_dump(mode="json", exclude_none=True) for item in first.output],
               {"type": "function_call_output", "call_id": "w0", "output": "sunny"}]
    answer = client.responses.create(model=model, input=history, tools=TOOLS, store=False)  # type: ignore[arg-type]
    assert answer.output_text == "Sunny."
    assert "get_weather" in _offered(_requests(scripted, model)[-1])


def test_loaded_tools_stay_loaded_in_a_conversation(client_any_db: OpenAI,
                                                    scripted: ScriptedUpstream) -> None:
    model = _search_then_weather(scripted, text_script("Sunny."))
    conversation = client_any_db.conversations.create()
    client_any_db.responses.create(model=model, input="Weather?", tools=TOOLS,  # type: ignore[arg-type]
                                   conversation=conversation.id)
    answer = client_any_db.responses.create(
        model=model, conversation=conversation.id, tools=TOOLS,  # type: ignore[arg-type]
        input=[{"type": "function_call_output", "call_id": "w0", "output": "sunny"}])
    assert answer.output_text == "Sunny."
    assert "get_weather" in _offered(_requests(scripted, model)[-1])
    items = client_any_db.conversations.items.list(conversation.id, order="asc")
    assert [item.type for item in items.data] == [
        "message", "tool_search_call", "tool_search_output", "function_call",
        "function_call_output", "message"]


def test_a_client_search_is_answered_by_the_client(client_any_db: OpenAI,
                                                   scripted: ScriptedUpstream) -> None:
    model = scripted.play(calls_script(("tool_search", '{"goal": "forecast"}'), ids="s"),
                          calls_script(("get_forecast", "{}"), ids="f"))
    tools = [NOW, WEATHER, CLIENT_SEARCH]
    events = streamed_events(client_any_db, model=model, input="Forecast?", tools=tools)
    first = events[-1]["response"]
    (call,) = first["output"]
    assert {key: value for key, value in call.items() if key != "id"} == {
        "type": "tool_search_call", "call_id": "s0", "execution": "client",
        "arguments": {"goal": "forecast"}, "status": "completed"}
    sent = _requests(scripted, model)[0]
    assert _offered(sent) == ["list_files", "tool_search"]
    assert sent["tools"][1]["function"]["description"] == "Find tools."
    # The call wants its output before anything else reaches the model.
    with pytest.raises(openai.BadRequestError) as refused:
        client_any_db.responses.create(model=model, previous_response_id=first["id"],
                                       input="and?", tools=tools)  # type: ignore[arg-type]
    assert "No tool output found for tool search call s0" in refused.value.message
    answer = client_any_db.responses.create(
        model=model, previous_response_id=first["id"], tools=tools,  # type: ignore[arg-type]
        input=[{"type": "tool_search_output", "call_id": "s0", "execution": "client",
                "tools": [FORECAST]}])  # type: ignore[list-item]
    assert [(item.type, getattr(item, "name", None)) for item in answer.output] == [
        ("function_call", "get_forecast")]
    last = _requests(scripted, model)[-1]
    assert _offered(last) == ["list_files", "tool_search", "get_forecast"]
    assert _tool_results(last) == [("s0", "Tools loaded, callable from now on: get_forecast")]
    listed = client_any_db.responses.input_items.list(answer.id)
    (output,) = listed.data
    assert output.type == "tool_search_output" and output.id.startswith("tso_")


def test_additional_tools_load_tools_mid_context(client: OpenAI,
                                                 scripted: ScriptedUpstream) -> None:
    model = scripted.play(text_script("ok"))
    client.responses.create(model=model, tools=[NOW], input=[  # type: ignore[list-item]
        {"role": "user", "content": "hi"},
        {"type": "additional_tools", "role": "developer", "tools": [FORECAST]}])
    sent = scripted.last_request(model)
    assert _offered(sent) == ["list_files", "get_forecast"]
    assert [m["role"] for m in sent["messages"]] == ["user"]
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model=model, input=[  # type: ignore[list-item]
            {"type": "additional_tools", "role": "developer", "tools": [{"type": "web_search"}]}])
    assert refused.value.body["param"] == "input[0].tools[0].type"  # type: ignore[index]
    assert refused.value.code == "unsupported_value"
