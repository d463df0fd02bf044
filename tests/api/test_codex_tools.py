"""Codex's tool surface on a chat-completions upstream, through the official SDK: each tool kind
is offered as a function, comes back as its own item (streamed by the grammar), and its call and
output items are taken back on the next turn, stored (SQLite and PostgreSQL) or stateless."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from tests.conftest import LLAMA_MODEL
from tests.support.responsa_server import RunningResponsa
from tests.support.scripted_upstream import ScriptedUpstream, calls_script, text_script
from tests.support.sdk import streamed_events

CUSTOM = {"type": "custom", "name": "exec", "description": "Run a line of code.",
          "format": {"type": "grammar", "syntax": "regex", "definition": "[a-z]+ [0-9]+"}}
NAMESPACE = {"type": "namespace", "name": "multi_agent_v1", "description": "Sub-agents.",
             "tools": [{"type": "function", "name": "spawn_agent", "strict": False,
                        "parameters": {"type": "object",
                                       "properties": {"message": {"type": "string"}}}}]}
COMPUTER = {"type": "computer_use_preview", "display_width": 1024, "display_height": 768,
            "environment": "linux"}
TOOLS: list[dict[str, Any]] = [
    {"type": "function", "name": "exec_command", "strict": False,
     "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}}},
    CUSTOM, NAMESPACE, {"type": "apply_patch"}, {"type": "shell"}, {"type": "local_shell"},
    COMPUTER, {"type": "web_search", "external_web_access": False}]

# (the function the model calls, its arguments, the item it becomes, fields of that item)
KINDS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("exec", '{"input": "echo 42"}', "custom_tool_call", {"name": "exec", "input": "echo 42"}),
    ("multi_agent_v1__spawn_agent", '{"message": "go"}', "function_call",
     {"name": "spawn_agent", "namespace": "multi_agent_v1", "arguments": '{"message": "go"}'}),
    ("apply_patch", json.dumps({"operation": {"type": "create_file", "path": "hello.txt",
                                              "diff": "+hello"}}), "apply_patch_call",
     {"operation": {"type": "create_file", "path": "hello.txt", "diff": "+hello"}}),
    ("shell", '{"commands": ["ls -la"], "timeout_ms": 1000}', "shell_call",
     {"action": {"commands": ["ls -la"], "timeout_ms": 1000, "max_output_length": None}}),
    ("local_shell", '{"command": ["ls"], "working_directory": "/tmp"}', "local_shell_call",
     {"action": {"type": "exec", "command": ["ls"], "env": {}, "working_directory": "/tmp"}}),
    ("computer", '{"action": {"type": "click", "button": "left", "x": 3, "y": 4}}',
     "computer_call", {"action": {"type": "click", "button": "left", "x": 3, "y": 4},
                       "pending_safety_checks": []}),
]
# Each kind's output on the next turn, and what the model reads of it.
OUTPUTS: dict[str, tuple[dict[str, Any], str]] = {
    "custom_tool_call": ({"type": "custom_tool_call_output", "output": "42"}, "42"),
    "function_call": ({"type": "function_call_output", "output": "spawned"}, "spawned"),
    "apply_patch_call": ({"type": "apply_patch_call_output", "status": "completed",
                          "output": "created"}, "completed: created"),
    "shell_call": ({"type": "shell_call_output", "output": [
        {"stdout": "a.txt", "stderr": "", "outcome": {"type": "exit", "exit_code": 0}}]},
        "a.txt\n[exit code 0]"),
    "local_shell_call": ({"type": "local_shell_call_output", "output": '{"stdout": "x"}'},
                         '{"stdout": "x"}'),
    "computer_call": ({"type": "computer_call_output", "output": {
        "type": "computer_screenshot", "image_url": "data:image/png;base64,AAAA"}},
        "[1 image(s), shown next]"),
}
SCREENSHOT = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA",
                                                 "detail": "auto"}}


def _without_nones(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nones(v) for k, v in value.items() if v is not None}
    return value


def _output_for(item: dict[str, Any]) -> dict[str, Any]:
    output = dict(OUTPUTS[item["type"]][0])
    if item["type"] == "local_shell_call":
        output["id"] = item["call_id"]  # this output names its call by its id
    else:
        output["call_id"] = item["call_id"]
    return output


@pytest.mark.parametrize(("function", "arguments", "item_type", "fields"), KINDS,
                         ids=[kind[2] for kind in KINDS])
def test_each_kind_comes_back_as_its_item(client: OpenAI, scripted: ScriptedUpstream,
                                          function: str, arguments: str, item_type: str,
                                          fields: dict[str, Any]) -> None:
    model = scripted.play(calls_script((function, arguments)))
    events = streamed_events(client, model=model, input="go", tools=TOOLS)
    (item,) = events[-1]["response"]["output"]
    assert item["type"] == item_type and item["call_id"] == "call_0"
    assert item["status"] == "completed"
    assert {key: item.get(key) for key in fields} == fields
    kinds = [event["type"] for event in events]
    if item_type == "custom_tool_call":
        deltas = [event["delta"] for event in events
                  if event["type"] == "response.custom_tool_call_input.delta"]
        assert len(deltas) > 1 and "".join(deltas) == "echo 42"
        assert "response.function_call_arguments.delta" not in kinds
    elif item_type != "function_call":  # added whole, then done
        commands = (["response.shell_call_command.added", "response.shell_call_command.delta",
                     "response.shell_call_command.done"] if item_type == "shell_call" else [])
        assert kinds[2:] == ["response.output_item.added", *commands,
                             "response.output_item.done", "response.completed"]
        assert events[2]["item"] == {**item, "status": "in_progress"}
    # The same without streaming, as the SDK's own types parse it.
    response = client.responses.create(model=model, input="go", tools=TOOLS)  # type: ignore[arg-type]
    parsed = response.output[0].model_dump(mode="json", exclude_none=True)
    assert parsed["type"] == item_type
    assert {key: parsed.get(key) for key in fields} == _without_nones(fields)


def test_the_upstream_is_offered_functions(client: OpenAI, scripted: ScriptedUpstream,
                                           server: RunningResponsa) -> None:
    model = scripted.play(text_script("ok"))
    with httpx.Client(timeout=10) as http:
        reply = http.post(f"{server.base_url}/responses",
                          json={"model": model, "input": "hi", "tools": TOOLS})
    assert reply.status_code == 200, reply.text
    # web_search has no backend here: accepted and echoed, not offered, and said so.
    assert reply.headers["x-responsa-tools-unavailable"] == "web_search"
    assert [tool["type"] for tool in reply.json()["tools"]] == [t["type"] for t in TOOLS]
    sent = {tool["function"]["name"]: tool["function"]
            for tool in scripted.last_request(model)["tools"]}
    assert list(sent) == ["exec_command", "exec", "multi_agent_v1__spawn_agent", "apply_patch",
                          "shell", "local_shell", "computer"]
    assert sent["exec"]["parameters"]["properties"]["input"]["pattern"] == "^([a-z]+ [0-9]+)$"
    assert sent["multi_agent_v1__spawn_agent"]["parameters"] == NAMESPACE["tools"][0][
        "parameters"]


def test_a_named_tool_choice_forces_its_function(client: OpenAI,
                                                 scripted: ScriptedUpstream) -> None:
    model = scripted.play(calls_script(("exec", '{"input": "a 1"}')))
    response = client.responses.create(model=model, input="go", tools=TOOLS,  # type: ignore[arg-type]
                                       tool_choice={"type": "custom", "name": "exec"})
    assert response.output[0].type == "custom_tool_call"
    assert scripted.last_request(model)["tool_choice"] == {"type": "function",
                                                           "function": {"name": "exec"}}


def _check_replayed(sent: dict[str, Any], calls: list[dict[str, Any]]) -> None:
    """The upstream read every call as an assistant tool call, each answered by its result."""
    messages = sent["messages"]
    assistant = next(m for m in messages if m.get("tool_calls"))
    assert [(c["id"], c["function"]["name"]) for c in assistant["tool_calls"]] == [
        (f"call_{n}", function) for n, (function, _, _, _) in enumerate(KINDS)]
    for call, (_, arguments, _, _) in zip(assistant["tool_calls"], KINDS, strict=True):
        said, expected = json.loads(call["function"]["arguments"]), json.loads(arguments)
        assert {key: said.get(key) for key in expected} == expected  # (+ defaults: `env`)
    results = [m for m in messages if m["role"] == "tool"]
    assert [(m["tool_call_id"], m["content"]) for m in results] == [
        (item["call_id"], OUTPUTS[item["type"]][1]) for item in calls]
    assert messages.index(assistant) + 1 == messages.index(results[0])
    # Chat tool results hold text only: the screenshot follows them as the user's.
    after = messages[messages.index(results[-1]) + 1]
    assert after["role"] == "user" and after["content"][1:] == [SCREENSHOT]


def test_outputs_round_trip_with_previous_response_id(client_any_db: OpenAI,
                                                      scripted: ScriptedUpstream) -> None:
    model = scripted.play(calls_script(*[(function, arguments) for function, arguments, _, _
                                         in KINDS]), text_script("all done"))
    events = streamed_events(client_any_db, model=model, input="do it all", tools=TOOLS)
    first = events[-1]["response"]
    assert [item["type"] for item in first["output"]] == [kind[2] for kind in KINDS]
    # A missing output is refused before anything reaches the model.
    with pytest.raises(openai.BadRequestError) as refused:
        client_any_db.responses.create(model=model, previous_response_id=first["id"],
                                       input=[_output_for(first["output"][0])], tools=TOOLS)  # type: ignore[arg-type, list-item]
    assert refused.value.body["param"] == "input"  # type: ignore[index]
    assert "No tool output found for function call call_1" in refused.value.message
    answer = client_any_db.responses.create(
        model=model, previous_response_id=first["id"], tools=TOOLS,  # type: ignore[arg-type]
        input=[_output_for(item) for item in first["output"]])  # type: ignore[misc]
    assert answer.output_text == "all done"
    _check_replayed(scripted.last_request(model), first["output"])
    listed = client_any_db.responses.input_items.list(answer.id, order="asc")
    assert [item.type for item in listed.data] == [f"{kind[2]}_output" for kind in KINDS]


def test_outputs_round_trip_stateless(client: OpenAI, scripted: ScriptedUpstream) -> None:
    """Codex's way: `store: false`, the whole history sent back each turn."""
    model = scripted.play(calls_script(*[(function, arguments) for function, arguments, _, _
                                         in KINDS]), text_script("all done"))
    first = client.responses.create(model=model, input="do it all", tools=TOOLS, store=False)  # type: ignore[arg-type]
    calls = [item.model_dump(mode="json", exclude_none=True) for item in first.output]
    history = [{"role": "user", "content": "do it all"}, *calls,
               *[_output_for(item) for item in calls]]
    answer = client.responses.create(model=model, input=history, tools=TOOLS, store=False)  # type: ignore[arg-type]
    assert answer.output_text == "all done"
    _check_replayed(scripted.last_request(model), calls)


def test_an_output_without_its_call_is_a_400(client: OpenAI, scripted: ScriptedUpstream) -> None:
    model = scripted.play(text_script("x"))
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model=model, tools=TOOLS, input=[  # type: ignore[arg-type]
            {"role": "user", "content": "hi"},
            {"type": "custom_tool_call_output", "call_id": "call_nope", "output": "x"}])
    assert refused.value.body["param"] == "input[1]"  # type: ignore[index]
    assert "custom tool call output with call_id call_nope" in refused.value.message


def test_llama_cpp_enforces_a_custom_tools_regex(client: OpenAI) -> None:
    """The real engine: the random tiny model, forced to call the custom tool, can only write
    an input its regex allows (llama.cpp constrains the JSON schema's `pattern`)."""
    tool = {"type": "custom", "name": "ticket",
            "format": {"type": "grammar", "syntax": "regex",
                       "definition": "[A-Z]{2,3}-[0-9]{1,4}"}}
    for _ in range(3):
        events = streamed_events(client, model=LLAMA_MODEL, input="Open a ticket.",
                                 tools=[tool], tool_choice={"type": "custom", "name": "ticket"})
        (item,) = [item for item in events[-1]["response"]["output"]
                   if item["type"] == "custom_tool_call"]
        assert item["name"] == "ticket"
        assert re.fullmatch(r"[A-Z]{2,3}-[0-9]{1,4}", item["input"]), item["input"]
