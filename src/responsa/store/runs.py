"""Background runs in the store: the durable queue, leases, cancel requests and the
notifications that wake followers on every replica.

A background run is a row (`background_runs`) from the moment it is accepted until it ends. The
replica driving it (`owner`) renews its lease while it runs; a row whose lease expired belongs
to a replica that died, and any replica may claim it. Notices are `(kind, response_id)` pairs:
`events` (the log grew), `done` (the run ended) and `cancel` (someone asked to stop it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

JSONDict = dict[str, Any]
NoticeKind = Literal["events", "done", "cancel"]
Notice = tuple[NoticeKind, str]
NoticeCallback = Callable[[Notice], None]
NOTICE_CHANNEL = "responsa_runs"


@dataclass(frozen=True, slots=True)
class ClaimedRun:
    response_id: str
    created_at: int
    body: JSONDict
    started: bool  # its log has events: something may have been streamed already
    cancel_requested: bool


class RunStore(Protocol):
    async def enqueue_run(self, response_id: str, created_at: int, body: JSONDict, *,
                          owner: str, lease_seconds: float) -> None:
        """Add the run's row, already claimed by `owner` (the replica that accepted it)."""

    async def publish_run_events(self, response: JSONDict, events: list[JSONDict]) -> None:
        """Append `events` to the response's log and replace its stored snapshot with
        `response`, then wake followers (`events` notice). Errors as `append_events`."""

    async def renew_runs(self, owner: str, response_ids: list[str], *,
                         lease_seconds: float) -> dict[str, bool]:
        """Extend the leases `owner` still holds; for each such run, whether a cancel was
        requested. A run missing from the answer is no longer `owner`'s."""

    async def claim_expired_runs(self, owner: str, *, lease_seconds: float,
                                 limit: int) -> list[ClaimedRun]:
        """Claim up to `limit` runs whose lease expired (their replica died), each for one
        claimant only."""

    async def request_cancel(self, response_id: str) -> bool:
        """Mark the run cancelled-on-request and send a `cancel` notice; False if no run of
        that id is going."""

    async def finish_run(self, response_id: str) -> None:
        """Remove the run's row (its response is final) and send a `done` notice."""

    async def listen_runs(self, callback: NoticeCallback) -> Callable[[], Awaitable[None]]:
        """Call `callback` (on the event loop) with every notice from any replica; returns
        the coroutine function that stops listening."""


def encode_notice(kind: NoticeKind, response_id: str) -> str:
    return f"{kind}:{response_id}"


def decode_notice(payload: str) -> Notice | None:
    kind, _, response_id = payload.partition(":")
    if kind in ("events", "done", "cancel") and response_id:
        return kind, response_id  # type: ignore[return-value]
    return None
