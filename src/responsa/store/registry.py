"""Choosing a store from a URL, as configuration gives it."""

from __future__ import annotations

from responsa.store.base import Store

_SQLITE = "sqlite://"
_POSTGRES = ("postgresql://", "postgres://")


def create_store(url: str) -> Store:
    """A store (not yet opened) for `url`.

    - ``sqlite:///relative/path.db`` and ``sqlite:////absolute/path.db`` (SQLAlchemy's spelling:
      the path is what follows the third slash), ``sqlite://:memory:`` or ``sqlite:///:memory:``
    - ``postgresql://user:password@host:port/database`` (or ``postgres://``), passed to asyncpg
      as is, query parameters included
    """
    if url.startswith(_SQLITE):
        from responsa.store.sqlite import SQLiteStore

        return SQLiteStore(sqlite_path(url))
    if url.startswith(_POSTGRES):
        # Imported here so the SQLite default never loads the PostgreSQL driver.
        from responsa.store.postgres import PostgresStore

        return PostgresStore(url)
    scheme = url.split("://", 1)[0] if "://" in url else url
    raise ValueError(
        f"unsupported store URL scheme {scheme!r}: use sqlite:///path/to/file.db, "
        "sqlite:////absolute/path.db, sqlite://:memory: or postgresql://user@host/database"
    )


def sqlite_path(url: str) -> str:
    rest = url[len(_SQLITE) :]
    if rest in (":memory:", "/:memory:"):
        return ":memory:"
    if not rest.startswith("/") or len(rest) == 1:
        raise ValueError(
            f"bad SQLite URL {url!r}: expected sqlite:///relative/path.db or "
            "sqlite:////absolute/path.db (a host part is not allowed)"
        )
    if "?" in rest or "#" in rest:
        raise ValueError(f"bad SQLite URL {url!r}: query strings and fragments are not supported")
    return rest[1:]
