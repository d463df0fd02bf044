"""The hosted `file_search` tool through the SDK: a scripted model searching uploaded files
(items, event grammar, results under include, citations, filters, replay on the next turn),
a bad vector store refused before anything starts, and the real llama.cpp engine searching.
On SQLite and PostgreSQL (the suite's shared servers: file search needs no configuration)."""

from __future__ import annotations

import io
import json
from typing import Any

import openai
import pytest
from openai import OpenAI

from tests.conftest import LLAMA_MODEL
from tests.support.documents import DOCUMENTS
from tests.support.responsa_server import RunningResponsa
from tests.support.scripted_upstream import Script, ScriptedUpstream, chunk, text_script
from tests.support.sdk import streamed_events

RESULTS = "file_search_call.results"


@pytest.fixture(scope="module")
def library(server_any_db: RunningResponsa) -> tuple[str, dict[str, str]]:
    """A vector store with the three documents, each tagged with its topic."""
    client = OpenAI(base_url=server_any_db.base_url, api_key="k", max_retries=0)
    store = client.vector_stores.create(name="library")
    ids = {}
    for name, text in DOCUMENTS.items():
        file = client.files.create(file=(name, text.encode()), purpose="assistants")
        done = client.vector_stores.files.create_and_poll(
            file_id=file.id, vector_store_id=store.id, poll_interval_ms=50,
            attributes={"topic": name.split(".")[0]})
        assert done.status == "completed"
        ids[name] = file.id
    return store.id, ids


def search_call(*queries: str, call_id: str = "call_fs") -> Script:
    arguments = json.dumps({"queries": list(queries)})
    return Script([chunk({"role": "assistant", "tool_calls": [{
        "index": 0, "id": call_id, "type": "function",
        "function": {"name": "file_search", "arguments": arguments}}]}),
        chunk(finish="tool_calls")])


def of_item(events: list[dict[str, Any]], item_id: str) -> list[str]:
    return [e["type"] for e in events if e.get("item_id") == item_id
            or e.get("item", {}).get("id") == item_id]


def test_search_streams_its_item_and_cites_files(
        client_any_db: OpenAI, scripted: ScriptedUpstream,
        library: tuple[str, dict[str, str]]) -> None:
    store_id, ids = library
    answer = "Tides follow the Moon [1], as tides.txt says; see also [7]."
    model = scripted.play(search_call("what causes tides"), text_script(answer))
    events = streamed_events(client_any_db, model=model, input="What causes tides?",
                             tools=[{"type": "file_search", "vector_store_ids": [store_id],
                                     "max_num_results": 2}])
    response = events[-1]["response"]
    assert events[-1]["type"] == "response.completed", response["error"]
    call, message = response["output"]
    assert call["type"] == "file_search_call" and call["id"].startswith("fs_")
    assert (call["status"], call["queries"], call.get("results")) == (
        "completed", ["what causes tides"], None)  # results only under include
    assert of_item(events, call["id"]) == [
        "response.output_item.added", "response.file_search_call.in_progress",
        "response.file_search_call.searching", "response.file_search_call.completed",
        "response.output_item.done"]
    [part] = message["content"]
    assert part["text"] == answer
    cite = {"type": "file_citation", "file_id": ids["tides.txt"], "filename": "tides.txt"}
    assert part["annotations"] == [{**cite, "index": answer.index("[1]")},
                                   {**cite, "index": answer.index("tides.txt")}]  # not [7]
    # The model read numbered results with the files' text, at most max_num_results.
    told = scripted.last_request(model)["messages"][-1]
    assert told["role"] == "tool" and told["tool_call_id"] == "call_fs"
    assert told["content"].startswith("[1] tides.txt\n" + DOCUMENTS["tides.txt"][:40])
    assert "[3]" not in told["content"]
    # Results are stored whole and shown under include, live and on retrieve.
    full = client_any_db.responses.retrieve(response["id"], include=[RESULTS])
    results = full.output[0].results  # type: ignore[union-attr]
    assert results is not None and results[0].file_id == ids["tides.txt"]
    assert results[0].filename == "tides.txt" and results[0].attributes == {"topic": "tides"}
    assert 0 < results[0].score <= 1  # type: ignore[operator]
    assert client_any_db.responses.retrieve(response["id"]).output[0].results is None  # type: ignore[union-attr]


def test_include_filters_and_replay(client_any_db: OpenAI, scripted: ScriptedUpstream,
                                    library: tuple[str, dict[str, str]]) -> None:
    store_id, ids = library
    tool = {"type": "file_search", "vector_store_ids": [store_id],
            "filters": {"type": "eq", "key": "topic", "value": "sourdough"}}
    model = scripted.play(search_call("volcano lava", "bread"), text_script("Bread [1]."),
                          text_script("Yes."))
    first = client_any_db.responses.create(model=model, input="Tell me", tools=[tool],
                                           include=[RESULTS])
    call = first.output[0]
    assert call.type == "file_search_call" and call.queries == ["volcano lava", "bread"]
    assert {r.file_id for r in call.results or ()} == {ids["sourdough.txt"]}  # the filter
    client_any_db.responses.create(model=model, input="Sure?", previous_response_id=first.id,
                                   tools=[tool])
    messages = scripted.last_request(model)["messages"]
    replayed = next(m for m in messages if m.get("tool_calls"))
    assert replayed["tool_calls"][0]["function"] == {
        "name": "file_search", "arguments": '{"queries": ["volcano lava", "bread"]}'}
    output = next(m for m in messages if m["role"] == "tool")
    assert output["content"].startswith("[1] sourdough.txt\n")


def test_unknown_vector_store_and_bad_limits_are_refused(
        client_any_db: OpenAI, scripted: ScriptedUpstream) -> None:
    model = scripted.play(text_script("never called"))
    with pytest.raises(openai.BadRequestError) as caught:
        client_any_db.responses.create(model=model, input="x", tools=[
            {"type": "function", "name": "f", "parameters": {"type": "object"}},
            {"type": "file_search", "vector_store_ids": ["vs_missing"]}])
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["param"] == "tools[1].vector_store_ids"
    assert "vs_missing" in caught.value.body["message"]
    with pytest.raises(openai.BadRequestError) as caught:
        client_any_db.responses.create(model=model, input="x", tools=[
            {"type": "file_search", "vector_store_ids": [], "max_num_results": 51}])
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["code"] == "integer_above_max_value"


def test_empty_query_fails_the_call_not_the_response(
        client_any_db: OpenAI, scripted: ScriptedUpstream,
        library: tuple[str, dict[str, str]]) -> None:
    store_id, _ = library
    model = scripted.play(search_call(" "), text_script("Sorry."))
    response = client_any_db.responses.create(
        model=model, input="x", tools=[{"type": "file_search", "vector_store_ids": [store_id]}])
    assert response.status == "completed"
    assert response.output[0].status == "failed"  # type: ignore[union-attr]
    assert "non-empty query" in scripted.last_request(model)["messages"][-1]["content"]


def test_llama_model_searches_the_files(server: RunningResponsa,
                                        library_on_sqlite: tuple[str, dict[str, str]]) -> None:
    """The real engine, grammar-constrained to the offered tool, searches and answers."""
    client = OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
    store_id, ids = library_on_sqlite
    events = streamed_events(client, model=LLAMA_MODEL, input="Search my files: tides",
                             tools=[{"type": "file_search", "vector_store_ids": [store_id],
                                     "max_num_results": 2}],
                             include=[RESULTS], max_output_tokens=200)
    response = events[-1]["response"]
    assert events[-1]["type"] == "response.completed", response["error"]
    calls = [item for item in response["output"] if item["type"] == "file_search_call"]
    assert len(calls) == 1 and calls[0]["status"] == "completed", calls
    assert calls[0]["queries"] and all(q.strip() for q in calls[0]["queries"])
    # Whatever the random model asked, the one file came back (vector similarity ranks all).
    assert [r["file_id"] for r in calls[0]["results"]] == [ids["tides.txt"]]
    assert response["output"][-1]["type"] == "message"


@pytest.fixture(scope="module")
def library_on_sqlite(server: RunningResponsa) -> tuple[str, dict[str, str]]:
    client = OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
    store = client.vector_stores.create(name="llama-library")
    file = client.vector_stores.files.upload_and_poll(
        vector_store_id=store.id, file=io.BytesIO(DOCUMENTS["tides.txt"].encode()),
        poll_interval_ms=50)
    return store.id, {"tides.txt": file.id}
