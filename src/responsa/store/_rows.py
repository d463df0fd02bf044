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
class EventBatch:
    """A contiguous run of the event log: one row, its events as one JSON array.

    One row and one serialization per batch instead of per event: a streamed response logs an
    event per token, and per-event rows were the costliest part of saving it.
    """

    first_sequence_number: int
    last_sequence_number: int
    events: str


def to_batch(events: list[JSONDict]) -> EventBatch | None:
    """The batch of `events` (None for none). Readers find batches by their last sequence number
    and filter only the first one they read, so a batch must be in order."""
    if not events:
        return None
    first = int(events[0]["sequence_number"])
    last = int(events[-1]["sequence_number"])
    if last < first:
        raise ValueError(f"events out of order: the first is number {first}, the last {last}")
    return EventBatch(first, last, dumps(events))


def continues(batch: EventBatch, stored_last: int | None) -> bool:
    """Whether `batch` may be appended to a log ending at `stored_last` (None: empty)."""
    return stored_last is None or batch.first_sequence_number > stored_last


def discontinuity(batch: EventBatch, stored_last: int | None) -> ValueError:
    return ValueError(
        f"appended events must start after sequence number {stored_last}, "
        f"not at {batch.first_sequence_number}"
    )


def events_from_batches(
    rows: Iterable[tuple[int | None, str | None]], starting_after: int
) -> list[JSONDict]:
    """Rows of (first_sequence_number, events array), ordered by sequence number and holding
    only batches that end after `starting_after` -> the events after it. Only the first batch
    can straddle `starting_after`. Rows of NULLs (a response without such batches) are skipped.
    """
    events: list[JSONDict] = []
    for first, text in rows:
        if first is None or text is None:
            continue
        batch: list[JSONDict] = loads(text)
        if first <= starting_after:
            batch = [event for event in batch if event["sequence_number"] > starting_after]
        events.extend(batch)
    return events


@dataclass(frozen=True, slots=True)
class Rows:
    """A StoredResponse flattened for the tables: items as parallel lists, the log one batch."""

    id: str
    previous_response_id: str | None
    created_at: int
    status: str | None
    response: str
    item_ids: list[str | None]
    items: list[str]
    events: EventBatch | None


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
        events=to_batch(record.events),
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


@dataclass(frozen=True, slots=True)
class ItemRows:
    """Conversation items flattened for the table: their ids and their JSON, in order."""

    ids: list[str]
    items: list[str]


def to_item_rows(items: Iterable[JSONDict]) -> ItemRows:
    listed = list(items)
    return ItemRows(ids=[str(item["id"]) for item in listed], items=[dumps(i) for i in listed])


def conversation_object(conversation_id: str, created_at: int, metadata: str) -> JSONDict:
    return {"id": conversation_id, "object": "conversation", "created_at": created_at,
            "metadata": loads(metadata)}
