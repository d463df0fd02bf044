"""Hybrid search over vector stores: full-text and vector rankings fused (retrieval/fusion.py).

Each query gets a full-text ranking (the store's FTS over its words) and a vector ranking (its
embedding against the chunks'), fused with the `ranking_options.hybrid_search` weights (equal
by default). With several queries a chunk keeps its best score. Attribute filters choose the
files before anything is ranked, so they never cost results.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from responsa.retrieval.embedders import Embedder
from responsa.retrieval.filters import matches
from responsa.retrieval.fusion import fuse
from responsa.store.files import ChunkHit, FileStore, expiry_fields

JSONDict = dict[str, Any]

_WORD = re.compile(r"\w+")
# Words that match nearly every chunk: as full-text terms they only add noise to the ranking.
_STOPWORDS = (
    "a about an and are as at be by can could did do does for from had has have how i if in "
    "into is it its me my of on or our should so than that the their them then there these "
    "they this to was we were what when where which who why will with would you your")
STOPWORDS = frozenset(_STOPWORDS.split(" "))
CANDIDATES = 50  # per ranking, before fusion


@dataclass(frozen=True, slots=True)
class SearchHit:
    file_id: str
    filename: str
    score: float  # 0 to 1: first in every ranking is 1
    text: str
    attributes: JSONDict
    vector_store_id: str


async def hybrid_search(store: FileStore, embedder: Embedder, vector_store_ids: list[str],
                        queries: list[str], *, max_results: int,
                        filters: JSONDict | None = None,
                        ranking_options: JSONDict | None = None) -> list[SearchHit]:
    await _mark_active(store, vector_store_ids)
    files = [f for f in await store.searchable_files(vector_store_ids)
             if matches(filters, f.attributes)]
    queries = [q for q in queries if q.strip()]
    if not files or not queries:
        return []
    by_key = {f.key: f for f in files}
    keys = list(by_key)
    weights = (ranking_options or {}).get("hybrid_search") or {}
    text_weight = float(weights.get("text_weight", 1.0))
    embedding_weight = float(weights.get("embedding_weight", 1.0))
    vectors = await embedder.embed(queries) if embedding_weight > 0 else None
    texts: dict[tuple[int, int], str] = {}
    best: dict[tuple[int, int], float] = {}
    for n, query in enumerate(queries):
        rankings: list[tuple[list[tuple[int, int]], float]] = []
        if text_weight > 0:
            found = await store.text_search(keys, _terms(query), CANDIDATES)
            rankings.append((_keys(found, texts), text_weight))
        if vectors is not None:
            found = await store.vector_search(keys, vectors[n], CANDIDATES)
            rankings.append((_keys(found, texts), embedding_weight))
        for key, score in fuse(rankings):
            best[key] = max(score, best.get(key, 0.0))
    threshold = float((ranking_options or {}).get("score_threshold") or 0.0)
    ranked = sorted(best.items(), key=lambda pair: -pair[1])
    hits: list[SearchHit] = []
    for (file_key, position), score in ranked:
        if score < threshold or len(hits) == max_results:
            break
        f = by_key[file_key]
        hits.append(SearchHit(f.file_id, f.filename, round(score, 4),
                              texts[(file_key, position)], f.attributes, f.vector_store_id))
    return hits


async def _mark_active(store: FileStore, vector_store_ids: list[str]) -> None:
    """A search is activity: it moves `last_active_at`, and the expiry counted from it."""
    now = int(time.time())
    for vector_store_id in dict.fromkeys(vector_store_ids):
        current = await store.get_vector_store(vector_store_id)
        if current is not None and current["status"] != "expired":
            await store.update_vector_store(vector_store_id, {
                "last_active_at": now, **expiry_fields(current["expires_after"], now)})


def _terms(query: str) -> list[str]:
    words = _WORD.findall(query)
    return [w for w in words if w.lower() not in STOPWORDS] or words


def _keys(found: list[ChunkHit], texts: dict[tuple[int, int], str]) -> list[tuple[int, int]]:
    keys = []
    for hit in found:
        texts[(hit.key, hit.position)] = hit.text
        keys.append((hit.key, hit.position))
    return keys
