"""Search engines behind the hosted `web_search` tool, one small adapter each.

Each adapter turns a `SearchQuery` into its engine's documented request and the engine's answer
into `SearchResult`s. Transport, timeouts and error naming are the providers' shared
`HTTPUpstream` (failures raise `UpstreamError`s naming `web_search:<backend>`).

What each engine gets of the request's tool options:

- SearXNG (`GET {url}/search?format=json`): `allowed_domains` as `site:` terms ORed into the
  query; `language` from the config. SearXNG has no location parameter: `user_location` is
  not passed.
- Brave (`GET {url}/web/search`, `X-Subscription-Token`): `allowed_domains` as `site:` terms;
  `user_location.country` as `country`.
- Tavily (`POST {url}/search`, bearer key): `allowed_domains` as `include_domains`.
  Tavily's `country` wants an English country name, not the ISO code the API gives: not passed.

Whatever the engine does with `site:`, the tool keeps only results on an allowed domain.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from responsa.config import ProviderConfig, WebSearchConfig
from responsa.errors import UpstreamProtocolError
from responsa.providers.http_upstream import HTTPUpstream


@dataclass(frozen=True, slots=True)
class SearchQuery:
    text: str
    count: int  # results wanted
    allowed_domains: tuple[str, ...] = ()
    country: str | None = None  # ISO 3166-1 alpha-2, from `user_location`


@dataclass(frozen=True, slots=True)
class SearchResult:
    url: str
    title: str
    snippet: str = ""


class SearchBackend(Protocol):
    async def search(self, query: SearchQuery) -> list[SearchResult]:
        """The engine's results, best first, at most `query.count`; raises `UpstreamError`."""

    async def aclose(self) -> None: ...


_DEFAULT_URLS = {"brave": "https://api.search.brave.com/res/v1",
                 "tavily": "https://api.tavily.com"}


def create_backend(config: WebSearchConfig) -> SearchBackend:
    url = config.url or _DEFAULT_URLS.get(config.backend)
    if url is None:
        raise ValueError(f"web_search backend {config.backend!r} needs a url")
    headers = {
        "searxng": {},
        "brave": {"X-Subscription-Token": config.api_key or ""},
        "tavily": {"Authorization": f"Bearer {config.api_key or ''}"},
    }[config.backend]
    http = HTTPUpstream(
        ProviderConfig(name=f"web_search:{config.backend}", base_url=url, timeout=config.timeout,
                       connect_timeout=min(config.timeout, 10.0)),
        base_url=url, headers=headers, context_markers=())
    if config.backend == "searxng":
        return SearxngBackend(http, language=config.language)
    if config.backend == "brave":
        return BraveBackend(http)
    return TavilyBackend(http)


@dataclass(slots=True)
class _Adapter:
    http: HTTPUpstream  # names itself `web_search:<backend>` in errors

    async def aclose(self) -> None:
        await self.http.aclose()

    def _results(self, rows: Any, snippet_key: str) -> list[SearchResult]:
        if not isinstance(rows, list):
            raise UpstreamProtocolError(self.http.provider, "the answer has no result list")
        return [SearchResult(url=str(row["url"]), title=str(row.get("title") or row["url"]),
                             snippet=str(row.get(snippet_key) or ""))
                for row in rows if isinstance(row, dict) and row.get("url")]


def with_sites(text: str, domains: tuple[str, ...]) -> str:
    """`text` limited to `domains` in the `site:` syntax SearXNG and Brave both read."""
    if not domains:
        return text
    return f"{text} ({' OR '.join(f'site:{domain}' for domain in domains)})"


@dataclass(slots=True)
class SearxngBackend(_Adapter):
    language: str | None = None

    async def search(self, query: SearchQuery) -> list[SearchResult]:
        params = {"q": with_sites(query.text, query.allowed_domains), "format": "json"}
        if self.language:
            params["language"] = self.language
        answer = await self.http.request_json("GET", "search", params=params)
        return self._results(_get(answer, "results"), "content")[:query.count]


@dataclass(slots=True)
class BraveBackend(_Adapter):
    async def search(self, query: SearchQuery) -> list[SearchResult]:
        params = {"q": with_sites(query.text, query.allowed_domains),
                  "count": str(min(query.count, 20))}  # Brave's maximum
        if query.country:
            params["country"] = query.country.upper()
        answer = await self.http.request_json("GET", "web/search", params=params)
        if not isinstance(answer, Mapping):
            raise UpstreamProtocolError(self.http.provider, "the answer is not a JSON object")
        web = answer.get("web")  # absent when nothing matched
        rows = _get(web, "results") if web is not None else []
        return self._results(rows, "description")[:query.count]


@dataclass(slots=True)
class TavilyBackend(_Adapter):
    async def search(self, query: SearchQuery) -> list[SearchResult]:
        body: dict[str, Any] = {"query": query.text, "max_results": query.count,
                                "search_depth": "basic"}
        if query.allowed_domains:
            body["include_domains"] = list(query.allowed_domains)
        answer = await self.http.request_json("POST", "search", body=body)
        return self._results(_get(answer, "results"), "content")[:query.count]


def _get(answer: Any, key: str) -> Any:
    return answer.get(key) if isinstance(answer, Mapping) else None
