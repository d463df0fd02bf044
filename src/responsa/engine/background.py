"""Background responses: accepted at once, run by a replica, stored as they go, resumable and
cancellable from any replica, and never left running after their replica died.

Each run is a row in the store's durable queue (store/runs.py). The replica that accepts a run
claims it and drives it; a heartbeat renews its leases and, on every replica, claims runs whose
lease expired. A claimed run that never stored an event is run again from its request; one that
did (a client may have seen part of it) ends `failed` with a `server_error` saying so.

`BackgroundRunner.on_terminal` holds async callbacks, each called once with the final Response
object when a background response reaches a terminal state (`completed`, `incomplete`, `failed`
or `cancelled`), on the replica that ended it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any, cast

from responsa.engine.abandoned import close_abandoned
from responsa.engine.follow import RUNNING, TERMINAL_EVENTS, Notices, follow
from responsa.engine.run import Engine, ResponseRun
from responsa.errors import ResponsaError
from responsa.store.base import StoredResponse
from responsa.store.runs import ClaimedRun, Notice

JSONDict = dict[str, Any]
TerminalHook = Callable[[JSONDict], Awaitable[None]]
logger = logging.getLogger(__name__)

SHUTDOWN = "The server running this response shut down before it finished."
_FLUSH_SECONDS = 0.005  # events are batched this long before they are stored
_CLAIM_LIMIT = 8


class BackgroundRunner:
    def __init__(self, engine: Engine, *, lease_seconds: float) -> None:
        self.engine = engine
        self.store = engine.store
        self.replica_id = uuid.uuid4().hex
        self.notices = Notices()
        self.on_terminal: list[TerminalHook] = []
        self._lease = lease_seconds
        self._runs: dict[str, asyncio.Task[None]] = {}
        self._active: dict[str, ResponseRun] = {}  # the runs being driven here, by id
        # Runs whose lease another replica took over: this one must stop without storing their
        # end, which is now the other replica's to store.
        self._lost: set[str] = set()
        self._stopping = False
        self._heartbeat: asyncio.Task[None] | None = None
        self._unlisten: Callable[[], Awaitable[None]] | None = None

    async def start(self) -> None:
        self._unlisten = await self.store.listen_runs(self._on_notice)
        self._heartbeat = asyncio.create_task(self._beat())

    async def stop(self) -> None:
        """Runs still going end `failed` (a client is told, not left waiting on a lease)."""
        self._stopping = True
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        for run in self._active.values():
            run.abort(ResponsaError(SHUTDOWN))
        tasks = list(self._runs.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._heartbeat is not None:
            await asyncio.gather(self._heartbeat, return_exceptions=True)
        if self._unlisten is not None:
            await self._unlisten()

    # -- accepting, cancelling, following ---------------------------------------------------

    async def submit(self, body: JSONDict) -> JSONDict:
        """Queue the run, claimed by this replica, and start it; the `queued` Response."""
        run, compaction = await self.engine.prepare(body)
        response_id = str(run.response["id"])
        await self.store.enqueue_run(response_id, run.response["created_at"], body,
                                     owner=self.replica_id, lease_seconds=self._lease)
        queued = {**run.response, "status": "queued", "output": []}
        # Its input is listable at once, as the real API's is, not only once the run ends.
        await self.store.save_response(StoredResponse(queued, run.context.input_items))
        self._launch(response_id, self._drive(run, compaction))
        return queued

    async def cancel(self, response_id: str) -> JSONDict | None:
        """Ask whichever replica runs it to stop, and wait for the final state (returned). A
        dead replica's run is ended by the replica that takes it over: up to a lease and a
        heartbeat later."""
        with self.notices.subscribe(response_id) as wakeups:
            if await self.store.request_cancel(response_id):
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._lease * 4 / 3 + 5):
                        while await wakeups.get() != "done":
                            pass
        return await self.store.get_response(response_id)

    def follow(self, response_id: str, starting_after: int | None) -> AsyncIterator[JSONDict]:
        return follow(self.store, self.notices, response_id, starting_after)

    # -- driving a run ------------------------------------------------------------------------

    def _launch(self, response_id: str, work: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._runs[response_id] = task
        task.add_done_callback(lambda _: self._runs.pop(response_id, None))

    async def _drive(self, run: ResponseRun, compaction: JSONDict | None) -> None:
        response_id = str(run.response["id"])
        self._active[response_id] = run
        run.may_save = functools.partial(self._holds, response_id)
        publisher = _Publisher(self, run.response)
        # An async generator (closing it ends the run); typed as a plain iterator upstream.
        events = cast(AsyncGenerator[JSONDict, None], run.events())
        begun = False
        try:
            await run.begin(compaction, background=True)
            begun = True
            async for event in events:
                publisher.add(event)
                if event["type"] in TERMINAL_EVENTS and await self._holds(response_id):
                    await publisher.close()  # the log is complete before the final save
        except asyncio.CancelledError:
            # Cancelled inside `events()`, the run already ended as cancelled (or failed, when
            # `stop` aborted it first). Cancelled in `begin`, it must still end stored.
            if not begun:
                await self._end_unbegun(run, events, publisher,
                                        ResponsaError(SHUTDOWN) if self._stopping else None)
        except Exception as exc:  # `begin` failed (a hosted tool's preparation)
            if begun:
                raise
            logger.exception("background response %s failed to begin", response_id)
            await self._end_unbegun(run, events, publisher, exc if isinstance(
                exc, ResponsaError) else ResponsaError(f"Internal error: {type(exc).__name__}."))
        finally:
            del self._active[response_id]
            await events.aclose()  # upstream closed, final save
            if response_id in self._lost:
                self._lost.discard(response_id)
                publisher.drop()
            else:
                await publisher.close()
                await self._finished(run.response)

    async def _end_unbegun(self, run: ResponseRun, events: AsyncGenerator[JSONDict, None],
                           publisher: _Publisher, error: ResponsaError | None) -> None:
        """End a run stopped in (or before) `begin`: cancelled, or failed with `error`. Its
        opening events are yielded first, so that closing `events` stores it whole."""
        opening = run.opening_events
        if not opening:  # stopped before it began: only its queued snapshot is stored
            await run.aclose_tools()
            run.response["status"] = "cancelled" if error is None else "failed"
            if error is not None:
                run.response["error"] = {"code": error.code or "server_error",
                                         "message": error.message}
            await self.store.save_response(StoredResponse(run.response))
            return
        for _ in range(opening):
            publisher.add(await events.__anext__())
        if error is not None:
            run.abort(error)

    async def _finished(self, response: JSONDict) -> None:
        await self.store.finish_run(str(response["id"]))
        for hook in self.on_terminal:
            try:
                await hook(response)
            except Exception:  # one hook's failure must not stop the others
                logger.exception("terminal hook failed for %s", response["id"])

    # -- leases and recovery ------------------------------------------------------------------

    async def _beat(self) -> None:
        interval = self._lease / 3
        while True:
            try:
                held = await self.store.renew_runs(self.replica_id, list(self._runs),
                                                   lease_seconds=self._lease)
                for response_id, cancel_requested in held.items():
                    if cancel_requested:  # a cancel notice was lost
                        self._cancel_local(response_id)
                for response_id in self._active.keys() - held.keys():
                    # Our lease lapsed (this event loop stalled for most of a lease): another
                    # replica took the run over and ends it; stop here without storing more.
                    self._lose(response_id)
                for claim in await self.store.claim_expired_runs(
                        self.replica_id, lease_seconds=self._lease, limit=_CLAIM_LIMIT):
                    self._launch(claim.response_id, self._recover(claim))
            except Exception:  # the database may be briefly away; try again next beat
                logger.exception("background heartbeat failed")
            await asyncio.sleep(interval)

    async def _holds(self, response_id: str) -> bool:
        """Whether this replica still holds the run's lease, renewed for a full lease so that
        what it stores next cannot race a takeover."""
        if response_id in self._lost:
            return False
        try:
            held = await self.store.renew_runs(self.replica_id, [response_id],
                                               lease_seconds=self._lease)
        except Exception:  # the database is away: store the end anyway rather than lose it
            logger.exception("could not renew the lease of %s", response_id)
            return True
        if response_id not in held:
            self._lose(response_id)
        return response_id not in self._lost

    def _lose(self, response_id: str) -> None:
        if response_id not in self._lost:
            logger.warning("lost the lease of background response %s", response_id)
            self._lost.add(response_id)
            task = self._runs.get(response_id)
            if task is not None and task is not asyncio.current_task():
                task.cancel()  # the run's own task, asking, stops by itself

    async def _recover(self, claim: ClaimedRun) -> None:
        """Take over a run whose replica died: run it again if it never stored an event,
        else end it from what it stored."""
        response = await self.store.get_response(claim.response_id)
        if response is not None and response["status"] not in RUNNING:
            await self.store.finish_run(claim.response_id)  # ended, but its row outlived it
            return
        if not claim.started and not claim.cancel_requested:
            try:
                run, compaction = await self.engine.prepare(
                    claim.body, response_id=claim.response_id, created_at=claim.created_at)
            except ResponsaError as exc:  # e.g. its previous response was deleted meanwhile
                logger.warning("cannot run %s again: %s", claim.response_id, exc.message)
            except Exception:  # it would fail the same way on every claim: end it instead
                logger.exception("cannot run %s again", claim.response_id)
            else:
                await self._drive(run, compaction)
                return
        if response is None:
            await self.store.finish_run(claim.response_id)
            return
        log = await self.store.get_events(claim.response_id, starting_after=None) or []
        closing = close_abandoned(response, log, cancelled=claim.cancel_requested)
        await self.store.publish_run_events(response, closing)
        await self._finished(response)

    def _on_notice(self, notice: Notice) -> None:
        self.notices.dispatch(notice)
        kind, response_id = notice
        if kind == "cancel":
            self._cancel_local(response_id)

    def _cancel_local(self, response_id: str) -> None:
        task = self._runs.get(response_id)
        if task is not None:
            task.cancel()


class _Publisher:
    """Stores a live run's events in small batches, with its current snapshot, as they come."""

    def __init__(self, runner: BackgroundRunner, response: JSONDict) -> None:
        self._store = runner.store
        self._response = response
        self._pending: list[JSONDict] = []
        self._wake = asyncio.Event()
        self._closed = False
        self._task = asyncio.create_task(self._flush_loop())

    def add(self, event: JSONDict) -> None:
        self._pending.append(event)
        self._wake.set()

    def drop(self) -> None:
        """Stop without storing what is pending."""
        self._closed = True
        self._pending.clear()
        self._task.cancel()

    async def close(self) -> None:
        """Store what is pending and stop (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        await asyncio.shield(self._task)

    async def _flush_loop(self) -> None:
        while not (self._closed and not self._pending):
            await self._wake.wait()
            if not self._closed:
                await asyncio.sleep(_FLUSH_SECONDS)
            self._wake.clear()
            batch, self._pending = self._pending, []
            if not batch:
                continue
            try:
                await self._store.publish_run_events(self._response, batch)
            except (KeyError, ValueError):
                # The run's final save already stored the whole log (a cancelled run).
                self._pending.clear()
                return
