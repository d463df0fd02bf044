"""Store URLs: which store each one makes, and which ones are refused."""

from __future__ import annotations

import pytest

from responsa.store.postgres import PostgresStore
from responsa.store.registry import create_store
from responsa.store.sqlite import SQLiteStore


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///responsa.db", "responsa.db"),
        ("sqlite:///data/sub/responsa.db", "data/sub/responsa.db"),
        ("sqlite:////var/lib/responsa/responsa.db", "/var/lib/responsa/responsa.db"),
        ("sqlite://:memory:", ":memory:"),
        ("sqlite:///:memory:", ":memory:"),
    ],
)
def test_sqlite_urls(url: str, path: str) -> None:
    store = create_store(url)
    assert isinstance(store, SQLiteStore)
    assert store.path == path


@pytest.mark.parametrize(
    "url", ["postgresql://user:pw@db.example:5432/responsa", "postgres://localhost/responsa"]
)
def test_postgres_urls(url: str) -> None:
    store = create_store(url)
    assert isinstance(store, PostgresStore)
    assert store.dsn == url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://localhost/db", "unsupported store URL scheme 'mysql'"),
        ("responsa.db", "unsupported store URL scheme"),
        ("", "unsupported store URL scheme"),
        ("sqlite://", "bad SQLite URL"),
        ("sqlite:///", "bad SQLite URL"),
        ("sqlite://host/file.db", "bad SQLite URL"),
        ("sqlite:///file.db?mode=ro", "bad SQLite URL"),
    ],
)
def test_bad_urls(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        create_store(url)


async def test_memory_store_works() -> None:
    store = create_store("sqlite://:memory:")
    await store.open()
    try:
        assert await store.get_response("resp_none") is None
    finally:
        await store.close()
