"""The store protocol and the records it keeps.

Everything is JSON-shaped (the wire format), stored verbatim: what goes in comes back out
byte-for-byte equal after a JSON round trip, key order included.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from responsa.store.containers import ContainerStore
from responsa.store.files import FileStore
from responsa.store.prompts import PromptStore
from responsa.store.runs import RunStore
from responsa.store.webhooks import WebhookStore

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

    @property
    def conversation_items(self) -> list[JSONDict]:
        """What the response adds to its conversation: its input items, then its output."""
        return [*self.input_items, *(self.response.get("output") or ())]


@dataclass(slots=True)
class ItemPage:
    data: list[JSONDict]
    has_more: bool


class Store(PromptStore, RunStore, FileStore, ContainerStore, WebhookStore, Protocol):
    # Prompt templates: store/prompts.py. Background runs: store/runs.py. Files and vector
    # stores: store/files.py. Code interpreter containers: store/containers.py.

    async def open(self) -> None:
        """Connect and apply pending migrations."""

    async def close(self) -> None: ...

    async def save_response(
        self, record: StoredResponse, *, conversation_id: str | None = None
    ) -> None:
        """Insert or replace the response, its input items and its event log, atomically.

        The log replaces any stored one, appended batches included. With `conversation_id`,
        the same transaction also appends the record's input items, then its output items, to
        that conversation (nothing if it no longer exists).
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

    # -- conversations -------------------------------------------------------------------------
    # A Conversation object is `{"id", "object": "conversation", "created_at", "metadata"}`.
    # Items are JSON objects that each carry an `id`, kept in the order they were added.

    async def create_conversation(self, conversation: JSONDict, items: list[JSONDict]) -> None:
        """Insert the conversation (its `id`, `created_at`, `metadata`) with its first items."""

    async def get_conversation(self, conversation_id: str) -> JSONDict | None:
        """The Conversation object, or None."""

    async def update_conversation(
        self, conversation_id: str, metadata: JSONDict
    ) -> JSONDict | None:
        """Replace the metadata; the updated Conversation object, or None if not stored."""

    async def delete_conversation(self, conversation_id: str) -> bool:
        """Delete the conversation and its items; False if it did not exist."""

    async def append_conversation_items(
        self, conversation_id: str, items: list[JSONDict]
    ) -> bool:
        """Add `items` after the conversation's last item, atomically; False (adding nothing)
        if the conversation is not stored."""

    async def get_conversation_items(self, conversation_id: str) -> list[JSONDict] | None:
        """Every item of the conversation, oldest first (what a response in it sees); None if
        the conversation is not stored."""

    async def list_conversation_items(
        self, conversation_id: str, *, after: str | None, limit: int, order: Order
    ) -> ItemPage | None:
        """A page of the conversation's items; None if the conversation is not stored.
        `after` is an item id: the page starts after that item in the given order."""

    async def get_conversation_item(self, conversation_id: str, item_id: str) -> JSONDict | None:
        """One item of the conversation; None if either is not stored."""

    async def delete_conversation_item(self, conversation_id: str, item_id: str) -> bool:
        """Remove the item from the conversation; False if either is not stored."""
