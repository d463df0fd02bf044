"""The Responses API over a real engine: llama.cpp serving the generated tiny model.

Assertions are about structure (grammar, schemas, tool-call arguments, usage, statuses), never
about the random model's wording.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from openai import OpenAI
from pydantic import BaseModel

from tests.conftest import LLAMA_MODEL
from tests.support.grammar import assert_valid_stream
from tests.support.sdk import streamed_events

WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "name": "get_weather",
    "description": "Get the weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 20}},
                   "required": ["city"], "additionalProperties": False},
    "strict": True,
}



def test_text_answer_non_streaming(client: OpenAI) -> None:
    response = client.responses.create(model=LLAMA_MODEL, input="Say hi", max_output_tokens=200)
    assert response.status == "completed"
    assert response.id.startswith("resp_")
    [message] = response.output
    assert message.type == "message" and message.role == "assistant"
    assert message.status == "completed"
    assert response.output_text
    usage = response.usage
    assert usage is not None and usage.input_tokens > 0 and usage.output_tokens > 0
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert response.model == LLAMA_MODEL and response.store is True
    assert client.responses.retrieve(response.id).model_dump() == response.model_dump()


def test_text_answer_streaming_grammar(client: OpenAI) -> None:
    events = streamed_events(client, model=LLAMA_MODEL, input="Say hi", max_output_tokens=200)
    assert_valid_stream(events)
    assert events[-1]["type"] == "response.completed"
    final = events[-1]["response"]
    assert final["usage"]["output_tokens"] > 0
    stored = client.responses.retrieve(final["id"]).model_dump(mode="json", exclude_unset=True)
    assert stored["output"] == final["output"]


def test_stream_helper_gets_the_final_response(client: OpenAI) -> None:
    with client.responses.stream(model=LLAMA_MODEL, input="Hello", max_output_tokens=200) as stream:
        text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        final = stream.get_final_response()
    assert final.output_text == text and final.status == "completed"


def test_required_function_call_then_tool_result_via_previous_response(client: OpenAI) -> None:
    first = client.responses.create(model=LLAMA_MODEL, input="Weather in Paris?",
                                    tools=[WEATHER_TOOL], tool_choice="required")
    calls = [item for item in first.output if item.type == "function_call"]
    assert calls, first.output
    call = calls[0]
    assert call.name == "get_weather" and call.call_id and call.status == "completed"
    assert isinstance(json.loads(call.arguments)["city"], str)
    second = client.responses.create(
        model=LLAMA_MODEL, previous_response_id=first.id, tools=[WEATHER_TOOL],
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "Sunny"}])
    assert second.status == "completed"
    assert second.output[-1].type == "message"
    assert second.previous_response_id == first.id


def test_function_call_round_trip_with_full_history(client: OpenAI) -> None:
    """The Agents SDK's default: no previous_response_id, the whole history replayed."""
    question: dict[str, Any] = {"role": "user", "content": "Weather in Oslo?"}
    first = client.responses.create(model=LLAMA_MODEL, input=[question], tools=[WEATHER_TOOL],
                                    tool_choice="required", store=False)
    call = next(item for item in first.output if item.type == "function_call")
    history = [question, call.model_dump(exclude_none=True),
               {"type": "function_call_output", "call_id": call.call_id, "output": "Cold"}]
    second = client.responses.create(model=LLAMA_MODEL, input=history, tools=[WEATHER_TOOL])
    assert second.status == "completed" and second.output[-1].type == "message"


def test_streamed_function_call_grammar(client: OpenAI) -> None:
    events = streamed_events(client, model=LLAMA_MODEL, input="Weather?", tools=[WEATHER_TOOL],
                           tool_choice="required")
    assert_valid_stream(events)
    done = [e for e in events if e["type"] == "response.function_call_arguments.done"]
    assert done and done[0]["name"] == "get_weather"
    json.loads(done[0]["arguments"])


def test_named_tool_choice_calls_that_tool(client: OpenAI) -> None:
    other = {**WEATHER_TOOL, "name": "get_time", "description": "Get the time."}
    response = client.responses.create(
        model=LLAMA_MODEL, input="Time?", tools=[WEATHER_TOOL, other],
        tool_choice={"type": "function", "name": "get_time"})
    calls = [item for item in response.output if item.type == "function_call"]
    assert calls and all(call.name == "get_time" for call in calls)


class Answer(BaseModel):
    city: str
    score: int


def test_structured_output_with_parse(client: OpenAI) -> None:
    parsed = client.responses.parse(model=LLAMA_MODEL, input="Give a city", text_format=Answer,
                                    max_output_tokens=400)
    assert parsed.status == "completed"
    assert isinstance(parsed.output_parsed, Answer)
    assert parsed.text.format.type == "json_schema"


def test_json_object_output(client: OpenAI) -> None:
    response = client.responses.create(
        model=LLAMA_MODEL, input="Reply in JSON", max_output_tokens=400,
        text={"format": {"type": "json_schema", "name": "obj", "strict": True, "schema": {
            "type": "object", "properties": {"a": {"type": "string", "maxLength": 10}},
            "required": ["a"], "additionalProperties": False}}})
    assert isinstance(json.loads(response.output_text), dict)


def test_logprobs_when_included(client: OpenAI) -> None:
    response = client.responses.create(
        model=LLAMA_MODEL, input="Hi", top_logprobs=2, max_output_tokens=200,
        include=["message.output_text.logprobs"])
    part = response.output[0].content[0]
    assert part.type == "output_text" and part.logprobs
    assert all(len(entry.top_logprobs) == 2 for entry in part.logprobs)
    plain = client.responses.retrieve(response.id)
    assert not plain.output[0].content[0].logprobs  # not asked for on retrieve
    again = client.responses.retrieve(response.id, include=["message.output_text.logprobs"])
    assert again.output[0].content[0].logprobs == part.logprobs


def test_echoes_request_fields(client: OpenAI) -> None:
    response = client.responses.create(
        model=LLAMA_MODEL, input="Hi", instructions="Be brief.", temperature=0.5, top_p=0.9,
        max_output_tokens=200, metadata={"k": "v"}, user="u1", safety_identifier="s1",
        prompt_cache_key="pc", parallel_tool_calls=False,
        extra_body={"client_metadata": {"session": "abc"}})
    assert (response.instructions, response.temperature, response.top_p) == ("Be brief.", 0.5, 0.9)
    assert response.metadata == {"k": "v"} and response.user == "u1"
    assert response.safety_identifier == "s1" and response.prompt_cache_key == "pc"
    assert response.parallel_tool_calls is False and response.max_output_tokens == 200


@pytest.mark.parametrize("content", ["plain string", [{"type": "input_text", "text": "parts"}]])
def test_messages_without_type_as_the_agents_sdk_sends(client: OpenAI, content: Any) -> None:
    response = client.responses.create(
        model=LLAMA_MODEL, max_output_tokens=200,
        input=[{"role": "developer", "content": "Be nice."}, {"role": "user", "content": content}])
    assert response.status == "completed"
