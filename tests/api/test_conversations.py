"""The Conversations API and `conversation` on responses, through the official SDK, on SQLite and
on PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from tests.support.scripted_upstream import Script, ScriptedUpstream, text_script


@pytest.fixture
def model(scripted: ScriptedUpstream) -> str:
    return scripted.play(text_script("Hello", " there"))


def texts(items: Any) -> list[str]:
    return [item.content[0].text for item in items]


def test_create_retrieve_update_delete(client_any_db: OpenAI) -> None:
    conversations = client_any_db.conversations
    created = conversations.create(metadata={"topic": "demo"})
    assert created.id.startswith("conv_") and created.object == "conversation"
    assert created.metadata == {"topic": "demo"} and created.created_at > 0
    assert conversations.retrieve(created.id) == created

    updated = conversations.update(created.id, metadata={"topic": "other", "x": "y"})
    assert updated.metadata == {"topic": "other", "x": "y"} and updated.id == created.id
    assert conversations.retrieve(created.id).metadata == {"topic": "other", "x": "y"}

    deleted = conversations.delete(created.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (
        created.id, "conversation.deleted", True)
    with pytest.raises(openai.NotFoundError) as caught:
        conversations.retrieve(created.id)
    assert caught.value.message.endswith(f"Conversation with id '{created.id}' not found.")
    with pytest.raises(openai.NotFoundError):
        conversations.delete(created.id)
    with pytest.raises(openai.NotFoundError):
        conversations.update(created.id, metadata={})


def test_create_with_items(client_any_db: OpenAI) -> None:
    created = client_any_db.conversations.create(items=[
        {"type": "message", "role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
    ])
    assert created.metadata == {}
    page = client_any_db.conversations.items.list(created.id, order="asc")
    assert texts(page.data) == ["hi", "hello"]
    assert [item.type for item in page.data] == ["message", "message"]
    dumped = [item.model_dump() for item in page.data]
    assert all(item["id"].startswith("msg_") and item["status"] == "completed" for item in dumped)


def test_add_retrieve_and_delete_items(client_any_db: OpenAI) -> None:
    conversations = client_any_db.conversations
    conversation = conversations.create()
    added = conversations.items.create(conversation.id, items=[
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "a"}]},
        {"type": "message", "role": "user", "content": "b", "id": "msg_mine"},  # type: ignore[list-item]
    ], include=["message.input_image.image_url"])
    assert added.object == "list" and not added.has_more
    assert texts(added.data) == ["a", "b"]
    assert added.first_id == added.data[0].id and added.last_id == "msg_mine"

    item = conversations.items.retrieve("msg_mine", conversation_id=conversation.id)
    assert item == added.data[1]

    parent = conversations.items.delete("msg_mine", conversation_id=conversation.id)
    assert parent == conversation  # the real API answers with the parent Conversation
    assert texts(conversations.items.list(conversation.id).data) == ["a"]

    with pytest.raises(openai.NotFoundError) as caught:
        conversations.items.retrieve("msg_mine", conversation_id=conversation.id)
    assert caught.value.message.endswith("Item with id 'msg_mine' not found.")
    with pytest.raises(openai.NotFoundError):
        conversations.items.delete("msg_mine", conversation_id=conversation.id)
    with pytest.raises(openai.NotFoundError) as caught:
        conversations.items.create("conv_missing", items=[{"role": "user", "content": "x"}])
    assert caught.value.message.endswith("Conversation with id 'conv_missing' not found.")
    for call in (lambda: conversations.items.list("conv_missing"),
                 lambda: conversations.items.retrieve("msg_1", conversation_id="conv_missing"),
                 lambda: conversations.items.delete("msg_1", conversation_id="conv_missing")):
        with pytest.raises(openai.NotFoundError):
            call()


def test_item_pagination(client_any_db: OpenAI) -> None:
    names = [f"m{i}" for i in range(7)]
    conversation = client_any_db.conversations.create(
        items=[{"role": "user", "content": name} for name in names[:4]])
    client_any_db.conversations.items.create(
        conversation.id, items=[{"role": "user", "content": name} for name in names[4:]])
    items = client_any_db.conversations.items
    assert texts(items.list(conversation.id).data) == names[::-1]  # newest first by default
    first = items.list(conversation.id, limit=3, order="asc")
    assert texts(first.data) == names[:3] and first.has_more
    assert first.last_id is not None
    rest = items.list(conversation.id, limit=3, order="asc", after=first.last_id)
    assert texts(rest.data) == names[3:6] and rest.has_more
    # The SDK's auto-pagination follows `after=last_id` until has_more is false.
    assert texts(items.list(conversation.id, limit=2, order="asc")) == names
    assert texts(items.list(conversation.id, limit=3)) == names[::-1]
    with pytest.raises(openai.BadRequestError) as caught:
        items.list(conversation.id, limit=0)
    assert (caught.value.code, caught.value.param) == ("integer_below_min_value", "limit")


def test_invalid_items_and_metadata(client_any_db: OpenAI) -> None:
    conversations = client_any_db.conversations
    with pytest.raises(openai.BadRequestError) as caught:
        conversations.create(items=[{"role": "robot", "content": "x"}])  # type: ignore[list-item,misc]
    assert (caught.value.code, caught.value.param) == ("invalid_value", "items[0].role")
    with pytest.raises(openai.BadRequestError) as caught:
        conversations.create(items=[{"role": "user", "content": "x"}] * 21)
    assert (caught.value.code, caught.value.param) == ("array_above_max_length", "items")
    with pytest.raises(openai.BadRequestError) as caught:
        conversations.create(metadata={f"k{i}": "v" for i in range(17)})
    assert (caught.value.code, caught.value.param) == ("object_above_max_properties", "metadata")
    conversation = conversations.create()
    with pytest.raises(openai.BadRequestError) as caught:
        conversations.items.create(conversation.id, items=[
            {"role": "user", "content": "ok"},
            {"type": "function_call"}])  # type: ignore[list-item,misc]
    assert (caught.value.code, caught.value.param) == (
        "missing_required_parameter", "items[1].arguments")
    assert conversations.items.list(conversation.id).data == []  # nothing half-added
    with pytest.raises(openai.BadRequestError) as caught:
        conversations.update(conversation.id, metadata={"k": "v" * 513})
    assert (caught.value.code, caught.value.param) == ("string_above_max_length", "metadata.k")


def test_update_requires_metadata(client_any_db: OpenAI) -> None:
    conversation = client_any_db.conversations.create(metadata={"a": "b"})
    reply = httpx.post(f"{client_any_db.base_url}conversations/{conversation.id}", json={})
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == "missing_required_parameter"
    assert reply.json()["error"]["param"] == "metadata"
    cleared = client_any_db.conversations.update(conversation.id, metadata=None)
    assert cleared.metadata == {}


def test_responses_see_and_extend_the_conversation(client_any_db: OpenAI, model: str,
                                                   scripted: ScriptedUpstream) -> None:
    conversation = client_any_db.conversations.create(
        items=[{"role": "developer", "content": "be brief"}, {"role": "user", "content": "one"}])
    first = client_any_db.responses.create(model=model, input="two", conversation=conversation.id)
    assert first.conversation is not None and first.conversation.id == conversation.id
    sent = scripted.last_request(model)["messages"]
    assert [m["content"] for m in sent] == ["be brief", "one", "two"]

    items = client_any_db.conversations.items.list(conversation.id, order="asc").data
    assert [item.type for item in items] == ["message"] * 4
    assert [item.role for item in items] == [  # type: ignore[union-attr]
        "developer", "user", "user", "assistant"]
    assert items[-1].id == first.output[0].id  # the output item, as the response has it

    # `{"id": …}` works too, and streaming extends it the same way.
    with client_any_db.responses.create(model=model, input="three", stream=True,
                                        conversation={"id": conversation.id}) as stream:
        events = list(stream)
    assert events[-1].type == "response.completed"
    sent = scripted.last_request(model)["messages"]
    assert [m["content"] for m in sent] == [
        "be brief", "one", "two", "Hello there", "three"]
    listed = client_any_db.conversations.items.list(conversation.id, order="asc")
    assert len(listed.data) == 6
    assert client_any_db.responses.retrieve(first.id).conversation == first.conversation


def test_incomplete_and_unstored_responses_extend_it(client_any_db: OpenAI,
                                                     scripted: ScriptedUpstream) -> None:
    conversation = client_any_db.conversations.create()
    cut = scripted.play(text_script("Hel", finish="length"))
    response = client_any_db.responses.create(model=cut, input="a", conversation=conversation.id)
    assert response.status == "incomplete"
    unstored = scripted.play(text_script("Yo"))
    client_any_db.responses.create(model=unstored, input="b", conversation=conversation.id,
                                   store=False)
    items = client_any_db.conversations.items.list(conversation.id, order="asc").data
    assert [item.role for item in items] == [  # type: ignore[union-attr]
        "user", "assistant", "user", "assistant"]


def test_failed_responses_add_nothing(client_any_db: OpenAI,
                                      scripted: ScriptedUpstream) -> None:
    conversation = client_any_db.conversations.create(items=[{"role": "user", "content": "x"}])
    broken = scripted.play(Script(status=500, error={"error": {"message": "engine exploded"}}))
    response = client_any_db.responses.create(model=broken, input="y",
                                              conversation=conversation.id)
    assert response.status == "failed"
    assert texts(client_any_db.conversations.items.list(conversation.id).data) == ["x"]


def test_conversation_errors(client_any_db: OpenAI, model: str) -> None:
    first = client_any_db.responses.create(model=model, input="hi")
    conversation = client_any_db.conversations.create()
    with pytest.raises(openai.BadRequestError) as caught:
        client_any_db.responses.create(model=model, input="x", conversation=conversation.id,
                                       previous_response_id=first.id)
    assert (caught.value.code, caught.value.param) == (
        "mutually_exclusive_parameters", "conversation")
    with pytest.raises(openai.NotFoundError) as not_found:
        client_any_db.responses.create(model=model, input="x", conversation="conv_missing")
    assert not_found.value.message.endswith("Conversation with id 'conv_missing' not found.")
    assert client_any_db.conversations.items.list(conversation.id).data == []
