"""The store protocol and the records it keeps.

Everything is JSON-shaped (the wire format), stored verbatim: what goes in comes back out
byte-for-byte equal after a JSON round trip, key order included.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

JSONDict = dict[str, Any]
Order = Literal["asc", "desc"]


@dataclass(slots=True)
class StoredResponse:
    """One response and everything needed to continue, list or replay it.

    `response` is the full Response object as last sent to the client. `input_items` are the
    items of this request's own `input` (each with an `id`), in order; `output` lives inside
    `response`. `events` is the event log (every event with its `sequence_number`, in increasing
    order), empty when none was kept.
    """

    response: JSONDict
    input_items: list[JSONDict] = field(default_factory=list)
    events: list[JSONDict] = field(default_factory=list)

    @property
    def id(self) -> str:
        return str(self.response["id"])

    @property
    def previous_response_id(self) -> str | None:
        return self.response.get("previous_response_id")


@dataclass(slots=True)
class ItemPage:
    data: list[JSONDict]
    has_more: bool


class Store(Protocol):
    async def open(self) -> None:
        """Connect and apply pending migrations."""

    async def close(self) -> None: ...

    async def save_response(self, record: StoredResponse) -> None:
        """Insert or replace the response, its input items and its event log, atomically.

        The log replaces any stored one, appended batches included.
        """

    async def append_events(self, response_id: str, events: list[JSONDict]) -> None:
        """Add `events` (in increasing `sequence_number` order) to the end of a saved response's
        log as one batch, without rewriting what is stored: how a live log is flushed as it
        grows. An empty list adds nothing.

        Raises KeyError if `response_id` is not stored, and ValueError (appending nothing) if the
        first event's sequence number is not past the last one stored.
        """

    async def get_response(self, response_id: str) -> JSONDict | None:
        """The stored Response object, or None."""

    async def delete_response(self, response_id: str) -> bool:
        """Delete the response with its items and events; False if it did not exist."""

    async def get_context(self, response_id: str) -> list[JSONDict] | None:
        """The conversation a continuation of `response_id` sees: for the response and each of
        its ancestors (oldest first), its input items then its output items. None if
        `response_id` is not stored."""

    async def list_input_items(
        self, response_id: str, *, after: str | None, limit: int, order: Order
    ) -> ItemPage | None:
        """A page of the response's own input items; None if the response is not stored.
        `after` is an item id: the page starts after that item in the given order."""

    async def get_events(
        self, response_id: str, *, starting_after: int | None
    ) -> list[JSONDict] | None:
        """Stored events with `sequence_number > starting_after` (all when None), in order; None
        if `response_id` is not stored (one query: no need to ask `get_response` first)."""
