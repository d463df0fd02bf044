"""The server secret that seals compaction items (`encrypted_content`).

- `secret_key` in the TOML file, or `RESPONSA_SECRET_KEY`, wins: any string; the Fernet key is
  its SHA-256. Set it when replicas must share it without a shared database (or to rotate it).
- Otherwise one is generated on first start and kept with the data, so it survives restarts:
  SQLite keeps it in `responsa.secret` (mode 0600) next to the database file; PostgreSQL keeps it
  in the database itself (table `responsa_secrets`), so every replica reads the same one. An
  in-memory SQLite database gets a fresh key per process.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.fernet import Fernet

from responsa.store.registry import sqlite_path

_SECRET_FILE = "responsa.secret"


def fernet_key(secret: str) -> bytes:
    return base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest())


async def load_secret(database: str, configured: str | None) -> bytes:
    """The Fernet key for `database`, from configuration or kept with the data."""
    if configured:
        return fernet_key(configured)
    if database.startswith(("postgresql://", "postgres://")):
        return fernet_key(await _postgres_secret(database))
    path = sqlite_path(database)
    if path == ":memory:":
        return Fernet.generate_key()
    return fernet_key(_file_secret(Path(path).parent / _SECRET_FILE))


def _file_secret(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as file:
        file.write(Fernet.generate_key().decode())
    return path.read_text().strip()


async def _postgres_secret(url: str) -> str:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            # Replicas starting together: one creates the table and the key, the others wait.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('responsa_secrets'))")
            await conn.execute("CREATE TABLE IF NOT EXISTS responsa_secrets "
                               "(name TEXT PRIMARY KEY, value TEXT NOT NULL)")
            await conn.execute("INSERT INTO responsa_secrets (name, value) "
                               "VALUES ('compaction', $1) ON CONFLICT (name) DO NOTHING",
                               Fernet.generate_key().decode())
            value = await conn.fetchval(
                "SELECT value FROM responsa_secrets WHERE name = 'compaction'")
    finally:
        await conn.close()
    return str(value)
