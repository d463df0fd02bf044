"""WebSocket mode on /v1/responses, driven by the official SDK's `responses.connect()`
against a real responsa process (llama.cpp's tiny model and the scripted upstream)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets
import websockets.sync.client
from openai import OpenAI
from openai.resources.responses.responses import ResponsesConnection
from openai.types.responses.responses_server_event import ResponseWsError

from responsa.api.websocket import LocalHistory
from tests.conformance.test_open_responses_spec import assert_conforms, assert_event_conforms
from tests.conftest import LLAMA_MODEL, config_text
from tests.support.grammar import TERMINAL, assert_valid_stream
from tests.support.llama_server import LlamaServer
from tests.support.responsa_server import RunningResponsa, serving
from tests.support.scripted_upstream import Pause, Script, ScriptedUpstream, chunk, text_script

API_KEY = "sk-socket-test"


def receive(connection: ResponsesConnection) -> dict[str, Any]:
    """The next server event exactly as sent; every one must also parse with the SDK."""
    raw = connection.recv_bytes()
    connection.parse_event(raw)
    event: dict[str, Any] = json.loads(raw)
    return event


def turn(connection: ResponsesConnection, **params: Any) -> list[dict[str, Any]]:
    """One `response.create` and its events, up to the terminal one, checked against the
    event grammar and the Open Responses event schemas."""
    connection.response.create(**params)
    events = [receive(connection)]
    while events[-1]["type"] not in TERMINAL:
        assert events[-1]["type"] != "error", events[-1]
        events.append(receive(connection))
    assert_valid_stream(events)
    for event in events:
        assert_event_conforms(event)
    return events


def error_of(connection: ResponsesConnection, **params: Any) -> dict[str, Any]:
    """The `error` event answering one `response.create`, checked against both schemas."""
    connection.response.create(**params)
    event = receive(connection)
    assert event["type"] == "error", event
    assert_conforms(event, "WebSocketErrorEvent")
    assert isinstance(connection.parse_event(json.dumps(event)), ResponseWsError)
    return event


@pytest.fixture
def connection(client: OpenAI) -> Iterator[ResponsesConnection]:
    with client.responses.connect() as connection:
        yield connection


def test_turns_continue_on_one_socket_with_the_llama_engine(client_any_db: OpenAI) -> None:
    with client_any_db.responses.connect() as connection:
        _stored_turns(connection, client_any_db)


def _stored_turns(connection: ResponsesConnection, client: OpenAI) -> None:
    first = turn(connection, model=LLAMA_MODEL, input="Say hello.", max_output_tokens=16)
    done = first[-1]["response"]
    assert done["status"] in ("completed", "incomplete") and done["output"]
    second = turn(connection, model=LLAMA_MODEL, input="And again.", max_output_tokens=16,
                  previous_response_id=done["id"])
    stored = client.responses.retrieve(second[-1]["response"]["id"])
    assert stored.previous_response_id == done["id"]
    # Stored like any HTTP response: the event log replays what the socket sent.
    replay = [event.model_dump(mode="json", exclude_unset=True) for event in
              client.responses.retrieve(stored.id, stream=True)]
    assert [e["type"] for e in replay] == [e["type"] for e in second]


def test_store_false_chain_continues_from_the_connection_cache(
        connection: ResponsesConnection, client: OpenAI, scripted: ScriptedUpstream) -> None:
    first_model = scripted.play(text_script("Paris."))
    first = turn(connection, model=first_model, input="Capital of France?", store=False)
    first_id = first[-1]["response"]["id"]
    second_model = scripted.play(text_script("About 2 million."))
    turn(connection, model=second_model, input="Its population?", store=False,
         previous_response_id=first_id)
    sent = scripted.last_request(second_model)["messages"]
    assert [(m["role"], m["content"]) for m in sent] == [
        ("user", "Capital of France?"), ("assistant", "Paris."), ("user", "Its population?")]
    # Nothing was stored: over HTTP and on another socket the id is unknown.
    with pytest.raises(Exception, match="404"):
        client.responses.retrieve(first_id)
    with client.responses.connect() as other:
        error = error_of(other, model=second_model, input="x", previous_response_id=first_id)
        assert error["status"] == 400
        assert error["error"]["code"] == "previous_response_not_found"
        assert error["error"]["param"] == "previous_response_id"


def test_an_unstored_tool_round_trip_sends_only_the_tool_output(
        connection: ResponsesConnection, scripted: ScriptedUpstream) -> None:
    calls = scripted.play(Script([
        chunk({"tool_calls": [{"index": 0, "id": "call_7", "type": "function",
                               "function": {"name": "lookup", "arguments": '{"q":"x"}'}}]}),
        chunk(finish="tool_calls")]))
    tools = [{"type": "function", "name": "lookup", "parameters": {"type": "object"}}]
    first = turn(connection, model=calls, input="Look x up.", tools=tools, store=False)
    assert first[-1]["response"]["output"][0]["call_id"] == "call_7"
    answer = scripted.play(text_script("Found."))
    turn(connection, model=answer, tools=tools, store=False,
         previous_response_id=first[-1]["response"]["id"],
         input=[{"type": "function_call_output", "call_id": "call_7", "output": "42"}])
    sent = scripted.last_request(answer)["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool"]
    assert sent[1]["tool_calls"][0]["id"] == sent[2]["tool_call_id"] == "call_7"


def test_a_stored_response_chained_on_an_unstored_one_continues_on_the_socket(
        connection: ResponsesConnection, scripted: ScriptedUpstream) -> None:
    first = turn(connection, model=scripted.play(text_script("one")), input="a", store=False)
    second = turn(connection, model=scripted.play(text_script("two")), input="b",
                  previous_response_id=first[-1]["response"]["id"])
    third_model = scripted.play(text_script("three"))
    turn(connection, model=third_model, input="c",
         previous_response_id=second[-1]["response"]["id"])
    sent = scripted.last_request(third_model)["messages"]
    assert [m["content"] for m in sent] == ["a", "one", "b", "two", "c"]


def test_a_failed_continuation_evicts_the_cached_response(
        connection: ResponsesConnection, scripted: ScriptedUpstream) -> None:
    first = turn(connection, model=scripted.play(text_script("ok")), input="a", store=False)
    first_id = first[-1]["response"]["id"]
    broken = scripted.play(Script(status=500, error={"error": {"message": "upstream down"}}))
    failed = turn(connection, model=broken, input="b", store=False,
                  previous_response_id=first_id)
    assert failed[-1]["type"] == "response.failed"
    error = error_of(connection, model=scripted.play(text_script("x")), input="c",
                     previous_response_id=first_id)
    assert error["error"]["code"] == "previous_response_not_found"


def test_errors_answer_the_message_and_keep_the_socket_open(
        connection: ResponsesConnection, scripted: ScriptedUpstream) -> None:
    model = scripted.play(text_script("fine"))
    too_small = error_of(connection, model=model, input="x", max_output_tokens=1)
    assert too_small["status"] == 400
    assert too_small["error"]["param"] == "max_output_tokens"
    assert too_small["error"]["code"] == "integer_below_min_value"
    streamed = error_of(connection, model=model, input="x", stream=True)
    assert streamed["error"]["param"] == "stream"
    background = error_of(connection, model=model, input="x", background=True)
    assert background["error"]["param"] == "background"
    for unsupported in ({"stream_id": "lane-1"}, {"generate": False}):
        error = error_of(connection, model=model, input="x", **unsupported)
        assert error["error"]["param"] == next(iter(unsupported))
    unknown = error_of(connection, model=model, input="x", previous_response_id="resp_nope")
    assert unknown["error"]["code"] == "previous_response_not_found"
    connection.send_raw("{not json")
    assert receive(connection)["error"]["code"] == "invalid_json"
    connection.send_raw("[]")
    assert receive(connection)["error"]["code"] == "invalid_type"
    connection.send_raw(json.dumps({"type": "response.steer", "input": "x"}))
    steer = receive(connection)
    assert (steer["error"]["param"], steer["error"]["code"]) == ("type", "invalid_value")
    # Still open and working.
    assert turn(connection, model=model, input="x")[-1]["type"] == "response.completed"


def test_creates_sent_together_run_one_after_the_other(
        connection: ResponsesConnection, scripted: ScriptedUpstream) -> None:
    slow = scripted.play(Script([chunk({"role": "assistant", "content": "slow"}), Pause(0.3),
                                 chunk(finish="stop")]))
    fast = scripted.play(text_script("fast"))
    connection.response.create(model=slow, input="1", store=False)
    connection.response.create(model=fast, input="2", store=False)
    events = [receive(connection)]
    while sum(e["type"] in TERMINAL for e in events) < 2:
        events.append(receive(connection))
    end = next(i for i, e in enumerate(events) if e["type"] in TERMINAL) + 1
    assert_valid_stream(events[:end])
    assert_valid_stream(events[end:])
    texts = [e["response"]["output"][0]["content"][0]["text"]
             for e in events if e["type"] in TERMINAL]
    assert texts == ["slow", "fast"]


def test_a_client_leaving_mid_response_stops_it(
        server: RunningResponsa, client: OpenAI, scripted: ScriptedUpstream) -> None:
    model = scripted.play(Script([chunk({"role": "assistant", "content": "x"}), Pause(3),
                                  chunk(finish="stop")]))
    with client.responses.connect() as connection:
        connection.response.create(model=model, input="x")
        created = receive(connection)
    response_id = created["response"]["id"]
    deadline = time.monotonic() + 2  # well before the upstream would have finished
    while client.responses.retrieve(response_id).status != "cancelled":
        assert time.monotonic() < deadline, "the run did not stop"
        time.sleep(0.05)


def keyed_client(server: RunningResponsa) -> OpenAI:
    return OpenAI(base_url=server.base_url, api_key=API_KEY, max_retries=0,
                  _strict_response_validation=True)


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory, llama: LlamaServer,
            scripted: ScriptedUpstream) -> Iterator[RunningResponsa]:
    """responsa with an API key and a one-second connection limit."""
    settings = f'api_keys = ["{API_KEY}"]\nwebsocket_max_age_seconds = 1\n'
    with serving(tmp_path_factory.mktemp("guarded"),
                 settings + config_text(llama, scripted)) as running:
        yield running


def test_the_handshake_needs_the_api_key(guarded: RunningResponsa) -> None:
    url = guarded.base_url.replace("http://", "ws://") + "/responses"
    wrong_key = {"Authorization": "Bearer sk-wrong-key-1234"}
    with (pytest.raises(websockets.InvalidStatus) as refused,
          websockets.sync.client.connect(url, additional_headers=wrong_key)):
        pass
    assert refused.value.response.status_code == 401
    error = json.loads(refused.value.response.body or b"")["error"]
    assert error["code"] == "invalid_api_key"
    with keyed_client(guarded).responses.connect() as connection:
        headers = connection._connection.response.headers  # the accepted handshake
        assert headers["x-request-id"].startswith("req_")


def test_the_connection_ends_at_its_age_limit(guarded: RunningResponsa,
                                              scripted: ScriptedUpstream) -> None:
    client = keyed_client(guarded)
    with client.responses.connect() as connection:
        turn(connection, model=scripted.play(text_script("in time")), input="x")
        error = receive(connection)  # sent by the server once the second is over
        assert error["type"] == "error"
        assert_conforms(error, "WebSocketErrorEvent")
        assert error["error"]["code"] == "websocket_connection_limit_reached"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            connection._connection.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


def test_a_plain_get_is_still_not_a_route(server: RunningResponsa) -> None:
    reply = httpx.get(f"{server.base_url}/responses")
    assert reply.status_code == 405



def test_the_connection_cache_is_bounded_and_hands_out_copies() -> None:
    history = LocalHistory(capacity=2, max_bytes=10_000)
    for name in ("a", "b", "c"):
        history.keep(name, [{"type": "message", "content": name}])
    assert list(history) == ["b", "c"]  # the oldest went first
    history["b"][0]["content"] = "changed"  # a lookup's items are the caller's own
    assert history["b"] == [{"type": "message", "content": "b"}]
    history.keep("d", [{"content": "x" * 6_000}])  # "b" was just used: "c" goes
    assert list(history) == ["b", "d"]
    history.keep("e", [{"content": "y" * 6_000}])  # over the size budget: only "e" fits
    assert list(history) == ["e"]
    history.keep("f", [{"content": "z" * 20_000}])  # the newest always stays
    assert list(history) == ["f"]
    history.evict("f")
    history.evict("never-kept")
    assert len(history) == 0
