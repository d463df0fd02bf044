"""Sealed reasoning in stored chains, on SQLite and PostgreSQL: a `store: true` response that
asked for `reasoning.encrypted_content` keeps it, and continuing it with
`previous_response_id` gives Anthropic its signed thinking back before the tool results (the
key that opens it is the one kept with the data, engine/secret.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from openai import OpenAI

from tests.conftest import sdk_client
from tests.support.asgi import running
from tests.support.responsa_server import serving
from tests.support.scripted_anthropic import (
    MessagesScript,
    ScriptedAnthropic,
    message_end,
    message_start,
    text_script,
    thinking_block,
    tool_block,
)

WEATHER: dict[str, Any] = {"type": "function", "name": "get_weather",
                           "parameters": {"type": "object",
                                          "properties": {"city": {"type": "string"}}}}


@pytest.fixture(scope="module")
def claude() -> Iterator[ScriptedAnthropic]:
    with running(ScriptedAnthropic("claude")) as upstream:
        yield upstream


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def client(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           claude: ScriptedAnthropic) -> Iterator[OpenAI]:
    tmp = tmp_path_factory.mktemp(f"responsa-reasoning-{request.param}")
    database = request.getfixturevalue("postgres_dsn") if request.param == "postgres" else None
    with serving(tmp, f"""
embedded_engine = false

[providers.claude]
kind = "anthropic-messages"
base_url = "{claude.base_url}"
api_key = "sk-ant-test"
timeout = 5
""", database=database) as running:
        yield sdk_client(running)


def _thinking_then_tool(claude: ScriptedAnthropic) -> str:
    return claude.play(MessagesScript([
        message_start(), *thinking_block(0, "Oslo is ", "north.", signature="sig-S"),
        *tool_block(1, "toolu_S", "get_weather", '{"city": "Oslo"}'), *message_end("tool_use")]))


def test_a_stored_chain_restores_signed_thinking(client: OpenAI,
                                                 claude: ScriptedAnthropic) -> None:
    first = client.responses.create(model=_thinking_then_tool(claude), input="Weather in Oslo?",
                                    tools=[WEATHER], reasoning={"effort": "low"},
                                    include=["reasoning.encrypted_content"])
    thought = first.output[0]
    assert thought.type == "reasoning" and thought.encrypted_content
    stored = client.responses.retrieve(first.id).output[0]
    assert stored.encrypted_content == thought.encrypted_content  # type: ignore[union-attr]
    follow = claude.play(text_script("Cold."))
    answer = client.responses.create(
        model=follow, previous_response_id=first.id, tools=[WEATHER],
        reasoning={"effort": "low"},
        input=[{"type": "function_call_output", "call_id": "toolu_S", "output": "cold"}])
    assert answer.output_text == "Cold."
    sent = claude.last_request(follow)
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert sent["messages"][1]["content"][0] == {
        "type": "thinking", "thinking": "Oslo is north.", "signature": "sig-S"}


def test_without_the_include_the_tool_turn_goes_without_thinking(
        client: OpenAI, claude: ScriptedAnthropic) -> None:
    first = client.responses.create(model=_thinking_then_tool(claude), input="Weather in Oslo?",
                                    tools=[WEATHER], reasoning={"effort": "low"})
    assert first.output[0].encrypted_content is None  # type: ignore[union-attr]
    follow = claude.play(text_script("Cold."))
    answer = client.responses.create(
        model=follow, previous_response_id=first.id, tools=[WEATHER],
        reasoning={"effort": "low"},
        input=[{"type": "function_call_output", "call_id": "toolu_S", "output": "cold"}])
    assert answer.output_text == "Cold."
    sent = claude.last_request(follow)
    assert "thinking" not in sent  # Messages refuses thinking after unsigned tool use
    assert [block["type"] for block in sent["messages"][1]["content"]] == ["tool_use"]
