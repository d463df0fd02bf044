"""The bytes of uploaded files, one file per id under a directory (`files_dir` in the config;
by default `files/` next to a SQLite database, else `data/files`). Replicas sharing a
PostgreSQL database must share this directory too."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path


class FileBlobs:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _path(self, file_id: str) -> Path:
        if not file_id.replace("-", "").replace("_", "").isalnum():  # ids never hold a path
            raise ValueError(f"not a file id: {file_id!r}")
        return self.root / file_id

    async def write(self, file_id: str, data: bytes) -> None:
        await asyncio.to_thread(self._write, file_id, data)

    def _write(self, file_id: str, data: bytes) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        path = self._path(file_id)
        partial = path.with_name(path.name + ".partial")
        partial.write_bytes(data)
        partial.replace(path)  # readers never see half a file

    async def read(self, file_id: str) -> bytes | None:
        try:
            return await asyncio.to_thread(self._path(file_id).read_bytes)
        except FileNotFoundError:
            return None

    async def delete(self, file_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(self._path(file_id).unlink)
