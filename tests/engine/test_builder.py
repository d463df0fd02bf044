"""The builder alone owns the event grammar: check it on scripted delta sequences."""

from __future__ import annotations

from typing import Any

import pytest

from responsa.engine.builder import ResponseBuilder
from responsa.engine.snapshot import initial_response
from responsa.errors import UpstreamConnectionError, UpstreamProtocolError
from responsa.providers.deltas import (
    Finish,
    ReasoningDelta,
    RefusalDelta,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from tests.support.grammar import assert_valid_stream


def run(deltas: list[Any], **kwargs: Any) -> tuple[ResponseBuilder, list[dict[str, Any]]]:
    builder = ResponseBuilder(initial_response({"model": "p/m"}, model="p/m"), **kwargs)
    events = builder.start()
    for delta in deltas:
        events += builder.feed(delta)
    events += builder.finish()
    return builder, events


def types(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in events]


def test_text_answer_has_the_exact_grammar() -> None:
    builder, events = run([TextDelta("Hel"), TextDelta("lo"), Finish("stop"), Usage(3, 2)])
    assert types(events) == [
        "response.created", "response.in_progress", "response.output_item.added",
        "response.content_part.added", "response.output_text.delta", "response.output_text.delta",
        "response.output_text.done", "response.content_part.done", "response.output_item.done",
        "response.completed"]
    assert_valid_stream(events)
    final = builder.response
    assert final["status"] == "completed" and final["completed_at"] is not None
    assert final["output"][0]["content"][0]["text"] == "Hello"
    assert final["usage"]["total_tokens"] == 5
    assert events[0]["response"]["output"] == [] and events[0]["response"]["usage"] is None


def test_reasoning_then_text_then_two_tool_calls() -> None:
    builder, events = run([
        ReasoningDelta("think"), ReasoningDelta("ing"), TextDelta("ok"),
        ToolCallDelta(0, '{"a"', name="f", call_id="call_1"), ToolCallDelta(0, ": 1}"),
        ToolCallDelta(1, "{}", name="g"), Finish("tool_calls")])
    assert_valid_stream(events)
    output = builder.response["output"]
    assert [item["type"] for item in output] == ["reasoning", "message", "function_call",
                                                  "function_call"]
    assert output[0]["content"] == [{"type": "reasoning_text", "text": "thinking"}]
    assert output[2]["arguments"] == '{"a": 1}' and output[2]["call_id"] == "call_1"
    assert output[3]["call_id"].startswith("call_") and output[3]["name"] == "g"
    done = [e for e in events if e["type"] == "response.function_call_arguments.done"]
    assert [e["name"] for e in done] == ["f", "g"]


def test_refusal_gets_its_own_part() -> None:
    builder, events = run([RefusalDelta("no"), Finish("stop")])
    assert_valid_stream(events)
    assert builder.response["output"][0]["content"] == [{"type": "refusal", "refusal": "no"}]


def test_length_finish_is_incomplete_with_the_item_cut() -> None:
    builder, events = run([TextDelta("abc"), Finish("length")])
    assert events[-1]["type"] == "response.incomplete"
    assert builder.response["incomplete_details"] == {"reason": "max_output_tokens"}
    assert builder.response["output"][0]["status"] == "incomplete"
    assert builder.response["completed_at"] is None


def test_failure_mid_item_closes_it_then_fails() -> None:
    builder = ResponseBuilder(initial_response({}, model="p/m"))
    events = builder.start() + builder.feed(TextDelta("par"))
    events += builder.fail(UpstreamConnectionError("up", "dropped"))
    assert_valid_stream(events)
    assert events[-1]["type"] == "response.failed"
    assert builder.response["error"] == {"code": "server_error",
                                         "message": "Provider 'up': dropped"}


def test_logprobs_only_when_included() -> None:
    entry = {"token": "a", "bytes": [97], "logprob": -0.1, "top_logprobs": []}
    _, without = run([TextDelta("a", [entry]), Finish("stop")])
    builder, with_ = run([TextDelta("a", [entry]), Finish("stop")], include_logprobs=True)
    delta = next(e for e in without if e["type"] == "response.output_text.delta")
    assert delta["logprobs"] == []
    delta = next(e for e in with_ if e["type"] == "response.output_text.delta")
    assert delta["logprobs"] == [entry]
    assert builder.response["output"][0]["content"][0]["logprobs"] == [entry]


def test_a_closed_tool_call_cannot_continue() -> None:
    builder = ResponseBuilder(initial_response({}, model="p/m"))
    builder.start()
    builder.feed(ToolCallDelta(0, "{}", name="f"))
    builder.feed(ToolCallDelta(1, "{}", name="g"))
    with pytest.raises(UpstreamProtocolError):
        builder.feed(ToolCallDelta(0, "x"))
