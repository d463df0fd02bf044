"""Codex's tool kinds as functions and back (providers/tool_surface.py), without I/O."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from responsa.engine.abandoned import close_abandoned
from responsa.engine.builder import ResponseBuilder
from responsa.errors import InvalidRequestError, UpstreamProtocolError
from responsa.providers.anthropic_translation import build_messages_body
from responsa.providers.base import Capabilities, ModelRequest
from responsa.providers.chat_translation import build_chat_body
from responsa.providers.deltas import Delta, Finish, TextDelta, ToolCallDelta
from responsa.providers.tool_surface import (
    CallDecoder,
    InputDecoder,
    ToolSurface,
    as_function_call,
    as_function_output,
    call_fields,
    exposed_name,
)
from tests.support.grammar import assert_valid_stream

CUSTOM = {"type": "custom", "name": "exec", "description": "Run code.",
          "format": {"type": "grammar", "syntax": "regex", "definition": "[a-z]+ [0-9]+"}}
NAMESPACE = {"type": "namespace", "name": "multi_agent_v1", "description": "Agents.",
             "tools": [{"type": "function", "name": "spawn_agent",
                        "parameters": {"type": "object", "properties": {}}},
                       {"type": "custom", "name": "note"}]}
TOOLS = [{"type": "function", "name": "exec_command", "parameters": {"type": "object"}},
         CUSTOM, NAMESPACE, {"type": "apply_patch"}, {"type": "shell"}, {"type": "local_shell"},
         {"type": "computer_use_preview", "display_width": 800, "display_height": 600,
          "environment": "linux"}]


def _functions(tools: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {tool["name"]: tool for tool in ToolSurface(tools).functions}


def test_every_kind_is_offered_as_a_function() -> None:
    functions = _functions(TOOLS)
    assert list(functions) == ["exec_command", "exec", "multi_agent_v1__spawn_agent",
                               "multi_agent_v1__note", "apply_patch", "shell", "local_shell",
                               "computer"]
    custom = functions["exec"]["parameters"]
    assert custom["required"] == ["input"]
    assert custom["properties"]["input"]["pattern"] == "^([a-z]+ [0-9]+)$"
    assert "regex grammar" in functions["exec"]["description"]
    assert functions["multi_agent_v1__note"]["parameters"]["properties"]["input"] == {
        "type": "string", "description": "The tool's input, as free text."}
    assert "800x600" in functions["computer"]["description"]
    operation = functions["apply_patch"]["parameters"]["properties"]["operation"]
    assert operation["properties"]["type"]["enum"] == ["create_file", "update_file",
                                                       "delete_file"]


def test_lark_grammars_are_described_not_enforced() -> None:
    lark = {**CUSTOM, "format": {"type": "grammar", "syntax": "lark", "definition": "start: A"}}
    function = _functions([lark])["exec"]
    assert "lark grammar:\nstart: A" in function["description"]
    assert "pattern" not in function["parameters"]["properties"]["input"]


def test_namespaced_names_fit_chat_function_names() -> None:
    long = exposed_name("a" * 60, "ns.with dots")
    assert len(long) <= 64 and re.fullmatch(r"[A-Za-z0-9_-]+", long)
    assert long == exposed_name("a" * 60, "ns.with dots")  # the same on every turn
    assert long != exposed_name("a" * 61, "ns.with dots")
    assert exposed_name("run", "tools") == "tools__run"


def test_a_name_offered_twice_is_a_400() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        ToolSurface([{"type": "function", "name": "shell"}, {"type": "shell"}])
    assert caught.value.param == "tools[1]"


def test_chat_body_names_the_tool_choice_by_its_function() -> None:
    request = ModelRequest(model="m", input=[], tools=TOOLS,
                           tool_choice={"type": "custom", "name": "exec"})
    body = build_chat_body(request, Capabilities())
    assert body["tool_choice"] == {"type": "function", "function": {"name": "exec"}}
    request.tool_choice = {"type": "apply_patch"}
    assert build_chat_body(request, Capabilities())["tool_choice"]["function"] == {
        "name": "apply_patch"}
    request.tool_choice = {"type": "allowed_tools", "mode": "required",
                           "tools": [{"type": "shell"}, {"type": "custom", "name": "exec"}]}
    body = build_chat_body(request, Capabilities())
    assert [tool["function"]["name"] for tool in body["tools"]] == ["exec", "shell"]


def _decode(deltas: list[Delta], tools: list[dict[str, Any]] = TOOLS) -> list[Delta]:
    decoder = CallDecoder(ToolSurface(tools))
    return [mapped for delta in deltas for mapped in decoder.map(delta)]


def test_custom_input_streams_out_of_its_json() -> None:
    fragments = ['{"inp', 'ut": "print(\\"h', 'i\\")\\', 'n\\u00e', '9 \\ud83d', '\\ude00"}']
    decoded = _decode([ToolCallDelta(0, name="exec", call_id="c1"),
                       *[ToolCallDelta(0, arguments=f) for f in fragments], Finish("tool_calls")])
    calls = [d for d in decoded if isinstance(d, ToolCallDelta)]
    assert calls[0].kind == "custom" and calls[0].name == "exec" and calls[0].call_id == "c1"
    assert all(call.kind == "custom" for call in calls)
    text = "".join(call.arguments for call in calls)
    assert text == 'print("hi")\né 😀'
    assert len([call for call in calls if call.arguments]) >= 4  # streamed, not at the end
    assert isinstance(decoded[-1], Finish)


@pytest.mark.parametrize("fragments", [["not json at all"], ['{"code": 1}'], ["{}"], [""]])
def test_custom_input_of_another_shape_is_taken_verbatim(fragments: list[str]) -> None:
    decoder = InputDecoder()
    streamed = "".join(decoder.feed(fragment) for fragment in fragments) + decoder.finish()
    assert streamed == "".join(fragments)


def test_namespaced_and_builtin_calls_resolve_to_their_kinds() -> None:
    decoded = _decode([
        ToolCallDelta(0, name="multi_agent_v1__spawn_agent", call_id="a", arguments="{}"),
        ToolCallDelta(1, name="apply_patch", call_id="b", arguments='{"operation":'),
        ToolCallDelta(1, arguments='{"type":"delete_file","path":"x"}}'),
        ToolCallDelta(2, name="undeclared", call_id="c", arguments="{}"),
        TextDelta("after")])
    first, second, third, fourth, text = decoded
    assert isinstance(first, ToolCallDelta) and (first.kind, first.name, first.namespace) == (
        "function", "spawn_agent", "multi_agent_v1")
    assert isinstance(second, ToolCallDelta) and second.kind == "apply_patch"
    assert isinstance(third, ToolCallDelta) and third.name is None
    assert isinstance(fourth, ToolCallDelta) and (fourth.kind, fourth.name) == (
        "function", "undeclared")
    assert isinstance(text, TextDelta)


def test_call_fields_make_the_items_of_each_kind() -> None:
    assert call_fields("apply_patch", json.dumps({"operation": {
        "type": "update_file", "path": "a.py", "diff": "@@\n-x\n+y"}})) == {
        "operation": {"type": "update_file", "path": "a.py", "diff": "@@\n-x\n+y"}}
    assert call_fields("shell", '{"commands": ["ls"], "timeout_ms": 5}') == {
        "action": {"commands": ["ls"], "timeout_ms": 5, "max_output_length": None}}
    assert call_fields("local_shell", '{"command": ["ls", "-l"], "working_directory": "/"}') == {
        "action": {"type": "exec", "command": ["ls", "-l"], "env": {},
                   "working_directory": "/"}}
    assert call_fields("computer", '{"action": {"type": "click", "x": 1, "y": 2}}') == {
        "action": {"type": "click", "x": 1, "y": 2}, "pending_safety_checks": []}
    for kind, arguments in [("apply_patch", '{"operation": {"type": "rename"}}'),
                            ("shell", '{"commands": []}'), ("local_shell", "not json"),
                            ("computer", "{}")]:
        with pytest.raises(ValueError):
            call_fields(kind, arguments)  # type: ignore[arg-type]


CALL_ITEMS = [
    ({"type": "function_call", "call_id": "c0", "name": "spawn_agent", "arguments": "{}",
      "namespace": "multi_agent_v1"}, ("c0", "multi_agent_v1__spawn_agent", "{}")),
    ({"type": "custom_tool_call", "call_id": "c1", "name": "exec", "input": "ls 1"},
     ("c1", "exec", '{"input":"ls 1"}')),
    ({"type": "apply_patch_call", "call_id": "c2", "status": "completed",
      "operation": {"type": "delete_file", "path": "x"}},
     ("c2", "apply_patch", '{"operation":{"type":"delete_file","path":"x"}}')),
    ({"type": "shell_call", "call_id": "c3",
      "action": {"commands": ["ls"], "timeout_ms": None, "max_output_length": None}},
     ("c3", "shell", '{"commands":["ls"]}')),
    ({"type": "local_shell_call", "id": "lsh_1", "call_id": "c4", "status": "completed",
      "action": {"type": "exec", "command": ["ls"], "env": {}}},
     ("c4", "local_shell", '{"command":["ls"],"env":{}}')),
    ({"type": "computer_call", "id": "cu_1", "call_id": "c5", "status": "completed",
      "pending_safety_checks": [], "action": {"type": "screenshot"}},
     ("c5", "computer", '{"action":{"type":"screenshot"}}')),
]


@pytest.mark.parametrize(("item", "expected"), CALL_ITEMS)
def test_call_items_read_as_function_calls(item: dict[str, Any],
                                           expected: tuple[str, str, str]) -> None:
    assert as_function_call(item) == expected
    # …and the builder makes the same item again from what the model would have said.
    kind = {"function_call": "function", "custom_tool_call": "custom"}.get(
        item["type"], expected[1])
    arguments = item.get("input", expected[2]) if kind == "custom" else expected[2]
    builder = ResponseBuilder({"id": "resp_1", "output": [], "status": "in_progress"})
    events = builder.start()
    events += builder.feed(ToolCallDelta(0, name=item.get("name"), call_id=expected[0],
                                         kind=kind, namespace=item.get("namespace"),
                                         arguments=arguments))
    events += builder.finish()
    assert_valid_stream(events)
    (made,) = builder.response["output"]
    assert made["type"] == item["type"] and made["status"] == "completed"
    for key, value in item.items():
        if key not in ("id", "status"):
            assert made[key] == value, key


OUTPUT_ITEMS = [
    ({"type": "custom_tool_call_output", "call_id": "c1", "output": "done"}, ("c1", "done")),
    ({"type": "apply_patch_call_output", "call_id": "c2", "status": "failed", "output": "no"},
     ("c2", "failed: no")),
    ({"type": "shell_call_output", "call_id": "c3", "output": [
        {"stdout": "a", "stderr": "", "outcome": {"type": "exit", "exit_code": 0}},
        {"stdout": "", "stderr": "slow", "outcome": {"type": "timeout"}}]},
     ("c3", "a\n[exit code 0]\nstderr: slow\n[timed out]")),
    ({"type": "local_shell_call_output", "id": "c4", "output": '{"stdout":"a"}'},
     ("c4", '{"stdout":"a"}')),
    ({"type": "computer_call_output", "call_id": "c5",
      "output": {"type": "computer_screenshot", "image_url": "data:image/png;base64,AAAA"}},
     ("c5", [{"type": "input_image", "image_url": "data:image/png;base64,AAAA"}])),
]


@pytest.mark.parametrize(("item", "expected"), OUTPUT_ITEMS)
def test_output_items_read_as_tool_results(item: dict[str, Any],
                                           expected: tuple[str, str]) -> None:
    assert as_function_output(item) == expected


def test_chat_messages_pair_every_kind_of_call_with_its_output() -> None:
    items = [item for item, _ in CALL_ITEMS[1:]] + [item for item, _ in OUTPUT_ITEMS]
    body = build_chat_body(ModelRequest(model="m", input=items, tools=TOOLS), Capabilities())
    assistant, *results = body["messages"]
    assert [call["id"] for call in assistant["tool_calls"]] == ["c1", "c2", "c3", "c4", "c5"]
    *results, pictures = results
    assert [(m["role"], m["tool_call_id"]) for m in results] == [
        ("tool", f"c{n}") for n in range(1, 6)]
    # The screenshot follows the results, as the user's: chat tool results hold text only.
    assert results[-1]["content"] == "[1 image(s), shown next]"
    assert pictures["role"] == "user" and pictures["content"][1] == {
        "type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA",
                                           "detail": "auto"}}


def test_the_builder_streams_custom_input_and_adds_other_calls_whole() -> None:
    builder = ResponseBuilder({"id": "resp_1", "output": [], "status": "in_progress"})
    events = builder.start()
    for delta in _decode([
            ToolCallDelta(0, name="exec", call_id="c1", arguments='{"input": "ab'),
            ToolCallDelta(0, arguments='c 1"}'),
            ToolCallDelta(1, name="shell", call_id="c2", arguments='{"commands": ["ls"]}'),
            Finish("tool_calls")]):
        events += builder.feed(delta)
    events += builder.finish()
    assert_valid_stream(events)
    kinds = [event["type"] for event in events[2:]]
    assert kinds == ["response.output_item.added", "response.custom_tool_call_input.delta",
                     "response.custom_tool_call_input.delta",
                     "response.custom_tool_call_input.done", "response.output_item.done",
                     "response.output_item.added", "response.shell_call_command.added",
                     "response.shell_call_command.delta", "response.shell_call_command.done",
                     "response.output_item.done", "response.completed"]
    command = [{key: event.get(key) for key in ("output_index", "command_index", "command",
                                                "delta")} for event in events[8:11]]
    assert command == [
        {"output_index": 1, "command_index": 0, "command": "", "delta": None},
        {"output_index": 1, "command_index": 0, "command": None, "delta": "ls"},
        {"output_index": 1, "command_index": 0, "command": "ls", "delta": None}]
    custom, shell = builder.response["output"]
    assert custom["input"] == "abc 1" and shell["action"]["commands"] == ["ls"]
    assert shell["id"].startswith("sh_") and custom["id"].startswith("ctc_")


def test_a_call_that_makes_no_item_fails_the_response_cleanly() -> None:
    builder = ResponseBuilder({"id": "resp_1", "output": [], "status": "in_progress"})
    events = builder.start()
    events += builder.feed(ToolCallDelta(0, name="apply_patch", kind="apply_patch",
                                         arguments='{"operation": {}}'))
    with pytest.raises(UpstreamProtocolError):
        builder.finish()
    events += builder.fail(UpstreamProtocolError("upstream", "bad call"))
    assert_valid_stream(events)
    assert builder.response["output"] == []


def test_a_cut_call_is_not_handed_to_the_client() -> None:
    builder = ResponseBuilder({"id": "resp_1", "output": [], "status": "in_progress"})
    events = builder.start()
    events += builder.feed(ToolCallDelta(0, name="shell", kind="shell",
                                         arguments='{"commands": ["l'))
    events += builder.feed(Finish("length"))
    events += builder.finish()
    assert_valid_stream(events)
    assert events[-1]["type"] == "response.incomplete"
    assert builder.response["output"] == []


def test_an_abandoned_custom_call_is_closed_with_its_input() -> None:
    """A run whose replica died mid-call (engine/abandoned.py) ends its custom call whole."""
    builder = ResponseBuilder({"id": "resp_1", "output": [], "status": "in_progress"})
    log = builder.start()
    log += builder.feed(ToolCallDelta(0, "ab", name="exec", call_id="c1", kind="custom"))
    log += builder.feed(ToolCallDelta(0, "c", kind="custom"))
    snapshot = {**log[0]["response"], "output": []}
    closing = close_abandoned(snapshot, log, cancelled=False)
    assert_valid_stream([*log, *closing])
    assert snapshot["output"][0]["input"] == "abc"


def test_anthropic_gets_the_same_functions_and_pairs() -> None:
    items = [item for item, _ in CALL_ITEMS[1:]] + [item for item, _ in OUTPUT_ITEMS]
    body = build_messages_body(ModelRequest(model="m", input=items, tools=TOOLS,
                                            tool_choice={"type": "custom", "name": "exec"}),
                               default_max_tokens=100)
    assert [tool["name"] for tool in body["tools"]] == [
        function["name"] for function in ToolSurface(TOOLS).functions]
    assert body["tool_choice"] == {"type": "tool", "name": "exec"}
    assistant, results = body["messages"]
    assert [(block["id"], block["name"]) for block in assistant["content"]] == [
        ("c1", "exec"), ("c2", "apply_patch"), ("c3", "shell"), ("c4", "local_shell"),
        ("c5", "computer")]
    assert assistant["content"][0]["input"] == {"input": "ls 1"}
    assert [block["tool_use_id"] for block in results["content"]] == ["c1", "c2", "c3", "c4",
                                                                      "c5"]


# -- tool_search executed by the client -----------------------------------------------------------

CLIENT_SEARCH = {"type": "tool_search", "execution": "client", "description": "Find tools.",
                 "parameters": {"type": "object", "properties": {"goal": {"type": "string"}}}}


def test_a_client_tool_search_is_offered_as_given_or_with_defaults() -> None:
    assert _functions([CLIENT_SEARCH])["tool_search"] == {
        "type": "function", "name": "tool_search", "description": "Find tools.",
        "parameters": CLIENT_SEARCH["parameters"]}
    default = _functions([{"type": "tool_search", "execution": "client"}])["tool_search"]
    assert default["parameters"]["required"] == ["query"]
    assert "Search for more tools" in default["description"]


def test_a_client_tool_search_call_becomes_its_item() -> None:
    builder = ResponseBuilder({"id": "resp_1", "output": [], "status": "in_progress"})
    events = builder.start()
    for delta in _decode([ToolCallDelta(0, name="tool_search", call_id="c1", arguments='{"go'),
                          ToolCallDelta(0, arguments='al": "crm"}'), Finish("tool_calls")],
                         [CLIENT_SEARCH]):
        events += builder.feed(delta)
    events += builder.finish()
    assert_valid_stream(events)
    assert [event["type"] for event in events[2:]] == [
        "response.output_item.added", "response.output_item.done", "response.completed"]
    (item,) = builder.response["output"]
    assert item["id"].startswith("tsc_")
    assert {key: item[key] for key in ("type", "call_id", "arguments", "execution", "status")} == {
        "type": "tool_search_call", "call_id": "c1", "arguments": {"goal": "crm"},
        "execution": "client", "status": "completed"}


LOADED = [{"type": "function", "name": "lookup", "defer_loading": True},
          {"type": "namespace", "name": "crm", "description": "CRM.",
           "tools": [{"type": "function", "name": "find_customer"}]}]
SEARCH_ITEMS = [
    {"type": "tool_search_call", "call_id": "s1", "arguments": {"query": "crm"},
     "execution": "server", "status": "completed"},
    {"type": "tool_search_output", "call_id": "s1", "execution": "server",
     "status": "completed", "tools": LOADED},
    {"type": "additional_tools", "role": "developer", "tools": [LOADED[0]]},
]


def test_search_items_read_as_a_call_and_the_names_it_loaded() -> None:
    assert as_function_call(SEARCH_ITEMS[0]) == ("s1", "tool_search", '{"query":"crm"}')
    assert as_function_output(SEARCH_ITEMS[1]) == (
        "s1", "Tools loaded, callable from now on: lookup, crm__find_customer")
    assert as_function_output({**SEARCH_ITEMS[1], "tools": []}) == ("s1", "No tools found.")
    body = build_chat_body(ModelRequest(model="m", input=SEARCH_ITEMS), Capabilities())
    assistant, result = body["messages"]  # the additional_tools item says nothing itself
    assert assistant["tool_calls"][0]["function"] == {"name": "tool_search",
                                                      "arguments": '{"query":"crm"}'}
    assert (result["role"], result["tool_call_id"]) == ("tool", "s1")
    anthropic = build_messages_body(ModelRequest(model="m", input=SEARCH_ITEMS),
                                    default_max_tokens=10)
    assert [message["content"][0]["type"] for message in anthropic["messages"]] == [
        "tool_use", "tool_result"]
