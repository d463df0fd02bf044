"""The store contract for prompt templates: every test runs against SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

from responsa.store.base import JSONDict, Store
from tests.store.conftest import Backend
from tests.store.test_store_contract import exact, message


def template(instructions: str, **extra: object) -> JSONDict:
    return {"instructions": instructions, "input": None, "model": None, "metadata": {},
            **extra}


async def test_create_get_and_versions(store: Store) -> None:
    first = template('Tu es "{{role}}" — 世界', model="scripted/a", metadata={"z": "1", "a": "2"},
                     input=[message("msg_1", "{{question}}")])
    created = await store.create_prompt("pmpt_1", 1_760_000_000, first)
    assert exact(created) == exact({"id": "pmpt_1", "object": "prompt", "version": "1",
                                    "created_at": 1_760_000_000, **first})
    assert exact(await store.get_prompt("pmpt_1")) == exact(created)
    assert exact(await store.get_prompt("pmpt_1", "1")) == exact(created)

    second = await store.add_prompt_version("pmpt_1", 1_760_000_100, template("v2"))
    assert second is not None and second["version"] == "2"
    assert second["created_at"] == 1_760_000_100 and second["instructions"] == "v2"
    assert exact(await store.get_prompt("pmpt_1")) == exact(second)
    assert exact(await store.get_prompt("pmpt_1", "1")) == exact(created)
    assert exact(await store.get_prompt("pmpt_1", "2")) == exact(second)
    for missing in ("3", "0", "01", "x", "-1", "99999999999"):
        assert await store.get_prompt("pmpt_1", missing) is None


async def test_unknown_prompt(store: Store) -> None:
    assert await store.get_prompt("pmpt_missing") is None
    assert await store.get_prompt("pmpt_missing", "1") is None
    assert await store.add_prompt_version("pmpt_missing", 1, template("x")) is None
    assert await store.delete_prompt("pmpt_missing") is False


async def test_delete_takes_every_version(store: Store) -> None:
    await store.create_prompt("pmpt_d", 1, template("a"))
    await store.add_prompt_version("pmpt_d", 2, template("b"))
    assert await store.delete_prompt("pmpt_d") is True
    assert await store.get_prompt("pmpt_d") is None
    assert await store.get_prompt("pmpt_d", "1") is None
    assert await store.delete_prompt("pmpt_d") is False
    # The id may be used again, starting over at version 1.
    again = await store.create_prompt("pmpt_d", 3, template("c"))
    assert again["version"] == "1"


async def test_list_pages_at_latest_versions(store: Store) -> None:
    for n in range(5):
        await store.create_prompt(f"pmpt_{n}", n, template(f"p{n}"))
    await store.add_prompt_version("pmpt_1", 10, template("p1 v2"))
    page = await store.list_prompts(after=None, limit=3, order="asc")
    assert [p["id"] for p in page.data] == ["pmpt_0", "pmpt_1", "pmpt_2"] and page.has_more
    assert page.data[1]["version"] == "2" and page.data[1]["instructions"] == "p1 v2"
    page = await store.list_prompts(after="pmpt_2", limit=3, order="asc")
    assert [p["id"] for p in page.data] == ["pmpt_3", "pmpt_4"] and not page.has_more
    page = await store.list_prompts(after=None, limit=2, order="desc")
    assert [p["id"] for p in page.data] == ["pmpt_4", "pmpt_3"] and page.has_more
    page = await store.list_prompts(after="pmpt_1", limit=20, order="desc")
    assert [p["id"] for p in page.data] == ["pmpt_0"] and not page.has_more
    page = await store.list_prompts(after="pmpt_unknown", limit=20, order="asc")
    assert page.data == [] and not page.has_more


async def test_concurrent_versions_are_numbered_once_each(backend: Backend) -> None:
    a, b = backend.new_store(), backend.new_store()
    await a.open()
    await b.open()
    await a.create_prompt("pmpt_c", 1, template("v1"))
    added = await asyncio.gather(*(
        (a if n % 2 else b).add_prompt_version("pmpt_c", 2, template(f"n{n}"))
        for n in range(10)))
    versions = sorted(int(p["version"]) for p in added if p is not None)
    assert versions == list(range(2, 12))
    latest = await b.get_prompt("pmpt_c")
    assert latest is not None and latest["version"] == "11"


async def test_survives_reopening(backend: Backend) -> None:
    store = backend.new_store()
    await store.open()
    created = await store.create_prompt("pmpt_r", 5, template("keep {{me}}"))
    await store.close()
    reopened = backend.new_store()
    await reopened.open()
    assert exact(await reopened.get_prompt("pmpt_r")) == exact(created)
