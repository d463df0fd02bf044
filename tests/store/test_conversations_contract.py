"""The store contract for conversations: every test runs against SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio

import pytest

from responsa.store.base import JSONDict, Order, Store
from tests.store.conftest import Backend
from tests.store.test_store_contract import exact, message, output_message, record


def conversation(conversation_id: str, metadata: JSONDict | None = None) -> JSONDict:
    return {"id": conversation_id, "object": "conversation", "created_at": 1_760_000_000,
            "metadata": metadata if metadata is not None else {}}


def ids(items: list[JSONDict] | None) -> list[str]:
    assert items is not None
    return [item["id"] for item in items]


async def test_create_and_get(store: Store) -> None:
    created = conversation("conv_1", {"z": "1", "a": "2"})
    items = [message("msg_1", 'héllo "世界" \u0000'), output_message("msg_2", "hi")]
    await store.create_conversation(created, items)
    got = await store.get_conversation("conv_1")
    assert exact(got) == exact(created)
    assert exact(await store.get_conversation_items("conv_1")) == exact(items)

    await store.create_conversation(conversation("conv_empty"), [])
    assert await store.get_conversation_items("conv_empty") == []


async def test_unknown_conversation(store: Store) -> None:
    assert await store.get_conversation("conv_missing") is None
    assert await store.update_conversation("conv_missing", {"a": "b"}) is None
    assert await store.delete_conversation("conv_missing") is False
    assert await store.append_conversation_items("conv_missing", [message("m", "x")]) is False
    assert await store.get_conversation_items("conv_missing") is None
    assert await store.list_conversation_items(
        "conv_missing", after=None, limit=20, order="asc") is None
    assert await store.get_conversation_item("conv_missing", "m") is None
    assert await store.delete_conversation_item("conv_missing", "m") is False


async def test_update_metadata(store: Store) -> None:
    await store.create_conversation(conversation("conv_u", {"a": "1"}), [])
    updated = await store.update_conversation("conv_u", {"b": "2", "a": "3"})
    assert exact(updated) == exact(conversation("conv_u", {"b": "2", "a": "3"}))
    assert exact(await store.get_conversation("conv_u")) == exact(updated)


async def test_append_goes_after_the_last_item(store: Store) -> None:
    await store.create_conversation(conversation("conv_a"), [message("msg_1", "a")])
    assert await store.append_conversation_items("conv_a", [message("msg_2", "b"),
                                                            message("msg_3", "c")])
    assert await store.append_conversation_items("conv_a", [])
    assert ids(await store.get_conversation_items("conv_a")) == ["msg_1", "msg_2", "msg_3"]
    # After deleting the last item, new ones still come last.
    assert await store.delete_conversation_item("conv_a", "msg_3")
    assert await store.append_conversation_items("conv_a", [message("msg_4", "d")])
    assert ids(await store.get_conversation_items("conv_a")) == ["msg_1", "msg_2", "msg_4"]


async def test_get_and_delete_one_item(store: Store) -> None:
    items = [message("msg_1", "a"), message("msg_2", "b")]
    await store.create_conversation(conversation("conv_i"), items)
    await store.create_conversation(conversation("conv_other"), [message("msg_1", "other")])
    assert exact(await store.get_conversation_item("conv_i", "msg_2")) == exact(items[1])
    assert await store.get_conversation_item("conv_i", "msg_missing") is None

    assert await store.delete_conversation_item("conv_i", "msg_1") is True
    assert await store.delete_conversation_item("conv_i", "msg_1") is False
    assert await store.get_conversation_item("conv_i", "msg_1") is None
    assert ids(await store.get_conversation_items("conv_i")) == ["msg_2"]
    # The same id in another conversation is untouched.
    assert await store.get_conversation_item("conv_other", "msg_1") is not None


async def test_delete_takes_the_items(store: Store) -> None:
    await store.create_conversation(conversation("conv_d"), [message("msg_1", "a")])
    assert await store.delete_conversation("conv_d") is True
    assert await store.get_conversation("conv_d") is None
    assert await store.get_conversation_items("conv_d") is None
    assert await store.delete_conversation("conv_d") is False
    # A new conversation under the same id starts clean.
    await store.create_conversation(conversation("conv_d"), [])
    assert await store.get_conversation_items("conv_d") == []


@pytest.mark.parametrize(("order", "after", "limit", "expected", "has_more"), [
    ("asc", None, 2, ["m0", "m1"], True),
    ("asc", "m1", 2, ["m2", "m3"], True),
    ("asc", "m3", 2, ["m4"], False),
    ("desc", None, 2, ["m4", "m3"], True),
    ("desc", "m3", 10, ["m2", "m1", "m0"], False),
    ("asc", "unknown", 10, [], False),
])
async def test_list_pages(store: Store, order: Order, after: str | None, limit: int,
                          expected: list[str], has_more: bool) -> None:
    await store.create_conversation(conversation("conv_p"),
                                    [message(f"m{i}", str(i)) for i in range(3)])
    await store.append_conversation_items("conv_p", [message("m3", "3"), message("m4", "4")])
    page = await store.list_conversation_items("conv_p", after=after, limit=limit, order=order)
    assert page is not None
    assert (ids(page.data), page.has_more) == (expected, has_more)


async def test_save_response_extends_the_conversation(store: Store) -> None:
    await store.create_conversation(conversation("conv_r"), [message("msg_0", "earlier")])
    finished = record("resp_c", inputs=[message("msg_in", "hi")],
                      outputs=[output_message("msg_out", "hello")])
    await store.save_response(finished, conversation_id="conv_r")
    assert exact(await store.get_conversation_items("conv_r")) == exact(
        [message("msg_0", "earlier"), message("msg_in", "hi"), output_message("msg_out", "hello")])
    assert await store.get_response("resp_c") is not None

    # A conversation deleted meanwhile does not stop the response from being saved.
    await store.save_response(record("resp_gone"), conversation_id="conv_missing")
    assert await store.get_response("resp_gone") is not None


async def test_concurrent_appends_keep_every_item(store: Store) -> None:
    await store.create_conversation(conversation("conv_race"), [])

    async def append(writer: int) -> None:
        for batch in range(5):
            await store.append_conversation_items("conv_race", [
                message(f"w{writer}_{batch}_{n}", "x") for n in range(3)])

    await asyncio.gather(*(append(writer) for writer in range(4)))
    items = ids(await store.get_conversation_items("conv_race"))
    assert len(items) == len(set(items)) == 4 * 5 * 3
    for writer in range(4):  # each writer's items stay in its own order
        own = [item for item in items if item.startswith(f"w{writer}_")]
        assert own == [f"w{writer}_{b}_{n}" for b in range(5) for n in range(3)]


async def test_conversations_survive_reopening(backend: Backend) -> None:
    first = backend.new_store()
    await first.open()
    await first.create_conversation(conversation("conv_keep", {"k": "v"}),
                                    [message("msg_1", "a")])
    await first.close()
    second = backend.new_store()
    await second.open()
    assert exact(await second.get_conversation("conv_keep")) == exact(
        conversation("conv_keep", {"k": "v"}))
    assert ids(await second.get_conversation_items("conv_keep")) == ["msg_1"]
