"""The hosted `web_search` tool through the SDK: a real llama.cpp model searching a local
search engine, citations, `include` of sources, filters reaching the engine, the three engine
adapters, and a server with no search backend (declared: accepted, not offered; forced: 400).

The search engine is a local stand-in speaking SearXNG's, Brave's and Tavily's JSON APIs over a
fixed corpus (tests/support/tool_backends.py says why no real one runs here)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from openai import OpenAI

from responsa.config import ConfigError, WebSearchConfig, load_settings
from responsa.errors import UpstreamStatusError
from responsa.tools.search_backends import SearchQuery, SearchResult, create_backend
from responsa.tools.web_search import WebSearchTool
from tests.conftest import LLAMA_MODEL, config_text, sdk_client
from tests.support.asgi import running
from tests.support.llama_server import LlamaServer
from tests.support.responsa_server import RunningResponsa, serving
from tests.support.scripted_upstream import Script, ScriptedUpstream, chunk, text_script
from tests.support.sdk import streamed_events
from tests.support.tool_backends import API_KEY, SearchEngines

SOURCES = "web_search_call.action.sources"
PEP_492 = "https://peps.python.org/pep-0492/"
ASYNCIO = "https://docs.python.org/3/library/asyncio.html"


@pytest.fixture(scope="module")
def engines() -> Iterator[SearchEngines]:
    with running(SearchEngines()) as server:
        yield server


@pytest.fixture(scope="module", params=["sqlite"])  # some tests: both databases
def searching_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                     llama: LlamaServer, scripted: ScriptedUpstream,
                     engines: SearchEngines) -> Iterator[RunningResponsa]:
    """On SQLite, or PostgreSQL for the tests that store searches (`STORES`)."""
    database = (request.getfixturevalue("postgres_dsn")
                if request.param == "postgres" else None)
    extra = f'\n[web_search]\nbackend = "searxng"\nurl = "{engines.url}"\nlanguage = "en"\n'
    with serving(tmp_path_factory.mktemp("web-search"),
                 config_text(llama, scripted, extra), database=database) as server:
        yield server


STORES = pytest.mark.parametrize("searching_server", ["sqlite", "postgres"], indirect=True)


@pytest.fixture
def engine(engines: SearchEngines) -> SearchEngines:
    """The search engines, answering again, with no request recorded yet."""
    engines.requests.clear()
    engines.status = 200
    return engines


@pytest.fixture
def searching(searching_server: RunningResponsa, engine: SearchEngines) -> OpenAI:
    return sdk_client(searching_server)


def search_call(query: str) -> Script:
    """The model calls web_search with `query`."""
    return Script([chunk({"role": "assistant", "tool_calls": [{
        "index": 0, "id": "call_ws", "type": "function",
        "function": {"name": "web_search", "arguments": json.dumps({"query": query})}}]}),
        chunk(finish="tool_calls")])


def of_item(events: list[dict[str, Any]], item_id: str) -> list[str]:
    return [e["type"] for e in events if e.get("item_id") == item_id
            or e.get("item", {}).get("id") == item_id]


def test_llama_model_searches_through_the_sdk(searching: OpenAI, engine: SearchEngines) -> None:
    events = streamed_events(searching, model=LLAMA_MODEL, input="Search the web: Python async",
                             tools=[{"type": "web_search"}], include=[SOURCES],
                             max_output_tokens=200)
    response = events[-1]["response"]
    assert events[-1]["type"] == "response.completed", response["error"]
    calls = [item for item in response["output"] if item["type"] == "web_search_call"]
    assert len(calls) == 1
    call = calls[0]
    assert call["status"] == "completed" and call["id"].startswith("ws_"), call
    assert of_item(events, call["id"]) == [
        "response.output_item.added", "response.web_search_call.in_progress",
        "response.web_search_call.searching", "response.web_search_call.completed",
        "response.output_item.done"]
    # The model's query reached SearXNG's JSON API; what it found is the item's sources.
    [sent] = engine.requests
    assert sent.query["format"] == "json" and sent.query["language"] == "en"
    assert sent.query["q"] == call["action"]["query"]
    assert call["action"]["type"] == "search"
    assert all(source["type"] == "url" for source in call["action"]["sources"])
    # After the result the model was called again and answered in text.
    assert response["output"][-1]["type"] == "message"
    stored = searching.responses.retrieve(response["id"])
    assert [item.type for item in stored.output] == [item["type"] for item in response["output"]]


@STORES
def test_answer_cites_results_and_sources_need_include(
        searching: OpenAI, scripted: ScriptedUpstream) -> None:
    answer = f"Coroutines use async and await [1], see {ASYNCIO} and [9]."
    model = scripted.play(search_call("python async await"), text_script(answer))
    events = streamed_events(searching, model=model, input="How do coroutines work?",
                             tools=[{"type": "web_search_preview"}])
    response = events[-1]["response"]
    call, message = response["output"]
    # Without `include`, the item says what was searched but not the sources.
    assert call["action"] == {"type": "search", "query": "python async await"}
    [part] = message["content"]
    assert part["text"] == answer
    marker = answer.index("[1]")
    url_at = answer.index(ASYNCIO)
    assert part["annotations"] == [
        {"type": "url_citation", "url": PEP_492,
         "title": "PEP 492 - Coroutines with async and await",
         "start_index": marker, "end_index": marker + 3},
        {"type": "url_citation", "url": ASYNCIO, "title": "asyncio — Asynchronous I/O",
         "start_index": url_at, "end_index": url_at + len(ASYNCIO)},
    ]  # [9] names no result: not a citation
    added = [e for e in events if e["type"] == "response.output_text.annotation.added"]
    assert [(e["annotation_index"], e["annotation"]) for e in added] == list(
        enumerate(part["annotations"]))
    # The model read numbered results, and was offered exactly the one function.
    first, second = [r for r in scripted.requests if r["model"] == model.split("/")[1]][-2:]
    assert [tool["function"]["name"] for tool in first["tools"]] == ["web_search"]
    result = second["messages"][-1]
    assert result["role"] == "tool" and result["tool_call_id"] == "call_ws"
    assert result["content"].startswith(f"[1] PEP 492 - Coroutines with async and await\n{PEP_492}")
    # The sources are stored: a retrieve shows them only under include.
    plain = searching.responses.retrieve(response["id"])
    assert plain.output[0].action.sources is None  # type: ignore[union-attr]
    full = searching.responses.retrieve(response["id"], include=[SOURCES])
    assert [s.url for s in full.output[0].action.sources][:2] == [  # type: ignore[union-attr]
        PEP_492, ASYNCIO]
    # So does the stored stream's replay.
    for include, shown in (([], False), ([SOURCES], True)):
        with searching.responses.retrieve(response["id"], stream=True,
                                          include=include) as replay:
            done = [e.item for e in replay if e.type == "response.output_item.done"]
        assert (done[0].action.sources is not None) is shown  # type: ignore[union-attr]


def test_domains_location_and_context_size_reach_the_engine(
        searching: OpenAI, scripted: ScriptedUpstream, engine: SearchEngines) -> None:
    model = scripted.play(search_call("python"), text_script("Done."))
    response = searching.responses.create(
        model=model, input="x", include=[SOURCES],
        tools=[{"type": "web_search", "search_context_size": "low",
                "filters": {"allowed_domains": ["https://www.python.org/", "peps.python.org"]},
                "user_location": {"type": "approximate", "country": "DE"}}])
    call = response.output[0]
    assert call.type == "web_search_call"
    [sent] = engine.requests
    assert sent.query["q"] == "python (site:python.org OR site:peps.python.org)"
    hosts = [source.url.split("/")[2] for source in call.action.sources]  # type: ignore[union-attr]
    assert hosts and len(hosts) <= 3 and all(h.endswith("python.org") for h in hosts)


def test_engine_failure_fails_the_call_not_the_response(
        searching: OpenAI, scripted: ScriptedUpstream, engine: SearchEngines) -> None:
    engine.status = 503
    model = scripted.play(search_call("python"), text_script("Sorry."))
    response = searching.responses.create(model=model, input="x", tools=[{"type": "web_search"}])
    assert response.status == "completed"
    assert [item.type for item in response.output] == ["web_search_call", "message"]
    assert response.output[0].status == "failed"  # type: ignore[union-attr]
    told = scripted.last_request(model)["messages"][-1]["content"]
    assert told.startswith("The web search failed:") and "503" in told


@STORES
def test_stored_search_replays_to_the_model_on_the_next_turn(
        searching: OpenAI, scripted: ScriptedUpstream) -> None:
    model = scripted.play(search_call("sqlite"), text_script("SQLite is small [1]."),
                          text_script("Yes."))
    first = searching.responses.create(model=model, input="What is SQLite?",
                                       tools=[{"type": "web_search"}])
    searching.responses.create(model=model, input="Sure?", previous_response_id=first.id,
                               tools=[{"type": "web_search"}])
    messages = scripted.last_request(model)["messages"]
    call = next(m for m in messages if m.get("tool_calls"))
    assert call["tool_calls"][0]["function"] == {"name": "web_search",
                                                 "arguments": '{"query": "sqlite"}'}
    output = next(m for m in messages if m["role"] == "tool")
    assert output["content"] == "[1] https://www.sqlite.org/about.html"


# -- no search backend configured (the suite's usual server) -------------------------------------


def test_declared_web_search_without_backend_is_accepted_not_offered(
        client: OpenAI, scripted: ScriptedUpstream) -> None:
    model = scripted.play(text_script("Hi."))
    tools: list[Any] = [{"type": "web_search", "external_web_access": False},
                        {"type": "function", "name": "f", "parameters": {"type": "object"}}]
    raw = client.responses.with_raw_response.create(model=model, input="x", tools=tools)
    assert raw.headers["x-responsa-tools-unavailable"] == "web_search"
    response = raw.parse()
    assert response.status == "completed"
    assert [tool.type for tool in response.tools] == ["web_search", "function"]
    assert [t["function"]["name"] for t in scripted.last_request(model)["tools"]] == ["f"]
    with client.responses.with_streaming_response.create(
            model=model, input="x", tools=tools, stream=True) as streamed:
        assert streamed.headers["x-responsa-tools-unavailable"] == "web_search"
    plain = client.responses.with_raw_response.create(model=model, input="x")
    assert "x-responsa-tools-unavailable" not in plain.headers


@pytest.mark.parametrize("tool_choice", [
    {"type": "web_search_preview"}, "required",
    {"type": "allowed_tools", "mode": "required", "tools": [{"type": "web_search_preview"}]}])
def test_forcing_web_search_without_backend_is_refused(
        client: OpenAI, scripted: ScriptedUpstream, tool_choice: Any) -> None:
    model = scripted.play(text_script("Hi."))
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model=model, input="x", tool_choice=tool_choice,
                                tools=[{"type": "web_search_preview"}])
    error = caught.value.body
    assert isinstance(error, dict)
    assert error["param"] == "tool_choice" and error["type"] == "invalid_request_error"
    assert "no search backend is configured" in error["message"]


def test_citations_mark_result_numbers_and_whole_urls() -> None:
    tool = WebSearchTool("web_search", create_backend(WebSearchConfig("searxng", url="http://x")),
                         count=5)
    tool.results = [SearchResult("https://a.example/x", "A"),
                    SearchResult("https://b.example", "B")]
    text = "See [2] and https://a.example/x, not https://a.example/xy or [3] or [0]."
    assert [(c["url"], text[c["start_index"]:c["end_index"]])
            for c in tool.citations(text)] == [("https://b.example", "[2]"),
                                               ("https://a.example/x", "https://a.example/x")]


# -- the engine adapters and their configuration ---------------------------------------------------


async def test_brave_adapter(engine: SearchEngines) -> None:
    backend = create_backend(WebSearchConfig("brave", url=f"{engine.url}/res/v1",
                                             api_key=API_KEY))
    try:
        found = await backend.search(SearchQuery("postgresql database", 1,
                                                 ("postgresql.org",), "de"))
        assert [r.url for r in found] == ["https://www.postgresql.org/about/"]
        assert found[0].snippet.startswith("PostgreSQL is a powerful")
        [sent] = engine.requests
        assert sent.query == {"q": "postgresql database (site:postgresql.org)", "count": "1",
                              "country": "DE"}
        assert await backend.search(SearchQuery("zzz", 3)) == []  # Brave omits `web`
    finally:
        await backend.aclose()


async def test_tavily_adapter(engine: SearchEngines) -> None:
    backend = create_backend(WebSearchConfig("tavily", url=engine.url, api_key=API_KEY))
    try:
        found = await backend.search(SearchQuery("database engine", 5, ("sqlite.org",)))
        assert [(r.url, r.title) for r in found] == [
            ("https://www.sqlite.org/about.html", "About SQLite")]
        [sent] = engine.requests
        assert sent.body == {"query": "database engine", "max_results": 5,
                             "search_depth": "basic", "include_domains": ["sqlite.org"]}
    finally:
        await backend.aclose()


async def test_engine_errors_name_the_backend(engine: SearchEngines) -> None:
    backend = create_backend(WebSearchConfig("brave", url=f"{engine.url}/res/v1",
                                             api_key="wrong"))
    try:
        with pytest.raises(UpstreamStatusError) as caught:
            await backend.search(SearchQuery("python", 3))
        assert caught.value.provider == "web_search:brave" and "401" in caught.value.message
    finally:
        await backend.aclose()


@pytest.mark.parametrize(("section", "message"), [
    ('backend = "bing"', "web_search.backend must be one of"),
    ('backend = "searxng"', "web_search.url is required"),
    ('backend = "brave"\napi_key_env = "NO_SUCH_KEY_VAR"', "needs an API key"),
    ('backend = "searxng"\nurl = "http://x"\ncolour = 1', "unknown setting(s) ['colour']"),
])
def test_bad_web_search_config_is_named(tmp_path: Path, section: str, message: str) -> None:
    config = tmp_path / "responsa.toml"
    config.write_text(f"[web_search]\n{section}\n")
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings(str(config), environ={})
