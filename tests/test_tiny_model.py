"""The test upstream itself: the generated tiny model served by llama.cpp.

The model's weights are random, so these tests assert structure (JSON that
fits the schema, tool calls, usage, finish reasons), never wording.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam

from tests.support.llama_server import LlamaServer
from tests.support.tiny_model import build_tiny_model

WEATHER_TOOL: ChatCompletionToolParam = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city", "unit"],
            "additionalProperties": False,
        },
    },
}

PERSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
    },
    "required": ["name", "age"],
    "additionalProperties": False,
}


# `tiny_model` and `llama` (the running server) come from conftest.py.


@pytest.fixture(scope="module")
def upstream(llama: LlamaServer) -> Iterator[openai.OpenAI]:
    """The `openai` SDK pointed straight at llama.cpp."""
    # The SDK's default retries cover a rare race in which a pooled keep-alive
    # connection is reused just as llama.cpp closes it after a stream.
    with openai.OpenAI(base_url=llama.base_url, api_key="unused", timeout=30) as api:
        yield api


def test_generation_is_deterministic(tmp_path: Path) -> None:
    first = build_tiny_model(tmp_path / "a.gguf", seed=7).read_bytes()
    again = build_tiny_model(tmp_path / "b.gguf", seed=7).read_bytes()
    other = build_tiny_model(tmp_path / "c.gguf", seed=8).read_bytes()
    assert first == again
    assert first != other


def test_server_reports_the_model(llama: LlamaServer, upstream: openai.OpenAI) -> None:
    assert llama.base_url.startswith("http://127.0.0.1:")
    assert [m.id for m in upstream.models.list()] == ["tiny"]


def test_chat_returns_text(upstream: openai.OpenAI) -> None:
    reply = upstream.chat.completions.create(
        model="tiny", messages=[{"role": "user", "content": "Tell me about the harbor."}], seed=1
    )
    choice = reply.choices[0]
    assert choice.finish_reason in ("stop", "length")
    assert choice.message.content
    assert choice.message.content.isascii()
    assert not choice.message.tool_calls
    assert reply.usage is not None and reply.usage.completion_tokens > 0


def test_stream_ends_with_usage(upstream: openai.OpenAI) -> None:
    stream = upstream.chat.completions.create(
        model="tiny",
        messages=[{"role": "user", "content": "Tell me about the harbor."}],
        stream=True,
        stream_options={"include_usage": True},
        seed=2,
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finish = [c.choices[0].finish_reason for c in chunks if c.choices]
    usage = chunks[-1].usage
    assert text
    assert finish[-1] in ("stop", "length")
    assert chunks[-1].choices == []
    assert usage is not None and usage.completion_tokens > 0 and usage.prompt_tokens > 0


def test_required_tool_choice_gives_a_valid_call(upstream: openai.OpenAI) -> None:
    reply = upstream.chat.completions.create(
        model="tiny",
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[WEATHER_TOOL],
        tool_choice="required",
        seed=3,
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls
    for call in choice.message.tool_calls:
        assert call.type == "function"
        assert call.function.name == "get_weather"
        _assert_weather_arguments(call.function.arguments)


def test_json_schema_response_format(upstream: openai.OpenAI) -> None:
    reply = upstream.chat.completions.create(
        model="tiny",
        messages=[{"role": "user", "content": "Describe a person."}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "person", "schema": PERSON_SCHEMA, "strict": True},
        },
        seed=4,
    )
    content = reply.choices[0].message.content
    assert content is not None
    person = json.loads(content)
    assert set(person) <= {"name", "age", "tags"}
    assert isinstance(person["name"], str)
    assert isinstance(person["age"], int) and 0 <= person["age"] <= 150
    assert len(person.get("tags", [])) <= 3


def test_auto_tool_choice_calls_then_answers(upstream: openai.OpenAI) -> None:
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Weather in Paris?"}]
    first = upstream.chat.completions.create(
        model="tiny", messages=messages, tools=[WEATHER_TOOL], seed=5
    )
    call_choice = first.choices[0]
    assert call_choice.finish_reason == "tool_calls"
    calls = call_choice.message.tool_calls
    assert calls is not None and len(calls) == 1  # the model makes one call per turn
    call = calls[0]
    assert call.type == "function"
    _assert_weather_arguments(call.function.arguments)

    messages += [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.function.name, "arguments": call.function.arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call.id, "content": '{"temperature": 18, "sky": "clear"}'},
    ]
    second = upstream.chat.completions.create(
        model="tiny", messages=messages, tools=[WEATHER_TOOL], seed=6
    )
    answer = second.choices[0]
    assert answer.finish_reason in ("stop", "length")
    assert not answer.message.tool_calls
    assert answer.message.content


def _assert_weather_arguments(arguments: str) -> None:
    parsed = json.loads(arguments)
    assert set(parsed) == {"city", "unit"}
    assert isinstance(parsed["city"], str)
    assert parsed["unit"] in ("celsius", "fahrenheit")
