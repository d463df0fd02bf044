"""What responsa sends validates against the Open Responses specification.

`openresponses-openapi.json` is the spec's 2026-04-24 release, kept beside this test. Every
Response object and every streamed event of several scenarios is checked against the schema the
spec gives for it.

One deliberate divergence: raw reasoning text streams as `response.reasoning_text.delta/.done`
(what the OpenAI API and its SDKs and Codex use), where the spec names it
`response.reasoning.delta/.done`. Those two event types are checked for their fields only.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openai import OpenAI

from tests.conftest import LLAMA_MODEL
from tests.support.scripted_upstream import Drop, Script, ScriptedUpstream, chunk, text_script

SPEC = Path(__file__).with_name("openresponses-openapi.json")
# Our name for the event → the spec's schema for the same payload.
RENAMED_EVENTS = {
    "response.reasoning_text.delta": "ResponseReasoningDeltaStreamingEvent",
    "response.reasoning_text.done": "ResponseReasoningDoneStreamingEvent",
}


@cache
def _components() -> dict[str, Any]:
    components: dict[str, Any] = json.loads(SPEC.read_text())["components"]
    return components


@cache
def validator(schema_name: str) -> Draft202012Validator:
    root = {"$ref": f"#/components/schemas/{schema_name}", "components": _components()}
    return Draft202012Validator(root)


@cache
def event_schemas() -> dict[str, str]:
    schemas = _components()["schemas"]
    return {schema["properties"]["type"]["enum"][0]: name for name, schema in schemas.items()
            if name.endswith("StreamingEvent")}


def assert_conforms(value: dict[str, Any], schema_name: str) -> None:
    errors = sorted(validator(schema_name).iter_errors(value), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


def assert_event_conforms(event: dict[str, Any]) -> None:
    kind = event["type"]
    if kind in RENAMED_EVENTS:
        assert_conforms({**event, "type": kind.replace("reasoning_text", "reasoning")},
                        RENAMED_EVENTS[kind])
        return
    assert kind in event_schemas(), f"event type {kind} is not in the spec"
    assert_conforms(event, event_schemas()[kind])


def raw_stream(client: OpenAI, **params: Any) -> list[dict[str, Any]]:
    """The events exactly as sent (the SDK's models would fill in defaults)."""
    with client.responses.with_streaming_response.create(stream=True, **params) as raw:
        return [json.loads(line[6:]) for line in raw.iter_lines() if line.startswith("data: ")]



TOOL = {"type": "function", "name": "lookup", "strict": True,
        "parameters": {"type": "object", "properties": {"q": {"type": "string", "maxLength": 9}},
                       "required": ["q"], "additionalProperties": False}}


def scenarios(scripted: ScriptedUpstream) -> dict[str, dict[str, Any]]:
    reasoning = Script([chunk({"reasoning_content": "hmm"}), chunk({"content": "ok"}),
                        chunk(finish="stop")])
    return {
        "text": {"model": LLAMA_MODEL, "input": "hi", "max_output_tokens": 200},
        "tool-call": {"model": LLAMA_MODEL, "input": "look", "tools": [TOOL],
                      "tool_choice": "required"},
        "reasoning": {"model": scripted.play(reasoning), "input": "x"},
        "refusal": {"model": scripted.play(Script([chunk({"refusal": "no"}),
                                                    chunk(finish="stop")])), "input": "x"},
        "incomplete": {"model": scripted.play(text_script("cut", finish="length")),
                       "input": "x"},
        "failed": {"model": scripted.play(Script([chunk({"content": "a"}), Drop()],
                                                  done=False)), "input": "x"},
    }


@pytest.mark.parametrize("scenario", ["text", "tool-call", "reasoning", "refusal", "incomplete",
                                      "failed"])
def test_streamed_events_conform(client: OpenAI, scripted: ScriptedUpstream,
                                 scenario: str) -> None:
    events = raw_stream(client, **scenarios(scripted)[scenario])
    for event in events:
        assert_event_conforms(event)
    assert_conforms(events[-1]["response"], "ResponseResource")


@pytest.mark.parametrize("scenario", ["text", "tool-call", "reasoning", "failed"])
def test_response_objects_conform(client: OpenAI, scripted: ScriptedUpstream,
                                  scenario: str) -> None:
    created = client.responses.with_raw_response.create(**scenarios(scripted)[scenario])
    body = json.loads(created.http_response.text)
    assert_conforms(body, "ResponseResource")
    retrieved = client.responses.with_raw_response.retrieve(body["id"])
    assert json.loads(retrieved.http_response.text) == body
