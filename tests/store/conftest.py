"""Store fixtures: every contract test runs against SQLite and a real PostgreSQL (the session's
`postgres_dsn` from tests/conftest.py)."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from responsa.store.base import Store
from responsa.store.postgres import PostgresStore
from responsa.store.sqlite import SQLiteStore


class Backend:
    """One database (a SQLite file, or a fresh PostgreSQL schema) that stores can be opened on."""

    def __init__(self, kind: str, target: str) -> None:
        self.kind = kind
        self.target = target  # the file path, or a DSN whose search_path is the test's schema
        self._stores: list[Store] = []

    def new_store(self) -> Store:
        """A new, unopened store on the same data: what a restart or another replica sees."""
        store: Store = (
            SQLiteStore(self.target) if self.kind == "sqlite" else PostgresStore(self.target)
        )
        self._stores.append(store)
        return store

    async def applied_migrations(self) -> list[str]:
        sql = "SELECT name FROM schema_migrations ORDER BY name"
        if self.kind == "sqlite":
            with sqlite3.connect(self.target) as db:
                return [row[0] for row in db.execute(sql)]
        pg = await asyncpg.connect(self.target)
        try:
            return [row["name"] for row in await pg.fetch(sql)]
        finally:
            await pg.close()

    async def close_all(self) -> None:
        for store in self._stores:
            await store.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "sqlite":
        backend = Backend("sqlite", str(tmp_path / "responsa.db"))
        yield backend
        await backend.close_all()
        return

    # Each test gets a fresh schema, so an existing server (RESPONSA_TEST_POSTGRES_DSN) works too.
    dsn: str = request.getfixturevalue("postgres_dsn")
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f"CREATE SCHEMA {schema}")
        # asyncpg passes unknown DSN query parameters on as server settings.
        separator = "&" if "?" in dsn else "?"
        backend = Backend("postgres", f"{dsn}{separator}search_path={schema}")
        yield backend
        await backend.close_all()
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
    finally:
        await admin.close()


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[Store]:
    store = backend.new_store()
    await store.open()
    yield store
    await store.close()
