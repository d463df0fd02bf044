"""Prompt templates on SQLite (mixed into `SQLiteStore`)."""

from __future__ import annotations

import abc
import sqlite3
from collections.abc import Callable
from typing import TypeVar

from responsa.store._rows import dumps, loads
from responsa.store.base import ItemPage, JSONDict, Order
from responsa.store.migrations import rollback
from responsa.store.prompts import prompt_object, version_number

T = TypeVar("T")

_GET = """
SELECT v.version, v.created_at, v.template FROM prompts AS p
JOIN prompt_versions AS v ON v.prompt_pk = p.pk
WHERE p.id = ? AND v.version = COALESCE(?, p.latest_version)
"""

_PAGE = """
SELECT p.id, v.version, v.created_at, v.template FROM prompts AS p
JOIN prompt_versions AS v ON v.prompt_pk = p.pk AND v.version = p.latest_version
WHERE p.pk {cmp} ? ORDER BY p.pk {direction} LIMIT ?
"""
_PAGE_ASC = _PAGE.format(cmp=">", direction="ASC")
_PAGE_DESC = _PAGE.format(cmp="<", direction="DESC")

Row = tuple[int, int, str]


class SQLitePrompts(abc.ABC):
    """The prompt-template half of SQLiteStore, which supplies `_run`."""

    @abc.abstractmethod
    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` on the store's database thread."""

    async def create_prompt(self, prompt_id: str, created_at: int, template: JSONDict) -> JSONDict:
        text = dumps(template)
        await self._run(lambda conn: _create(conn, prompt_id, created_at, text))
        return prompt_object(prompt_id, 1, created_at, template)

    async def add_prompt_version(
        self, prompt_id: str, created_at: int, template: JSONDict
    ) -> JSONDict | None:
        text = dumps(template)
        version = await self._run(lambda conn: _add(conn, prompt_id, created_at, text))
        return None if version is None else prompt_object(prompt_id, version, created_at, template)

    async def get_prompt(self, prompt_id: str, version: str | None = None) -> JSONDict | None:
        number = version_number(version)
        row: Row | None = await self._run(
            lambda conn: conn.execute(_GET, (prompt_id, number)).fetchone())
        return None if row is None else prompt_object(prompt_id, row[0], row[1], loads(row[2]))

    async def list_prompts(self, *, after: str | None, limit: int, order: Order) -> ItemPage:
        rows = await self._run(lambda conn: _page(conn, after, limit + 1, order))
        data = [prompt_object(r[0], r[1], r[2], loads(r[3])) for r in rows[:limit]]
        return ItemPage(data=data, has_more=len(rows) > limit)

    async def delete_prompt(self, prompt_id: str) -> bool:
        def delete(conn: sqlite3.Connection) -> bool:
            # Versions go with it by ON DELETE CASCADE.
            return conn.execute("DELETE FROM prompts WHERE id = ? RETURNING pk",
                                (prompt_id,)).fetchone() is not None
        return await self._run(delete)


def _create(conn: sqlite3.Connection, prompt_id: str, created_at: int, template: str) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        (pk,) = conn.execute(
            "INSERT INTO prompts (id, created_at, latest_version) VALUES (?, ?, 1) RETURNING pk",
            (prompt_id, created_at)).fetchone()
        conn.execute("INSERT INTO prompt_versions (prompt_pk, version, created_at, template)"
                     " VALUES (?, 1, ?, ?)", (pk, created_at, template))
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise


def _add(conn: sqlite3.Connection, prompt_id: str, created_at: int, template: str) -> int | None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        row = conn.execute(
            "UPDATE prompts SET latest_version = latest_version + 1 WHERE id = ?"
            " RETURNING pk, latest_version", (prompt_id,)).fetchone()
        if row is not None:
            conn.execute("INSERT INTO prompt_versions (prompt_pk, version, created_at, template)"
                         " VALUES (?, ?, ?, ?)", (row[0], row[1], created_at, template))
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise
    return None if row is None else int(row[1])


def _page(
    conn: sqlite3.Connection, after: str | None, limit: int, order: Order
) -> list[tuple[str, int, int, str]]:
    if after is None:
        cursor = -1 if order == "asc" else 2**63 - 1
    else:
        found = conn.execute("SELECT pk FROM prompts WHERE id = ?", (after,)).fetchone()
        if found is None:  # an unknown cursor: nothing comes after it
            return []
        cursor = int(found[0])
    return conn.execute(_PAGE_ASC if order == "asc" else _PAGE_DESC, (cursor, limit)).fetchall()
