"""What the Files and Vector Stores APIs and the `file_search` tool share, built once per
application: the file bytes, the embedder and the background ingestion."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from responsa.config import Settings
from responsa.retrieval.blobs import FileBlobs, default_files_dir
from responsa.retrieval.embedders import Embedder, create_embedder
from responsa.retrieval.ingest import Ingestor
from responsa.store.files import FileStore


@dataclass(slots=True)
class FileServices:
    blobs: FileBlobs
    embedder: Embedder
    ingestor: Ingestor

    @classmethod
    def create(cls, settings: Settings, store: FileStore) -> FileServices:
        root = Path(settings.files_dir) if settings.files_dir else default_files_dir(
            settings.database)
        blobs = FileBlobs(root)
        embedder = create_embedder(settings.embeddings)
        return cls(blobs, embedder, Ingestor(store, embedder, blobs))

    async def aclose(self) -> None:
        await self.ingestor.aclose()
        await self.embedder.aclose()
