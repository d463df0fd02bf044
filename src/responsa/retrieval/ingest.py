"""Ingestion: a file attached to a vector store is extracted, chunked and embedded in the
background; its vector store file goes from `in_progress` to `completed` (or `failed` with
`last_error`). A file cancelled or detached meanwhile stays as it is: the store only finishes
files still `in_progress`. Files left `in_progress` by a stopped server are taken up again on
start (`resume`); the work is idempotent, so two replicas doing the same file agree.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from responsa.errors import ResponsaError
from responsa.retrieval.blobs import FileBlobs
from responsa.retrieval.chunker import DEFAULT_MAX_TOKENS, DEFAULT_OVERLAP_TOKENS, chunk_text
from responsa.retrieval.embedders import Embedder
from responsa.retrieval.extract import ExtractionError, extract_text
from responsa.retrieval.vectors import to_blob
from responsa.store.files import FileStore, JSONDict, NewChunk

logger = logging.getLogger(__name__)

CONCURRENCY = 2  # files embedded at once: the local embedder is CPU-bound


class Ingestor:
    def __init__(self, store: FileStore, embedder: Embedder, blobs: FileBlobs) -> None:
        self.store = store
        self.embedder = embedder
        self.blobs = blobs
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(CONCURRENCY)

    def submit(self, vector_store_id: str, file_id: str) -> None:
        task = asyncio.ensure_future(self._ingest(vector_store_id, file_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def resume(self) -> None:
        for vector_store_id, file_id in await self.store.pending_vector_store_files():
            self.submit(vector_store_id, file_id)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _ingest(self, vector_store_id: str, file_id: str) -> None:
        async with self._slots:
            try:
                fields, chunks = await self._chunks(vector_store_id, file_id)
            except ExtractionError as exc:
                fields, chunks = _failed(exc.code, exc.message), []
            except ResponsaError as exc:
                fields, chunks = _failed("server_error", exc.message), []
            except Exception as exc:
                logger.exception("ingesting %s into %s failed", file_id, vector_store_id)
                fields, chunks = _failed("server_error", f"The file could not be processed "
                                                         f"({type(exc).__name__})."), []
            await self.store.finish_vector_store_file(vector_store_id, file_id, fields, chunks)

    async def _chunks(self, vector_store_id: str,
                      file_id: str) -> tuple[JSONDict, list[NewChunk]]:
        item = await self.store.get_vector_store_file(vector_store_id, file_id)
        file = await self.store.get_file(file_id)
        data = await self.blobs.read(file_id)
        if item is None or file is None or data is None:
            raise ExtractionError("invalid_file", f"File {file_id} no longer exists.")
        text = await asyncio.to_thread(extract_text, data, str(file.get("filename") or ""))
        static = (item.get("chunking_strategy") or {}).get("static") or {}
        pieces = chunk_text(text, int(static.get("max_chunk_size_tokens", DEFAULT_MAX_TOKENS)),
                            int(static.get("chunk_overlap_tokens", DEFAULT_OVERLAP_TOKENS)))
        chunks: list[NewChunk] = []
        if pieces:
            vectors = await self.embedder.embed(pieces)
            chunks = [NewChunk(piece, to_blob(vector))
                      for piece, vector in zip(pieces, vectors, strict=True)]
        usage = sum(len(c.text.encode()) + len(c.embedding) for c in chunks)
        return {"status": "completed", "usage_bytes": usage, "last_error": None}, chunks


def _failed(code: str, message: str) -> JSONDict:
    return {"status": "failed", "last_error": {"code": code, "message": message}}
