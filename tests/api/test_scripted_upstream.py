"""Exact protocol edge cases, played by the scripted upstream through a real responsa process."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from tests.support.grammar import assert_valid_stream
from tests.support.responsa_server import RunningResponsa, free_port, serving
from tests.support.scripted_upstream import (
    Drop,
    Pause,
    Script,
    ScriptedUpstream,
    chunk,
    text_script,
    usage,
)
from tests.support.sdk import streamed_events


def test_sse_framing_on_the_wire(server: RunningResponsa, scripted: ScriptedUpstream) -> None:
    model = scripted.play(text_script("Hel", "lo"))
    with httpx.stream("POST", f"{server.base_url}/responses", timeout=10,
                      json={"model": model, "input": "hi", "stream": True}) as reply:
        assert reply.headers["content-type"].startswith("text/event-stream")
        assert reply.headers["x-request-id"].startswith("req_")
        body = reply.read().decode()
    frames = body.split("\n\n")
    assert frames[-1] == ""  # every event ends with a blank line
    for frame in frames[:-1]:
        event_line, data_line = frame.split("\n")
        assert event_line.startswith("event: ") and data_line.startswith("data: {")
        assert f'"type":"{event_line[7:]}"' in data_line
    assert "[DONE]" not in body


def test_text_deltas_arrive_as_sent(client: OpenAI, scripted: ScriptedUpstream) -> None:
    model = scripted.play(text_script("a", "b", "c"))
    events = streamed_events(client, model=model, input="x")
    assert_valid_stream(events)
    deltas = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
    assert deltas == ["a", "b", "c"]


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_upstream_reasoning_becomes_a_reasoning_item(client: OpenAI, scripted: ScriptedUpstream,
                                                     field: str) -> None:
    model = scripted.play(Script([
        chunk({field: "Let me "}), chunk({field: "think."}), chunk({"content": "42"}),
        chunk(finish="stop"), chunk(usage=usage(5, 9, reasoning=6))]))
    events = streamed_events(client, model=model, input="x")
    assert_valid_stream(events)
    final = events[-1]["response"]
    reasoning, message = final["output"]
    assert reasoning["type"] == "reasoning" and reasoning["summary"] == []
    assert reasoning["content"] == [{"type": "reasoning_text", "text": "Let me think."}]
    assert message["content"][0]["text"] == "42"
    assert final["usage"]["output_tokens_details"]["reasoning_tokens"] == 6
    assert [e["delta"] for e in events if e["type"] == "response.reasoning_text.delta"] == [
        "Let me ", "think."]


def test_refusal(client: OpenAI, scripted: ScriptedUpstream) -> None:
    model = scripted.play(Script([chunk({"refusal": "I can't"}), chunk(finish="stop")]))
    response = client.responses.create(model=model, input="x")
    assert response.status == "completed"
    assert response.output[0].content[0].type == "refusal"


def test_parallel_tool_calls_become_separate_items(client: OpenAI,
                                                   scripted: ScriptedUpstream) -> None:
    def call(index: int, **function: Any) -> dict[str, Any]:
        entry: dict[str, Any] = {"index": index, "function": function}
        if "name" in function:
            entry.update(id=f"call_{index}", type="function")
        return chunk({"tool_calls": [entry]})

    model = scripted.play(Script([
        call(0, name="a", arguments=""), call(0, arguments='{"x":'), call(0, arguments="1}"),
        call(1, name="b", arguments="{}"), chunk(finish="tool_calls")]))
    tools = [{"type": "function", "name": n, "parameters": {"type": "object"}} for n in "ab"]
    events = streamed_events(client, model=model, input="x", tools=tools)
    assert_valid_stream(events)
    calls = events[-1]["response"]["output"]
    assert [(c["name"], c["call_id"], c["arguments"]) for c in calls] == [
        ("a", "call_0", '{"x":1}'), ("b", "call_1", "{}")]
    sent = scripted.last_request(model)
    assert sent["tools"][0] == {"type": "function",
                                "function": {"name": "a", "parameters": {"type": "object"}}}


def test_usage_details_are_mapped(client: OpenAI, scripted: ScriptedUpstream) -> None:
    model = scripted.play(Script([chunk({"content": "x"}), chunk(finish="stop"),
                                   chunk(usage=usage(100, 3, cached=64))]))
    response = client.responses.create(model=model, input="x")
    assert response.usage is not None
    assert response.usage.input_tokens_details.cached_tokens == 64
    assert response.usage.total_tokens == 103


def test_length_finish_is_incomplete(client: OpenAI, scripted: ScriptedUpstream) -> None:
    model = scripted.play(text_script("cut", finish="length"))
    response = client.responses.create(model=model, input="x", max_output_tokens=16)
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    assert scripted.last_request(model)["max_tokens"] == 16
    events = streamed_events(client, model=model, input="x")
    assert_valid_stream(events)
    assert events[-1]["type"] == "response.incomplete"


def test_instructions_are_not_carried_over(client: OpenAI, scripted: ScriptedUpstream) -> None:
    model = scripted.play(text_script("one"))
    name = model.split("/")[1]
    first = client.responses.create(model=model, input="q1", instructions="FIRST")
    client.responses.create(model=model, input="q2", previous_response_id=first.id,
                            instructions="SECOND")
    messages = scripted.last_request(name)["messages"]
    assert messages == [
        {"role": "system", "content": "SECOND"}, {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "one"}, {"role": "user", "content": "q2"}]


@pytest.mark.parametrize("script", [
    Script(status=500, error={"error": {"message": "engine exploded"}}),
    Script([chunk({"content": "half"}), Drop()], done=False),
    Script([b"data: {not json\n\n"]),
    Script([chunk({"content": "never finished"})], done=False),
], ids=["http-500", "dropped-mid-stream", "malformed-chunk", "no-finish"])
def test_upstream_failures_end_as_stored_failed_responses(
        client: OpenAI, scripted: ScriptedUpstream, script: Script) -> None:
    model = scripted.play(script)
    events = streamed_events(client, model=model, input="x")
    assert_valid_stream(events)
    failed = events[-1]
    assert failed["type"] == "response.failed"
    assert failed["response"]["error"]["code"] == "server_error"
    assert "Provider 'scripted'" in failed["response"]["error"]["message"]
    stored = client.responses.retrieve(failed["response"]["id"])
    assert stored.status == "failed"
    non_streaming = client.responses.create(model=model, input="x")
    assert non_streaming.status == "failed" and non_streaming.error is not None


def test_unreachable_provider_fails_cleanly(tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}/v1"
    text = f'embedded_engine = false\n[providers.gone]\nbase_url = "{closed}"\n'
    with serving(tmp_path, text) as server:
        client = OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        response = client.responses.create(model="gone/m", input="x")
    assert response.status == "failed"
    assert response.error is not None and "cannot connect" in response.error.message


def test_upstream_timeout_fails(client: OpenAI, scripted: ScriptedUpstream) -> None:
    model = scripted.play(Script([chunk({"content": "a"}), Pause(6), chunk(finish="stop")]))
    response = client.responses.create(model=model, input="x")  # provider timeout is 5 s
    assert response.status == "failed"
    assert response.error is not None and "timed out" in response.error.message


def test_upstream_rejection_is_a_client_error(client: OpenAI, scripted: ScriptedUpstream) -> None:
    model = scripted.play(Script(status=400, error={"error": {"message": "bad schema"}}))
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model=model, input="x")
    assert "bad schema" in caught.value.message


def test_context_overflow_from_upstream(client: OpenAI, scripted: ScriptedUpstream) -> None:
    model = scripted.play(Script(status=400, error={"error": {
        "message": "the request exceeds the available context size", "type":
        "exceed_context_size_error"}}))
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model=model, input="x")
    assert caught.value.code == "context_length_exceeded"


def test_heartbeats_while_the_upstream_is_silent(server: RunningResponsa,
                                                 scripted: ScriptedUpstream) -> None:
    model = scripted.play(Script([Pause(1.3), *text_script("late").chunks]))
    with httpx.stream("POST", f"{server.base_url}/responses", timeout=10,
                      json={"model": model, "input": "hi", "stream": True}) as reply:
        body = reply.read().decode()
    assert body.count(": keep-alive\n\n") >= 2  # heartbeat_seconds = 0.5 in the test config
    assert "response.completed" in body


def test_client_disconnect_stops_the_run_and_stores_it(server: RunningResponsa,
                                                       scripted: ScriptedUpstream,
                                                       client: OpenAI) -> None:
    slow = [chunk({"content": f"t{i} "}) for i in range(3)] + [Pause(30), chunk(finish="stop")]
    model = scripted.play(Script(slow))
    with httpx.stream("POST", f"{server.base_url}/responses", timeout=10,
                      json={"model": model, "input": "hi", "stream": True}) as reply:
        lines = reply.iter_lines()
        response_id = None
        for line in lines:
            if line.startswith("data:") and '"response.output_text.delta"' in line:
                break
            if line.startswith("data:") and response_id is None:
                response_id = httpx.Response(200, content=line[5:]).json()["response"]["id"]
    assert response_id is not None
    deadline = time.monotonic() + 5
    while True:
        try:
            stored = client.responses.retrieve(response_id)
            break
        except openai.NotFoundError:
            assert time.monotonic() < deadline, "the cancelled run was never stored"
            time.sleep(0.05)
    assert stored.status == "cancelled"
    assert stored.output and stored.output[0].status == "incomplete"


def test_unexpected_chunk_shapes_fail_the_response_not_the_server(
        client: OpenAI, scripted: ScriptedUpstream) -> None:
    model = scripted.play(Script([{"choices": [7]}]))
    events = streamed_events(client, model=model, input="x")
    assert_valid_stream(events)
    assert events[-1]["type"] == "response.failed"
    assert client.responses.retrieve(events[-1]["response"]["id"]).status == "failed"
