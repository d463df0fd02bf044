"""Background responses across replicas: two `responsa serve` processes on one PostgreSQL (and
one on SQLite), driven by the official SDK, with the scripted upstream holding runs mid-stream."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import openai
import orjson
import pytest
from openai import OpenAI

from responsa.engine.snapshot import initial_response
from responsa.protocol.request import parse_create_request
from responsa.store.base import StoredResponse
from responsa.store.registry import create_store
from tests.conftest import sdk_client
from tests.support.grammar import assert_valid_stream
from tests.support.responsa_server import RunningResponsa, serving
from tests.support.scripted_upstream import Pause, Script, ScriptedUpstream, chunk, usage
from tests.support.sdk import streamed_events
from tests.test_webhooks import SECRET, Receiver, unwrap

LEASE = 1.0  # seconds: how long a dead replica's run waits before another takes it over
Pair = tuple[RunningResponsa, RunningResponsa]


def _config(scripted: ScriptedUpstream) -> str:
    return f"""
embedded_engine = false
heartbeat_seconds = 0.5
run_lease_seconds = {LEASE}

[providers.scripted]
base_url = "{scripted.base_url}"
timeout = 60
"""


def _held(*, hold: float, before: int = 3, after: int = 2) -> Script:
    """Text that stops for `hold` seconds after `before` pieces, then ends."""
    chunks: list[Any] = [chunk({"role": "assistant", "content": ""})]
    chunks += [chunk({"content": f"a{i} "}) for i in range(before)]
    chunks.append(Pause(hold))
    chunks += [chunk({"content": f"b{i} "}) for i in range(after)]
    chunks += [chunk(finish="stop"), chunk(usage=usage())]
    return Script(chunks)


def _started(tmp: Path, scripted: ScriptedUpstream, database: str | None,
             stack: ExitStack, name: str, extra: str = "") -> RunningResponsa:
    directory = tmp / name
    directory.mkdir(exist_ok=True)
    return stack.enter_context(serving(directory, _config(scripted) + extra,
                                       database=database))


def _webhooks(receiver: Receiver, **settings: float) -> str:
    return "".join([f'\n[[webhooks]]\nurl = "{receiver.url}"\nsecret = "{SECRET}"\n',
                    *(f"{name} = {value}\n" for name, value in settings.items())])


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    """Where the `pair` replicas send their webhooks."""
    running = Receiver()
    yield running
    running.close()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def pair(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
         scripted: ScriptedUpstream, receiver: Receiver) -> Iterator[Pair]:
    """Two replicas on one PostgreSQL; on SQLite, one replica plays both parts."""
    tmp = tmp_path_factory.mktemp(f"background-{request.param}")
    webhooks = _webhooks(receiver, backoff_seconds=0.2)
    with ExitStack() as stack:
        if request.param == "sqlite":
            only = _started(tmp, scripted, None, stack, "a", webhooks)
            yield only, only
        else:
            dsn = request.getfixturevalue("postgres_dsn")
            yield (_started(tmp, scripted, dsn, stack, "a", webhooks),
                   _started(tmp, scripted, dsn, stack, "b", webhooks))


def _until(check: Callable[[], Any], *, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _stored_events(server: RunningResponsa, response_id: str) -> list[dict[str, Any]]:
    """The stored log, read raw (a replay of a finished run)."""
    with httpx.stream("GET", f"{server.base_url}/responses/{response_id}",
                      params={"stream": "true"}, timeout=10) as reply:
        return [httpx.Response(200, content=line[5:]).json()
                for line in reply.iter_lines() if line.startswith("data:")]


def _text(response: Any) -> str:
    return "".join(part.text for item in response.output for part in item.content)


def test_background_runs_on_one_replica_and_resumes_on_the_other(
        pair: Pair, scripted: ScriptedUpstream) -> None:
    a, b = sdk_client(pair[0]), sdk_client(pair[1])
    model = scripted.play(_held(hold=1.5))
    created = a.responses.create(model=model, input="hi", background=True)
    assert created.status == "queued" and created.background is True
    # Polled on B while A runs it: in progress, with output already stored.
    running = _until(lambda: (r := b.responses.retrieve(created.id)).output and r)
    assert running.status == "in_progress"
    listed = b.responses.input_items.list(created.id).data
    assert [(item.type, item.content[0].text) for item in listed] == [  # type: ignore[union-attr]
        ("message", "hi")]
    # Resumed on B from the middle of the stream: live until the end, no gap, no duplicate.
    with b.responses.retrieve(created.id, stream=True, starting_after=3) as stream:
        resumed = [event.model_dump(mode="json", exclude_unset=True) for event in stream]
    numbers = [event["sequence_number"] for event in resumed]
    assert numbers == list(range(4, 4 + len(numbers)))
    assert resumed[-1]["type"] == "response.completed"
    assert "response.output_text.delta" in {event["type"] for event in resumed}
    final = b.responses.retrieve(created.id)
    assert final.status == "completed" and _text(final) == "a0 a1 a2 b0 b1 "
    log = _stored_events(pair[1], created.id)
    assert_valid_stream(log)
    assert [event["type"] for event in log[:3]] == [
        "response.created", "response.queued", "response.in_progress"]
    assert log[0]["response"]["status"] == "queued"
    assert log[4:] == resumed


def test_a_streamed_background_create_with_the_sdk(pair: Pair,
                                                   scripted: ScriptedUpstream) -> None:
    events = streamed_events(sdk_client(pair[0]), model=scripted.play(_held(hold=0)),
                             input="hi", background=True)  # the grammar is checked on the way
    assert [event["type"] for event in events[:3]] == [
        "response.created", "response.queued", "response.in_progress"]
    assert events[0]["response"]["status"] == "queued" and events[0]["response"]["background"]
    assert events[-1]["type"] == "response.completed"
    assert _stored_events(pair[1], events[0]["response"]["id"]) == events


def test_a_dropped_background_stream_leaves_the_run_going(
        pair: Pair, scripted: ScriptedUpstream) -> None:
    model = scripted.play(_held(hold=0.5))
    with httpx.stream("POST", f"{pair[0].base_url}/responses", timeout=10, json={
            "model": model, "input": "hi", "background": True, "stream": True}) as reply:
        events = []
        for line in reply.iter_lines():
            if line.startswith("data:"):
                events.append(httpx.Response(200, content=line[5:]).json())
                if events[-1]["type"] == "response.output_text.delta":
                    break  # the client goes away mid-stream
    kinds = [event["type"] for event in events]
    response_id = events[0]["response"]["id"]
    assert kinds[:3] == ["response.created", "response.queued", "response.in_progress"]
    b = sdk_client(pair[1])
    final = _until(lambda: (r := b.responses.retrieve(response_id)).status != "in_progress" and r)
    assert final.status == "completed" and _text(final) == "a0 a1 a2 b0 b1 "


def test_cancel_from_the_other_replica(pair: Pair, scripted: ScriptedUpstream) -> None:
    a, b = sdk_client(pair[0]), sdk_client(pair[1])
    model = scripted.play(_held(hold=5))
    created = a.responses.create(model=model, input="hi", background=True)
    _until(lambda: b.responses.retrieve(created.id).output)
    started = time.monotonic()
    cancelled = b.responses.cancel(created.id)
    assert time.monotonic() - started < 2.5  # A stopped the run; nobody waited for the upstream
    assert cancelled.status == "cancelled"
    assert cancelled.output[0].status == "incomplete"
    assert _text(cancelled) == "a0 a1 a2 "  # what was generated before the cancel
    assert a.responses.retrieve(created.id).status == "cancelled"
    assert b.responses.cancel(created.id).status == "cancelled"  # cancelling again: same answer
    events = _stored_events(pair[0], created.id)
    assert events[-1]["type"] == "response.output_item.done"  # the open item was closed
    assert_valid_stream(events, allow_unterminated=True)


def test_cancel_errors(pair: Pair, scripted: ScriptedUpstream) -> None:
    a, b = sdk_client(pair[0]), sdk_client(pair[1])
    model = scripted.play(_held(hold=0))
    created = a.responses.create(model=model, input="hi", background=True)
    _until(lambda: b.responses.retrieve(created.id).status == "completed")
    with pytest.raises(openai.BadRequestError) as caught:
        b.responses.cancel(created.id)
    assert "Cannot cancel a response that is not in progress." in caught.value.message
    with pytest.raises(openai.BadRequestError) as caught:
        a.responses.create(model=model, input="hi", background=True, store=False)
    assert caught.value.param == "background"
    with pytest.raises(openai.NotFoundError):
        b.responses.cancel("resp_unknown")


def _kill(server: RunningResponsa) -> None:
    os.kill(server.pid, signal.SIGKILL)
    server.process.wait(10)


def _assert_failed_by_the_dead_replica(client: OpenAI, server: RunningResponsa,
                                       response_id: str) -> None:
    final = _until(lambda: (r := client.responses.retrieve(response_id)).status != "in_progress"
                   and r, timeout=15)
    assert final.status == "failed"
    assert final.error is not None and final.error.code == "server_error"
    assert "stopped before it finished" in final.error.message
    assert final.output[0].status == "incomplete" and _text(final) == "a0 a1 a2 "
    events = _stored_events(server, response_id)
    assert_valid_stream(events)  # the open item closed, then `response.failed`
    assert events[-1]["type"] == "response.failed"


def test_kill_9_mid_run_on_postgres_another_replica_ends_it(
        tmp_path: Path, scripted: ScriptedUpstream, postgres_dsn: str) -> None:
    with ExitStack() as stack:
        doomed = _started(tmp_path, scripted, postgres_dsn, stack, "a")
        survivor = _started(tmp_path, scripted, postgres_dsn, stack, "b")
        a, b = sdk_client(doomed), sdk_client(survivor)
        followed_run, cancelled_run = (
            a.responses.create(model=scripted.play(_held(hold=5)), input="hi", background=True)
            for _ in range(2))
        for run in (followed_run, cancelled_run):
            _until(lambda run=run: len(b.responses.retrieve(run.id).output))
        time.sleep(0.1)  # the three pieces before the pause are flushed
        followed: list[dict[str, Any]] = []

        def follow() -> None:  # B follows the first run live while A dies
            with b.responses.retrieve(followed_run.id, stream=True, starting_after=2) as stream:
                followed.extend(e.model_dump(mode="json", exclude_unset=True) for e in stream)

        follower = threading.Thread(target=follow)
        follower.start()
        time.sleep(0.2)
        _kill(doomed)
        # The second run is cancelled from B, answered once B took it over.
        cancelled = b.responses.cancel(cancelled_run.id)
        assert cancelled.status == "cancelled"
        assert cancelled.output[0].status == "incomplete" and _text(cancelled) == "a0 a1 a2 "
        assert_valid_stream(_stored_events(survivor, cancelled_run.id), allow_unterminated=True)
        follower.join(15)
        assert followed[-1]["type"] == "response.failed"
        assert [e["sequence_number"] for e in followed] == list(range(3, 3 + len(followed)))
        _assert_failed_by_the_dead_replica(b, survivor, followed_run.id)


@pytest.mark.parametrize("pair", ["postgres"], indirect=True)
def test_a_stalled_replica_that_lost_its_run_stores_nothing_more(
        pair: Pair, scripted: ScriptedUpstream) -> None:
    """A replica frozen past its lease (SIGSTOP) finds on waking that the other replica ended
    its run; it must not overwrite that end with its own, nor announce it again."""
    stalled, other = pair
    b = sdk_client(other)
    created = sdk_client(stalled).responses.create(
        model=scripted.play(_held(hold=0.5)), input="hi", background=True)
    _until(lambda: len(b.responses.retrieve(created.id).output))
    time.sleep(0.1)
    os.kill(stalled.pid, signal.SIGSTOP)  # the upstream finishes meanwhile, unread
    try:
        _assert_failed_by_the_dead_replica(b, other, created.id)
    finally:
        os.kill(stalled.pid, signal.SIGCONT)
    ended = b.responses.retrieve(created.id)
    time.sleep(LEASE)  # the woken replica reads the rest of its stream and ends its run
    assert b.responses.retrieve(created.id) == ended
    _assert_failed_by_the_dead_replica(b, other, created.id)


def test_kill_9_mid_run_on_sqlite_the_restarted_replica_ends_it(
        tmp_path: Path, scripted: ScriptedUpstream) -> None:
    with ExitStack() as stack:
        doomed = _started(tmp_path, scripted, None, stack, "a")
        client = sdk_client(doomed)
        created = client.responses.create(
            model=scripted.play(_held(hold=5)), input="hi", background=True)
        _until(lambda: len(client.responses.retrieve(created.id).output))
        time.sleep(0.1)
        _kill(doomed)
    with ExitStack() as stack:
        restarted = _started(tmp_path, scripted, None, stack, "a")
        _assert_failed_by_the_dead_replica(sdk_client(restarted), restarted, created.id)


async def _accepted_then_died(database: str, body: dict[str, Any]) -> str:
    """What a replica leaves when it dies right after accepting a run: the queued response and
    its run row, its lease already expired, no event stored."""
    store = create_store(database)
    await store.open()
    try:
        response = {**initial_response(body, model=body["model"]), "status": "queued"}
        await store.enqueue_run(response["id"], response["created_at"], body,
                                owner="dead-replica", lease_seconds=-1)
        await store.save_response(StoredResponse(response))
        return str(response["id"])
    finally:
        await store.close()


def test_a_run_that_never_started_is_run_again(
        pair: Pair, scripted: ScriptedUpstream, request: pytest.FixtureRequest) -> None:
    database = (request.getfixturevalue("postgres_dsn") if pair[0] is not pair[1]
                else f"sqlite:///{pair[0].log_path.parent}/responsa.db")
    body = parse_create_request(orjson.dumps({
        "model": scripted.play(_held(hold=0)), "input": "hi", "background": True,
    })).canonical_body()  # as the accepting replica stored it
    response_id = asyncio.run(_accepted_then_died(database, body))
    b = sdk_client(pair[1])
    final = _until(lambda: (r := b.responses.retrieve(response_id)).status not in (
        "queued", "in_progress") and r)
    assert final.status == "completed" and _text(final) == "a0 a1 a2 b0 b1 "
    log = _stored_events(pair[1], response_id)
    assert_valid_stream(log)
    assert log[0]["response"]["id"] == response_id




def test_background_ends_are_announced_by_webhook_exactly_once(
        pair: Pair, scripted: ScriptedUpstream, receiver: Receiver) -> None:
    a, b = sdk_client(pair[0]), sdk_client(pair[1])
    receiver.statuses = [500, 503, 500]  # first attempts fail: retried by either replica
    done = [client.responses.create(model=scripted.play(_held(hold=0)), input="hi",
                                    background=True) for client in (a, b, a, b)]
    held = a.responses.create(model=scripted.play(_held(hold=5)), input="hi", background=True)
    for run in done:
        _until(lambda run=run: b.responses.retrieve(run.id).status == "completed")
    _until(lambda: b.responses.retrieve(held.id).output)
    b.responses.cancel(held.id)
    expected = {run.id: "response.completed" for run in done} | {held.id: "response.cancelled"}

    def attempts() -> list[tuple[str, str, str, int]]:
        """(response id, event type, webhook-id, status) of each attempt for these runs."""
        events = ((unwrap(body, headers), headers["webhook-id"], status)
                  for headers, body, _, status in receiver.deliveries)
        return [(event.data.id, event.type, webhook_id, status)
                for event, webhook_id, status in events if event.data.id in expected]

    def acknowledged() -> dict[str, str]:
        return {run: kind for run, kind, _, status in attempts() if status == 200}
    assert _until(lambda: len(acknowledged()) == len(expected) and acknowledged()) == expected
    time.sleep(LEASE)  # a second delivery (two replicas claiming one notice) would come by now
    final = attempts()
    assert sorted(run for run, _, _, status in final if status == 200) == sorted(expected)
    webhook_ids = {run: {webhook_id for r, _, webhook_id, _ in final if r == run}
                   for run in expected}
    assert all(len(ids) == 1 for ids in webhook_ids.values())  # retries keep the webhook-id


def test_a_notice_outlives_its_replica_on_sqlite(tmp_path: Path,
                                                 scripted: ScriptedUpstream) -> None:
    """Stopped (SIGTERM) with a delivery waiting for its retry, or killed (SIGKILL) in the
    middle of an attempt: the restarted replica delivers the notice, same webhook-id."""
    receiver = Receiver(statuses=(500,))
    hooks = _webhooks(receiver, backoff_seconds=2, timeout=1)  # a claim is leased for 2 s

    def ended_in_background(server: RunningResponsa) -> str:
        created = sdk_client(server).responses.create(
            model=scripted.play(_held(hold=0)), input="hi", background=True)
        return created.id

    try:
        with ExitStack() as stack:
            stopped = _started(tmp_path, scripted, None, stack, "a", hooks)
            first = ended_in_background(stopped)
            _until(lambda: receiver.deliveries)  # its first attempt failed
            stopped.stop()  # before the retry is due
        assert len(receiver.deliveries) == 1
        with ExitStack() as stack:
            killed = _started(tmp_path, scripted, None, stack, "a", hooks)
            _until(lambda: len(receiver.deliveries) == 2)
            receiver.delay = 3  # the next attempt hangs until its replica dies
            second = ended_in_background(killed)
            _until(lambda: len(receiver.deliveries) == 3)
            _kill(killed)
        receiver.delay = 0
        with ExitStack() as stack:
            _started(tmp_path, scripted, None, stack, "a", hooks)
            _until(lambda: len(receiver.deliveries) == 4, timeout=15)
            time.sleep(0.5)  # nothing more comes
    finally:
        receiver.close()
    attempts = [(unwrap(body, headers).data.id, headers["webhook-id"], status)
                for headers, body, _, status in receiver.deliveries]
    # The third attempt's 200 came too late: its replica was dead by then.
    assert [(run, status) for run, _, status in attempts] == [
        (first, 500), (first, 200), (second, 200), (second, 200)]
    assert attempts[0][1] == attempts[1][1] and attempts[2][1] == attempts[3][1]
