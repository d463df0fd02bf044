"""Compaction through the official SDK: `responses.compact`, compaction items as input (stored
or not), tampered blobs, and `context_management` on create."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import openai
import pytest
from openai import OpenAI
from openai.types.responses import CompactedResponse

from tests.conftest import LLAMA_MODEL
from tests.support.scripted_upstream import ScriptedUpstream, text_script

SUMMARY_PREFIX = "Summary of the earlier conversation:"


def compact(client: OpenAI, **params: Any) -> Any:
    """`responses.compact`, read leniently: the kept user messages are input messages, which
    the SDK's strict `ResponseOutputItem` typing (this test client validates) rejects."""
    raw = client.responses.with_raw_response.compact(**params)
    body = raw.http_response.json()
    assert CompactedResponse.construct(**body).object == "response.compaction"
    return SimpleNamespace(**body)


def _texts(body: dict[str, Any]) -> str:
    return "\n".join(str(message.get("content")) for message in body["messages"])


def test_compact_input_then_feed_back_unstored(client: OpenAI, scripted: ScriptedUpstream) -> None:
    model = scripted.play(text_script("User likes ", "green tea."))
    compacted = compact(client, model=model, input=[
        {"role": "user", "content": "My favourite drink is green tea."},
        {"role": "assistant", "content": "Noted!"},
        {"role": "user", "content": "What should I order?"},
    ])
    assert compacted.object == "response.compaction"
    sent = _texts(scripted.last_request(model))
    assert "green tea" in sent and "Noted!" in sent
    kept, item = compacted.output
    assert kept["type"] == "message" and kept["role"] == "user"
    assert item["type"] == "compaction" and item["id"].startswith("cmp_")
    assert "green tea" not in item["encrypted_content"]  # opaque
    assert compacted.usage["output_tokens"] == 7

    follow = scripted.play(text_script("Green tea."))
    replay = list(compacted.output)
    response = client.responses.create(model=follow, store=False,
                                       input=[*replay, {"role": "user", "content": "Again?"}])
    assert response.output_text == "Green tea."
    sent = _texts(scripted.last_request(follow))
    assert f"{SUMMARY_PREFIX}\\nUser likes green tea." in sent or \
        f"{SUMMARY_PREFIX}\nUser likes green tea." in sent
    assert "Noted!" not in sent
    assert "What should I order?" in sent


def test_tampered_blob_is_refused(client: OpenAI, scripted: ScriptedUpstream) -> None:
    model = scripted.play(text_script("summary"))
    item = compact(client, model=model, input="Remember 42.").output[-1]
    blob = item["encrypted_content"]
    tampered = blob[:-4] + ("AAAA" if not blob.endswith("AAAA") else "BBBB")
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model=model, input=[
            {"type": "compaction", "encrypted_content": tampered},
            {"role": "user", "content": "hi"}])
    assert caught.value.code == "invalid_encrypted_content"
    assert caught.value.param == "input[0].encrypted_content"  # type: ignore[attr-defined]


def test_compact_validation(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        compact(client, model=None, input="hi")
    assert caught.value.code == "missing_required_parameter"
    with pytest.raises(openai.BadRequestError) as caught:
        compact(client, model=LLAMA_MODEL, input="hi", prompt_cache_key="k" * 65)
    assert caught.value.code == "string_above_max_length"
    with pytest.raises(openai.BadRequestError) as caught:
        compact(client, model=LLAMA_MODEL, previous_response_id="resp_missing")
    assert caught.value.code == "previous_response_not_found"


def test_compact_previous_response(client: OpenAI, scripted: ScriptedUpstream) -> None:
    first = scripted.play(text_script("The capital is Paris."))
    response = client.responses.create(model=first, input="Capital of France?")
    model = scripted.play(text_script("Asked about France: Paris."))
    compacted = compact(client, model=model, previous_response_id=response.id,
                                         input="And Italy?")
    assert "The capital is Paris." in _texts(scripted.last_request(model))
    assert [item["type"] for item in compacted.output] == ["message", "compaction"]
    follow = scripted.play(text_script("Rome."))
    replay = list(compacted.output)
    client.responses.create(model=follow, input=replay)
    assert "Asked about France: Paris." in _texts(scripted.last_request(follow))


def test_compact_with_llama(client: OpenAI) -> None:
    compacted = compact(client, model=LLAMA_MODEL, input="Hello there, remember 7.")
    assert [item["type"] for item in compacted.output] == ["compaction"]
    response = client.responses.create(model=LLAMA_MODEL, max_output_tokens=16,
                                       input=[compacted.output[0],
                                              {"role": "user", "content": "Go on"}])
    assert response.status in ("completed", "incomplete")


def test_auto_compaction_on_chain(client: OpenAI, scripted: ScriptedUpstream) -> None:
    first = scripted.play(text_script("word " * 1500))
    response = client.responses.create(model=first, input="Tell me a long story.")
    model = scripted.play(text_script("Summary: a long story."))
    second = client.responses.create(
        model=model, previous_response_id=response.id, input="Shorter please.",
        context_management=[{"type": "compaction", "compact_threshold": 1000}])
    assert [item.type for item in second.output] == ["compaction", "message"]
    sent = _texts(scripted.last_request(model))
    assert SUMMARY_PREFIX in sent and "word word" not in sent and "Shorter please." in sent

    # The next turn drops what the compaction item covers.
    third_model = scripted.play(text_script("ok"))
    client.responses.create(model=third_model, previous_response_id=second.id, input="Thanks")
    sent = _texts(scripted.last_request(third_model))
    assert "word word" not in sent and "Summary: a long story." in sent

    # Streaming shows the compaction item as its own added/done pair.
    stream_model = scripted.play(text_script("Summary again."))
    events = list(client.responses.create(
        model=stream_model, previous_response_id=response.id, input="Again", stream=True,
        context_management=[{"type": "compaction", "compact_threshold": 1000}]))
    added = [e for e in events if e.type == "response.output_item.added"]
    assert added[0].item.type == "compaction" and added[0].output_index == 0
    assert events[-1].type == "response.completed"

    below = scripted.play(text_script("fine"))
    quiet = client.responses.create(
        model=below, input="hi", context_management=[{"type": "compaction",
                                                      "compact_threshold": 100000}])
    assert [item.type for item in quiet.output] == ["message"]


def test_compaction_trigger_compacts_the_whole_context(client: OpenAI,
                                                      scripted: ScriptedUpstream) -> None:
    """Codex's remote compaction v2: a create whose input ends with `compaction_trigger` answers
    with exactly one `compaction` item, announced by `response.compaction.compacting`."""
    first = scripted.play(text_script("Noted, green tea."))
    response = client.responses.create(model=first, input="My favourite drink is green tea.")
    model = scripted.play(text_script("User likes green tea."))
    events = list(client.responses.create(
        model=model, previous_response_id=response.id, stream=True,
        input=[{"role": "user", "content": "Remember that."}, {"type": "compaction_trigger"}]))
    types = [event.type for event in events]
    assert types == ["response.created", "response.in_progress", "response.output_item.added",
                     "response.compaction.compacting", "response.output_item.done",
                     "response.completed"]
    final = events[-1].response
    assert [item.type for item in final.output] == ["compaction"]
    assert final.usage is not None and final.usage.output_tokens > 0
    sent = _texts(scripted.last_request(model))
    assert "green tea" in sent and "Remember that." in sent  # the whole context, summarized
    # The trigger is a signal, not an input item; the next turn reads the summary only.
    listed = client.responses.input_items.list(final.id)
    assert [item.type for item in listed.data] == ["message"]
    follow = scripted.play(text_script("Green tea."))
    client.responses.create(model=follow, previous_response_id=final.id, input="What again?")
    sent = _texts(scripted.last_request(follow))
    assert "User likes green tea." in sent and "Noted, green tea." not in sent


def test_compaction_trigger_must_come_last(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model=LLAMA_MODEL, input=[
            {"type": "compaction_trigger"}, {"role": "user", "content": "hi"}])
    assert caught.value.body["param"] == "input[0]"  # type: ignore[index]
    assert "must be the final input item" in caught.value.body["message"]  # type: ignore[index]
