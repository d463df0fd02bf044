"""Turning records into rows and rows back into JSON, shared by both stores.

Serialization happens on the caller's thread at call time: the saved state is a snapshot, even if
the caller keeps mutating its dicts while the write is in flight.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from responsa.store.base import JSONDict, StoredResponse

# Guards get_context against a cycle in previous_response_id (which only a buggy writer could
# create); no real conversation is this deep.
MAX_CHAIN_DEPTH = 100_000

# Row kinds in get_context results: a response's input items sort before its output.
INPUT, OUTPUT = 0, 1


def dumps(value: Any) -> str:
    # orjson keeps key order and emits compact UTF-8; str, not bytes, because both databases
    # must see text (SQLite would read a BLOB as its binary JSONB format).
    return orjson.dumps(value).decode()


def loads(text: str | bytes) -> Any:
    return orjson.loads(text)


@dataclass(frozen=True, slots=True)
class Rows:
    """A StoredResponse flattened for the tables, columns as parallel lists."""

    id: str
    previous_response_id: str | None
    created_at: int
    status: str | None
    response: str
    item_ids: list[str | None]
    items: list[str]
    sequence_numbers: list[int]
    events: list[str]


def to_rows(record: StoredResponse) -> Rows:
    response = record.response
    created_at = response.get("created_at")
    status = response.get("status")
    return Rows(
        id=record.id,
        previous_response_id=record.previous_response_id,
        created_at=int(created_at) if created_at is not None else int(time.time()),
        status=status if isinstance(status, str) else None,
        response=dumps(response),
        item_ids=[item.get("id") for item in record.input_items],
        items=[dumps(item) for item in record.input_items],
        sequence_numbers=[int(event["sequence_number"]) for event in record.events],
        events=[dumps(event) for event in record.events],
    )


def context_from_rows(rows: Iterable[tuple[int, str | None]]) -> list[JSONDict]:
    """Rows of (kind, json) in context order -> items.

    An OUTPUT row holds either the output array (SQLite extracts it in SQL) or the whole
    response (PostgreSQL's `->` would fail on a `\u0000` anywhere in the object).
    """
    items: list[JSONDict] = []
    for kind, text in rows:
        if text is None:  # a response without an "output" key
            continue
        value = loads(text)
        if kind == INPUT:
            items.append(value)
            continue
        output = value.get("output") if isinstance(value, dict) else value
        if isinstance(output, list):
            items.extend(output)
    return items
