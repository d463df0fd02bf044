"""Embedders: text in, unit-length vectors out. Pluggable by `[embeddings]` in the config.

- `local` (the default): all-MiniLM-L6-v2 in-process (retrieval/minilm.py), loaded on first use
  and once per process; it works offline.
- `endpoint`: any OpenAI-compatible `POST {base_url}/embeddings` (OpenAI, vLLM, Ollama, TEI …).

Every vector is normalized here, so a dot product is the cosine similarity whatever the source.
`name` identifies the embedding space: vectors of different names are never compared.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from responsa.config import EmbeddingsConfig, ProviderConfig
from responsa.errors import UpstreamProtocolError
from responsa.retrieval.vectors import Matrix, normalize

if TYPE_CHECKING:
    from responsa.providers.http_upstream import HTTPUpstream
    from responsa.retrieval.minilm import MiniLM


class Embedder(Protocol):
    name: str

    async def embed(self, texts: list[str]) -> Matrix:
        """One unit-length row per text; raises `ResponsaError` when the source fails."""

    async def aclose(self) -> None: ...


class LocalEmbedder:
    name = "local/all-MiniLM-L6-v2"

    def __init__(self) -> None:
        self._model: MiniLM | None = None
        self._lock = threading.Lock()  # one load; one forward pass at a time (it is CPU-bound)

    def _encode(self, texts: list[str]) -> Matrix:
        with self._lock:
            if self._model is None:
                from responsa.retrieval.minilm import MiniLM

                self._model = MiniLM()
            return self._model.encode(texts)

    async def embed(self, texts: list[str]) -> Matrix:
        return await asyncio.to_thread(self._encode, texts)

    async def aclose(self) -> None:
        return None


class EndpointEmbedder:
    def __init__(self, config: EmbeddingsConfig) -> None:
        from responsa.providers.http_upstream import HTTPUpstream

        assert config.base_url and config.model  # checked by the config loader
        self.model = config.model
        self.name = f"{config.base_url}#{config.model}"
        self.batch_size = max(1, config.batch_size)
        headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        self.http: HTTPUpstream = HTTPUpstream(
            ProviderConfig(name="embeddings", base_url=config.base_url, timeout=config.timeout,
                           connect_timeout=min(config.timeout, 10.0)),
            base_url=config.base_url, headers=headers, context_markers=())

    async def embed(self, texts: list[str]) -> Matrix:
        rows: list[Matrix] = []
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start:start + self.batch_size]
            answer = await self.http.request_json(
                "POST", "embeddings", body={"model": self.model, "input": batch})
            rows.append(self._vectors(answer, len(batch)))
        return normalize(np.concatenate(rows)) if rows else np.zeros((0, 0), np.float32)

    def _vectors(self, answer: Any, count: int) -> Matrix:
        data = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(data, list) or len(data) != count:
            raise UpstreamProtocolError(self.http.provider,
                                        f"expected {count} embeddings in `data`")
        ordered = sorted(data, key=lambda row: int(row.get("index", 0)))
        try:
            return np.array([row["embedding"] for row in ordered], dtype=np.float32)
        except (KeyError, TypeError, ValueError):
            raise UpstreamProtocolError(self.http.provider,
                                        "an embedding is not a list of numbers") from None

    async def aclose(self) -> None:
        await self.http.aclose()


def create_embedder(config: EmbeddingsConfig) -> Embedder:
    if config.provider == "endpoint":
        return EndpointEmbedder(config)
    return LocalEmbedder()
