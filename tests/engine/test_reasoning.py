"""Reasoning without I/O: the builder's summary and annotation grammar, sealing and opening
reasoning items, and what each dialect makes of them (bodies out, deltas in)."""

from __future__ import annotations

import email.utils
import time
from typing import Any

import orjson
import pytest
from cryptography.fernet import Fernet

from responsa.engine.compaction_items import Sealer
from responsa.engine.reasoning_items import expand_reasoning, seal_reasoning
from responsa.errors import InvalidRequestError
from responsa.providers.anthropic_translation import (
    build_messages_body,
    decode_message,
    to_anthropic_messages,
)
from responsa.providers.base import Capabilities, ModelRequest
from responsa.providers.chat_translation import build_chat_body
from responsa.providers.deltas import (
    REASONING_STATE_KEY,
    AnnotationDelta,
    Finish,
    ReasoningDelta,
    ReasoningState,
    ReasoningSummaryDelta,
    TextDelta,
)
from responsa.providers.http_upstream import _retry_after
from responsa.providers.responses_translation import decode_response, upstream_input
from tests.engine.test_builder import run, types

SEALER = Sealer(Fernet.generate_key())
CITATION = {"type": "url_citation", "url": "https://example.com", "title": "Ex",
            "start_index": 0, "end_index": 2}


def test_summary_parts_then_raw_text_have_the_exact_grammar() -> None:
    builder, events = run([ReasoningSummaryDelta("Plan", 0), ReasoningSummaryDelta(" A.", 0),
                           ReasoningSummaryDelta("Then B.", 1), ReasoningDelta("raw"),
                           TextDelta("ok"), Finish("stop")])
    reasoning_events = types(events)[2:types(events).index("response.output_item.done") + 1]
    assert reasoning_events == [
        "response.output_item.added",
        "response.reasoning_summary_part.added", "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.delta", "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.reasoning_summary_part.added", "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done", "response.reasoning_summary_part.done",
        "response.content_part.added", "response.reasoning_text.delta",
        "response.reasoning_text.done", "response.content_part.done",
        "response.output_item.done"]
    thought = builder.response["output"][0]
    assert thought["summary"] == [{"type": "summary_text", "text": "Plan A."},
                                  {"type": "summary_text", "text": "Then B."}]
    assert thought["content"] == [{"type": "reasoning_text", "text": "raw"}]
    assert [e["summary_index"] for e in events if "summary_index" in e] == [0] * 5 + [1] * 4
    assert events[2]["item"]["summary"] == []  # `added` shows the item as it was then
    assert "encrypted_content" not in thought  # no seal: not asked for


def test_sealing_merges_the_provider_state_into_the_done_item() -> None:
    sealed: list[tuple[dict[str, Any], dict[str, Any]]] = []

    def seal(item: dict[str, Any], state: dict[str, Any]) -> str:
        sealed.append((dict(item), dict(state)))
        return "SEALED"

    thinking = {"type": "thinking", "thinking": "Hm", "signature": "s"}
    redacted = {"type": "redacted_thinking", "data": "r"}
    builder, events = run([ReasoningDelta("Hm"), ReasoningState(blocks=[thinking]),
                           ReasoningState(blocks=[redacted]), TextDelta("ok"),
                           ReasoningState(encrypted_content="up"), Finish("stop")], seal=seal)
    first, second = (e["item"] for e in events if e["type"] == "response.output_item.done"
                     and e["item"]["type"] == "reasoning")
    assert first["encrypted_content"] == second["encrypted_content"] == "SEALED"
    assert sealed[0][1] == {"blocks": [thinking, redacted]}
    assert sealed[0][0]["content"] == [{"type": "reasoning_text", "text": "Hm"}]
    # State alone (an upstream's reasoning item without text) is an item of its own.
    assert sealed[1][1] == {"encrypted_content": "up"}
    assert second["content"] == [] and second["summary"] == []
    assert [item["type"] for item in builder.response["output"]] == [
        "reasoning", "message", "reasoning"]


def test_annotations_join_their_output_text_part() -> None:
    builder, events = run([TextDelta("Ex"), AnnotationDelta(CITATION), TextDelta("!"),
                           AnnotationDelta(CITATION), Finish("stop")])
    added = [e for e in events if e["type"] == "response.output_text.annotation.added"]
    assert [(e["content_index"], e["annotation_index"]) for e in added] == [(0, 0), (0, 1)]
    part = builder.response["output"][0]["content"][0]
    assert part["text"] == "Ex!" and part["annotations"] == [CITATION, CITATION]


def _sealed_item(provider: str, **state: Any) -> dict[str, Any]:
    item = {"id": "rs_1", "type": "reasoning", "summary": [{"type": "summary_text", "text": "S"}],
            "content": [{"type": "reasoning_text", "text": "T"}]}
    return {"id": "rs_1", "type": "reasoning", "summary": [], "content": None,
            "encrypted_content": seal_reasoning(SEALER, provider, item, state)}


def test_opening_restores_text_and_the_state_for_the_same_provider_only() -> None:
    blocks = [{"type": "thinking", "thinking": "T", "signature": "sig"}]
    item = _sealed_item("claude", blocks=blocks)
    same, = expand_reasoning([item], SEALER, first_new=0, provider="claude")
    other, = expand_reasoning([item], SEALER, first_new=0, provider="native")
    for opened in (same, other):
        assert "encrypted_content" not in opened
        assert opened["content"] == [{"type": "reasoning_text", "text": "T"}]
        assert opened["summary"] == [{"type": "summary_text", "text": "S"}]
    assert same[REASONING_STATE_KEY] == {"blocks": blocks, "encrypted_content": None}
    assert REASONING_STATE_KEY not in other


@pytest.mark.parametrize(("position", "first_new", "param"), [
    (1, 1, "input[0].encrypted_content"), (0, 1, "input")])
def test_a_blob_not_sealed_here_is_the_real_apis_400(position: int, first_new: int,
                                                     param: str) -> None:
    items: list[dict[str, Any]] = [{"type": "message", "role": "user", "content": "x"}]
    compaction_blob = SEALER.seal("summary", [])  # ours, but for another purpose
    items.insert(position, {"type": "reasoning", "summary": [],
                            "encrypted_content": compaction_blob})
    with pytest.raises(InvalidRequestError) as refused:
        expand_reasoning(items, SEALER, first_new=first_new, provider="p")
    assert (refused.value.param, refused.value.code) == (param, "invalid_encrypted_content")
    assert refused.value.message.startswith(f"The encrypted content {compaction_blob[:4]}...")


def _request(*items: dict[str, Any], **fields: Any) -> ModelRequest:
    return ModelRequest(model="m", input=list(items), **fields)


THOUGHT = {"type": "reasoning", "summary": [],
           "content": [{"type": "reasoning_text", "text": "Think."}]}
ANSWER = {"type": "message", "role": "assistant", "content": "Done."}
CALL = {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"}


@pytest.mark.parametrize("takes_it", [True, False])
def test_chat_engines_take_reasoning_as_reasoning_content_where_they_can(takes_it: bool) -> None:
    question = {"type": "message", "role": "user", "content": "q"}
    body = build_chat_body(_request(THOUGHT, ANSWER, question, THOUGHT, CALL),
                           Capabilities(reasoning_input=takes_it))
    first, _, second = body["messages"]
    assert (first.get("reasoning_content"), second.get("reasoning_content")) == (
        ("Think.", "Think.") if takes_it else (None, None))


@pytest.mark.parametrize(("template", "expected"), [
    (False, {"reasoning_effort": "high"}),
    (True, {"chat_template_kwargs": {"enable_thinking": True, "reasoning_effort": "high"}})])
def test_chat_effort_mapping(template: bool, expected: dict[str, Any]) -> None:
    body = build_chat_body(_request(ANSWER, reasoning={"effort": "high"}),
                           Capabilities(effort_in_template=template))
    assert {key: body[key] for key in expected} == expected
    off = build_chat_body(_request(ANSWER, reasoning={"effort": "none"}),
                          Capabilities(effort_in_template=True))
    assert off["chat_template_kwargs"]["enable_thinking"] is False


def test_a_forced_tool_call_sends_no_response_format() -> None:
    tool = {"type": "function", "name": "f", "parameters": {"type": "object"}}
    text_format = {"type": "json_schema", "name": "o", "schema": {"type": "object"}}
    forced = build_chat_body(_request(ANSWER, tools=[tool], tool_choice="required",
                                      text_format=text_format), Capabilities())
    free = build_chat_body(_request(ANSWER, tools=[tool], text_format=text_format),
                           Capabilities())
    assert "response_format" not in forced and free["response_format"]["type"] == "json_schema"


def test_anthropic_blocks_lead_the_assistant_turn() -> None:
    blocks = [{"type": "thinking", "thinking": "T", "signature": "sig"},
              {"type": "redacted_thinking", "data": "r"}]
    _, messages = to_anthropic_messages(_request(
        {"type": "message", "role": "user", "content": "q"},
        {**THOUGHT, REASONING_STATE_KEY: {"blocks": blocks}}, CALL, THOUGHT))
    assert messages[1]["content"][:2] == blocks
    assert [block["type"] for block in messages[1]["content"]] == [
        "thinking", "redacted_thinking", "tool_use"]  # the unsigned reasoning is left out


def test_whole_anthropic_message_carries_its_thinking_state() -> None:
    raw = orjson.dumps({"content": [
        {"type": "thinking", "thinking": "T", "signature": "sig"},
        {"type": "redacted_thinking", "data": "r"}, {"type": "text", "text": "ok"}],
        "stop_reason": "end_turn", "usage": {"input_tokens": 1, "output_tokens": 1}})
    deltas = decode_message("claude", raw)
    assert deltas[:3] == [
        ReasoningDelta("T"),
        ReasoningState(blocks=[{"type": "thinking", "thinking": "T", "signature": "sig"}]),
        ReasoningState(blocks=[{"type": "redacted_thinking", "data": "r"}])]


def test_whole_native_response_carries_summaries_state_and_annotations() -> None:
    raw = orjson.dumps({"status": "completed", "output": [
        {"type": "reasoning", "summary": [{"type": "summary_text", "text": "A"},
                                          {"type": "summary_text", "text": "B"}],
         "encrypted_content": "up"},
        {"type": "message", "content": [{"type": "output_text", "text": "x",
                                         "annotations": [CITATION]}]}]})
    assert decode_response("native", raw)[:5] == [
        ReasoningSummaryDelta("A", 0), ReasoningSummaryDelta("B", 1),
        ReasoningState(encrypted_content="up"), TextDelta("x"), AnnotationDelta(CITATION)]


def test_native_upstream_input_keeps_only_its_own_reasoning() -> None:
    own = {**THOUGHT, "id": "rs_1", REASONING_STATE_KEY: {"encrypted_content": "up"}}
    assert upstream_input([own, THOUGHT]) == [
        {"type": "reasoning", "summary": [], "encrypted_content": "up"}]


def test_retry_after_forms() -> None:
    assert _retry_after({"retry-after-ms": "250"}) == 0.25
    assert _retry_after({"Retry-After": "3"}) == 3.0
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    wait = _retry_after({"Retry-After": later})
    assert wait is not None and 25 < wait <= 30
    assert _retry_after({"Retry-After": "soon"}) is None
    assert _retry_after({}) is None


def test_hosted_tool_turns_give_the_provider_its_reasoning_state_back() -> None:
    thinking = {"type": "thinking", "thinking": "Hm", "signature": "s"}
    builder, _ = run([ReasoningDelta("Hm"), ReasoningState(blocks=[thinking]), TextDelta("ok"),
                      Finish("stop")])
    thought, answer = builder.for_provider(builder.response["output"])
    assert thought[REASONING_STATE_KEY] == {"blocks": [thinking]}
    assert REASONING_STATE_KEY not in builder.response["output"][0]  # never shown to clients
    assert answer == builder.response["output"][1]


@pytest.mark.parametrize("signed", [True, False])
def test_anthropic_tool_results_after_unsigned_thinking_go_without_thinking(
        signed: bool) -> None:
    blocks = [{"type": "thinking", "thinking": "T", "signature": "sig"}]
    thought = {**THOUGHT, REASONING_STATE_KEY: {"blocks": blocks}} if signed else THOUGHT
    body = build_messages_body(_request(
        {"type": "message", "role": "user", "content": "q"}, thought, CALL,
        {"type": "function_call_output", "call_id": "c1", "output": "r"},
        reasoning={"effort": "low"}))
    assert ("thinking" in body) is signed
    fresh = build_messages_body(_request({"type": "message", "role": "user", "content": "q"},
                                         reasoning={"effort": "low"}))
    assert fresh["thinking"] == {"type": "enabled", "budget_tokens": 1024}
