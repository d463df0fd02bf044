"""The hosted `web_search` tool (and `web_search_preview`, dated variants) over a configured
search engine (tools/search_backends.py, `[web_search]` in the config).

The model is offered one function, `web_search({"query"})`. Each call streams a
`web_search_call` item: `response.web_search_call.in_progress`, `.searching`, `.completed`, the
finished item carrying `action: {type: "search", query, sources}` (`sources` reach the client
only under `include: ["web_search_call.action.sources"]`, engine/snapshot.py).

The model reads the results numbered across the whole response (`[1] title / url / snippet`).
Its answer gets `url_citation` annotations (`citations`) wherever it writes one of those
numbers in brackets (`[2]`) or one of the result URLs verbatim: the annotation spans that
marker or URL and names the result's URL and title.

`search_context_size` sets how many results one search returns (low 3, medium 5, high 10);
`filters.allowed_domains` goes to the engine and the results are filtered to those domains
here as well; `user_location` goes to the engines that take one (search_backends.py).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from responsa.errors import ResponsaError
from responsa.ids import new_id
from responsa.tools.base import (
    HostedCall,
    HostedOutcome,
    OutputSink,
    ToolServices,
    failed_outcome,
    string_argument,
)
from responsa.tools.registry import FACTORIES, REPLAYS
from responsa.tools.search_backends import SearchBackend, SearchQuery, SearchResult

JSONDict = dict[str, Any]

WEB_SEARCH_TYPES = ("web_search", "web_search_2025_08_26", "web_search_preview",
                    "web_search_preview_2025_03_11")
FUNCTION_NAME = "web_search"
RESULT_COUNTS = {"low": 3, "medium": 5, "high": 10}

_FUNCTION: JSONDict = {
    "type": "function",
    "name": FUNCTION_NAME,
    "description": ("Search the web. Results come back numbered [1], [2], …; cite a result in "
                    "your answer by writing its number in brackets or its URL."),
    "parameters": {
        "type": "object",
        "properties": {"query": {"type": "string", "minLength": 1,
                                 "description": "What to search for."}},
        "required": ["query"],
        "additionalProperties": False,
    },
    # Not strict: strict schemas allow only a subset of JSON Schema, and `minLength` is what
    # keeps a small model on a grammar-constrained engine (llama.cpp) from sending "".
    "strict": False,
}


@dataclass(slots=True)
class WebSearchTool:
    type: str
    backend: SearchBackend
    count: int
    allowed_domains: tuple[str, ...] = ()
    country: str | None = None
    # Every result the model was shown in this response, numbered from 1 in this order.
    results: list[SearchResult] = field(default_factory=list)

    def functions(self) -> list[JSONDict]:
        return [_FUNCTION]

    def owns(self, name: str) -> bool:
        return name == FUNCTION_NAME

    async def prepare(self, history: list[JSONDict], sink: OutputSink) -> list[HostedCall]:
        return []

    async def call(self, call: HostedCall, sink: OutputSink) -> HostedOutcome:
        query = string_argument(call.arguments, "query")
        item: JSONDict = {"id": new_id("ws"), "type": "web_search_call", "status": "in_progress",
                          "action": {"type": "search", "query": query or ""}}
        sink.open_item(dict(item))
        sink.item_event("response.web_search_call.in_progress")
        if query is None:
            return failed_outcome(sink, item, 'The arguments must be a JSON object '
                                  '{"query": string} with a non-empty query.')
        sink.item_event("response.web_search_call.searching")
        try:
            found = await self.backend.search(SearchQuery(
                query, self.count, self.allowed_domains, self.country))
        except ResponsaError as exc:
            return failed_outcome(sink, item, f"The web search failed: {exc.message}")
        found = [result for result in found if _allowed(result.url, self.allowed_domains)]
        sink.item_event("response.web_search_call.completed")
        done = {**item, "status": "completed",
                "action": {"type": "search", "query": query,
                           "sources": [{"type": "url", "url": result.url} for result in found]}}
        sink.close_item(done)
        return HostedOutcome(done, self._numbered(query, found))

    async def aclose(self) -> None:
        return None  # the backend is the application's, shared by all responses

    def _numbered(self, query: str, found: list[SearchResult]) -> str:
        if not found:
            return f"No results for {query!r}."
        lines = []
        for result in found:
            known = next((n for n, seen in enumerate(self.results, 1) if seen.url == result.url),
                         None)
            if known is None:
                self.results.append(result)
                known = len(self.results)
            lines.append(f"[{known}] {result.title}\n{result.url}\n{result.snippet}".rstrip())
        return "\n\n".join(lines)

    def citations(self, text: str) -> list[JSONDict]:
        """`url_citation` annotations for `text`: each `[n]` naming a result shown, and each
        result URL written out, in the order they appear."""
        spans: dict[int, JSONDict] = {}
        for match in _MARKER.finditer(text):
            number = int(match.group(1))
            if 1 <= number <= len(self.results):
                spans[match.start()] = _citation(self.results[number - 1], match.start(),
                                                 match.end())
        for result in self.results:
            start = text.find(result.url)
            while start != -1:
                end = start + len(result.url)
                # A longer URL that merely begins with this one is not a mention of it.
                if end == len(text) or not _URL_CHAR.match(text[end]):
                    spans.setdefault(start, _citation(result, start, end))
                start = text.find(result.url, end)
        return [spans[start] for start in sorted(spans)]


_MARKER = re.compile(r"\[(\d{1,3})\]")
_URL_CHAR = re.compile(r"[\w/#?=&%~+-]")


def _citation(result: SearchResult, start: int, end: int) -> JSONDict:
    return {"type": "url_citation", "url": result.url, "title": result.title,
            "start_index": start, "end_index": end}


def _allowed(url: str, domains: tuple[str, ...]) -> bool:
    if not domains:
        return True
    host = (urlsplit(url).hostname or "").lower()
    return any(host == domain or host.endswith("." + domain) for domain in domains)


def _domain(value: str) -> str:
    """`allowed_domains` entries may be written as URLs or with a leading `www.`."""
    value = value.strip().lower()
    host = urlsplit(value).hostname if "://" in value else value.split("/")[0]
    return (host or value).removeprefix("www.")


def web_search_factory(tool: JSONDict, index: int, services: ToolServices) -> WebSearchTool:
    backend = services.web_search
    if backend is None:  # engine/run.py drops such tools before building hosted ones
        raise RuntimeError("web_search built with no backend configured")
    filters = tool.get("filters") or {}
    location = tool.get("user_location") or {}
    return WebSearchTool(
        type=tool["type"], backend=backend,
        count=RESULT_COUNTS[tool.get("search_context_size") or "medium"],
        allowed_domains=tuple(_domain(d) for d in filters.get("allowed_domains") or ()),
        country=location.get("country"))


def replay(item: JSONDict) -> list[JSONDict]:
    """A stored search as the model saw it: its query and the result URLs (titles and
    snippets are not stored with the item)."""
    action = item.get("action") or {}
    sources = action.get("sources") or []
    if item.get("status") != "completed":
        output = "The web search failed."
    elif sources:
        output = "\n".join(f"[{n}] {source['url']}" for n, source in enumerate(sources, 1))
    else:
        output = f"No results for {action.get('query', '')!r}."
    return [
        {"type": "function_call", "call_id": item["id"], "name": FUNCTION_NAME,
         "arguments": json.dumps({"query": action.get("query", "")})},
        {"type": "function_call_output", "call_id": item["id"], "output": output},
    ]


for _type in WEB_SEARCH_TYPES:
    FACTORIES[_type] = web_search_factory
REPLAYS["web_search_call"] = replay
