"""The same scenarios across provider kinds, through one real responsa process: the real
llama.cpp engine (`llama`), a scripted Anthropic Messages upstream (`claude`) and a scripted
native Responses upstream (`native`); a scripted chat engine (`scripted`, `engine =
"deepseek"`, which takes `reasoning_content` back) produces reasoning a tiny model cannot.

Each scenario is a row per provider kind: what the client sees, and for the scripted upstreams
exactly what went up the wire. Reasoning rows follow Codex's stateless loop: `store: false`,
`include: ["reasoning.encrypted_content"]`, the output sent back as input (reasoning items
with `content: null`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from cryptography.fernet import Fernet
from openai import OpenAI

from tests.conftest import LLAMA_MODEL, sdk_client
from tests.support.asgi import running
from tests.support.llama_server import LlamaServer
from tests.support.responsa_server import RunningResponsa, serving
from tests.support.scripted_anthropic import (
    MessagesScript,
    ScriptedAnthropic,
    block_start,
    block_stop,
    message_end,
    message_start,
    thinking_block,
    tool_block,
)
from tests.support.scripted_anthropic import text_script as claude_text
from tests.support.scripted_responses import (
    ScriptedResponses,
    function_call,
    reasoning,
    script,
)
from tests.support.scripted_responses import message as native_message
from tests.support.scripted_responses import text_script as native_text
from tests.support.scripted_upstream import Script, ScriptedUpstream, chunk
from tests.support.scripted_upstream import text_script as chat_text
from tests.support.sdk import streamed_events

KINDS = ["llama", "claude", "native"]
ENCRYPTED = ["reasoning.encrypted_content"]
WEATHER: dict[str, Any] = {
    "type": "function", "name": "get_weather", "description": "Get the weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 20}},
                   "required": ["city"], "additionalProperties": False},
    "strict": True}
ANSWER_FORMAT: dict[str, Any] = {
    "type": "json_schema", "name": "answer", "strict": True, "schema": {
        "type": "object", "properties": {"city": {"type": "string", "maxLength": 12}},
        "required": ["city"], "additionalProperties": False}}


@pytest.fixture(scope="module")
def claude() -> Iterator[ScriptedAnthropic]:
    with running(ScriptedAnthropic("claude")) as upstream:
        yield upstream


@pytest.fixture(scope="module")
def native() -> Iterator[ScriptedResponses]:
    with running(ScriptedResponses("native")) as upstream:
        yield upstream


@pytest.fixture(scope="module")
def kinds_server(tmp_path_factory: pytest.TempPathFactory, llama: LlamaServer,
                 claude: ScriptedAnthropic, native: ScriptedResponses,
                 scripted: ScriptedUpstream) -> Iterator[RunningResponsa]:
    with serving(tmp_path_factory.mktemp("responsa-kinds"), f"""
embedded_engine = false

[providers.llama]
base_url = "{llama.base_url}"
engine = "llama.cpp"
context_window = 8192

[providers.claude]
kind = "anthropic-messages"
base_url = "{claude.base_url}"
api_key = "sk-ant-test"
timeout = 5

[providers.native]
kind = "openai-responses"
base_url = "{native.base_url}"
api_key = "sk-test"
timeout = 5

[providers.scripted]
base_url = "{scripted.base_url}"
engine = "deepseek"
timeout = 5
""") as running:
        yield running


@pytest.fixture
def client(kinds_server: RunningResponsa) -> OpenAI:
    return sdk_client(kinds_server)


class Upstreams:
    """One scenario's script per provider kind; `llama` plays nothing (the real engine)."""

    def __init__(self, claude: ScriptedAnthropic, native: ScriptedResponses) -> None:
        self.claude, self.native = claude, native

    def text(self, kind: str, *pieces: str) -> str:
        if kind == "claude":
            return self.claude.play(claude_text(*pieces))
        if kind == "native":
            return self.native.play(native_text(*pieces))
        return LLAMA_MODEL

    def tool_call(self, kind: str) -> str:
        arguments = '{"city": "Paris"}'
        if kind == "claude":
            return self.claude.play(MessagesScript([
                message_start(), *tool_block(0, "toolu_1", "get_weather", arguments),
                *message_end("tool_use")]))
        if kind == "native":
            return self.native.play(script(function_call(0, "call_1", "get_weather",
                                                         arguments)))
        return LLAMA_MODEL

    def sent(self, kind: str, model: str) -> dict[str, Any]:
        return (self.claude if kind == "claude" else self.native).last_request(model)


@pytest.fixture
def upstreams(claude: ScriptedAnthropic, native: ScriptedResponses) -> Upstreams:
    return Upstreams(claude, native)


# -- text, streaming, tools, structured output, multi-turn -------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_text(client: OpenAI, upstreams: Upstreams, kind: str) -> None:
    response = client.responses.create(model=upstreams.text(kind, "Hel", "lo"), input="Say hi",
                                       max_output_tokens=24)
    assert response.status in ("completed", "incomplete"), response.error
    assert response.output_text if kind == "llama" else response.output_text == "Hello"
    assert response.usage is not None and response.usage.output_tokens > 0


@pytest.mark.parametrize("kind", KINDS)
def test_streaming(client: OpenAI, upstreams: Upstreams, kind: str) -> None:
    events = streamed_events(client, model=upstreams.text(kind, "Hel", "lo"), input="Say hi",
                             max_output_tokens=24)
    deltas = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
    assert deltas if kind == "llama" else deltas == ["Hel", "lo"]
    final = events[-1]["response"]
    assert final["output"][-1]["content"][0]["text"] == "".join(deltas)


@pytest.mark.parametrize("kind", KINDS)
def test_tool_call_then_result_with_previous_response_id(client: OpenAI, upstreams: Upstreams,
                                                         kind: str) -> None:
    first = client.responses.create(model=upstreams.tool_call(kind), input="Weather in Paris?",
                                    tools=[WEATHER], tool_choice="auto", max_output_tokens=64)
    call = next(item for item in first.output if item.type == "function_call")
    assert call.name == "get_weather" and "city" in json.loads(call.arguments)
    follow = upstreams.text(kind, "Sunny.")
    second = client.responses.create(
        model=follow, previous_response_id=first.id, tools=[WEATHER], max_output_tokens=24,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}])
    assert second.status in ("completed", "incomplete") and second.output
    if kind == "claude":
        turns = upstreams.sent(kind, follow)["messages"]
        assert turns[1]["content"][0]["type"] == "tool_use"
        assert turns[2]["content"][0] == {"type": "tool_result", "tool_use_id": "toolu_1",
                                          "content": "sunny"}
    elif kind == "native":
        assert [item["type"] for item in upstreams.sent(kind, follow)["input"]] == [
            "message", "function_call", "function_call_output"]


@pytest.mark.parametrize("kind", KINDS)
def test_structured_output(client: OpenAI, upstreams: Upstreams, kind: str) -> None:
    model = upstreams.text(kind, '{"city": ', '"Oslo"}')
    request: dict[str, Any] = {"model": model, "input": "A city as JSON",
                               "text": {"format": ANSWER_FORMAT}, "max_output_tokens": 200}
    if kind == "claude":  # Messages has no structured output: refused, naming the parameter
        with pytest.raises(openai.BadRequestError) as refused:
            client.responses.create(**request)
        assert refused.value.param == "text.format"  # type: ignore[attr-defined]
        return
    response = client.responses.create(**request)
    assert isinstance(json.loads(response.output_text)["city"], str)
    if kind == "native":
        assert upstreams.sent(kind, model)["text"] == {"format": ANSWER_FORMAT}


# -- reasoning that survives turns without stored state -----------------------------------


def _sent_back(response: dict[str, Any], question: str) -> list[dict[str, Any]]:
    """The output as Codex sends it back: reasoning items with `content: null`."""
    return [{"role": "user", "content": question},
            *({**item, "content": None} if item["type"] == "reasoning" else item
              for item in response["output"])]


def _reasoning_turn(client: OpenAI, model: str, *, stream: bool = True,
                    **extra: Any) -> dict[str, Any]:
    extra.setdefault("reasoning", {"effort": "low"})
    request = {"model": model, "input": "Weather in Oslo?", "store": False,
               "include": ENCRYPTED, **extra}
    if not stream:
        final: dict[str, Any] = client.responses.create(**request).model_dump(
            mode="json", exclude_unset=True)
        assert final["output"][0]["type"] == "reasoning"
        return final
    events = streamed_events(client, **request)
    final = events[-1]["response"]
    thought = final["output"][0]
    assert thought["type"] == "reasoning"
    done = next(e["item"] for e in events if e["type"] == "response.output_item.done")
    assert done["encrypted_content"] == thought["encrypted_content"]  # clients read `.done`
    return final


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "non-stream"])
def test_anthropic_thinking_goes_back_signed(client: OpenAI, claude: ScriptedAnthropic,
                                             stream: bool) -> None:
    model = claude.play(MessagesScript([
        message_start(), *thinking_block(0, "Let me ", "think.", signature="sig-A"),
        block_start(1, {"type": "redacted_thinking", "data": "opaque-R"}), block_stop(1),
        *tool_block(2, "toolu_9", "get_weather", '{"city": "Oslo"}'),
        *message_end("tool_use")]))
    final = _reasoning_turn(client, model, stream=stream, tools=[WEATHER])
    thought = final["output"][0]
    assert thought["content"] == [{"type": "reasoning_text", "text": "Let me think."}]
    assert "sig-A" not in thought["encrypted_content"]  # sealed, not merely encoded
    follow = claude.play(claude_text("Cold."))
    answer = client.responses.create(model=follow, store=False, include=ENCRYPTED, input=[
        *_sent_back(final, "Weather in Oslo?"),
        {"type": "function_call_output", "call_id": "toolu_9", "output": "cold"}])
    assert answer.output_text == "Cold."
    assistant = claude.last_request(follow)["messages"][1]
    assert assistant["role"] == "assistant"
    assert assistant["content"] == [
        {"type": "thinking", "thinking": "Let me think.", "signature": "sig-A"},
        {"type": "redacted_thinking", "data": "opaque-R"},
        {"type": "tool_use", "id": "toolu_9", "name": "get_weather", "input": {"city": "Oslo"}}]


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "non-stream"])
def test_native_upstream_gets_its_own_encrypted_content_back(
        client: OpenAI, native: ScriptedResponses, stream: bool) -> None:
    events, item = reasoning(0, "Check ", "the map.", summary=True)
    item["encrypted_content"] = "upstream-blob"  # the `.done` event carries the same item
    model = native.play(script((events, item), native_message(1, "Cold.")))
    final = _reasoning_turn(client, model, stream=stream,
                            reasoning={"effort": "low", "summary": "auto"})
    assert native.last_request(model)["include"] == ENCRYPTED
    thought = final["output"][0]
    assert thought["summary"] == [{"type": "summary_text", "text": "Check the map."}]
    assert thought["encrypted_content"] != "upstream-blob"
    follow = native.play(native_text("Still cold."))
    client.responses.create(model=follow, store=False, include=ENCRYPTED,
                            input=[*_sent_back(final, "Weather in Oslo?"),
                                   {"role": "user", "content": "And tomorrow?"}])
    sent = native.last_request(follow)["input"]
    assert sent[1] == {"type": "reasoning", "encrypted_content": "upstream-blob",
                       "summary": [{"type": "summary_text", "text": "Check the map."}]}
    assert [entry["type"] for entry in sent] == ["message", "reasoning", "message", "message"]


@pytest.mark.parametrize("to", ["scripted", "llama"])
def test_chat_engine_reasoning_goes_back_as_reasoning_content(
        client: OpenAI, scripted: ScriptedUpstream, to: str) -> None:
    model = scripted.play(Script([chunk({"reasoning_content": "Cold "}),
                                  chunk({"reasoning_content": "north."}),
                                  chunk({"content": "Cold."}), chunk(finish="stop")]))
    final = _reasoning_turn(client, model)
    follow = scripted.play(chat_text("Still cold.")) if to == "scripted" else LLAMA_MODEL
    answer = client.responses.create(model=follow, store=False, max_output_tokens=16,
                                     input=[*_sent_back(final, "Weather in Oslo?"),
                                            {"role": "user", "content": "And tomorrow?"}])
    assert answer.status in ("completed", "incomplete")  # llama.cpp takes reasoning_content
    if to == "scripted":
        assert scripted.last_request(follow)["messages"][1] == {
            "role": "assistant", "content": "Cold.", "reasoning_content": "Cold north."}


def test_without_the_include_stored_chains_keep_their_reasoning(
        client: OpenAI, scripted: ScriptedUpstream) -> None:
    model = scripted.play(Script([chunk({"reasoning_content": "Hm."}),
                                  chunk({"content": "Yes."}), chunk(finish="stop")]))
    first = client.responses.create(model=model, input="Sure?", reasoning={"effort": "low"})
    assert first.output[0].type == "reasoning"
    assert first.output[0].encrypted_content is None  # not asked for
    assert scripted.last_request(model)["reasoning_effort"] == "low"
    follow = scripted.play(chat_text("Yes again."))
    client.responses.create(model=follow, previous_response_id=first.id, input="Really?")
    assert scripted.last_request(follow)["messages"][1] == {
        "role": "assistant", "content": "Yes.", "reasoning_content": "Hm."}


Tamper = Callable[[str], str]


@pytest.mark.parametrize("tamper", [
    lambda blob: blob[:-6] + ("A" if blob[-6] != "A" else "B") + blob[-5:],
    # Sealed the same way, with another server's key.
    lambda blob: Fernet(Fernet.generate_key()).encrypt(
        b'{"v": 1, "kind": "reasoning", "text": "forged"}').decode(),
], ids=["tampered", "foreign"])
def test_a_blob_this_server_did_not_seal_is_refused(client: OpenAI, scripted: ScriptedUpstream,
                                                    tamper: Tamper) -> None:
    model = scripted.play(Script([chunk({"reasoning_content": "Hm."}),
                                  chunk({"content": "Yes."}), chunk(finish="stop")]))
    final = _reasoning_turn(client, model)
    sent = _sent_back(final, "Weather in Oslo?")
    sent[1]["encrypted_content"] = tamper(sent[1]["encrypted_content"])
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model=model, store=False, input=sent)
    error = refused.value
    assert error.code == "invalid_encrypted_content"  # type: ignore[attr-defined]
    assert error.param == "input[1].encrypted_content"  # type: ignore[attr-defined]
    assert "could not be verified" in error.message


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "non-stream"])
def test_native_annotations_and_refusals_are_relayed(client: OpenAI, native: ScriptedResponses,
                                                     stream: bool) -> None:
    citation = {"type": "url_citation", "url": "https://example.com/", "title": "Example",
                "start_index": 0, "end_index": 7}
    events, item = native_message(0, "Example", " says hi.")
    item["content"][0]["annotations"] = [citation]
    events.insert(-3, {"type": "response.output_text.annotation.added", "item_id": item["id"],
                       "output_index": 0, "content_index": 0, "annotation_index": 0,
                       "annotation": citation})
    model = native.play(script((events, item), native_message(1, "No.", refusal=True)))
    if stream:
        streamed = streamed_events(client, model=model, input="Cite")
        added = [e for e in streamed if e["type"] == "response.output_text.annotation.added"]
        assert [e["annotation"] for e in added] == [citation]
        final = streamed[-1]["response"]
    else:
        final = client.responses.create(model=model, input="Cite").model_dump(mode="json")
    text, refusal = final["output"][0]["content"]
    assert text["annotations"] == [citation] and text["text"] == "Example says hi."
    assert refusal == {"type": "refusal", "refusal": "No."}


def test_models_name_their_provider_and_context_window(client: OpenAI, claude: ScriptedAnthropic,
                                                       native: ScriptedResponses) -> None:
    claude_model = claude.play(claude_text("x"))
    native_model = native.play(native_text("x"))
    listed = {model.id: model.model_dump() for model in client.models.list()}
    assert listed[LLAMA_MODEL]["provider"] == "llama"
    assert listed[LLAMA_MODEL]["context_window"] == 8192
    assert listed[claude_model]["provider"] == listed[claude_model]["owned_by"] == "claude"
    assert listed[native_model]["provider"] == "native"
    assert client.models.retrieve(claude_model).model_dump()["provider"] == "claude"
