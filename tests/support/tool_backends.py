"""Local stand-ins for what hosted tools call out to, speaking the documented wire shapes.

Nothing real can run here: no SearXNG install works offline from PyPI (the `searxng` package
there is an MCP client, `searx` is a 2020 release), Brave and Tavily are paid remote APIs, and no
image model runs on this machine. So:

- `SearchEngines` answers over a fixed local corpus in three dialects at once: SearXNG
  (`GET /search?q=…&format=json`, 403 without `format=json` as SearXNG does), Brave
  (`GET /res/v1/web/search`, `X-Subscription-Token` required, `{"web": {"results": […]}}`) and
  Tavily (`POST /search` JSON, bearer key required, `{"results": […]}`). `site:` terms (SearXNG,
  Brave) and `include_domains` (Tavily) restrict the results to those domains.
- `ImagesEndpoint` is an OpenAI-compatible `POST /v1/images/generations`: a JSON answer, or with
  `stream: true` the `image_generation.partial_image` / `image_generation.completed` SSE events.

Both record every request they get, run on 127.0.0.1 in a uvicorn thread, and stop when told.
"""

from __future__ import annotations

import base64
import re
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from tests.support.asgi import ThreadedAsgiServer, answer_lifespan, read_body

CORPUS = [
    {"url": "https://docs.python.org/3/library/asyncio.html", "title": "asyncio — Asynchronous I/O",
     "text": "asyncio is a library to write concurrent code using the async/await syntax."},
    {"url": "https://peps.python.org/pep-0492/",
     "title": "PEP 492 - Coroutines with async and await",
     "text": "This PEP introduces the async and await syntax for coroutines in Python."},
    {"url": "https://en.wikipedia.org/wiki/Python_(programming_language)",
     "title": "Python (programming language)",
     "text": "Python is a high-level, general-purpose programming language."},
    {"url": "https://www.sqlite.org/about.html", "title": "About SQLite",
     "text": "SQLite is a C-language library that implements a small, fast SQL database engine."},
    {"url": "https://www.postgresql.org/about/", "title": "About PostgreSQL",
     "text": "PostgreSQL is a powerful, open source object-relational database system."},
]
API_KEY = "test-search-key"


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class _Server(ThreadedAsgiServer):
    requests: list[Recorded] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await answer_lifespan(receive, send)
            return
        raw = await read_body(receive)
        query = {k: v[-1] for k, v in parse_qs(scope["query_string"].decode()).items()}
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        recorded = Recorded(scope["method"], scope["path"], query, headers,
                            orjson.loads(raw) if raw else None)
        self.requests.append(recorded)
        await self.handle(recorded, send)

    async def handle(self, request: Recorded, send: Any) -> None:
        raise NotImplementedError


async def send_json(send: Any, status: int, body: Any) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": orjson.dumps(body)})


_SITE = re.compile(r"site:(\S+?)\)?(?=\s|$)")


def search_corpus(text: str, domains: list[str]) -> list[dict[str, str]]:
    """Corpus entries sharing a word with `text` (`site:` terms removed), best first."""
    domains = domains + _SITE.findall(text)
    words = set(re.findall(r"\w+", _SITE.sub("", text).lower())) - {"or"}
    scored = []
    for entry in CORPUS:
        host = urlsplit(entry["url"]).hostname or ""
        if domains and not any(host == d or host.endswith("." + d) for d in domains):
            continue
        found = set(re.findall(r"\w+", f"{entry['title']} {entry['text']}".lower()))
        if score := len(words & found):
            scored.append((score, entry))
    return [entry for _, entry in sorted(scored, key=lambda pair: -pair[0])]


@dataclass
class SearchEngines(_Server):
    status: int = 200  # anything else: every search fails with it

    async def handle(self, request: Recorded, send: Any) -> None:
        if self.status != 200:
            await send_json(send, self.status, {"error": "search engine unavailable"})
        elif request.method == "GET" and request.path == "/search":
            await self._searxng(request, send)
        elif request.method == "GET" and request.path == "/res/v1/web/search":
            await self._brave(request, send)
        elif request.method == "POST" and request.path == "/search":
            await self._tavily(request, send)
        else:
            await send_json(send, 404, {"error": "not found"})

    async def _searxng(self, request: Recorded, send: Any) -> None:
        if request.query.get("format") != "json":
            await send_json(send, 403, {"error": "format not allowed"})
            return
        text = request.query.get("q", "")
        results = [{"url": e["url"], "title": e["title"], "content": e["text"],
                    "engine": "corpus", "score": 1.0, "category": "general"}
                   for e in search_corpus(text, [])]
        await send_json(send, 200, {"query": text, "number_of_results": len(results),
                                    "results": results, "answers": [], "corrections": [],
                                    "infoboxes": [], "suggestions": [],
                                    "unresponsive_engines": []})

    async def _brave(self, request: Recorded, send: Any) -> None:
        if request.headers.get("x-subscription-token") != API_KEY:
            await send_json(send, 401, {"type": "ErrorResponse",
                                        "error": {"code": "SUBSCRIPTION_TOKEN_INVALID"}})
            return
        text = request.query.get("q", "")
        count = int(request.query.get("count", "20"))
        found = search_corpus(text, [])[:count]
        body: dict[str, Any] = {"type": "search", "query": {"original": text}}
        if found:
            body["web"] = {"type": "search", "results": [
                {"title": e["title"], "url": e["url"], "description": e["text"]} for e in found]}
        await send_json(send, 200, body)

    async def _tavily(self, request: Recorded, send: Any) -> None:
        if request.headers.get("authorization") != f"Bearer {API_KEY}":
            await send_json(send, 401, {"detail": {"error": "Unauthorized: missing API key"}})
            return
        body = request.body or {}
        found = search_corpus(body.get("query", ""), list(body.get("include_domains") or []))
        results = [{"title": e["title"], "url": e["url"], "content": e["text"], "score": 0.9}
                   for e in found[:int(body.get("max_results", 5))]]
        await send_json(send, 200, {"query": body.get("query"), "answer": None,
                                    "images": [], "results": results, "response_time": 0.01})


def tiny_png(shade: int) -> str:
    """A real 1x1 grey PNG, base64: distinct per `shade` so partials and finals differ."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(bytes([0, shade % 256]))) + chunk(b"IEND", b""))
    return base64.b64encode(png).decode()


@dataclass
class ImagesEndpoint(_Server):
    status: int = 200

    async def handle(self, request: Recorded, send: Any) -> None:
        body = request.body or {}
        if request.path != "/v1/images/generations" or request.method != "POST":
            await send_json(send, 404, {"error": {"message": "not found"}})
            return
        if self.status != 200:
            await send_json(send, self.status, {"error": {"message": "image model overloaded",
                                                          "type": "server_error"}})
            return
        reported = {"size": body.get("size") or "1024x1024",
                    "quality": body.get("quality") or "high",
                    "background": body.get("background") or "opaque",
                    "output_format": body.get("output_format") or "png"}
        revised = f"A picture of {body['prompt']}"
        if not body.get("stream"):
            await send_json(send, 200, {"created": 0, **reported, "data": [
                {"b64_json": tiny_png(255), "revised_prompt": revised}],
                "usage": {"input_tokens": 5, "output_tokens": 10, "total_tokens": 15}})
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream")]})
        events = [{"type": "image_generation.partial_image", "b64_json": tiny_png(index * 60),
                   "partial_image_index": index, "created_at": 0, **reported}
                  for index in range(int(body.get("partial_images") or 0))]
        events.append({"type": "image_generation.completed", "b64_json": tiny_png(255),
                       "revised_prompt": revised, "created_at": 0, **reported,
                       "usage": {"input_tokens": 5, "output_tokens": 10, "total_tokens": 15}})
        for event in events:
            data = (b"event: " + event["type"].encode() + b"\ndata: " + orjson.dumps(event)
                    + b"\n\n")
            await send({"type": "http.response.body", "body": data, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
