"""Webhooks: the notifier queueing deliveries in a real SQLite store and the delivery loop
POSTing them to a real local receiver, signatures checked with the official SDK's
`webhooks.unwrap`; retries, giving up, deliveries outliving the notifier, the `[[webhooks]]`
config, and the notifier's place in the app's lifespan. Across processes and on PostgreSQL:
tests/api/test_background.py."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from openai import InvalidWebhookSignatureError, OpenAI
from starlette.testclient import TestClient

from responsa.api.app import create_app
from responsa.config import ConfigError, Settings, WebhookConfig, load_settings
from responsa.store.sqlite import SQLiteStore
from responsa.store.webhooks import WebhookDelivery
from responsa.webhooks import WebhookNotifier
from tests.support.responsa_server import free_port

SECRET = "whsec_" + base64.b64encode(b"a signing key of thirty-two byte").decode()


class Receiver:
    """A webhook receiver on 127.0.0.1: answers with the given statuses in turn (then 200),
    optionally after a delay, and records every delivery as (headers, body, time, status)."""

    def __init__(self, statuses: tuple[int, ...] = (), delay: float = 0.0) -> None:
        self.statuses = list(statuses)
        self.delay = delay
        self.deliveries: list[tuple[dict[str, str], bytes, float, int]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                receiver.deliveries.append((dict(self.headers), body, time.monotonic(), status))
                time.sleep(receiver.delay)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,),
                                        daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    async def wait_for(self, count: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.deliveries) < count:
            assert time.monotonic() < deadline, f"{len(self.deliveries)} of {count} deliveries"
            await asyncio.sleep(0.01)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    opened = SQLiteStore(tmp_path / "responsa.db")
    await opened.open()
    yield opened
    await opened.close()


def endpoint(url: str, **overrides: Any) -> WebhookConfig:
    return WebhookConfig(url=url, secret=SECRET, **{"backoff_seconds": 0.05, **overrides})


def response(status: str = "completed") -> dict[str, Any]:
    return {"id": "resp_" + "ab" * 24, "object": "response", "status": status,
            "background": True, "completed_at": 1_750_000_000}


def unwrap(body: bytes, headers: dict[str, str]) -> Any:
    return OpenAI(api_key="unused", webhook_secret=SECRET).webhooks.unwrap(body, headers)


async def started(store: SQLiteStore, *endpoints: WebhookConfig,
                  grace: float = 5.0) -> WebhookNotifier:
    notifier = WebhookNotifier(store, endpoints, poll_seconds=0.1, shutdown_grace_seconds=grace)
    await notifier.start()
    return notifier


def queued(store: SQLiteStore) -> list[str]:
    """The webhook ids of the deliveries still in the store, read aside."""
    with contextlib.closing(sqlite3.connect(store.path)) as db:
        return [row[0] for row in db.execute("SELECT webhook_id FROM webhook_deliveries")]


async def until_dropped(store: SQLiteStore, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while queued(store):
        assert time.monotonic() < deadline, "still queued"
        await asyncio.sleep(0.05)


async def test_a_finished_background_response_is_announced_signed(
        store: SQLiteStore, receiver: Receiver) -> None:
    notifier = await started(store, endpoint(receiver.url))
    await notifier.notify(response())
    await receiver.wait_for(1)
    await until_dropped(store)  # acknowledged: its row is gone
    await notifier.aclose()
    headers, body, _, _ = receiver.deliveries[0]
    event = unwrap(body, headers)  # raises unless the signature is OpenAI's scheme
    assert event.type == "response.completed"
    assert event.data.id == response()["id"]
    assert event.id.startswith("evt_") and event.object == "event"
    assert event.created_at == 1_750_000_000
    assert headers["webhook-id"].startswith("wh_")
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"].startswith("responsa/")
    with pytest.raises(InvalidWebhookSignatureError):
        unwrap(body.replace(b"completed", b"cancelled"), headers)


async def test_each_final_status_has_its_event_and_nothing_else_is_announced(
        store: SQLiteStore, receiver: Receiver) -> None:
    notifier = await started(store, endpoint(receiver.url))
    for status in ("in_progress", "queued", "failed", "cancelled", "incomplete"):
        await notifier.notify(response(status))
    await notifier.notify({**response(), "background": False})
    await receiver.wait_for(3)
    await asyncio.sleep(0.2)  # nothing more comes
    await notifier.aclose()
    kinds = sorted(unwrap(body, headers).type for headers, body, _, _ in receiver.deliveries)
    assert kinds == ["response.cancelled", "response.failed", "response.incomplete"]


async def test_a_failed_delivery_is_retried_with_growing_delays(store: SQLiteStore) -> None:
    receiver = Receiver(statuses=(500, 503))
    try:
        notifier = await started(store, endpoint(receiver.url))
        await notifier.notify(response())
        await receiver.wait_for(3)
        await until_dropped(store)
        await notifier.aclose()
    finally:
        receiver.close()
    assert [status for *_, status in receiver.deliveries] == [500, 503, 200]
    ids = {headers["webhook-id"] for headers, *_ in receiver.deliveries}
    assert len(ids) == 1  # one delivery, retried: receivers deduplicate on webhook-id
    for headers, body, _, _ in receiver.deliveries:
        unwrap(body, headers)  # every attempt is signed afresh and valid
    times = [at for _, _, at, _ in receiver.deliveries]
    assert times[1] - times[0] >= 0.05 and times[2] - times[1] >= 0.1
    assert times[2] - times[0] < 1  # retries wake the loop: they do not wait for its poll


async def test_delivery_gives_up_after_max_attempts(store: SQLiteStore,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    receiver = Receiver(statuses=(500,) * 10)
    try:
        notifier = await started(store, endpoint(receiver.url, max_attempts=3))
        with caplog.at_level(logging.WARNING, logger="responsa.webhooks"):
            await notifier.notify(response("failed"))
            await receiver.wait_for(3)
            await until_dropped(store)
            await asyncio.sleep(0.5)  # longer than any further backoff would wait
            await notifier.aclose()
    finally:
        receiver.close()
    assert len(receiver.deliveries) == 3
    assert (f"webhook response.failed for {response()['id']} to {receiver.url} dropped after"
            " 3 attempts (last: HTTP 500)") in caplog.text


async def test_an_unreachable_endpoint_is_retried_then_dropped(
        store: SQLiteStore, caplog: pytest.LogCaptureFixture) -> None:
    notifier = await started(store,
                             endpoint(f"http://127.0.0.1:{free_port()}/", max_attempts=2))
    with caplog.at_level(logging.WARNING, logger="responsa.webhooks"):
        await notifier.notify(response())
        await until_dropped(store)  # both attempts fail fast
        await notifier.aclose()
    assert "dropped after 2 attempts (last: ClientConnectorError" in caplog.text


async def test_notify_returns_before_the_receiver_answers(store: SQLiteStore) -> None:
    receiver = Receiver(delay=0.5)
    try:
        notifier = await started(store, endpoint(receiver.url))
        begun = time.monotonic()
        await notifier.notify(response())
        assert time.monotonic() - begun < 0.2
        await receiver.wait_for(1)
        await notifier.aclose()
    finally:
        receiver.close()


async def test_endpoints_receive_only_the_events_they_subscribed_to(
        store: SQLiteStore, receiver: Receiver) -> None:
    failures = Receiver()
    try:
        notifier = await started(store, endpoint(receiver.url),
                                 endpoint(failures.url, events=("response.failed",)))
        await notifier.notify(response("completed"))
        await notifier.notify(response("failed"))
        await receiver.wait_for(2)
        await failures.wait_for(1)
        await notifier.aclose()
    finally:
        failures.close()
    assert [unwrap(b, h).type for h, b, _, _ in failures.deliveries] == ["response.failed"]


async def test_a_delivery_still_retrying_at_shutdown_is_delivered_by_the_next_notifier(
        store: SQLiteStore) -> None:
    receiver = Receiver(statuses=(500,))
    try:
        notifier = await started(store, endpoint(receiver.url, backoff_seconds=0.5))
        await notifier.notify(response())
        await receiver.wait_for(1)
        begun = time.monotonic()
        await notifier.aclose()  # does not wait for the retry
        assert time.monotonic() - begun < 0.3
        restarted = await started(store, endpoint(receiver.url, backoff_seconds=0.5))
        await receiver.wait_for(2)
        await until_dropped(store)
        await restarted.aclose()
    finally:
        receiver.close()
    (first, _, at_first, _), (second, _, at_second, status) = receiver.deliveries
    assert first["webhook-id"] == second["webhook-id"] and status == 200
    assert at_second - at_first >= 0.5  # the backoff still counts after the restart


async def test_an_attempt_cut_short_by_shutdown_is_released_for_the_next_notifier(
        store: SQLiteStore) -> None:
    receiver = Receiver(delay=1.0)
    try:
        # A long timeout: were the claim not released, its lease would hold it for 60 s.
        notifier = await started(store, endpoint(receiver.url, timeout=30), grace=0.1)
        await notifier.notify(response())
        await receiver.wait_for(1)
        await notifier.aclose()
        receiver.delay = 0
        restarted = await started(store, endpoint(receiver.url))
        await receiver.wait_for(2)
        await until_dropped(store)
        await restarted.aclose()
    finally:
        receiver.close()
    assert len({headers["webhook-id"] for headers, *_ in receiver.deliveries}) == 1


async def test_deliveries_to_an_endpoint_no_longer_configured_are_dropped(
        store: SQLiteStore, receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    body = '{"id":"evt_1","object":"event","type":"response.failed","data":{"id":"resp_1"}}'
    await store.enqueue_webhooks([WebhookDelivery("wh_gone", "https://gone.example/hook", body)])
    with caplog.at_level(logging.WARNING, logger="responsa.webhooks"):
        notifier = await started(store, endpoint(receiver.url))
        await until_dropped(store)
        await notifier.aclose()
    assert ("webhook response.failed for resp_1 to https://gone.example/hook dropped: the"
            " endpoint is no longer configured") in caplog.text
    assert receiver.deliveries == []


# -- configuration -----------------------------------------------------------------------------


def settings_from(tmp_path: Path, toml: str, **environ: str) -> Settings:
    path = tmp_path / "responsa.toml"
    path.write_text("embedded_engine = false\n" + toml)
    return load_settings(str(path), environ=environ)


def test_webhooks_config(tmp_path: Path) -> None:
    settings = settings_from(tmp_path, f"""
[[webhooks]]
url = "https://hooks.example.com/a"
secret = "{SECRET}"

[[webhooks]]
url = "http://127.0.0.1:9000/b"
secret_env = "HOOK_SECRET"
events = ["response.failed", "response.cancelled"]
max_attempts = 3
""", HOOK_SECRET=SECRET)
    first, second = settings.webhooks
    assert (first.url, first.secret, first.max_attempts) == ("https://hooks.example.com/a",
                                                              SECRET, 8)
    assert len(first.events) == 4
    assert second.secret == SECRET and second.max_attempts == 3
    assert second.events == ("response.failed", "response.cancelled")
    assert settings_from(tmp_path, "").webhooks == []


def test_an_endpoint_is_configured_once(tmp_path: Path) -> None:
    table = f'[[webhooks]]\nurl = "https://h.example"\nsecret = "{SECRET}"\n'
    with pytest.raises(ConfigError, match=r"webhooks\[1\]\.url: https://h.example is already"
                                          r" webhooks\[0\]'s"):
        settings_from(tmp_path, table + table)


@pytest.mark.parametrize(("table", "message"), [
    ('url = "https://h.example"\nsecret = "not-whsec"', "expected a 'whsec_' secret"),
    ('url = "https://h.example"\nsecret = "whsec_###"', "expected base64 after 'whsec_'"),
    ('url = "https://h.example"\nsecret_env = "UNSET_SECRET"', "UNSET_SECRET is not set"),
    ('url = "ftp://h.example"\nsecret = "{secret}"', "expected an http:// or https:// URL"),
    ('url = "https://h.example"\nsecret = "{secret}"\nevents = ["response.created"]',
     "unknown event type 'response.created'"),
    ('url = "https://h.example"\nsecret = "{secret}"\nretries = 3', "unknown setting(s)"),
    ('url = "https://h.example"\nsecret = "{secret}"\nmax_attempts = 0',
     "max_attempts: expected a positive number"),
    ('url = "https://h.example"\nsecret = "{secret}"\ntimeout = "10"',
     "timeout: expected a positive number"),
])
def test_bad_webhooks_config_fails_at_startup(tmp_path: Path, table: str, message: str) -> None:
    with pytest.raises(ConfigError, match=r"webhooks\[0\]") as error:
        settings_from(tmp_path, "[[webhooks]]\n" + table.replace("{secret}", SECRET))
    assert message in str(error.value)


# -- the app -----------------------------------------------------------------------------------


def test_the_app_runs_the_notifier_for_its_lifetime(tmp_path: Path,
                                                    receiver: Receiver) -> None:
    settings = Settings(database=f"sqlite:///{tmp_path}/responsa.db", embedded_engine=False,
                        webhooks=[endpoint(receiver.url)])
    app = create_app(settings)
    with TestClient(app) as client:
        notifier = app.app.state.webhooks
        assert client.portal is not None
        client.portal.call(notifier.notify, response("incomplete"))
        client.portal.call(receiver.wait_for, 1)
    assert [unwrap(b, h).type for h, b, _, _ in receiver.deliveries] == ["response.incomplete"]
