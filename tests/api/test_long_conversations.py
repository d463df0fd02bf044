"""Issue 3's bar: a long conversation against a small context window keeps answering.

A llama.cpp server with a 2,048-token context (its window comes from the engine's own `/props`,
narrower than the 8192 configured), responsa on SQLite and on PostgreSQL, and one conversation
of many turns of ~20 words each, through the official SDK:

- with `truncation: "auto"` every turn answers, the model never reads more than its window, and
  the stored conversation still lists every user message and every output, in order;
- with automatic compaction (`context_management`, a threshold well under the window) every
  turn answers too, some turns open their output with a `compaction` item, and the
  conversation again lists everything.

The tiny model writes word salad: only the structure is asserted.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from openai import OpenAI

from tests.conftest import config_text, sdk_client
from tests.support.llama_server import LlamaServer, start_llama_server
from tests.support.responsa_server import RunningResponsa, serving
from tests.support.scripted_upstream import ScriptedUpstream

MODEL = "llama/tiny"  # the 2,048-token llama.cpp server
WINDOW = 2048
MAX_OUTPUT = 32
THRESHOLD = 1024  # compact_threshold, in input tokens: well under the window
# The full 200 turns on SQLite; PostgreSQL runs the same code path over a shorter conversation
# (still many times the window) to keep the module within its time budget on a small machine.
TURNS = {"sqlite": 200, "postgres": 60}
WORDS = ("river", "mountain", "lantern", "copper", "garden", "window", "violet", "thunder",
         "harbor", "pencil", "meadow", "silver", "orchard", "candle", "marble", "falcon",
         "winter", "ladder", "coral", "basket")


@pytest.fixture(scope="module")
def window_llama(tiny_model: Path) -> Iterator[LlamaServer]:
    server = start_llama_server(tiny_model, alias="tiny", n_ctx=WINDOW)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def long_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                window_llama: LlamaServer,
                scripted: ScriptedUpstream) -> Iterator[tuple[str, RunningResponsa]]:
    tmp: Path = tmp_path_factory.mktemp(f"long-{request.param}")
    database = (f"sqlite:///{tmp}/db.sqlite" if request.param == "sqlite"
                else request.getfixturevalue("postgres_dsn"))
    with serving(tmp, config_text(window_llama, scripted), database=database) as server:
        yield request.param, server


@pytest.fixture
def long_client(long_server: tuple[str, RunningResponsa]) -> tuple[OpenAI, int]:
    database, server = long_server
    return sdk_client(server, timeout=60), TURNS[database]


def user_turn(turn: int) -> str:
    """~20 distinct words, different on every turn."""
    words = [WORDS[(turn * 7 + i) % len(WORDS)] for i in range(18)]
    return f"Turn {turn}: " + " ".join(words) + "?"


def run_conversation(client: OpenAI, turns: int, **params: Any) -> tuple[str, list[Any]]:
    conversation = client.conversations.create()
    responses: list[Any] = []
    for turn in range(turns):
        response = client.responses.create(
            model=MODEL, conversation=conversation.id, input=user_turn(turn),
            max_output_tokens=MAX_OUTPUT, temperature=0, **params)
        assert response.error is None, (turn, response.error)
        assert response.status in ("completed", "incomplete"), (turn, response.status)
        if response.status == "incomplete":
            assert response.incomplete_details is not None
            assert response.incomplete_details.reason == "max_output_tokens"
        assert response.conversation is not None and response.conversation.id == conversation.id
        assert response.usage is not None
        assert response.usage.input_tokens <= WINDOW - MAX_OUTPUT, (turn, response.usage)
        assert any(item.type == "message" for item in response.output), turn
        responses.append(response)
    return conversation.id, responses


def assert_lists_every_item(client: OpenAI, conversation_id: str, responses: list[Any]) -> None:
    # Auto-paged (the SDK follows `after=last_id`), oldest first.
    listed = list(client.conversations.items.list(conversation_id, order="asc", limit=100))
    expected: list[tuple[str, str | None]] = []
    for response in responses:
        expected.append(("message", "user"))
        expected.extend((item.type, getattr(item, "role", None)) for item in response.output)
    assert [(item.type, getattr(item, "role", None)) for item in listed] == expected
    users = [item for item in listed if item.type == "message" and item.role == "user"]
    assert [item.content[0].text for item in users] == [  # type: ignore[union-attr]
        user_turn(turn) for turn in range(len(responses))]
    outputs = [item for item in listed
               if not (item.type == "message" and item.role == "user")]
    assert [item.id for item in outputs] == [
        item.id for response in responses for item in response.output]


def test_truncation_auto_keeps_a_long_conversation_answering(
        long_client: tuple[OpenAI, int]) -> None:
    client, turns = long_client
    conversation_id, responses = run_conversation(client, turns, truncation="auto")
    assert all(response.truncation == "auto" for response in responses)
    assert_lists_every_item(client, conversation_id, responses)
    # The conversation outgrew the window long ago: without truncation it no longer fits, and
    # the refused turn adds nothing to it.
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model=MODEL, conversation=conversation_id, input="And?",
                                max_output_tokens=MAX_OUTPUT)
    assert caught.value.code == "context_length_exceeded"
    listed = client.conversations.items.list(conversation_id, order="desc", limit=1).data
    assert listed[0].id == responses[-1].output[-1].id


def test_auto_compaction_keeps_a_long_conversation_answering(
        long_client: tuple[OpenAI, int]) -> None:
    client, turns = long_client
    conversation_id, responses = run_conversation(
        client, turns, context_management=[{"type": "compaction",
                                            "compact_threshold": THRESHOLD}])
    compacted = [turn for turn, response in enumerate(responses)
                 if response.output[0].type == "compaction"]
    assert compacted, "no turn compacted"
    assert len(compacted) >= turns // 20  # again and again, not once
    # Compaction alone keeps the context small: no truncation was asked for, and a turn that
    # did not compact read at most the threshold.
    assert all(response.truncation == "disabled" for response in responses)
    assert all(response.usage.input_tokens <= THRESHOLD for turn, response in enumerate(responses)
               if turn not in compacted)
    for turn in compacted:
        kinds = [item.type for item in responses[turn].output]
        assert kinds[0] == "compaction" and kinds.count("compaction") == 1, (turn, kinds)
        assert responses[turn].output[0].encrypted_content  # type: ignore[union-attr]
    assert_lists_every_item(client, conversation_id, responses)
