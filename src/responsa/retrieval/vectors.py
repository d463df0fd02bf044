"""Embedding vectors as stored: float32 rows, unit length, so a dot product is a cosine."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Matrix = NDArray[np.float32]


def normalize(vectors: Matrix) -> Matrix:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    out: Matrix = (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
    return out


def to_blob(vector: Matrix) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def from_blobs(blobs: list[bytes]) -> Matrix:
    """Stacked rows; every blob must have the same length."""
    return np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(blobs), -1)


def to_floats(vector: Matrix) -> list[float]:
    """A row as plain floats for a `real[]` column; subnormals flushed to 0, as PostgreSQL
    refuses them ("value out of range: underflow")."""
    row = np.asarray(vector, dtype=np.float32)
    return np.where(np.abs(row) < np.finfo(np.float32).tiny, 0.0, row).tolist()  # type: ignore[no-any-return]
