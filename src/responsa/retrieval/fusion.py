"""Reciprocal rank fusion: one ranking from the full-text and the vector rankings.

Each list contributes `weight / (K + rank)` for every chunk it ranks (rank from 1). Scores are
then divided by the best score any chunk could get (first in every list), so a chunk ranked
first by both searches scores 1.0 and `score_threshold` reads on a 0 to 1 scale.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypeVar

K = 60  # the constant of the original RRF paper: damps the head of each list

Key = TypeVar("Key", bound=Hashable)


def fuse(rankings: Sequence[tuple[Sequence[Key], float]]) -> list[tuple[Key, float]]:
    """`rankings` are (keys best first, weight) pairs; the fused (key, score) list, best first.
    Ties keep the order in which keys were first seen."""
    best = sum(weight for _, weight in rankings) / (K + 1)
    scores: dict[Key, float] = {}
    for keys, weight in rankings:
        for rank, key in enumerate(keys, 1):
            scores[key] = scores.get(key, 0.0) + weight / (K + rank)
    if best <= 0:
        return [(key, 0.0) for key in scores]
    ranked = sorted(scores.items(), key=lambda pair: -pair[1])
    return [(key, score / best) for key, score in ranked]
