"""MCP as a hosted tool, end to end: an MCP server written with the official `mcp` package
(tests/support/mcp_server.py), responsa as a real process, the official SDK as the client.

The llama.cpp tiny model makes one real call when offered one tool; the scripted upstream
makes calls with exact arguments (a scripted model calls its tool on every turn, so those flows
are gated by approvals, which end each turn).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import openai
import pytest
from openai import OpenAI

from tests.conftest import LLAMA_MODEL, config_text, sdk_client
from tests.support import mcp_server
from tests.support.asgi import running
from tests.support.llama_server import LlamaServer
from tests.support.mcp_server import McpTestServer
from tests.support.responsa_server import RunningResponsa, serving
from tests.support.scripted_upstream import Script, ScriptedUpstream, chunk, text_script, usage
from tests.support.sdk import streamed_events

API_KEY = "corp-api-key-3f9d2c"  # the deployment's credentials, from its config and environment
TOKEN = "corp-token-77a1e0"
REQUEST_TOKEN = "request-token-5b21c4"


@pytest.fixture(scope="module")
def mcp() -> Iterator[McpTestServer]:
    with running(mcp_server.McpTestServer()) as server:
        yield server


def _deployment_config(mcp: McpTestServer) -> str:
    down = mcp.url.replace("/mcp", "/gone")
    return f"""
[mcp_servers.corp]
url = "{mcp.url}"
headers = {{ "X-Api-Key" = "{API_KEY}" }}
authorization_env = "MCP_TEST_CORP_TOKEN"
description = "The corporate directory"

[mcp_servers.corp_down]
url = "{down}"
headers = {{ "X-Api-Key" = "{API_KEY}" }}

[mcp_servers.corp_slow]
url = "{mcp.url}"
timeout = 1
"""


def _allowed_urls(mcp: McpTestServer) -> str:
    """Requests may reach the test server only (a top-level key: it goes before the tables)."""
    origin = mcp.url.removesuffix("/mcp")
    return f'mcp_server_urls = ["{origin}/*"]\n'


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def responsa(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
             llama: LlamaServer, scripted: ScriptedUpstream,
             mcp: McpTestServer) -> Iterator[RunningResponsa]:
    tmp = tmp_path_factory.mktemp(f"responsa-mcp-{request.param}")
    database = request.getfixturevalue("postgres_dsn") if request.param == "postgres" else None
    with (mock.patch.dict(os.environ, {"MCP_TEST_CORP_TOKEN": TOKEN}),
          serving(tmp, _allowed_urls(mcp) + config_text(llama, scripted, _deployment_config(mcp)),
                  database=database) as running):
        yield running


@pytest.fixture
def client(responsa: RunningResponsa) -> OpenAI:
    return sdk_client(responsa)


# Stateless behaviour is checked once, on the SQLite server (the same module-scoped one).
sqlite_only = pytest.mark.parametrize("responsa", ["sqlite"], indirect=True)


def _server(mcp: McpTestServer, **fields: Any) -> dict[str, Any]:
    return {"type": "mcp", "server_label": "directory", "server_url": mcp.url, **fields}


def _calls_tool(scripted: ScriptedUpstream, name: str, arguments: dict[str, Any]) -> str:
    """A scripted model that calls function `name` with exactly `arguments`."""
    call = {"index": 0, "id": "call_scripted", "type": "function",
            "function": {"name": name, "arguments": json.dumps(arguments)}}
    return scripted.play(Script([chunk({"role": "assistant", "content": None,
                                        "tool_calls": [call]}),
                                 chunk(finish="tool_calls"), chunk(usage=usage())]))


def _dump(response: Any) -> dict[str, Any]:
    return dict(response.model_dump(mode="json", exclude_unset=True))


def _types(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in events]


# ---- listing and calling with the real engine ---------------------------------------------


@sqlite_only
def test_lists_calls_and_answers_streaming(client: OpenAI, mcp: McpTestServer) -> None:
    events = streamed_events(client, model=LLAMA_MODEL, input="Add 2 and 3.",
                             max_output_tokens=300,
                             tools=[_server(mcp, allowed_tools=["add"],
                                            require_approval="never")])
    final = events[-1]["response"]
    assert final["status"] == "completed"
    assert [item["type"] for item in final["output"]] == ["mcp_list_tools", "mcp_call",
                                                          "message"]
    listed, call, _ = final["output"]
    assert listed["server_label"] == "directory" and listed["id"].startswith("mcpl_")
    assert listed["tools"] == [{"name": "add", "description": "Add two integers.",
                                "input_schema": listed["tools"][0]["input_schema"],
                                "annotations": {"read_only": True}}]
    assert listed["tools"][0]["input_schema"]["required"] == ["a", "b"]
    arguments = json.loads(call["arguments"])
    assert call["id"].startswith("mcp_") and call["name"] == "add"
    assert call["status"] == "completed" and call["error"] is None
    assert call["output"] == str(arguments["a"] + arguments["b"])  # the server really ran it
    assert call["approval_request_id"] is None
    kinds = _types(events)
    first = kinds.index("response.mcp_list_tools.in_progress")
    assert kinds[first - 1:first + 3] == [
        "response.output_item.added", "response.mcp_list_tools.in_progress",
        "response.mcp_list_tools.completed", "response.output_item.done"]
    start = kinds.index("response.mcp_call.in_progress")
    assert kinds[start - 1:start + 5] == [
        "response.output_item.added", "response.mcp_call.in_progress",
        "response.mcp_call_arguments.delta", "response.mcp_call_arguments.done",
        "response.mcp_call.completed", "response.output_item.done"]
    added, done = events[start - 1], events[start + 2]
    assert added["item"] == {**call, "status": "in_progress", "output": None,
                             "arguments": ""}
    assert done["arguments"] == call["arguments"] and done["item_id"] == call["id"]
    stored = _dump(client.responses.retrieve(final["id"]))
    assert stored["output"] == final["output"]


def test_continuation_reuses_the_tool_list(client: OpenAI, mcp: McpTestServer,
                                           scripted: ScriptedUpstream) -> None:
    tools = [_server(mcp, allowed_tools=["add"], require_approval="never")]
    first = client.responses.create(model=LLAMA_MODEL, input="Add 2 and 3.", tools=tools,
                                    max_output_tokens=300)
    assert [item.type for item in first.output][:2] == ["mcp_list_tools", "mcp_call"]
    call = first.output[1]
    assert call.type == "mcp_call" and call.output is not None
    seen = len(mcp.methods)
    model = scripted.play(text_script("Done."))
    second = client.responses.create(model=model, input="Thanks.", tools=tools,
                                     previous_response_id=first.id)
    assert [item.type for item in second.output] == ["message"]
    assert mcp.methods[seen:] == []  # the functions came from the stored list
    sent = scripted.last_request(model)
    assert [tool["function"]["name"] for tool in sent["tools"]] == ["directory__add"]
    # The stored call reads to the model as the function call it made and its result.
    replayed = [m for m in sent["messages"] if m["role"] == "tool"]
    assert [m["content"] for m in replayed] == [call.output]


@sqlite_only
def test_sse_server(client: OpenAI, mcp: McpTestServer, scripted: ScriptedUpstream) -> None:
    response = client.responses.create(model=scripted.play(text_script("ok")), input="hi",
                                       tools=[_server(mcp, server_url=mcp.sse_url)])
    listed = response.output[0]
    assert listed.type == "mcp_list_tools" and listed.error is None
    assert [tool.name for tool in listed.tools] == ["add", "lookup", "delete", "wait"]


@sqlite_only
def test_allowed_tools_filter_object(client: OpenAI, mcp: McpTestServer,
                                     scripted: ScriptedUpstream) -> None:
    model = scripted.play(text_script("ok"))
    response = client.responses.create(model=model, input="hi", tools=[
        _server(mcp, allowed_tools={"read_only": True})])
    listed = response.output[0]
    assert listed.type == "mcp_list_tools"
    assert [tool.name for tool in listed.tools] == ["add", "lookup"]
    offered = [tool["function"]["name"] for tool in scripted.last_request(model)["tools"]]
    assert offered == ["directory__add", "directory__lookup"]


# ---- approvals ------------------------------------------------------------------------------


def _ask_approval(client: OpenAI, scripted: ScriptedUpstream, mcp: McpTestServer,
                  tool: dict[str, Any], name: str, arguments: dict[str, Any]) -> Any:
    """Turn 1, streamed: the model calls `name`; the call waits for approval and the turn
    ends. Returns the finished response."""
    model = _calls_tool(scripted, f"{tool['server_label']}__{name}", arguments)
    events = streamed_events(client, model=model, input="Go.", tools=[tool])
    first = client.responses.retrieve(events[-1]["response"]["id"])
    assert first.status == "completed"
    assert _dump(first)["output"] == events[-1]["response"]["output"]
    request = first.output[-1]
    assert request.type == "mcp_approval_request"
    assert request.id.startswith("mcpr_") and request.name == name
    assert request.server_label == tool["server_label"]
    assert json.loads(request.arguments) == arguments
    assert "response.mcp_call.in_progress" not in _types(events)
    return first


def test_approval_then_call_across_two_turns(client: OpenAI, mcp: McpTestServer,
                                             scripted: ScriptedUpstream) -> None:
    tool = _server(mcp)  # no require_approval: every call asks first
    calls = mcp.methods.count("tools/call")
    first = _ask_approval(client, scripted, mcp, tool, "lookup", {"name": "alice"})
    request = first.output[-1]
    assert mcp.methods.count("tools/call") == calls  # nothing ran yet
    answer = scripted.play(text_script("Her address is known."))
    events = streamed_events(client, model=answer, previous_response_id=first.id, tools=[tool],
                             input=[{"type": "mcp_approval_response", "approve": True,
                                     "approval_request_id": request.id}])
    final = events[-1]["response"]
    assert [item["type"] for item in final["output"]] == ["mcp_call", "message"]
    call = final["output"][0]
    assert call["approval_request_id"] == request.id and call["status"] == "completed"
    assert call["name"] == "lookup" and call["output"] == "alice@example.com"
    assert "response.mcp_call.completed" in _types(events)
    # The model read the result, as the function output of its call.
    sent = scripted.last_request(answer)["messages"]
    assert any(m["role"] == "tool" and m["content"] == "alice@example.com" for m in sent)
    items = client.responses.input_items.list(final["id"]).data
    assert [item.type for item in items] == ["mcp_approval_response"]


def test_approval_and_list_cache_in_a_conversation(client: OpenAI, mcp: McpTestServer,
                                                   scripted: ScriptedUpstream) -> None:
    tool = _server(mcp, require_approval="always")
    conversation = client.conversations.create()
    first = client.responses.create(
        model=_calls_tool(scripted, "directory__add", {"a": 20, "b": 22}), input="Add.",
        tools=[tool], conversation=conversation.id)
    assert [item.type for item in first.output] == ["mcp_list_tools", "mcp_approval_request"]
    second = client.responses.create(
        model=scripted.play(text_script("42.")), tools=[tool], conversation=conversation.id,
        input=[{"type": "mcp_approval_response", "approve": True,
                "approval_request_id": first.output[1].id}])
    assert [item.type for item in second.output] == ["mcp_call", "message"]
    assert second.output[0].output == "42"
    seen = len(mcp.methods)
    third = client.responses.create(model=scripted.play(text_script("Bye.")), input="Thanks.",
                                    tools=[tool], conversation=conversation.id)
    assert [item.type for item in third.output] == ["message"]
    assert mcp.methods[seen:] == []  # the conversation's list is reused
    items = client.conversations.items.list(conversation.id, order="asc").data
    assert [item.type for item in items] == [
        "message", "mcp_list_tools", "mcp_approval_request", "mcp_approval_response",
        "mcp_call", "message", "message", "message"]


@sqlite_only
def test_denied_approval_is_told_to_the_model(client: OpenAI, mcp: McpTestServer,
                                              scripted: ScriptedUpstream) -> None:
    tool = _server(mcp, require_approval={"always": {"tool_names": ["lookup"]}})
    first = _ask_approval(client, scripted, mcp, tool, "lookup", {"name": "bob"})
    calls = mcp.methods.count("tools/call")
    answer = scripted.play(text_script("Understood."))
    second = client.responses.create(
        model=answer, previous_response_id=first.id, tools=[tool],
        input=[{"type": "mcp_approval_response", "approve": False, "reason": "private data",
                "approval_request_id": first.output[-1].id}])
    assert [item.type for item in second.output] == ["message"]
    assert mcp.methods.count("tools/call") == calls
    told = [m for m in scripted.last_request(answer)["messages"] if m["role"] == "user"]
    assert "denied" in str(told[-1]["content"]) and "private data" in str(told[-1]["content"])


@sqlite_only
def test_unknown_approval_request_is_a_400(client: OpenAI, mcp: McpTestServer,
                                           scripted: ScriptedUpstream) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model=scripted.play(text_script("x")), tools=[_server(mcp)],
                                input=[{"type": "mcp_approval_response", "approve": True,
                                        "approval_request_id": "mcpr_unknown"}])
    assert caught.value.status_code == 400
    error = caught.value.body
    assert isinstance(error, dict)
    assert error["param"] == "input" and "mcpr_unknown" in error["message"]


@sqlite_only
def test_tool_error_fails_the_call_and_the_model_is_told(client: OpenAI, mcp: McpTestServer,
                                                         scripted: ScriptedUpstream) -> None:
    tool = _server(mcp, require_approval="always")
    first = _ask_approval(client, scripted, mcp, tool, "delete", {"name": "bob"})
    answer = scripted.play(text_script("It failed."))
    events = streamed_events(client, model=answer, previous_response_id=first.id, tools=[tool],
                             input=[{"type": "mcp_approval_response", "approve": True,
                                     "approval_request_id": first.output[-1].id}])
    call = events[-1]["response"]["output"][0]
    assert call["type"] == "mcp_call" and call["status"] == "failed"
    assert call["error"]["type"] == "mcp_tool_execution_error"
    assert "refusing to delete bob" in call["output"]
    assert "response.mcp_call.failed" in _types(events)
    sent = scripted.last_request(answer)["messages"]
    assert any(m["role"] == "tool" and "refusing to delete bob" in m["content"] for m in sent)


# ---- credentials, deployment servers, failures ------------------------------------------------


@sqlite_only
def test_request_authorization_reaches_the_server_and_is_not_echoed(
        client: OpenAI, mcp: McpTestServer, scripted: ScriptedUpstream) -> None:
    tool = _server(mcp, authorization=REQUEST_TOKEN, headers={"X-Trace": "trace-1"})
    seen = len(mcp.requests)
    response = client.responses.create(model=scripted.play(text_script("ok")), input="hi",
                                       tools=[tool])
    assert response.output[0].type == "mcp_list_tools"
    sent = mcp.requests[seen:]
    assert sent and all(headers.get("authorization") == f"Bearer {REQUEST_TOKEN}"
                        for headers in sent)
    assert all(headers.get("x-trace") == "trace-1" for headers in sent)
    echoed = _dump(response)["tools"][0]
    assert "authorization" not in echoed and "headers" not in echoed
    stored = client.responses.retrieve(response.id).model_dump_json()
    assert REQUEST_TOKEN not in stored and REQUEST_TOKEN not in response.model_dump_json()


def test_deployment_server_by_label_with_its_credentials(
        client: OpenAI, mcp: McpTestServer, responsa: RunningResponsa) -> None:
    seen = len(mcp.requests)
    tools = [{"type": "mcp", "server_label": "corp", "allowed_tools": ["add"],
              "require_approval": "never"}]
    response = client.responses.create(model=LLAMA_MODEL, input="Add 2 and 3.", tools=tools,
                                       max_output_tokens=300)
    assert [item.type for item in response.output][:2] == ["mcp_list_tools", "mcp_call"]
    assert response.output[1].status == "completed"
    sent = mcp.requests[seen:]
    assert sent and all(headers.get("x-api-key") == API_KEY for headers in sent)
    assert all(headers.get("authorization") == f"Bearer {TOKEN}" for headers in sent)
    _assert_no_secret(client, response.id, responsa)


@sqlite_only
def test_unreachable_server_fails_its_list_without_leaking(
        client: OpenAI, scripted: ScriptedUpstream, responsa: RunningResponsa) -> None:
    model = scripted.play(text_script("No tools today."))
    events = streamed_events(client, model=model, input="hi",
                             tools=[{"type": "mcp", "server_label": "corp_down"}])
    final = events[-1]["response"]
    assert final["status"] == "completed"
    listed = final["output"][0]
    assert listed["type"] == "mcp_list_tools" and listed["tools"] == []
    assert "404" in listed["error"] and "corp_down" in listed["error"]
    assert "response.mcp_list_tools.failed" in _types(events)
    assert "tools" not in scripted.last_request(model)  # nothing to offer the model
    _assert_no_secret(client, final["id"], responsa)


@sqlite_only
def test_a_slow_call_times_out(client: OpenAI, mcp: McpTestServer,
                               scripted: ScriptedUpstream) -> None:
    tool = {"type": "mcp", "server_label": "corp_slow"}
    first = _ask_approval(client, scripted, mcp, tool, "wait", {"seconds": 5})
    second = client.responses.create(
        model=scripted.play(text_script("Too slow.")), previous_response_id=first.id,
        tools=[tool], input=[{"type": "mcp_approval_response", "approve": True,
                              "approval_request_id": first.output[-1].id}])
    call = second.output[0]
    assert call.type == "mcp_call" and call.status == "failed"
    assert call.error is not None and call.error.type == "mcp_protocol_error"
    assert call.error.code == -32001


@sqlite_only
@pytest.mark.parametrize(("tool", "param"), [
    ({"type": "mcp", "server_label": "x", "connector_id": "connector_gmail"},
     "tools[0].connector_id"),
    ({"type": "mcp", "server_label": "nowhere"}, "tools[0].server_url"),
    ({"type": "mcp", "server_label": "metadata", "server_url": "http://169.254.169.254/mcp"},
     "tools[0].server_url"),  # not among the deployment's `mcp_server_urls`
])
def test_servers_that_cannot_be_reached_are_refused(client: OpenAI, scripted: ScriptedUpstream,
                                                   tool: dict[str, Any], param: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model=scripted.play(text_script("x")), input="hi", tools=[tool])
    error = caught.value.body
    assert isinstance(error, dict) and error["param"] == param


@sqlite_only
def test_duplicate_server_labels_are_refused(client: OpenAI, mcp: McpTestServer,
                                             scripted: ScriptedUpstream) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model=scripted.play(text_script("x")), input="hi",
                                tools=[_server(mcp), _server(mcp)])
    error = caught.value.body
    assert isinstance(error, dict) and error["param"] == "tools[1].server_label"


def _assert_no_secret(client: OpenAI, response_id: str, responsa: RunningResponsa) -> None:
    texts = [client.responses.retrieve(response_id).model_dump_json(),
             client.responses.input_items.list(response_id).model_dump_json(),
             Path(responsa.log_path).read_text(errors="replace")]
    for text in texts:
        assert API_KEY not in text and TOKEN not in text


@sqlite_only
def test_tool_choice_names_a_server_and_its_tool(client: OpenAI, mcp: McpTestServer,
                                                 scripted: ScriptedUpstream) -> None:
    tools = [_server(mcp, require_approval="never"),
             _server(mcp, server_label="other", require_approval="never")]
    model = scripted.play(text_script("ok"))
    client.responses.create(model=model, input="hi", tools=tools,  # type: ignore[arg-type]
                            tool_choice={"type": "mcp", "server_label": "other",
                                         "name": "lookup"})
    assert scripted.last_request(model)["tool_choice"] == {
        "type": "function", "function": {"name": "other__lookup"}}
    model = scripted.play(text_script("ok"))
    client.responses.create(model=model, input="hi", tools=tools,  # type: ignore[arg-type]
                            tool_choice={"type": "mcp", "server_label": "other"})
    assert scripted.last_request(model)["tool_choice"] == {
        "type": "function", "function": {"name": "other__add"}}
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model=scripted.play(text_script("x")), input="hi",
                                tools=tools,  # type: ignore[arg-type]
                                tool_choice={"type": "mcp", "server_label": "other",
                                             "name": "nope"})
    assert caught.value.body["param"] == "tool_choice"  # type: ignore[index]
