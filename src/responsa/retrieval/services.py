"""What the Files and Vector Stores APIs and the `file_search` tool share, built once per
application: the file bytes, the embedder, the background ingestion, and the expiry of files
uploaded with `expires_after` (deleted once due: swept every minute, and at once when read)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from responsa.config import Settings, files_dir
from responsa.retrieval.blobs import FileBlobs
from responsa.retrieval.embedders import Embedder, create_embedder
from responsa.retrieval.ingest import Ingestor
from responsa.store.base import JSONDict
from responsa.store.files import FileStore

logger = logging.getLogger(__name__)
SWEEP_SECONDS = 60.0


def expired(file: JSONDict, now: float) -> bool:
    return file.get("expires_at") is not None and file["expires_at"] <= now


@dataclass(slots=True)
class FileServices:
    store: FileStore
    blobs: FileBlobs
    embedder: Embedder
    ingestor: Ingestor
    _sweeper: asyncio.Task[None] | None = None

    @classmethod
    def create(cls, settings: Settings, store: FileStore) -> FileServices:
        blobs = FileBlobs(files_dir(settings))
        embedder = create_embedder(settings.embeddings)
        return cls(store, blobs, embedder, Ingestor(store, embedder, blobs))

    async def start(self) -> None:
        await self.ingestor.resume()
        self._sweeper = asyncio.create_task(self._sweep_forever())

    async def file(self, file_id: str) -> JSONDict | None:
        """The File object; None when there is none or it expired (then deleted now)."""
        found = await self.store.get_file(file_id)
        if found is not None and expired(found, time.time()):
            await self.sweep()
            return None
        return found

    async def sweep(self) -> None:
        """Delete the files whose expiry passed, their bytes and their vector store entries."""
        for file_id in await self.store.delete_expired_files(int(time.time())):
            await self.blobs.delete(file_id)

    async def _sweep_forever(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:  # the database may be briefly away: try again next time
                logger.exception("sweeping expired files failed")
            await asyncio.sleep(SWEEP_SECONDS)

    async def named_content(self, file_id: str) -> tuple[str, bytes] | None:
        """An uploaded file's name and bytes (what a container copies in by `file_id`)."""
        file = await self.file(file_id)
        data = None if file is None else await self.blobs.read(file_id)
        return None if file is None or data is None else (str(file["filename"]), data)

    async def aclose(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        await self.ingestor.aclose()
        await self.embedder.aclose()
