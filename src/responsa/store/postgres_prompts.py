"""Prompt templates on PostgreSQL (mixed into `PostgresStore`). Every method is one round trip."""

from __future__ import annotations

import abc

import asyncpg

from responsa.store._rows import dumps, loads
from responsa.store.base import ItemPage, JSONDict, Order
from responsa.store.prompts import prompt_object, version_number

# One statement: the data-modifying CTE inserts the prompt and its first version together.
_CREATE = """
WITH p AS (
    INSERT INTO prompts (id, created_at, latest_version) VALUES ($1, $2, 1) RETURNING pk
)
INSERT INTO prompt_versions (prompt_pk, version, created_at, template)
SELECT p.pk, 1, $2, $3 FROM p
"""

# The UPDATE locks the prompt row, so concurrent new versions are numbered one after another.
_ADD = """
WITH p AS (
    UPDATE prompts SET latest_version = latest_version + 1 WHERE id = $1
    RETURNING pk, latest_version
)
INSERT INTO prompt_versions (prompt_pk, version, created_at, template)
SELECT p.pk, p.latest_version, $2, $3 FROM p
RETURNING version
"""

_GET = """
SELECT v.version, v.created_at, v.template FROM prompts AS p
JOIN prompt_versions AS v ON v.prompt_pk = p.pk
WHERE p.id = $1 AND v.version = COALESCE($2::integer, p.latest_version)
"""

# An unknown `after` ($1) makes the cursor NULL, so the page is empty.
_PAGE = """
SELECT p.id, v.version, v.created_at, v.template FROM prompts AS p
JOIN prompt_versions AS v ON v.prompt_pk = p.pk AND v.version = p.latest_version
WHERE p.pk {cmp} COALESCE((SELECT a.pk FROM prompts AS a WHERE a.id = $1),
                          CASE WHEN $1::text IS NULL THEN {start} END)
ORDER BY p.pk {direction} LIMIT $2
"""
_PAGE_ASC = _PAGE.format(cmp=">", start=-1, direction="ASC")
_PAGE_DESC = _PAGE.format(cmp="<", start=2**63 - 1, direction="DESC")


class PostgresPrompts(abc.ABC):
    """The prompt-template half of PostgresStore, which supplies `pool`."""

    @property
    @abc.abstractmethod
    def pool(self) -> asyncpg.Pool:
        """The store's connection pool."""

    async def create_prompt(self, prompt_id: str, created_at: int, template: JSONDict) -> JSONDict:
        await self.pool.execute(_CREATE, prompt_id, created_at, dumps(template))
        return prompt_object(prompt_id, 1, created_at, template)

    async def add_prompt_version(
        self, prompt_id: str, created_at: int, template: JSONDict
    ) -> JSONDict | None:
        version = await self.pool.fetchval(_ADD, prompt_id, created_at, dumps(template))
        return None if version is None else prompt_object(prompt_id, version, created_at, template)

    async def get_prompt(self, prompt_id: str, version: str | None = None) -> JSONDict | None:
        row = await self.pool.fetchrow(_GET, prompt_id, version_number(version))
        return None if row is None else prompt_object(prompt_id, row[0], row[1], loads(row[2]))

    async def list_prompts(self, *, after: str | None, limit: int, order: Order) -> ItemPage:
        rows = await self.pool.fetch(_PAGE_ASC if order == "asc" else _PAGE_DESC,
                                     after, limit + 1)
        data = [prompt_object(r[0], r[1], r[2], loads(r[3])) for r in rows[:limit]]
        return ItemPage(data=data, has_more=len(rows) > limit)

    async def delete_prompt(self, prompt_id: str) -> bool:
        # Versions go by ON DELETE CASCADE.
        deleted = await self.pool.fetchval(
            "DELETE FROM prompts WHERE id = $1 RETURNING true", prompt_id)
        return deleted is not None
