"""Stored state through the public API, on SQLite and on PostgreSQL."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from openai import OpenAI

from tests.support.grammar import assert_valid_stream
from tests.support.scripted_upstream import ScriptedUpstream, text_script


@pytest.fixture
def model(scripted: ScriptedUpstream) -> str:
    return scripted.play(text_script("Hello", " there"))


def test_retrieve_equals_create(client_any_db: OpenAI, model: str) -> None:
    created = client_any_db.responses.create(model=model, input="hi", metadata={"a": "b"})
    assert client_any_db.responses.retrieve(created.id) == created


def test_store_false_is_not_retrievable(client_any_db: OpenAI, model: str) -> None:
    created = client_any_db.responses.create(model=model, input="hi", store=False)
    assert created.store is False
    with pytest.raises(openai.NotFoundError):
        client_any_db.responses.retrieve(created.id)
    with pytest.raises(openai.BadRequestError) as caught:
        client_any_db.responses.create(model=model, input="more", previous_response_id=created.id)
    assert caught.value.code == "previous_response_not_found"
    assert caught.value.param == "previous_response_id"


def test_chain_sees_prior_input_and_output(client_any_db: OpenAI, model: str,
                                           scripted: ScriptedUpstream) -> None:
    first = client_any_db.responses.create(model=model, input="one")
    second = client_any_db.responses.create(model=model, input="two", previous_response_id=first.id)
    client_any_db.responses.create(model=model, input="three", previous_response_id=second.id)
    sent = scripted.last_request(model)["messages"]
    assert [m["content"] for m in sent] == ["one", "Hello there", "two", "Hello there", "three"]


def test_item_references_resolve_within_the_chain(client_any_db: OpenAI, model: str,
                                                 scripted: ScriptedUpstream) -> None:
    first = client_any_db.responses.create(model=model, input="one")
    answer_id = first.output[0].id
    client_any_db.responses.create(model=model, previous_response_id=first.id, input=[
        {"type": "item_reference", "id": answer_id}, {"role": "user", "content": "again?"}])
    sent = scripted.last_request(model)["messages"]
    assert [m["content"] for m in sent] == ["one", "Hello there", "Hello there", "again?"]
    with pytest.raises(openai.BadRequestError) as caught:
        client_any_db.responses.create(model=model, input=[{"type": "item_reference",
                                                            "id": "msg_unknown"}])
    assert caught.value.param == "input"
    assert "Item with id 'msg_unknown' not found." in caught.value.message


def test_input_items_pagination(client_any_db: OpenAI, model: str) -> None:
    texts = [f"m{i}" for i in range(5)]
    created = client_any_db.responses.create(
        model=model, input=[{"role": "user", "content": text} for text in texts])
    items = client_any_db.responses.input_items
    page = items.list(created.id)  # default order: newest first
    assert [item.content[0].text for item in page.data] == texts[::-1]
    assert all(item.id and item.status == "completed" for item in page.data)
    first = items.list(created.id, limit=2, order="asc")
    assert [i.content[0].text for i in first.data] == ["m0", "m1"] and first.has_more
    rest = items.list(created.id, limit=2, order="asc", after=first.data[-1].id)
    assert [i.content[0].text for i in rest.data] == ["m2", "m3"] and rest.has_more
    last = items.list(created.id, limit=2, order="asc", after=rest.data[-1].id)
    assert [i.content[0].text for i in last.data] == ["m4"] and not last.has_more
    # The SDK's auto-pagination follows `after` until has_more is false.
    assert [i.content[0].text for i in items.list(created.id, limit=2, order="asc")] == texts


def test_input_items_limits(client_any_db: OpenAI, model: str) -> None:
    created = client_any_db.responses.create(model=model, input="x")
    with pytest.raises(openai.BadRequestError) as caught:
        client_any_db.responses.input_items.list(created.id, limit=101)
    assert (caught.value.code, caught.value.param) == ("integer_above_max_value", "limit")
    with pytest.raises(openai.NotFoundError):
        client_any_db.responses.input_items.list("resp_missing")


def test_replay_from_the_event_log(client_any_db: OpenAI, model: str) -> None:
    with client_any_db.responses.create(model=model, input="hi", stream=True) as stream:
        live = [e.model_dump(mode="json", exclude_unset=True) for e in stream]
    response_id = live[0]["response"]["id"]
    replayed = [e.model_dump(mode="json", exclude_unset=True)
                for e in client_any_db.responses.retrieve(response_id, stream=True)]
    assert replayed == live
    tail = list(client_any_db.responses.retrieve(response_id, stream=True, starting_after=3))
    assert [e.sequence_number for e in tail] == list(range(4, len(live)))
    with client_any_db.responses.stream(response_id=response_id, starting_after=2) as helper:
        assert helper.get_final_response().id == response_id


def test_non_streamed_responses_replay_too(client_any_db: OpenAI, model: str) -> None:
    created = client_any_db.responses.create(model=model, input="hi")
    events: list[dict[str, Any]] = [
        e.model_dump(mode="json", exclude_unset=True)
        for e in client_any_db.responses.retrieve(created.id, stream=True)]
    assert_valid_stream(events)
    assert events[-1]["response"]["id"] == created.id


def test_delete(client_any_db: OpenAI, model: str) -> None:
    created = client_any_db.responses.create(model=model, input="hi")
    client_any_db.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError) as caught:
        client_any_db.responses.retrieve(created.id)
    assert caught.value.message.endswith(f"Response with id '{created.id}' not found.")
    with pytest.raises(openai.NotFoundError):
        client_any_db.responses.delete(created.id)


def test_cancel_a_synchronous_response(client_any_db: OpenAI, model: str) -> None:
    created = client_any_db.responses.create(model=model, input="hi")
    with pytest.raises(openai.BadRequestError) as caught:
        client_any_db.responses.cancel(created.id)
    assert "Cannot cancel a synchronous response." in caught.value.message
    with pytest.raises(openai.NotFoundError):
        client_any_db.responses.cancel("resp_unknown")
