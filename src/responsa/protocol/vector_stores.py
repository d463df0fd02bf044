"""The Vector Stores API bodies (stores, their files, file batches, search), validated as the
real API does, with the same wording as `POST /v1/responses`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from responsa.errors import InvalidRequestError
from responsa.protocol.request import Metadata
from responsa.protocol.tools import Filter
from responsa.protocol.wire import JSONDict, Range, Str64, Str512, Tagged, WireModel
from responsa.retrieval.chunker import DEFAULT_MAX_TOKENS, DEFAULT_OVERLAP_TOKENS

MAX_FILE_IDS = 500  # per create / batch call

AttributeValue = Annotated[Str512 | bool | int | float,  # numbers stay as given (1, not 1.0)
                           Tagged("attribute", expected="one of a string, number or boolean")]
Attributes = Annotated[dict[Str64, AttributeValue], Field(max_length=16)]


class StaticChunking(WireModel):
    max_chunk_size_tokens: Annotated[int, Range(100, 4096)]
    chunk_overlap_tokens: Annotated[int, Range(0, None)]


class StaticChunkingStrategy(WireModel):
    type: Literal["static"]
    static: StaticChunking


class AutoChunkingStrategy(WireModel):
    type: Literal["auto"]


ChunkingStrategy = Annotated[AutoChunkingStrategy | StaticChunkingStrategy,
                             Tagged("chunking_strategy")]


def chunking_object(strategy: AutoChunkingStrategy | StaticChunkingStrategy | None,
                    param: str = "chunking_strategy") -> JSONDict:
    """The strategy as a vector store file reports it: `auto` is the static 800/400."""
    if isinstance(strategy, StaticChunkingStrategy):
        static = strategy.static
        if static.chunk_overlap_tokens > static.max_chunk_size_tokens // 2:
            raise InvalidRequestError(
                f"Invalid '{param}.static.chunk_overlap_tokens': the overlap must not exceed "
                f"half of max_chunk_size_tokens ({static.max_chunk_size_tokens // 2}), "
                f"got {static.chunk_overlap_tokens}.",
                param=f"{param}.static.chunk_overlap_tokens", code="invalid_value")
        sizes = {"max_chunk_size_tokens": static.max_chunk_size_tokens,
                 "chunk_overlap_tokens": static.chunk_overlap_tokens}
    else:
        sizes = {"max_chunk_size_tokens": DEFAULT_MAX_TOKENS,
                 "chunk_overlap_tokens": DEFAULT_OVERLAP_TOKENS}
    return {"type": "static", "static": sizes}


class ExpiresAfter(WireModel):
    anchor: Literal["last_active_at"]
    days: Annotated[int, Range(1, 365)]


FileIds = Annotated[list[str], Field(max_length=MAX_FILE_IDS)]


class CreateVectorStoreRequest(WireModel):
    name: str | None = None
    description: str | None = None
    file_ids: FileIds | None = None
    chunking_strategy: ChunkingStrategy | None = None
    metadata: Metadata | None = None
    expires_after: ExpiresAfter | None = None


class UpdateVectorStoreRequest(WireModel):
    name: str | None = None
    metadata: Metadata | None = None
    expires_after: ExpiresAfter | None = None


class CreateVectorStoreFileRequest(WireModel):
    file_id: str
    attributes: Attributes | None = None
    chunking_strategy: ChunkingStrategy | None = None


class UpdateVectorStoreFileRequest(WireModel):
    attributes: Attributes | None


class CreateFileBatchRequest(WireModel):
    file_ids: FileIds | None = None
    files: Annotated[list[CreateVectorStoreFileRequest], Field(max_length=MAX_FILE_IDS)] | None = (
        None)
    attributes: Attributes | None = None
    chunking_strategy: ChunkingStrategy | None = None


class SearchRankingOptions(WireModel):
    ranker: Literal["none", "auto", "default-2024-11-15"] | None = None
    score_threshold: Annotated[float, Range(0, 1)] | None = None


Query = Annotated[str | list[str], Tagged("query", expected="one of a string or an array")]


class SearchRequest(WireModel):
    query: Query
    filters: Filter | None = None
    max_num_results: Annotated[int, Range(1, 50)] | None = None
    ranking_options: SearchRankingOptions | None = None
    rewrite_query: bool | None = None

    def queries(self) -> list[str]:
        return [self.query] if isinstance(self.query, str) else list(self.query)
