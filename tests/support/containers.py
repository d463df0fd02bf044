"""Helpers for tests of the code interpreter: a server with a sandbox configured, and making a
container look idle for longer than it was (rewriting `last_active_at` in its database)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg

from tests.conftest import config_text
from tests.support.llama_server import LlamaServer
from tests.support.responsa_server import RunningResponsa, serving
from tests.support.scripted_upstream import ScriptedUpstream

# Tight limits, so the escape tests that hit them end quickly.
SANDBOX_CONFIG = """
[code_interpreter]
data_dir = "{data_dir}"
memory_mb = 512
cpu_seconds = 3
timeout_seconds = 4
file_size_mb = 2
max_processes = 48
output_kb = 8
"""


class SandboxServer:
    """responsa with a code interpreter, and where its state lives."""

    def __init__(self, server: RunningResponsa, data_dir: Path, database: str) -> None:
        self.server = server
        self.data_dir = data_dir  # the container folders
        self.database = database  # a SQLite path or a PostgreSQL DSN

    def idle_for(self, container_id: str, seconds: int) -> None:
        """Make the container's last activity `seconds` older."""
        sql = "UPDATE containers SET last_active_at = last_active_at - {} WHERE id = {}"
        if not self.database.startswith("postgres"):
            with sqlite3.connect(self.database) as db:
                db.execute(sql.format("?", "?"), (seconds, container_id))
            return

        async def update() -> None:
            conn = await asyncpg.connect(self.database)
            try:
                await conn.execute(sql.format("$1", "$2"), seconds, container_id)
            finally:
                await conn.close()
        asyncio.run(update())


@contextmanager
def sandbox_server(tmp: Path, llama: LlamaServer, scripted: ScriptedUpstream,
                   postgres_dsn: str | None = None) -> Iterator[SandboxServer]:
    data_dir = tmp / "containers"
    config = config_text(llama, scripted, SANDBOX_CONFIG.format(data_dir=data_dir))
    database = postgres_dsn or str(tmp / "responsa.db")
    with serving(tmp, config, database=postgres_dsn) as server:
        yield SandboxServer(server, data_dir, database)
