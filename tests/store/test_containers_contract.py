"""The container half of the Store contract, on SQLite and PostgreSQL: rows round-trip, pages
in both orders with the name filter, expiry due dates, and file rows that keep their id and
`created_at` when a path is written again."""

from __future__ import annotations

import dataclasses

import pytest

from responsa.store.base import Store
from responsa.store.containers import (
    ContainerFileRow,
    ContainerRow,
    container_file_object,
    container_object,
)


def container(n: int, *, name: str = "box", active: int = 1000, minutes: int = 20) -> ContainerRow:
    return ContainerRow(f"cntr_{n}", name, 1000 + n, active, minutes, "1g", "running")


def file_row(container_id: str, path: str, n: int, *, stamp: str = "s") -> ContainerFileRow:
    return ContainerFileRow(f"cfile_{n}", container_id, path, 10 * n, 2000 + n, "user", stamp)


async def test_containers_round_trip_and_page(store: Store) -> None:
    rows = [container(n, name="box" if n % 2 else "other") for n in range(5)]
    for row in rows:
        await store.create_container(row)
    assert await store.get_container("cntr_3") == rows[3]
    assert await store.get_container("cntr_none") is None

    page = await store.list_containers(after=None, limit=2, order="asc")
    assert page.data == [container_object(rows[0]), container_object(rows[1])]
    assert page.has_more
    rest = await store.list_containers(after="cntr_1", limit=10, order="asc")
    assert [c["id"] for c in rest.data] == ["cntr_2", "cntr_3", "cntr_4"] and not rest.has_more
    newest = await store.list_containers(after=None, limit=10, order="desc", name="box")
    assert [c["id"] for c in newest.data] == ["cntr_3", "cntr_1"]
    assert (await store.list_containers(after="cntr_unknown", limit=10, order="asc")).data == []

    await store.touch_container("cntr_3", 5000)
    await store.touch_container("cntr_3", 4000)  # never backwards
    assert (await store.get_container("cntr_3")).last_active_at == 5000  # type: ignore[union-attr]
    await store.set_container_status("cntr_3", "expired")
    assert (await store.get_container("cntr_3")).status == "expired"  # type: ignore[union-attr]

    assert await store.delete_container("cntr_0")
    assert not await store.delete_container("cntr_0")
    assert await store.get_container("cntr_0") is None


async def test_due_containers(store: Store) -> None:
    await store.create_container(container(1, active=1000, minutes=1))
    await store.create_container(container(2, active=1000, minutes=20))
    await store.create_container(dataclasses.replace(container(3, active=0), status="expired"))
    assert await store.due_containers(1059) == []
    assert await store.due_containers(1060) == ["cntr_1"]
    assert sorted(await store.due_containers(1000 + 20 * 60)) == ["cntr_1", "cntr_2"]


async def test_file_rows(store: Store) -> None:
    await store.create_container(container(1))
    await store.create_container(container(2))
    first = await store.put_container_file(file_row("cntr_1", "/mnt/data/a.csv", 1))
    assert first == file_row("cntr_1", "/mnt/data/a.csv", 1)
    # The same path again: same id and created_at, new size, source and stamp.
    again = await store.put_container_file(dataclasses.replace(
        file_row("cntr_1", "/mnt/data/a.csv", 9, stamp="t"), source="assistant"))
    assert again == dataclasses.replace(first, bytes=90, source="assistant", stamp="t")
    second = await store.put_container_file(file_row("cntr_1", "/mnt/data/b.png", 2))
    await store.put_container_file(file_row("cntr_2", "/mnt/data/a.csv", 3))
    with pytest.raises(KeyError):
        await store.put_container_file(file_row("cntr_none", "/mnt/data/a.csv", 4))

    assert await store.get_container_file("cntr_1", "cfile_1") == again
    assert await store.get_container_file("cntr_2", "cfile_1") is None  # another container's
    assert await store.container_files("cntr_1") == [again, second]
    page = await store.list_container_files("cntr_1", after=None, limit=1, order="desc")
    assert page.data == [container_file_object(second)] and page.has_more
    rest = await store.list_container_files("cntr_1", after="cfile_2", limit=5, order="desc")
    assert rest.data == [container_file_object(again)] and not rest.has_more

    assert await store.delete_container_files("cntr_1", ["cfile_1", "cfile_3"]) == 1
    assert await store.container_files("cntr_1") == [second]
    assert await store.delete_container("cntr_1")  # its files go with it
    assert await store.get_container_file("cntr_1", "cfile_2") is None
    assert [row.id for row in await store.container_files("cntr_2")] == ["cfile_3"]
