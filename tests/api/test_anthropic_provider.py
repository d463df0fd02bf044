"""An Anthropic Messages upstream (`kind = "anthropic-messages"`), through a real responsa
process, driven by the official `openai` SDK against a scripted Messages server."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from openai import OpenAI

from responsa.errors import InvalidRequestError
from responsa.providers.anthropic_translation import build_messages_body
from responsa.providers.base import ModelRequest
from tests.conftest import sdk_client
from tests.support.asgi import running
from tests.support.responsa_server import RunningResponsa, serving, start_responsa
from tests.support.scripted_anthropic import (
    MessagesScript,
    ScriptedAnthropic,
    block_delta,
    block_start,
    block_stop,
    message_end,
    message_start,
    text_block,
    text_script,
    thinking_block,
    tool_block,
)
from tests.support.scripted_upstream import Drop
from tests.support.sdk import streamed_events

WEATHER: dict[str, Any] = {
    "type": "function", "name": "weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}


@pytest.fixture(scope="module")
def anthropic() -> Iterator[ScriptedAnthropic]:
    with running(ScriptedAnthropic("claude")) as upstream:
        yield upstream


@pytest.fixture(scope="module")
def claude_server(tmp_path_factory: pytest.TempPathFactory,
                  anthropic: ScriptedAnthropic) -> Iterator[RunningResponsa]:
    tmp = tmp_path_factory.mktemp("responsa-anthropic")
    with serving(tmp, f"""
embedded_engine = false
heartbeat_seconds = 0.5

[providers.claude]
kind = "anthropic-messages"
base_url = "{anthropic.base_url}"
api_key = "sk-ant-test"
timeout = 5
""") as running:
        yield running


@pytest.fixture
def client(claude_server: RunningResponsa) -> OpenAI:
    return sdk_client(claude_server)



def test_streamed_text_and_the_request_on_the_wire(client: OpenAI,
                                                   anthropic: ScriptedAnthropic) -> None:
    model = anthropic.play(text_script("Hel", "lo"))
    events = streamed_events(client, model=model, instructions="Be brief.", input=[
        {"role": "developer", "content": "Answer in English."},
        {"role": "user", "content": "hi"},
        {"role": "user", "content": [{"type": "input_text", "text": "there"}]}],
        temperature=0.5)
    assert [e["delta"] for e in events if e["type"] == "response.output_text.delta"] == [
        "Hel", "lo"]
    final = events[-1]
    assert final["type"] == "response.completed"
    assert final["response"]["output"][0]["content"][0]["text"] == "Hello"
    sent = anthropic.last(model)
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == "sk-ant-test"
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.body == {
        "model": model.split("/")[1], "max_tokens": 4096, "stream": True, "temperature": 0.5,
        "system": "Be brief.\n\nAnswer in English.",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"},
                                                  {"type": "text", "text": "there"}]}]}


def test_non_streamed_text(client: OpenAI, anthropic: ScriptedAnthropic) -> None:
    model = anthropic.play(text_script("Hello", " world"))
    response = client.responses.create(model=model, input="hi", max_output_tokens=64)
    assert response.status == "completed"
    assert response.output_text == "Hello world"
    sent = anthropic.last_request(model)
    assert "stream" not in sent and sent["max_tokens"] == 64


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "non-stream"])
def test_tool_use_round_trip(client: OpenAI, anthropic: ScriptedAnthropic, stream: bool) -> None:
    model = anthropic.play(MessagesScript([
        message_start(), *text_block(0, "Let me check."),
        *tool_block(1, "toolu_01A", "weather", '{"city":', ' "Paris"}'),
        *tool_block(2, "toolu_01B", "weather"),  # no input streamed at all
        *message_end("tool_use")]))
    params: dict[str, Any] = {"model": model, "input": "Weather in Paris?", "tools": [WEATHER],
                              "tool_choice": "required", "parallel_tool_calls": False}
    if stream:
        final = streamed_events(client, **params)[-1]["response"]
    else:
        final = client.responses.create(**params).model_dump(mode="json")
    assert final["status"] == "completed"
    message, first, second = final["output"]
    assert message["content"][0]["text"] == "Let me check."
    assert (first["type"], first["call_id"], first["name"]) == (
        "function_call", "toolu_01A", "weather")
    # Streamed: the fragments as sent; whole: the Message's `input` serialized.
    assert first["arguments"] == ('{"city": "Paris"}' if stream else '{"city":"Paris"}')
    assert (second["call_id"], second["arguments"]) == ("toolu_01B", "{}")
    sent = anthropic.last_request(model)
    assert sent["tools"] == [{"name": "weather", "description": "Weather for a city",
                              "input_schema": WEATHER["parameters"]}]
    assert sent["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}

    answer = anthropic.play(text_script("Sunny."))
    follow = client.responses.create(**{
        "model": answer, "previous_response_id": final["id"], "tools": [WEATHER],
        "tool_choice": {"type": "function", "name": "weather"},
        "input": [{"type": "function_call_output", "call_id": "toolu_01A", "output": "18C"},
                  {"type": "function_call_output", "call_id": "toolu_01B", "output": "?"}]})
    assert follow.output_text == "Sunny."
    sent = anthropic.last_request(answer)
    assert sent["tool_choice"] == {"type": "tool", "name": "weather"}
    assert sent["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]},
        {"role": "assistant", "content": [
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "toolu_01A", "name": "weather",
             "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "toolu_01B", "name": "weather", "input": {}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "18C"},
            {"type": "tool_result", "tool_use_id": "toolu_01B", "content": "?"}]}]


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "non-stream"])
def test_thinking_becomes_a_reasoning_item(client: OpenAI, anthropic: ScriptedAnthropic,
                                           stream: bool) -> None:
    model = anthropic.play(MessagesScript([
        message_start(), *thinking_block(0, "Let me ", "think."), *text_block(1, "42"),
        *message_end()]))
    params: dict[str, Any] = {"model": model, "input": "x", "reasoning": {"effort": "medium"}}
    if stream:
        events = streamed_events(client, **params)
        final = events[-1]["response"]
        assert [e["delta"] for e in events if e["type"] == "response.reasoning_text.delta"] == [
            "Let me ", "think."]
    else:
        final = client.responses.create(**params).model_dump(mode="json")
    reasoning, message = final["output"]
    assert reasoning["type"] == "reasoning"
    assert reasoning["content"] == [{"type": "reasoning_text", "text": "Let me think."}]
    assert message["content"][0]["text"] == "42"
    sent = anthropic.last_request(model)
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 4096}
    assert sent["max_tokens"] == 4096 + 4096


@pytest.mark.parametrize(("stop_reason", "status", "incomplete"), [
    ("end_turn", "completed", None),
    ("stop_sequence", "completed", None),
    ("max_tokens", "incomplete", "max_output_tokens"),
    ("refusal", "incomplete", "content_filter"),
])
def test_stop_reasons(client: OpenAI, anthropic: ScriptedAnthropic, stop_reason: str,
                      status: str, incomplete: str | None) -> None:
    model = anthropic.play(text_script("cut", stop_reason=stop_reason))
    events = streamed_events(client, model=model, input="x")
    assert events[-1]["response"]["status"] == status
    response = client.responses.create(model=model, input="x")
    assert response.status == status
    reason = response.incomplete_details.reason if response.incomplete_details else None
    assert reason == incomplete


def test_usage_counts_cached_input(client: OpenAI, anthropic: ScriptedAnthropic) -> None:
    model = anthropic.play(MessagesScript([
        message_start(10, cache_read=50, cache_creation=5), *text_block(0, "x"),
        *message_end(output_tokens=3)]))
    for stream in (True, False):
        if stream:
            usage = streamed_events(client, model=model, input="x")[-1]["response"]["usage"]
        else:
            response = client.responses.create(model=model, input="x")
            assert response.usage is not None
            usage = response.usage.model_dump(mode="json")
        assert usage["input_tokens"] == 65
        assert usage["input_tokens_details"]["cached_tokens"] == 50
        assert usage["output_tokens"] == 3
        assert usage["total_tokens"] == 68


def test_images_become_image_blocks(client: OpenAI, anthropic: ScriptedAnthropic) -> None:
    model = anthropic.play(text_script("a cat"))
    png = base64.b64encode(b"\x89PNG fake").decode()
    client.responses.create(model=model, input=[{"role": "user", "content": [
        {"type": "input_text", "text": "what is it?"},
        {"type": "input_image", "image_url": f"data:image/png;base64,{png}", "detail": "auto"},
        {"type": "input_image", "image_url": "https://example.com/cat.jpg", "detail": "auto"}]}])
    content = anthropic.last_request(model)["messages"][0]["content"]
    assert content[1:] == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}]


def test_json_schema_format_is_refused(client: OpenAI, anthropic: ScriptedAnthropic) -> None:
    model = anthropic.play(text_script("{}"))
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model=model, input="x", text={"format": {
            "type": "json_schema", "name": "x", "schema": {"type": "object"}}})
    assert caught.value.param == "text.format"


def test_upstream_rejection_is_a_client_error(client: OpenAI,
                                              anthropic: ScriptedAnthropic) -> None:
    model = anthropic.play(MessagesScript(status=400, error={"type": "error", "error": {
        "type": "invalid_request_error", "message": "messages.0: bad block"}}))
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model=model, input="x")
    assert "bad block" in caught.value.message


def test_prompt_too_long_is_context_length_exceeded(client: OpenAI,
                                                    anthropic: ScriptedAnthropic) -> None:
    model = anthropic.play(MessagesScript(status=400, error={"type": "error", "error": {
        "type": "invalid_request_error",
        "message": "prompt is too long: 210000 tokens > 200000 maximum"}}))
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model=model, input="x")
    assert caught.value.code == "context_length_exceeded"


@pytest.mark.parametrize("script", [
    MessagesScript(status=529, error={"type": "error", "error": {
        "type": "overloaded_error", "message": "Overloaded"}}),
    MessagesScript([message_start(), *text_block(0, "half"),
                    {"type": "error", "error": {"type": "overloaded_error",
                                                "message": "Overloaded"}}]),
    MessagesScript([message_start(), block_start(0, {"type": "text", "text": ""}),
                    block_delta(0, {"type": "text_delta", "text": "half"}), Drop()]),
    MessagesScript([message_start(), *text_block(0, "no stop"), block_stop(0)]),
], ids=["http-529", "error-event", "dropped", "no-message-stop"])
def test_upstream_failures_end_as_failed_responses(client: OpenAI, anthropic: ScriptedAnthropic,
                                                   script: MessagesScript) -> None:
    model = anthropic.play(script)
    failed = streamed_events(client, model=model, input="x")[-1]
    assert failed["type"] == "response.failed"
    assert "Provider 'claude'" in failed["response"]["error"]["message"]
    if script.status == 200 and isinstance(script.events[-1], dict):
        assert "Overloaded" in failed["response"]["error"]["message"] or (
            "message_stop" in failed["response"]["error"]["message"])
    response = client.responses.create(model=model, input="x")
    assert response.status == "failed"


def test_input_tokens_are_counted_upstream(client: OpenAI,
                                           anthropic: ScriptedAnthropic) -> None:
    model = anthropic.play(text_script("x"))
    params: dict[str, Any] = {"model": model, "input": "hi", "instructions": "Be brief.",
                              "tools": [WEATHER]}
    result = client.responses.input_tokens.count(**params)
    assert result.input_tokens == anthropic.token_count
    sent = anthropic.last(model, "/v1/messages/count_tokens").body
    assert sent == {"model": model.split("/")[1], "system": "Be brief.",
                    "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
                    "tools": [{"name": "weather", "description": "Weather for a city",
                               "input_schema": WEATHER["parameters"]}],
                    "tool_choice": {"type": "auto"}}


def test_models_are_listed(client: OpenAI, anthropic: ScriptedAnthropic) -> None:
    model = anthropic.play(text_script("x"))
    assert model in {entry.id for entry in client.models.list()}


def test_unknown_kind_names_the_known_ones(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('embedded_engine = false\n[providers.x]\nkind = "anthropic"\n')
    with pytest.raises(RuntimeError, match="anthropic-messages"):
        start_responsa("--config", str(config), "--database",
                       f"sqlite:///{tmp_path}/db.sqlite", log_path=tmp_path / "log", timeout=10)


# -- the sans-I/O mapping, for shapes a round trip through the SDK cannot easily produce -----


def _body(items: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return build_messages_body(ModelRequest(model="m", input=items, **fields))


def test_tool_results_lead_their_turn_and_roles_alternate() -> None:
    body = _body([
        {"type": "message", "role": "user", "content": "q"},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": ""},
        {"type": "reasoning", "summary": []},
        {"type": "message", "role": "user", "content": "also this"},
        {"type": "function_call_output", "call_id": "c1",
         "output": [{"type": "input_text", "text": "done"}]},
        {"type": "message", "role": "system", "content": [{"type": "input_text", "text": "S"}]},
    ], instructions="I")
    assert body["system"] == "I\n\nS"
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "q"}]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "c1", "name": "f",
                                           "input": {}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "c1",
             "content": [{"type": "text", "text": "done"}]},
            {"type": "text", "text": "also this"}]}]


def test_thinking_budget_fits_under_max_output_tokens() -> None:
    body = _body([], reasoning={"effort": "high"}, max_output_tokens=2000)
    assert body["max_tokens"] == 2000
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 1999}
    assert "thinking" not in _body([], reasoning={"effort": "none"})
    with pytest.raises(InvalidRequestError) as caught:
        _body([], reasoning={"effort": "low"}, max_output_tokens=512)
    assert caught.value.param == "max_output_tokens"


@pytest.mark.parametrize(("choice", "parallel", "expected"), [
    ("auto", True, {"type": "auto"}),
    ("none", False, {"type": "none"}),
    ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
    ({"type": "allowed_tools", "mode": "required", "tools": [{"type": "function", "name": "f"}]},
     True, {"type": "any"}),
])
def test_tool_choice(choice: Any, parallel: bool, expected: dict[str, Any]) -> None:
    tools = [{"type": "function", "name": name} for name in ("f", "g")]
    body = _body([], tools=tools, tool_choice=choice, parallel_tool_calls=parallel)
    assert body["tool_choice"] == expected
    names = [tool["name"] for tool in body["tools"]]
    assert names == (["f"] if isinstance(choice, dict) else ["f", "g"])


def test_files_become_documents() -> None:
    pdf = base64.b64encode(b"%PDF-1.4").decode()
    note = base64.b64encode("hé".encode()).decode()
    body = _body([{"type": "message", "role": "user", "content": [
        {"type": "input_file", "filename": "a.pdf",
         "file_data": f"data:application/pdf;base64,{pdf}"},
        {"type": "input_file", "file_data": f"data:text/plain;base64,{note}"}]}])
    assert body["messages"][0]["content"] == [
        {"type": "document", "title": "a.pdf",
         "source": {"type": "base64", "media_type": "application/pdf", "data": pdf}},
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "hé"}}]


@pytest.mark.parametrize(("fields", "param"), [
    ({"text_format": {"type": "json_object"}}, "text.format"),
    ({"logprobs": True}, "include"),
    ({"presence_penalty": 0.5}, "presence_penalty"),
    ({"input": [{"type": "function_call", "call_id": "c", "name": "f", "arguments": "[1]"}]},
     "input[0].arguments"),
    ({"input": [{"type": "message", "role": "user", "content": [
        {"type": "input_image", "image_url": "data:image/tiff;base64,AAAA"}]}]},
     "input[0].content[0]"),
])
def test_unsupported_requests_name_their_param(fields: dict[str, Any], param: str) -> None:
    items = fields.pop("input", [])
    with pytest.raises(InvalidRequestError) as caught:
        _body(items, **fields)
    assert caught.value.param == param


def test_a_client_tool_search_round_trip(client: OpenAI, anthropic: ScriptedAnthropic) -> None:
    """As on chat engines: the search is a tool, its call an item, and what the client's answer
    loads is offered on the next turn (the deferred tool only then)."""
    deferred = {**WEATHER, "defer_loading": True}
    tools = [{"type": "tool_search", "execution": "client"}, deferred]
    model = anthropic.play(MessagesScript([
        message_start(), *tool_block(0, "toolu_S", "tool_search", '{"query": "weather"}'),
        *message_end("tool_use")]))
    first = client.responses.create(model=model, input="Weather?", tools=tools)  # type: ignore[arg-type]
    (call,) = first.output
    assert call.model_dump(mode="json", exclude_none=True) == {
        "id": call.id, "type": "tool_search_call", "call_id": "toolu_S",
        "execution": "client", "arguments": {"query": "weather"}, "status": "completed"}
    assert [tool["name"] for tool in anthropic.last_request(model)["tools"]] == ["tool_search"]
    answer = anthropic.play(text_script("Sunny."))
    client.responses.create(model=answer, previous_response_id=first.id, tools=tools,  # type: ignore[arg-type]
                            input=[{"type": "tool_search_output", "call_id": "toolu_S",
                                    "execution": "client", "tools": [deferred]}])  # type: ignore[list-item]
    sent = anthropic.last_request(answer)
    assert [tool["name"] for tool in sent["tools"]] == ["tool_search", "weather"]
    assert sent["messages"][-1] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_S",
         "content": "Tools loaded, callable from now on: weather"}]}
