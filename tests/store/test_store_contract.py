"""The store contract: every test runs against SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from responsa.store.base import JSONDict, Order, Store, StoredResponse
from responsa.store.migrations import POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS
from tests.store.conftest import Backend


def message(item_id: str, text: str, role: str = "user") -> JSONDict:
    return {
        "type": "message",
        "id": item_id,
        "role": role,
        "content": [{"type": "input_text", "text": text}],
    }


def output_message(item_id: str, text: str) -> JSONDict:
    return {
        "id": item_id,
        "type": "message",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def response(
    response_id: str,
    *,
    previous: str | None = None,
    status: str = "completed",
    output: list[JSONDict] | None = None,
) -> JSONDict:
    # Keys deliberately not in sorted order: the store must keep them as given.
    return {
        "id": response_id,
        "object": "response",
        "status": status,
        "created_at": 1_760_000_000,
        "model": "test/model",
        "previous_response_id": previous,
        "output": output if output is not None else [],
        "error": None,
        "usage": {"output_tokens": 3, "input_tokens": 5, "total_tokens": 8},
    }


def events(response_id: str, count: int, start: int = 0) -> list[JSONDict]:
    return [
        {"type": "response.output_text.delta", "sequence_number": n, "delta": f"d{n}",
         "item_id": f"msg_{response_id}"}
        for n in range(start, start + count)
    ]  # fmt: skip


def record(
    response_id: str,
    *,
    previous: str | None = None,
    inputs: list[JSONDict] | None = None,
    outputs: list[JSONDict] | None = None,
    status: str = "completed",
    n_events: int = 0,
) -> StoredResponse:
    return StoredResponse(
        response=response(response_id, previous=previous, status=status, output=outputs),
        input_items=inputs or [],
        events=events(response_id, n_events),
    )


def exact(value: Any) -> bytes:
    """Equality including key order."""
    return orjson.dumps(value)


# -- save / get ---------------------------------------------------------------------------------


async def test_round_trip_is_exact(store: Store) -> None:
    tricky: JSONDict = {
        "zeta": 1,
        "alpha": {"y": [1, 2.5, -0.0, 1e-7, 1.0, 9007199254740993], "b": None, "a": True},
        "unicode": 'héllo — 世界 🎉 "quoted" back\\slash\nnewline\ttab \u0000 nul',
        "empty": {"list": [], "dict": {}, "str": ""},
        "metadata": {"m": "1", "c": "2", "a": "3"},
    }
    original = record(
        "resp_exact",
        inputs=[
            {**message("msg_in", "hi"), "extra": tricky},
            {"type": "item_reference", "id": "msg_ref"},
        ],
        outputs=[{**output_message("msg_out", "hello"), "extra": tricky}],
        n_events=3,
    )
    original.response = {**original.response, "tricky": tricky}
    await store.save_response(original)

    got = await store.get_response("resp_exact")
    assert got == original.response
    assert exact(got) == exact(original.response)

    page = await store.list_input_items("resp_exact", after=None, limit=100, order="asc")
    assert page is not None
    assert exact(page.data) == exact(original.input_items)

    assert exact(await store.get_events("resp_exact", starting_after=None)) == exact(
        original.events
    )
    context = await store.get_context("resp_exact")
    assert exact(context) == exact(original.input_items + original.response["output"])


async def test_saved_state_is_a_snapshot(store: Store) -> None:
    original = record("resp_snap", inputs=[message("msg_1", "a")], status="in_progress")
    saving = asyncio.create_task(store.save_response(original))
    await asyncio.sleep(0)  # the save has started and is waiting on the database
    original.response["status"] = "completed"  # the caller keeps building the response
    await saving
    got = await store.get_response("resp_snap")
    assert got is not None
    assert got["status"] == "in_progress"


async def test_unknown_ids(store: Store) -> None:
    assert await store.get_response("resp_missing") is None
    assert await store.get_context("resp_missing") is None
    assert await store.list_input_items("resp_missing", after=None, limit=20, order="asc") is None
    assert await store.get_events("resp_missing", starting_after=None) is None
    assert await store.get_events("resp_missing", starting_after=5) is None
    assert await store.delete_response("resp_missing") is False


async def test_resave_replaces(store: Store) -> None:
    await store.save_response(
        record("resp_r", inputs=[message("msg_1", "a"), message("msg_2", "b")],
               status="in_progress", n_events=3)
    )  # fmt: skip
    got = await store.get_response("resp_r")
    assert got is not None
    assert got["status"] == "in_progress"
    assert seqs(await store.get_events("resp_r", starting_after=None)) == list(range(3))

    final = record(
        "resp_r",
        inputs=[message("msg_1", "a"), message("msg_2", "b")],
        outputs=[output_message("msg_out", "done")],
        status="completed",
        n_events=7,
    )
    await store.save_response(final)
    assert exact(await store.get_response("resp_r")) == exact(final.response)
    assert exact(await store.get_events("resp_r", starting_after=None)) == exact(final.events)
    page = await store.list_input_items("resp_r", after=None, limit=20, order="asc")
    assert page is not None
    assert exact(page.data) == exact(final.input_items)

    # Replace means replace: fewer items and events than before leave none behind.
    shorter = record("resp_r", inputs=[message("msg_9", "z")], n_events=2)
    await store.save_response(shorter)
    page = await store.list_input_items("resp_r", after=None, limit=20, order="asc")
    assert page is not None
    assert exact(page.data) == exact(shorter.input_items)
    assert exact(await store.get_events("resp_r", starting_after=None)) == exact(shorter.events)


# -- delete -------------------------------------------------------------------------------------


async def test_delete_removes_items_and_events(store: Store) -> None:
    await store.save_response(record("resp_d", inputs=[message("msg_1", "a")], n_events=4))
    await store.save_response(record("resp_keep", inputs=[message("msg_1", "a")], n_events=4))

    assert await store.delete_response("resp_d") is True
    assert await store.get_response("resp_d") is None
    assert await store.get_events("resp_d", starting_after=None) is None
    assert await store.list_input_items("resp_d", after=None, limit=20, order="asc") is None
    assert await store.get_context("resp_d") is None
    assert await store.delete_response("resp_d") is False

    # Another response's items with the same ids are untouched.
    page = await store.list_input_items("resp_keep", after=None, limit=20, order="asc")
    assert page is not None
    assert [item["id"] for item in page.data] == ["msg_1"]
    assert seqs(await store.get_events("resp_keep", starting_after=None)) == list(range(4))

    # Saving again after a delete starts clean.
    await store.save_response(record("resp_d", n_events=1))
    assert seqs(await store.get_events("resp_d", starting_after=None)) == list(range(1))


# -- context ------------------------------------------------------------------------------------


async def save_chain(store: Store) -> None:
    await store.save_response(
        record("resp_1", inputs=[message("in_1a", "one"), message("in_1b", "one b")],
               outputs=[output_message("out_1", "first")])
    )  # fmt: skip
    await store.save_response(
        record("resp_2", previous="resp_1", inputs=[message("in_2", "two")],
               outputs=[output_message("out_2a", "second"), output_message("out_2b", "more")])
    )  # fmt: skip
    await store.save_response(
        record("resp_3", previous="resp_2", inputs=[message("in_3", "three")],
               outputs=[output_message("out_3", "third")])
    )  # fmt: skip


async def test_context_walks_the_chain_oldest_first(store: Store) -> None:
    await save_chain(store)
    context = await store.get_context("resp_3")
    assert context is not None
    assert [item["id"] for item in context] == [
        "in_1a", "in_1b", "out_1", "in_2", "out_2a", "out_2b", "in_3", "out_3",
    ]  # fmt: skip
    context_2 = await store.get_context("resp_2")
    assert context_2 is not None
    assert [item["id"] for item in context_2] == ["in_1a", "in_1b", "out_1", "in_2", "out_2a",
                                                  "out_2b"]  # fmt: skip
    first = await store.get_context("resp_1")
    assert first is not None
    assert exact(first) == exact(
        [message("in_1a", "one"), message("in_1b", "one b"), output_message("out_1", "first")]
    )


async def test_context_of_a_response_without_items(store: Store) -> None:
    await store.save_response(record("resp_empty"))
    assert await store.get_context("resp_empty") == []
    bare = StoredResponse(response={"id": "resp_bare", "object": "response"})  # no output key
    await store.save_response(bare)
    assert await store.get_context("resp_bare") == []


async def test_context_stops_at_a_deleted_ancestor(store: Store) -> None:
    """Deleting a response others chain from just deletes it; descendants lose that part."""
    await save_chain(store)
    assert await store.delete_response("resp_2") is True
    context = await store.get_context("resp_3")
    assert context is not None
    assert [item["id"] for item in context] == ["in_3", "out_3"]
    assert await store.get_context("resp_2") is None


# -- input items --------------------------------------------------------------------------------

FIVE = [f"item_{n}" for n in range(5)]


@pytest.mark.parametrize(
    ("order", "after", "limit", "ids", "has_more"),
    [
        ("asc", None, 2, ["item_0", "item_1"], True),
        ("asc", "item_1", 2, ["item_2", "item_3"], True),
        ("asc", "item_2", 2, ["item_3", "item_4"], False),  # ends exactly at the last item
        ("asc", "item_3", 2, ["item_4"], False),
        ("asc", "item_4", 2, [], False),
        ("asc", None, 5, FIVE, False),  # limit == count
        ("asc", None, 4, FIVE[:4], True),  # limit == count - 1
        ("asc", None, 100, FIVE, False),
        ("desc", None, 2, ["item_4", "item_3"], True),
        ("desc", "item_3", 2, ["item_2", "item_1"], True),
        ("desc", "item_2", 2, ["item_1", "item_0"], False),
        ("desc", "item_1", 2, ["item_0"], False),
        ("desc", "item_0", 2, [], False),
        ("desc", None, 5, FIVE[::-1], False),
        ("desc", None, 1, ["item_4"], True),
    ],
)
async def test_list_input_items_pages(
    store: Store, order: Order, after: str | None, limit: int, ids: list[str], has_more: bool
) -> None:
    await store.save_response(record("resp_p", inputs=[message(i, i) for i in FIVE]))
    page = await store.list_input_items("resp_p", after=after, limit=limit, order=order)
    assert page is not None
    assert [item["id"] for item in page.data] == ids
    assert page.has_more is has_more


async def test_list_input_items_edges(store: Store) -> None:
    await store.save_response(record("resp_p", inputs=[message(i, i) for i in FIVE]))
    await store.save_response(record("resp_none"))
    orders: tuple[Order, ...] = ("asc", "desc")
    for order in orders:
        # An unknown cursor is not an error: nothing comes after it.
        page = await store.list_input_items("resp_p", after="item_x", limit=10, order=order)
        assert page is not None
        assert (page.data, page.has_more) == ([], False)
        # A stored response without input items is an empty page, not a missing response.
        page = await store.list_input_items("resp_none", after=None, limit=10, order=order)
        assert page is not None
        assert (page.data, page.has_more) == ([], False)


async def test_walking_all_pages_sees_every_item_once(store: Store) -> None:
    ids = [f"item_{n:02}" for n in range(23)]
    await store.save_response(record("resp_walk", inputs=[message(i, i) for i in ids]))
    walks: list[tuple[Order, list[str]]] = [("asc", ids), ("desc", ids[::-1])]
    for order, expected in walks:
        seen: list[str] = []
        after = None
        while True:
            page = await store.list_input_items("resp_walk", after=after, limit=5, order=order)
            assert page is not None
            seen += [item["id"] for item in page.data]
            if not page.has_more:
                break
            after = seen[-1]
        assert seen == expected


# -- events -------------------------------------------------------------------------------------


def seqs(log: list[JSONDict] | None) -> list[int]:
    assert log is not None
    return [event["sequence_number"] for event in log]


def streamed_events(count: int) -> list[JSONDict]:
    """A log shaped like a real stream: lifecycle events carrying the whole response around
    many small deltas."""
    full = {**response("resp_stream", status="in_progress"), "instructions": "é 世界 " * 100}
    log: list[JSONDict] = [{"type": "response.created", "sequence_number": 0, "response": full}]
    for n in range(1, count - 1):
        log.append(
            {"type": "response.output_text.delta", "sequence_number": n, "item_id": "msg_s",
             "output_index": 0, "content_index": 0, "delta": f" w{n} 🎉\u0000\n",
             "logprobs": []}
        )  # fmt: skip
    done = {**full, "status": "completed", "output": [output_message("msg_s", "all of it")]}
    log.append({"type": "response.completed", "sequence_number": count - 1, "response": done})
    return log


async def test_long_event_log_round_trips_exactly(store: Store) -> None:
    original = StoredResponse(response=response("resp_stream"), events=streamed_events(250))
    await store.save_response(original)
    assert exact(await store.get_events("resp_stream", starting_after=None)) == exact(
        original.events
    )
    assert exact(await store.get_events("resp_stream", starting_after=123)) == exact(
        original.events[124:]
    )


async def test_get_events_starting_after(store: Store) -> None:
    await store.save_response(record("resp_e", n_events=10))
    all_events = await store.get_events("resp_e", starting_after=None)
    assert seqs(all_events) == list(range(10))
    assert seqs(await store.get_events("resp_e", starting_after=6)) == [7, 8, 9]
    assert seqs(await store.get_events("resp_e", starting_after=-1)) == list(range(10))
    assert await store.get_events("resp_e", starting_after=9) == []
    assert await store.get_events("resp_e", starting_after=1000) == []


async def test_a_response_without_events_has_an_empty_log(store: Store) -> None:
    await store.save_response(record("resp_quiet"))
    assert await store.get_events("resp_quiet", starting_after=None) == []
    assert await store.get_events("resp_quiet", starting_after=3) == []


async def save_in_batches(store: Store) -> list[JSONDict]:
    """Saves events 0-9, then appends 10-19, 20 alone, and 21-29: four batches."""
    await store.save_response(record("resp_b", n_events=10))
    await store.append_events("resp_b", events("resp_b", 10, start=10))
    await store.append_events("resp_b", events("resp_b", 1, start=20))
    await store.append_events("resp_b", events("resp_b", 9, start=21))
    return events("resp_b", 30)


@pytest.mark.parametrize(
    "starting_after",
    [None, -1, 0, 4, 8, 9, 10, 11, 15, 18, 19, 20, 21, 22, 28, 29, 30, 1000],
)
async def test_get_events_across_batches(store: Store, starting_after: int | None) -> None:
    log = await save_in_batches(store)
    after = -1 if starting_after is None else starting_after
    got = await store.get_events("resp_b", starting_after=starting_after)
    assert exact(got) == exact(log[after + 1 :])


async def test_append_events_to_a_response_saved_without_events(store: Store) -> None:
    await store.save_response(record("resp_a"))
    await store.append_events("resp_a", [])  # nothing to add: no batch, no error
    assert await store.get_events("resp_a", starting_after=None) == []
    await store.append_events("resp_a", events("resp_a", 3))
    await store.append_events("resp_a", events("resp_a", 2, start=3))
    assert exact(await store.get_events("resp_a", starting_after=None)) == exact(
        events("resp_a", 5)
    )


async def test_append_events_to_an_unknown_response(store: Store) -> None:
    with pytest.raises(KeyError):
        await store.append_events("resp_missing", events("resp_missing", 3))
    with pytest.raises(KeyError):
        await store.append_events("resp_missing", [])
    assert await store.get_events("resp_missing", starting_after=None) is None
    await store.save_response(record("resp_d", n_events=2))
    await store.delete_response("resp_d")
    with pytest.raises(KeyError):
        await store.append_events("resp_d", events("resp_d", 1, start=2))


@pytest.mark.parametrize(
    ("start", "count"),
    [(0, 1), (5, 3), (9, 1), (9, 5)],  # a restart, inside the log, at its last event, overlapping
)
async def test_appended_events_must_continue_the_log(store: Store, start: int, count: int) -> None:
    await store.save_response(record("resp_c", n_events=10))
    with pytest.raises(ValueError, match="after sequence number 9"):
        await store.append_events("resp_c", events("resp_c", count, start=start))
    assert seqs(await store.get_events("resp_c", starting_after=None)) == list(range(10))
    await store.append_events("resp_c", events("resp_c", 2, start=12))  # a gap is allowed
    assert seqs(await store.get_events("resp_c", starting_after=8)) == [9, 12, 13]


async def test_events_out_of_order_are_refused(store: Store) -> None:
    backwards = list(reversed(events("resp_o", 3)))
    with pytest.raises(ValueError, match="out of order"):
        await store.save_response(StoredResponse(response=response("resp_o"), events=backwards))
    assert await store.get_response("resp_o") is None
    await store.save_response(record("resp_o"))
    with pytest.raises(ValueError, match="out of order"):
        await store.append_events("resp_o", backwards)
    assert await store.get_events("resp_o", starting_after=None) == []


async def test_resave_replaces_appended_batches(store: Store) -> None:
    await save_in_batches(store)
    final = record("resp_b", n_events=3)
    await store.save_response(final)
    assert exact(await store.get_events("resp_b", starting_after=None)) == exact(final.events)
    assert await store.get_events("resp_b", starting_after=2) == []
    # The replaced log is the one appends continue.
    await store.append_events("resp_b", events("resp_b", 2, start=3))
    assert seqs(await store.get_events("resp_b", starting_after=None)) == [0, 1, 2, 3, 4]
    await store.save_response(record("resp_b"))
    assert await store.get_events("resp_b", starting_after=None) == []


async def test_delete_removes_appended_batches(store: Store) -> None:
    await save_in_batches(store)
    assert await store.delete_response("resp_b") is True
    assert await store.get_events("resp_b", starting_after=None) is None
    await store.save_response(record("resp_b", n_events=1))
    assert seqs(await store.get_events("resp_b", starting_after=None)) == [0]


# -- concurrency --------------------------------------------------------------------------------


async def test_concurrent_saves(store: Store) -> None:
    async def one(n: int) -> None:
        rid = f"resp_c{n}"
        await store.save_response(
            record(rid, inputs=[message(f"in_{n}", "x")], status="in_progress", n_events=2)
        )
        await store.save_response(
            record(rid, inputs=[message(f"in_{n}", "x")], outputs=[output_message("o", "y")],
                   n_events=5)
        )  # fmt: skip
        context = await store.get_context(rid)
        assert context is not None
        assert [item["id"] for item in context] == [f"in_{n}", "o"]

    await asyncio.gather(*(one(n) for n in range(50)))
    for n in range(50):
        got = await store.get_response(f"resp_c{n}")
        assert got is not None
        assert got["status"] == "completed"
        assert seqs(await store.get_events(f"resp_c{n}", starting_after=None)) == list(range(5))


async def test_concurrent_resaves_of_one_response_are_atomic(store: Store) -> None:
    """Whoever saves last wins whole: never one save's response with another's items."""
    versions = [
        record("resp_race", inputs=[message(f"in_{v}_{k}", "x") for k in range(v % 4 + 1)],
               status=f"v{v}", n_events=v + 1)
        for v in range(20)
    ]  # fmt: skip
    await asyncio.gather(*(store.save_response(v) for v in versions))
    got = await store.get_response("resp_race")
    assert got is not None
    winner = versions[int(got["status"][1:])]
    page = await store.list_input_items("resp_race", after=None, limit=100, order="asc")
    assert page is not None
    assert exact(page.data) == exact(winner.input_items)
    assert exact(await store.get_events("resp_race", starting_after=None)) == exact(winner.events)


async def test_concurrent_appends_never_overlap(store: Store) -> None:
    """Appends racing from several connections: exactly one batch starting at 10 gets in.
    (Several responses at once, because an unserialized race loses only some of the time.)"""

    async def race(rid: str) -> None:
        await store.save_response(record(rid, n_events=10))
        results = await asyncio.gather(
            *(store.append_events(rid, events(rid, k, start=10)) for k in range(1, 21)),
            return_exceptions=True,
        )
        winners = [k for k, result in enumerate(results, start=1) if result is None]
        assert len(winners) == 1
        assert all(isinstance(r, ValueError) for r in results if r is not None)
        assert seqs(await store.get_events(rid, starting_after=None)) == list(
            range(10 + winners[0])
        )

    await asyncio.gather(*(race(f"resp_ca{n}") for n in range(8)))


# -- durability and migrations ------------------------------------------------------------------


async def test_reopening_keeps_everything(backend: Backend) -> None:
    first = backend.new_store()
    await first.open()
    await save_chain(first)
    await first.save_response(record("resp_e", n_events=4))
    await first.append_events("resp_e", events("resp_e", 2, start=4))
    await first.close()

    again = backend.new_store()
    await again.open()
    context = await again.get_context("resp_3")
    assert context is not None
    assert len(context) == 8
    assert seqs(await again.get_events("resp_e", starting_after=None)) == list(range(6))
    await again.close()


def known_migrations(backend: Backend) -> list[str]:
    known = SQLITE_MIGRATIONS if backend.kind == "sqlite" else POSTGRES_MIGRATIONS
    return sorted(m.name for m in known)


async def test_migrations_are_idempotent(backend: Backend) -> None:
    for _ in range(3):
        store = backend.new_store()
        await store.open()
        await store.save_response(record("resp_m"))
        await store.close()
    assert await backend.applied_migrations() == known_migrations(backend)


async def test_many_replicas_migrate_at_once(backend: Backend) -> None:
    stores = [backend.new_store() for _ in range(6)]
    await asyncio.gather(*(s.open() for s in stores))
    assert await backend.applied_migrations() == known_migrations(backend)
    await asyncio.gather(*(s.save_response(record(f"resp_{n}")) for n, s in enumerate(stores)))
    for n in range(6):
        assert await stores[0].get_response(f"resp_{n}") is not None
