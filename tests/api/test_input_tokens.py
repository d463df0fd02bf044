"""`POST /v1/responses/input_tokens` through the official SDK.

Against llama.cpp the count must be exact: the very number the same request then reports as
`usage.input_tokens`. Other upstreams get the documented estimate, without an upstream call.
"""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from tests.conftest import LLAMA_MODEL
from tests.support.responsa_server import RunningResponsa
from tests.support.scripted_upstream import ScriptedUpstream, text_script

WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "name": "get_weather",
    "description": "Get the weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"], "additionalProperties": False},
    "strict": True,
}


def count(client: OpenAI, **params: Any) -> int:
    result = client.responses.input_tokens.count(**params)
    assert result.object == "response.input_tokens"
    return result.input_tokens


def used(client: OpenAI, **params: Any) -> tuple[int, str]:
    response = client.responses.create(max_output_tokens=16, **params)
    assert response.usage is not None
    return response.usage.input_tokens, response.id


@pytest.mark.parametrize("params", [
    {"input": "Say hi"},
    {"input": "Say hi", "instructions": "Be brief."},
    {"input": [{"role": "developer", "content": "Answer in French."},
               {"role": "user", "content": [{"type": "input_text", "text": "Hello "},
                                            {"type": "input_text", "text": "there"}]}]},
    {"input": "What is the weather in Paris?", "tools": [WEATHER_TOOL]},
    {"input": "Weather?", "tools": [WEATHER_TOOL], "tool_choice": "required",
     "parallel_tool_calls": False},
    {"input": "Weather?", "tools": [WEATHER_TOOL], "tool_choice": "none"},
    {"input": "Weather?", "tools": [WEATHER_TOOL],
     "tool_choice": {"type": "function", "name": "get_weather"}},
    {"input": "Give me JSON", "text": {"format": {"type": "json_object"}}},
], ids=["text", "instructions", "items", "tools", "required", "none", "named", "json"])
def test_llama_count_equals_reported_usage(client: OpenAI, params: dict[str, Any]) -> None:
    counted = count(client, model=LLAMA_MODEL, **params)
    reported, _ = used(client, model=LLAMA_MODEL, **params)
    assert counted == reported > 0


def test_llama_count_equals_streamed_usage(client: OpenAI) -> None:
    params: dict[str, Any] = {"model": LLAMA_MODEL, "input": "Weather?", "tools": [WEATHER_TOOL]}
    with client.responses.create(stream=True, max_output_tokens=16, **params) as stream:
        final = [event for event in stream][-1].response  # completed or incomplete
    assert final.usage is not None
    assert count(client, **params) == final.usage.input_tokens


def test_llama_count_with_previous_response_id(client: OpenAI) -> None:
    _, first = used(client, model=LLAMA_MODEL, input="Remember the word apple.",
                    instructions="Be brief.")
    params: dict[str, Any] = {"model": LLAMA_MODEL, "input": "Which word?",
                              "previous_response_id": first}
    counted = count(client, **params)
    reported, second = used(client, **params)
    assert counted == reported
    assert counted > count(client, model=LLAMA_MODEL, input="Which word?")
    # Two levels deep, with tools.
    params = {"model": LLAMA_MODEL, "input": "And now?", "previous_response_id": second,
              "tools": [WEATHER_TOOL]}
    assert count(client, **params) == used(client, **params)[0]


def test_llama_count_over_a_tool_call_turn(client: OpenAI) -> None:
    params: dict[str, Any] = {"model": LLAMA_MODEL, "tools": [WEATHER_TOOL], "input": [
        {"role": "user", "content": "Weather in Paris?"},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather",
         "arguments": '{"city":"Paris"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "Sunny, 21 C"}]}
    assert count(client, **params) == used(client, **params)[0]


def test_estimate_for_other_upstreams(client: OpenAI, scripted: ScriptedUpstream) -> None:
    model = scripted.play(text_script("unused"))
    received = len(scripted.requests)
    # 2 messages, "Be brief." + "Hello there" = 20 characters: 5 + 2 * 4 + 3.
    assert count(client, model=model, instructions="Be brief.", input="Hello there") == 16
    with_tool = count(client, model=model, instructions="Be brief.", input="Hello there",
                      tools=[WEATHER_TOOL])
    assert with_tool > 16 + 40
    image = {"role": "user", "content": [
        {"type": "input_text", "text": "Hello there"},
        {"type": "input_image", "image_url": "https://example.com/cat.png"}]}
    assert count(client, model=model, input=[image]) == 3 + 4 + 3 + 85
    assert len(scripted.requests) == received  # the estimate asks the upstream nothing


def test_without_model_the_estimate_is_used(client: OpenAI) -> None:
    assert count(client, input="Hello there") == 3 + 4 + 3


def test_count_is_not_stored(client: OpenAI, server: RunningResponsa) -> None:
    reply = httpx.post(f"{server.base_url}/responses/input_tokens",
                       json={"model": LLAMA_MODEL, "input": "hi"}, timeout=10)
    assert reply.status_code == 200
    assert reply.json() == {"object": "response.input_tokens",
                            "input_tokens": reply.json()["input_tokens"]}
    assert httpx.get(f"{server.base_url}/responses/input_tokens", timeout=10).status_code == 404


@pytest.mark.parametrize(("params", "code", "param"), [
    ({"model": LLAMA_MODEL, "input": "x", "extra_body": {"stream": True}},
     "unknown_parameter", "stream"),
    ({"model": LLAMA_MODEL, "input": "x", "extra_body": {"max_output_tokens": 20}},
     "unknown_parameter", "max_output_tokens"),
    ({"model": "nope/tiny", "input": "x"}, "model_not_found", "model"),
    ({"model": LLAMA_MODEL, "input": "x", "previous_response_id": "resp_missing"},
     "previous_response_not_found", "previous_response_id"),
    ({"model": LLAMA_MODEL, "input": "x", "truncation": "sometimes"},
     "invalid_value", "truncation"),
    ({"model": LLAMA_MODEL, "input": 3}, "invalid_type", "input"),
    ({"model": LLAMA_MODEL, "input": "x", "tool_choice": {"type": "function", "name": "nope"}},
     None, "tool_choice"),
    ({"model": LLAMA_MODEL, "input": [{"type": "function_call_output", "call_id": "c9",
                                       "output": "x"}]}, None, "input[0]"),
    ({"model": LLAMA_MODEL, "input": "x", "previous_response_id": "resp_x",
      "conversation": "conv_x"}, "mutually_exclusive_parameters", "conversation"),
    ({"model": LLAMA_MODEL, "input": "x", "tools": [{"type": "programmatic_tool_calling"}]},
     "unsupported_value", "tools[0].type"),
])
def test_validation_errors(client: OpenAI, params: dict[str, Any], code: str | None,
                           param: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.input_tokens.count(**params)
    error = caught.value.body
    assert isinstance(error, dict)
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"
    if code is not None:
        assert error["code"] == code


def test_unknown_conversation_is_refused(client: OpenAI) -> None:
    # 400 while conversations are unsupported; a missing one once they are.
    with pytest.raises((openai.BadRequestError, openai.NotFoundError)) as caught:
        client.responses.input_tokens.count(model=LLAMA_MODEL, input="x",
                                            conversation="conv_missing")
    error = caught.value.body
    assert isinstance(error, dict) and error["param"] == "conversation"
