"""Splitting extracted text into overlapping windows of roughly `max_tokens` tokens.

A "token" here is a word or a punctuation mark (`\\w+|[^\\w\\s]`): close to what a BPE tokenizer
counts on prose, with no tokenizer to load. Chunks are slices of the original text, so what a
search returns is what the file says, whitespace included.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(r"\w+|[^\w\s]")

# The real API's `auto` strategy, reported as this static one.
DEFAULT_MAX_TOKENS = 800
DEFAULT_OVERLAP_TOKENS = 400


def chunk_text(text: str, max_tokens: int = DEFAULT_MAX_TOKENS,
               overlap_tokens: int = DEFAULT_OVERLAP_TOKENS) -> list[str]:
    """Windows of `max_tokens` tokens, each starting `max_tokens - overlap_tokens` after the
    previous one; the last window ends with the text. Empty for text with no tokens."""
    if max_tokens < 1 or not 0 <= overlap_tokens < max_tokens:
        raise ValueError("need max_tokens >= 1 and 0 <= overlap_tokens < max_tokens")
    spans = [match.span() for match in _TOKEN.finditer(text)]
    step = max_tokens - overlap_tokens
    chunks: list[str] = []
    start = 0
    while start < len(spans):
        window = spans[start:start + max_tokens]
        chunks.append(text[window[0][0]:window[-1][1]])
        if start + max_tokens >= len(spans):
            break
        start += step
    return chunks


def count_tokens(text: str) -> int:
    return sum(1 for _ in _TOKEN.finditer(text))
