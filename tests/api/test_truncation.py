"""`truncation` against a model's context window, through the official SDK.

A second llama.cpp server with a 512-token context (its window comes from the engine's own
`/props`, narrower than the 8192 configured), and the scripted upstream behind a provider with
a configured `context_window` (estimated counts) for exact assertions on what reached it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from openai import OpenAI

from tests.conftest import config_text, sdk_client
from tests.support.llama_server import LlamaServer, start_llama_server
from tests.support.responsa_server import RunningResponsa, serving
from tests.support.scripted_upstream import ScriptedUpstream, text_script

SMALL = "llama/tiny"  # the 512-token llama.cpp server
TIGHT_WINDOW = 400  # `tight/…`: the scripted upstream; input budget 400 - 100 = 300 tokens


@pytest.fixture(scope="module")
def small_llama(tiny_model: Path) -> Iterator[LlamaServer]:
    server = start_llama_server(tiny_model, alias="tiny", n_ctx=512)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory, small_llama: LlamaServer,
                 scripted: ScriptedUpstream) -> Iterator[RunningResponsa]:
    tmp: Path = tmp_path_factory.mktemp("truncation")
    with serving(tmp, config_text(small_llama, scripted, extra=f"""
[providers.tight]
base_url = "{scripted.base_url}"
context_window = {TIGHT_WINDOW}
""")) as server:
        yield server


@pytest.fixture
def small(small_server: RunningResponsa) -> OpenAI:
    return sdk_client(small_server)


def tight_model(scripted: ScriptedUpstream) -> tuple[str, str]:
    """(model for responsa, script name the upstream sees) for a fresh text script."""
    name = scripted.play(text_script("ok")).removeprefix("scripted/")
    return f"tight/{name}", name


def user(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": text}


def assistant(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "assistant", "content": text}


def call(call_id: str) -> dict[str, Any]:
    return {"type": "function_call", "call_id": call_id, "name": "lookup", "arguments": "{}"}


def output(call_id: str) -> dict[str, Any]:
    return {"type": "function_call_output", "call_id": call_id, "output": "42"}


LONG = "hello world " * 100  # 600+ tokens for the tiny model; ~300 estimated


@pytest.mark.parametrize("stream", [False, True])
def test_disabled_rejects_over_long_input_before_the_engine(small: OpenAI, stream: bool) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        small.responses.create(model=SMALL, input=LONG, stream=stream)
    error = caught.value
    assert error.code == "context_length_exceeded" and error.param == "input"
    assert "512 tokens" in error.message  # our own check, with the engine's window
    assert "available context size" not in error.message  # not llama.cpp's refusal


def test_disabled_never_calls_the_upstream(small: OpenAI, scripted: ScriptedUpstream) -> None:
    model, _ = tight_model(scripted)
    before = len(scripted.requests)
    with pytest.raises(openai.BadRequestError) as caught:
        small.responses.create(model=model, input="x" * 2000, truncation="disabled")
    assert caught.value.code == "context_length_exceeded" and caught.value.param == "input"
    assert len(scripted.requests) == before


def test_short_input_reaches_the_upstream_whole(small: OpenAI, scripted: ScriptedUpstream) -> None:
    model, name = tight_model(scripted)
    items = [user("first"), assistant("one"), user("second")]
    response = small.responses.create(model=model, input=items, instructions="Be brief.",
                                      truncation="auto")
    assert response.truncation == "auto"
    contents = [message["content"] for message in scripted.last_request(name)["messages"]]
    assert contents == ["Be brief.", "first", "one", "second"]


def test_auto_drops_oldest_turns_and_keeps_pairs(small: OpenAI,
                                                 scripted: ScriptedUpstream) -> None:
    model, name = tight_model(scripted)
    items = [user("a" * 2000), assistant("long ago"),
             user("look it up"), call("call_1"), output("call_1"), assistant("it is 42"),
             user("and now?")]
    response = small.responses.create(model=model, input=items, instructions="Be brief.",
                                      truncation="auto")
    assert response.status == "completed" and response.truncation == "auto"
    messages = scripted.last_request(name)["messages"]
    assert [message["role"] for message in messages] == [
        "system", "user", "assistant", "tool", "assistant", "user"]
    assert messages[0]["content"] == "Be brief."
    assert messages[1]["content"] == "look it up"
    assert messages[2]["tool_calls"][0]["id"] == "call_1"
    assert messages[3]["tool_call_id"] == "call_1"
    # What the client sent is kept as sent: only the model's view was truncated.
    listed = small.responses.input_items.list(response.id, order="asc").data
    assert len(listed) == len(items)


def test_auto_never_splits_a_call_from_its_output(small: OpenAI,
                                                  scripted: ScriptedUpstream) -> None:
    model, name = tight_model(scripted)
    # The user message between the call and its output is no place to cut: the only cut left
    # keeps the newest turn alone.
    items = [user("b" * 2000), call("call_2"), user("meanwhile"), output("call_2"),
             assistant("done"), user("next")]
    small.responses.create(model=model, input=items, truncation="auto")
    messages = scripted.last_request(name)["messages"]
    assert [message["role"] for message in messages] == ["user"]
    assert messages[0]["content"] == "next"


def test_auto_fails_when_the_newest_turn_alone_is_too_long(small: OpenAI,
                                                           scripted: ScriptedUpstream) -> None:
    model, _ = tight_model(scripted)
    before = len(scripted.requests)
    with pytest.raises(openai.BadRequestError) as caught:
        small.responses.create(model=model, input=[user("hi"), assistant("hello"),
                                                   user("c" * 2000)], truncation="auto")
    assert caught.value.code == "context_length_exceeded" and caught.value.param == "input"
    assert len(scripted.requests) == before


def test_max_output_tokens_is_reserved(small: OpenAI, scripted: ScriptedUpstream) -> None:
    model, _ = tight_model(scripted)
    # ~150 estimated tokens fit the default reserve (100) but not a 300-token one.
    small.responses.create(model=model, input="d" * 600)
    with pytest.raises(openai.BadRequestError) as caught:
        small.responses.create(model=model, input="d" * 600, max_output_tokens=300)
    assert caught.value.code == "context_length_exceeded"


def test_auto_keeps_a_long_chain_answering(small: OpenAI) -> None:
    previous: str | None = None
    started = time.monotonic()
    for turn in range(30):
        response = small.responses.create(
            model=SMALL, input=f"Turn {turn}: tell me more about the weather in the mountains.",
            previous_response_id=previous, truncation="auto", max_output_tokens=24,
            temperature=0)
        assert response.error is None and response.status in ("completed", "incomplete")
        assert response.truncation == "auto"
        assert response.usage is not None and response.usage.input_tokens <= 512 - 24
        previous = response.id
    assert time.monotonic() - started < 60
    # Without truncation the same chain no longer fits.
    with pytest.raises(openai.BadRequestError) as caught:
        small.responses.create(model=SMALL, input="and?", previous_response_id=previous,
                               max_output_tokens=24)
    assert caught.value.code == "context_length_exceeded"


def test_input_tokens_counts_what_auto_truncation_keeps(small: OpenAI) -> None:
    previous: str | None = None
    for turn in range(4):
        previous = small.responses.create(
            model=SMALL, input=f"Turn {turn}: {LONG[:300]}", previous_response_id=previous,
            truncation="auto", max_output_tokens=24, temperature=0).id
    params: dict[str, Any] = {"model": SMALL, "input": "Sum it up.",
                              "previous_response_id": previous}
    whole = small.responses.input_tokens.count(**params).input_tokens
    kept = small.responses.input_tokens.count(**params, truncation="auto").input_tokens
    assert kept < whole and whole > 512 - 128  # the chain no longer fits its window
    response = small.responses.create(**params, truncation="auto", temperature=0)
    assert response.usage is not None and response.usage.input_tokens == kept
