"""Following a background run's event log as it grows, from any replica.

The replica running the run flushes events to the store and sends a notice; followers wake on
notices (or, should one be lost, on a short poll), read the log past the last event they sent,
and stop once the run ended. Reading the store every time keeps one path for every replica:
the log is the single order of events, so there is never a gap or a duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from typing import Any

from responsa.store.base import Store
from responsa.store.runs import Notice, NoticeKind

JSONDict = dict[str, Any]
TERMINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})
RUNNING = frozenset({"queued", "in_progress"})
_POLL_SECONDS = 1.0  # a safety net for lost notices, not the usual wake-up


class Notices:
    """Fans the store's run notices out to the tasks waiting on one response."""

    def __init__(self) -> None:
        self._waiters: defaultdict[str, set[asyncio.Queue[NoticeKind]]] = defaultdict(set)

    def dispatch(self, notice: Notice) -> None:
        kind, response_id = notice
        for queue in self._waiters.get(response_id, ()):
            queue.put_nowait(kind)

    @contextlib.contextmanager
    def subscribe(self, response_id: str) -> Iterator[asyncio.Queue[NoticeKind]]:
        queue: asyncio.Queue[NoticeKind] = asyncio.Queue()
        self._waiters[response_id].add(queue)
        try:
            yield queue
        finally:
            waiters = self._waiters[response_id]
            waiters.discard(queue)
            if not waiters:
                del self._waiters[response_id]


async def follow(store: Store, notices: Notices, response_id: str,
                 starting_after: int | None) -> AsyncIterator[JSONDict]:
    """The response's events past `starting_after`, live until the run ends."""
    last = -1 if starting_after is None else starting_after
    with notices.subscribe(response_id) as wakeups:
        ended = False
        while True:
            events = await store.get_events(response_id, starting_after=last)
            if events is None:
                return  # deleted meanwhile
            for event in events:
                yield event
                last = event["sequence_number"]
            if ended or (events and events[-1]["type"] in TERMINAL_EVENTS):
                return
            # One more read after the run ended: its final save may hold the last events.
            ended = await _wait(store, response_id, wakeups)


async def _wait(store: Store, response_id: str, wakeups: asyncio.Queue[NoticeKind]) -> bool:
    """Wait for the log to grow; True when the run ended."""
    try:
        kinds = {await asyncio.wait_for(wakeups.get(), _POLL_SECONDS)}
    except TimeoutError:
        response = await store.get_response(response_id)
        return response is None or response["status"] not in RUNNING
    while not wakeups.empty():
        kinds.add(wakeups.get_nowait())
    return "done" in kinds
