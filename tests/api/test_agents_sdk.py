"""The Agents SDK bar: an `openai-agents` Agent with a function tool and a structured final
output (`output_type`, a pydantic model), run by `Runner.run` and `Runner.run_streamed` through
`OpenAIResponsesModel` against responsa, backed by the real llama.cpp engine (the tiny model
calls tools on `auto`; llama.cpp constrains the json_schema final output)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from agents import (
    Agent,
    ModelSettings,
    OpenAIResponsesModel,
    RunConfig,
    Runner,
    function_tool,
    set_tracing_disabled,
)
from agents.items import ToolCallItem, ToolCallOutputItem
from openai import AsyncOpenAI
from pydantic import BaseModel, Field

from tests.conftest import LLAMA_MODEL
from tests.support.responsa_server import RunningResponsa

set_tracing_disabled(True)  # no exporter calls to api.openai.com


class Forecast(BaseModel):
    city: str = Field(max_length=20)
    sunny: bool


@pytest.fixture
async def openai_client(server: RunningResponsa) -> AsyncIterator[AsyncOpenAI]:
    client = AsyncOpenAI(base_url=server.base_url, api_key="test-key", max_retries=0)
    try:
        yield client
    finally:
        await client.close()


def _agent(client: AsyncOpenAI, calls: list[str]) -> Agent[None]:
    @function_tool
    def get_weather(city: str) -> str:
        """Get the weather for a city."""
        calls.append(city)
        return f"It is sunny in {city}."

    # The first turn calls the tool (the tiny model does on `auto`); the tool's result ends
    # that turn, and the next asks for the final output with tool_choice reset to auto.
    return Agent(
        name="forecaster", instructions="Use the tool, then answer.",
        model=OpenAIResponsesModel(model=LLAMA_MODEL, openai_client=client),
        model_settings=ModelSettings(tool_choice="required", max_tokens=200),
        tools=[get_weather], output_type=Forecast, reset_tool_choice=True)


async def test_runner_run(openai_client: AsyncOpenAI) -> None:
    calls: list[str] = []
    result = await Runner.run(_agent(openai_client, calls), "Weather in Paris?", max_turns=4,
                              run_config=RunConfig(tracing_disabled=True))
    assert calls, f"the tool did not run: {result.raw_responses[0].output}"
    assert isinstance(result.final_output, Forecast)
    assert any(isinstance(item, ToolCallItem) for item in result.new_items)
    outputs = [item for item in result.new_items if isinstance(item, ToolCallOutputItem)]
    assert outputs and outputs[0].output == f"It is sunny in {calls[0]}."


async def test_runner_run_streamed(openai_client: AsyncOpenAI) -> None:
    calls: list[str] = []
    result = Runner.run_streamed(_agent(openai_client, calls), "Weather in Oslo?", max_turns=4,
                                 run_config=RunConfig(tracing_disabled=True))
    kinds = [event.type async for event in result.stream_events()]
    assert "raw_response_event" in kinds and "run_item_stream_event" in kinds
    assert calls, "the tool did not run"
    assert isinstance(result.final_output, Forecast)
