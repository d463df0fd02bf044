"""A native Responses upstream (`kind = "openai-responses"`), through a real responsa process,
driven by the official `openai` SDK against a scripted Responses server — and once against
llama.cpp's own `/v1/responses`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import orjson
import pytest
from openai import OpenAI

from responsa.providers.base import ModelRequest
from responsa.providers.deltas import Finish, ToolCallDelta
from responsa.providers.responses_translation import EventDecoder, build_responses_body
from tests.conftest import sdk_client
from tests.support.asgi import running
from tests.support.llama_server import LlamaServer
from tests.support.responsa_server import RunningResponsa, serving
from tests.support.scripted_responses import (
    ResponsesScript,
    ScriptedResponses,
    function_call,
    message,
    opening,
    reasoning,
    script,
    text_script,
    usage,
)
from tests.support.scripted_upstream import Drop
from tests.support.sdk import streamed_events

WEATHER: dict[str, Any] = {
    "type": "function", "name": "weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    "strict": False}


@pytest.fixture(scope="module")
def upstream() -> Iterator[ScriptedResponses]:
    with running(ScriptedResponses("native")) as scripted:
        yield scripted


@pytest.fixture(scope="module")
def native_server(tmp_path_factory: pytest.TempPathFactory, llama: LlamaServer,
                  upstream: ScriptedResponses) -> Iterator[RunningResponsa]:
    tmp = tmp_path_factory.mktemp("responsa-native")
    with serving(tmp, f"""
embedded_engine = false
heartbeat_seconds = 0.5

[providers.native]
kind = "openai-responses"
base_url = "{upstream.base_url}"
api_key = "sk-test"
timeout = 5
capabilities = {{ input_tokens_endpoint = true }}

[providers.llamaresp]
kind = "openai-responses"
base_url = "{llama.base_url}"
timeout = 60
""") as running:
        yield running


@pytest.fixture
def client(native_server: RunningResponsa) -> OpenAI:
    return sdk_client(native_server)



def test_streamed_text_and_the_request_on_the_wire(client: OpenAI,
                                                   upstream: ScriptedResponses) -> None:
    model = upstream.play(text_script("Hel", "lo"))
    events = streamed_events(client, model=model, instructions="Be brief.", input=[
        {"role": "developer", "content": "Answer in English."},
        {"role": "user", "content": "hi"}],
        temperature=0.5, max_output_tokens=64, reasoning={"effort": "low"},
        text={"format": {"type": "json_object"}})
    assert [e["delta"] for e in events if e["type"] == "response.output_text.delta"] == [
        "Hel", "lo"]
    final = events[-1]
    assert final["type"] == "response.completed"
    assert final["response"]["output"][0]["content"][0]["text"] == "Hello"
    assert final["response"]["id"] != "resp_upstream"  # responsa's own, not the upstream's
    sent = upstream.last(model)
    assert sent.path == "/v1/responses"
    assert sent.headers["authorization"] == "Bearer sk-test"
    assert sent.body == {
        "model": model.split("/")[1], "store": False, "stream": True,
        "instructions": "Be brief.", "temperature": 0.5, "max_output_tokens": 64,
        "reasoning": {"effort": "low"}, "text": {"format": {"type": "json_object"}},
        "input": [{"type": "message", "role": "developer", "status": "completed",
                   "content": [{"type": "input_text", "text": "Answer in English."}]},
                  {"type": "message", "role": "user", "status": "completed",
                   "content": [{"type": "input_text", "text": "hi"}]}]}


def test_fields_responsa_does_not_act_on_are_forwarded(client: OpenAI,
                                                       upstream: ScriptedResponses) -> None:
    model = upstream.play(text_script("ok"))
    client.responses.create(
        model=model, input="hi", service_tier="flex", prompt_cache_key="pc-1",
        safety_identifier="user-7", text={"format": {"type": "text"}, "verbosity": "low"},
        extra_body={"client_metadata": {"session": "s1"}})
    sent = upstream.last_request(model)
    assert (sent["service_tier"], sent["prompt_cache_key"], sent["safety_identifier"]) == (
        "flex", "pc-1", "user-7")
    assert sent["text"] == {"format": {"type": "text"}, "verbosity": "low"}
    assert sent["client_metadata"] == {"session": "s1"}


def test_non_streamed_text_with_usage(client: OpenAI, upstream: ScriptedResponses) -> None:
    model = upstream.play(script(message(0, "Hello", " world"),
                                 use=usage(20, 5, cached=8, reasoning=2)))
    response = client.responses.create(model=model, input="hi")
    assert response.status == "completed"
    assert response.output_text == "Hello world"
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (20, 5)
    assert response.usage.input_tokens_details.cached_tokens == 8
    assert response.usage.output_tokens_details.reasoning_tokens == 2
    assert upstream.last_request(model)["stream"] is False


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "non-stream"])
def test_function_call_round_trip_is_stateless_upstream(
        client: OpenAI, upstream: ScriptedResponses, stream: bool) -> None:
    model = upstream.play(script(
        message(0, "Let me check."),
        function_call(1, "call_A", "weather", '{"city":', ' "Paris"}'),
        function_call(2, "call_B", "weather", "{}")))
    params: dict[str, Any] = {"model": model, "input": "Weather in Paris?", "tools": [WEATHER],
                              "tool_choice": "required", "parallel_tool_calls": False}
    if stream:
        final = streamed_events(client, **params)[-1]["response"]
    else:
        final = client.responses.create(**params).model_dump(mode="json")
    assert final["status"] == "completed"
    text, first, second = final["output"]
    assert text["content"][0]["text"] == "Let me check."
    assert (first["type"], first["call_id"], first["name"], first["arguments"]) == (
        "function_call", "call_A", "weather", '{"city": "Paris"}')
    assert (second["call_id"], second["arguments"]) == ("call_B", "{}")
    sent = upstream.last_request(model)
    assert sent["tools"] == [WEATHER]
    assert (sent["tool_choice"], sent["parallel_tool_calls"]) == ("required", False)

    answer = upstream.play(text_script("Sunny."))
    follow = client.responses.create(
        model=answer, previous_response_id=final["id"], tools=[WEATHER],
        input=[{"type": "function_call_output", "call_id": "call_A", "output": "18C"},
               {"type": "function_call_output", "call_id": "call_B", "output": "?"}])
    assert follow.output_text == "Sunny."
    sent = upstream.last_request(answer)
    # The whole chain, resolved by responsa: no previous_response_id, no ids, nothing stored.
    assert "previous_response_id" not in sent and sent["store"] is False
    assert all("id" not in item for item in sent["input"])
    assert [(item["type"], item.get("role") or item.get("call_id")) for item in sent["input"]] == [
        ("message", "user"), ("message", "assistant"), ("function_call", "call_A"),
        ("function_call", "call_B"), ("function_call_output", "call_A"),
        ("function_call_output", "call_B")]
    assert sent["input"][1]["content"][0]["text"] == "Let me check."
    assert sent["input"][2]["arguments"] == '{"city": "Paris"}'


@pytest.mark.parametrize("summary", [False, True], ids=["reasoning-text", "summary"])
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "non-stream"])
def test_reasoning_becomes_a_reasoning_item(client: OpenAI, upstream: ScriptedResponses,
                                            stream: bool, summary: bool) -> None:
    model = upstream.play(script(reasoning(0, "Let me ", "think.", summary=summary),
                                 message(1, "42")))
    params: dict[str, Any] = {"model": model, "input": "x", "reasoning": {"effort": "medium"}}
    kind = "summary_text" if summary else "reasoning_text"
    if stream:
        events = streamed_events(client, **params)
        final = events[-1]["response"]
        assert [e["delta"] for e in events if e["type"] == f"response.{kind}.delta".replace(
            "summary_text", "reasoning_summary_text")] == ["Let me ", "think."]
    else:
        final = client.responses.create(**params).model_dump(mode="json")
    thought, answer = final["output"]
    assert thought["type"] == "reasoning"
    parts = [{"type": kind, "text": "Let me think."}]
    assert (thought["summary"], thought["content"]) == ((parts, []) if summary else ([], parts))
    assert thought.get("encrypted_content") is None  # not asked for
    assert answer["content"][0]["text"] == "42"

    follow = upstream.play(text_script("ok"))
    client.responses.create(model=follow, previous_response_id=final["id"], input="and?")
    # Reasoning from an earlier turn is not replayed (no encrypted_content to send back).
    assert [item["type"] for item in upstream.last_request(follow)["input"]] == [
        "message", "message", "message"]


@pytest.mark.parametrize(("reason", "incomplete"), [
    ("max_output_tokens", "max_output_tokens"), ("content_filter", "content_filter")])
def test_incomplete(client: OpenAI, upstream: ScriptedResponses, reason: str,
                    incomplete: str) -> None:
    model = upstream.play(script(message(0, "cut"), status="incomplete", reason=reason))
    events = streamed_events(client, model=model, input="x")
    assert events[-1]["type"] == "response.incomplete"
    response = client.responses.create(model=model, input="x")
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == incomplete


def test_refusal(client: OpenAI, upstream: ScriptedResponses) -> None:
    model = upstream.play(script(message(0, "I can't", " help.", refusal=True)))
    events = streamed_events(client, model=model, input="x")
    part = events[-1]["response"]["output"][0]["content"][0]
    assert part == {"type": "refusal", "refusal": "I can't help."}


def test_logprobs_are_relayed(client: OpenAI, upstream: ScriptedResponses) -> None:
    entries = [{"token": token, "logprob": -0.5, "bytes": list(token.encode()),
                "top_logprobs": [{"token": token, "logprob": -0.5,
                                  "bytes": list(token.encode())}]} for token in ("Hi", "!")]
    model = upstream.play(script(message(0, "Hi", "!", logprobs=entries)))
    response = client.responses.create(model=model, input="x", top_logprobs=1,
                                       include=["message.output_text.logprobs"])
    logprobs = response.model_dump(mode="json")["output"][0]["content"][0]["logprobs"]
    assert [entry["token"] for entry in logprobs] == ["Hi", "!"]
    sent = upstream.last_request(model)
    assert sent["include"] == ["message.output_text.logprobs"] and sent["top_logprobs"] == 1


def test_upstream_rejection_is_a_client_error(client: OpenAI,
                                              upstream: ScriptedResponses) -> None:
    model = upstream.play(ResponsesScript(status=400, error={"error": {
        "message": "Unknown parameter: 'input[0].foo'.", "type": "invalid_request_error",
        "param": "input[0].foo", "code": "unknown_parameter"}}))
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model=model, input="x")
    assert "input[0].foo" in caught.value.message


def test_context_overflow_is_context_length_exceeded(client: OpenAI,
                                                     upstream: ScriptedResponses) -> None:
    model = upstream.play(ResponsesScript(status=400, error={"error": {
        "message": "Your input exceeds the context window of this model.",
        "type": "invalid_request_error", "param": "input", "code": "context_length_exceeded"}}))
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model=model, input="x")
    assert caught.value.code == "context_length_exceeded"


@pytest.mark.parametrize("failing", [
    ResponsesScript(status=500, error={"error": {"message": "Overloaded", "type": "server_error",
                                                 "param": None, "code": "server_error"}}),
    ResponsesScript([*opening(), *message(0, "half")[0][:3],
                     {"type": "error", "code": "server_error", "message": "Overloaded",
                      "param": None}]),
    ResponsesScript([*opening(), {"type": "response.failed", "response": {
        "id": "resp_upstream", "object": "response", "created_at": 0, "model": "scripted",
        "status": "failed", "output": [], "incomplete_details": None, "usage": None,
        "error": {"code": "server_error", "message": "Overloaded"}}}]),
    ResponsesScript([*opening(), *message(0, "half")[0][:3], Drop()]),
    ResponsesScript([*opening(), *message(0, "no end")[0]]),
], ids=["http-500", "error-event", "response-failed", "dropped", "no-terminal-event"])
def test_upstream_failures_end_as_failed_responses(client: OpenAI, upstream: ScriptedResponses,
                                                   failing: ResponsesScript) -> None:
    model = upstream.play(failing)
    failed = streamed_events(client, model=model, input="x")[-1]
    assert failed["type"] == "response.failed"
    assert "Provider 'native'" in failed["response"]["error"]["message"]
    response = client.responses.create(model=model, input="x")
    assert response.status == "failed"


def test_input_tokens_are_counted_upstream(client: OpenAI,
                                           upstream: ScriptedResponses) -> None:
    model = upstream.play(text_script("x"))
    result = client.responses.input_tokens.count(model=model, input="hi",
                                                 instructions="Be brief.", tools=[WEATHER])
    assert result.input_tokens == upstream.token_count
    sent = upstream.last(model, "/v1/responses/input_tokens").body
    assert sent == {"model": model.split("/")[1], "instructions": "Be brief.",
                    "input": [{"type": "message", "role": "user", "status": "completed",
                               "content": [{"type": "input_text", "text": "hi"}]}],
                    "tools": [WEATHER], "tool_choice": "auto", "parallel_tool_calls": True}


def test_models_are_listed(client: OpenAI, upstream: ScriptedResponses) -> None:
    model = upstream.play(text_script("x"))
    assert model in {entry.id for entry in client.models.list()}


def test_llama_cpp_native_responses_endpoint(client: OpenAI, llama: LlamaServer) -> None:
    """llama.cpp's own `/v1/responses`, statelessly, in both modes."""
    model = f"llamaresp/{llama.alias}"
    response = client.responses.create(model=model, input="Say hi.", max_output_tokens=16)
    assert response.status in ("completed", "incomplete")
    assert response.output_text
    assert response.usage is not None and response.usage.output_tokens > 0
    events = streamed_events(client, model=model, input="Say hi.", max_output_tokens=16)
    assert events[-1]["type"] in ("response.completed", "response.incomplete"), events[-1]
    assert any(e["type"] == "response.output_text.delta" for e in events)
    # Asking for encrypted reasoning goes up as `include`; llama.cpp takes it.
    stateless = client.responses.create(model=model, input="Say hi.", max_output_tokens=16,
                                        store=False, include=["reasoning.encrypted_content"])
    assert stateless.status in ("completed", "incomplete")


# -- the sans-I/O mapping ----------------------------------------------------------------------


def test_body_drops_ids_and_reasoning_and_keeps_unknown_item_fields() -> None:
    body = build_responses_body(ModelRequest(model="m", stream=False, input=[
        {"type": "message", "id": "msg_1", "role": "user", "content": "q"},
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {"type": "function_call", "id": "fc_1", "call_id": "c", "name": "f", "arguments": "{}",
         "status": "completed"},
        {"type": "custom_tool_call", "call_id": "d", "name": "g", "input": "x"}]))
    assert body == {"model": "m", "store": False, "stream": False, "input": [
        {"type": "message", "role": "user", "content": "q"},
        {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}",
         "status": "completed"},
        {"type": "custom_tool_call", "call_id": "d", "name": "g", "input": "x"}]}


def test_calls_without_output_index_or_argument_deltas() -> None:
    """llama.cpp leaves out `output_index`; some engines send arguments only when done."""
    decoder = EventDecoder("p")
    item = {"type": "function_call", "id": "fc_x", "call_id": "c", "name": "f", "arguments": ""}
    events = [{"type": "response.output_item.added", "item": item},
              {"type": "response.output_item.done", "item": {**item, "arguments": '{"a":1}'}},
              {"type": "response.completed", "response": {"status": "completed", "output": []}}]
    deltas = [delta for event in events for delta in decoder.decode(orjson.dumps(event))]
    assert deltas == [ToolCallDelta(index=0, name="f", call_id="c"),
                      ToolCallDelta(index=0, arguments='{"a":1}'), Finish("tool_calls")]
    assert decoder.finished


CODEX_TOOLS: list[dict[str, Any]] = [
    {"type": "custom", "name": "exec", "format": {"type": "text"}},
    {"type": "namespace", "name": "agents", "description": "Sub-agents.",
     "tools": [{"type": "function", "name": "spawn", "parameters": {"type": "object"}}]},
    {"type": "apply_patch"}]


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "non-stream"])
def test_codex_tool_kinds_pass_through(client: OpenAI, upstream: ScriptedResponses,
                                       stream: bool) -> None:
    """Codex's tool declarations go up unchanged, and the upstream's own custom, namespaced
    and apply_patch calls reach the client as the same items."""
    custom = {"type": "custom_tool_call", "id": "ctc_up0", "call_id": "call_C", "name": "exec",
              "input": "ls -la", "status": "completed"}
    spawn = {"type": "function_call", "id": "fc_up1", "call_id": "call_N", "name": "spawn",
             "namespace": "agents", "arguments": "{}", "status": "completed"}
    patch = {"type": "apply_patch_call", "id": "apc_up2", "call_id": "call_P",
             "status": "completed", "operation": {"type": "delete_file", "path": "old.txt"}}
    ids = {"item_id": "ctc_up0", "output_index": 0}
    events = [
        {"type": "response.output_item.added", "output_index": 0,
         "item": {**custom, "input": "", "status": "in_progress"}},
        {"type": "response.custom_tool_call_input.delta", **ids, "delta": "ls "},
        {"type": "response.custom_tool_call_input.delta", **ids, "delta": "-la"},
        {"type": "response.custom_tool_call_input.done", **ids, "input": "ls -la"},
        {"type": "response.output_item.done", "output_index": 0, "item": custom},
        {"type": "response.output_item.added", "output_index": 1,
         "item": {**spawn, "arguments": "", "status": "in_progress"}},
        {"type": "response.output_item.done", "output_index": 1, "item": spawn},
        {"type": "response.output_item.added", "output_index": 2,
         "item": {**patch, "status": "in_progress"}},
        {"type": "response.output_item.done", "output_index": 2, "item": patch}]
    model = upstream.play(script((events, custom), ([], spawn), ([], patch)))
    params: dict[str, Any] = {"model": model, "input": "go", "tools": CODEX_TOOLS}
    if stream:
        streamed = streamed_events(client, **params)
        final = streamed[-1]["response"]
        assert [e["delta"] for e in streamed
                if e["type"] == "response.custom_tool_call_input.delta"] == ["ls ", "-la"]
    else:
        final = client.responses.create(**params).model_dump(mode="json", exclude_none=True)
    made = [{key: value for key, value in item.items() if key != "id"}
            for item in final["output"]]
    assert made == [{key: value for key, value in item.items() if key != "id"}
                    for item in (custom, spawn, patch)]
    assert upstream.last_request(model)["tools"] == CODEX_TOOLS


DEFERRED: dict[str, Any] = {**WEATHER, "name": "forecast", "defer_loading": True}
SEARCH_TOOLS: list[dict[str, Any]] = [WEATHER, DEFERRED, {"type": "tool_search"}]


def _whole(index: int, item: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """An item the upstream adds whole (its own tool search's items)."""
    return [{"type": "response.output_item.added", "output_index": index,
             "item": {**item, "status": "in_progress"}},
            {"type": "response.output_item.done", "output_index": index, "item": item}], item


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "non-stream"])
def test_an_upstreams_own_tool_search_is_relayed(client: OpenAI, upstream: ScriptedResponses,
                                                 stream: bool) -> None:
    """`tool_search` and deferred tools go up unchanged; the upstream's search items reach
    the client under responsa's ids, and go back up (without ids) on the next turn."""
    call = {"type": "tool_search_call", "id": "tsc_up0", "call_id": "call_S",
            "execution": "server", "arguments": {"query": "forecast"}, "status": "completed"}
    output = {"type": "tool_search_output", "id": "tso_up1", "call_id": "call_S",
              "execution": "server", "status": "completed", "tools": [DEFERRED]}
    model = upstream.play(script(_whole(0, call), _whole(1, output), message(2, "Rain.")))
    params: dict[str, Any] = {"model": model, "input": "Forecast?", "tools": SEARCH_TOOLS}
    if stream:
        final = streamed_events(client, **params)[-1]["response"]
    else:
        final = client.responses.create(**params).model_dump(mode="json", exclude_none=True)
    relayed, loaded, said = final["output"]
    assert relayed["id"].startswith("tsc_") and loaded["id"].startswith("tso_")
    assert {**relayed, "id": call["id"]} == call and {**loaded, "id": output["id"]} == output
    assert said["type"] == "message"
    assert upstream.last_request(model)["tools"] == SEARCH_TOOLS
    follow = upstream.play(text_script("ok"))
    client.responses.create(model=follow, previous_response_id=final["id"], input="and?",
                            tools=SEARCH_TOOLS)  # type: ignore[arg-type]
    sent = upstream.last_request(follow)
    assert sent["input"][1:3] == [{k: v for k, v in item.items() if k != "id"}
                                  for item in (call, output)]


def test_an_upstreams_client_search_call_ends_the_response(client: OpenAI,
                                                           upstream: ScriptedResponses) -> None:
    call = {"type": "tool_search_call", "id": "tsc_up0", "call_id": "call_C",
            "execution": "client", "arguments": {"query": "x"}, "status": "completed"}
    model = upstream.play(script(_whole(0, call)))
    tools = [{"type": "tool_search", "execution": "client"}]
    events = streamed_events(client, model=model, input="go", tools=tools)
    (item,) = events[-1]["response"]["output"]
    assert {**item, "id": call["id"]} == call
    assert upstream.last_request(model)["tools"] == tools
