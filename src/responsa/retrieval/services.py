"""What the Files and Vector Stores APIs and the `file_search` tool share, built once per
application: the file bytes, the embedder and the background ingestion."""

from __future__ import annotations

from dataclasses import dataclass

from responsa.config import Settings, files_dir
from responsa.retrieval.blobs import FileBlobs
from responsa.retrieval.embedders import Embedder, create_embedder
from responsa.retrieval.ingest import Ingestor
from responsa.store.files import FileStore


@dataclass(slots=True)
class FileServices:
    store: FileStore
    blobs: FileBlobs
    embedder: Embedder
    ingestor: Ingestor

    @classmethod
    def create(cls, settings: Settings, store: FileStore) -> FileServices:
        blobs = FileBlobs(files_dir(settings))
        embedder = create_embedder(settings.embeddings)
        return cls(store, blobs, embedder, Ingestor(store, embedder, blobs))

    async def named_content(self, file_id: str) -> tuple[str, bytes] | None:
        """An uploaded file's name and bytes (what a container copies in by `file_id`)."""
        file = await self.store.get_file(file_id)
        data = None if file is None else await self.blobs.read(file_id)
        return None if file is None or data is None else (str(file["filename"]), data)

    async def aclose(self) -> None:
        await self.ingestor.aclose()
        await self.embedder.aclose()
