"""The HTTP side every dialect shares: one pooled aiohttp session per provider, failures mapped
to our errors (naming the provider), and error bodies turned into `ResponsaError`s.

aiohttp rather than httpx: on this path it costs about a fifth of the CPU per request and per
streamed chunk (benchmarks/http_clients.py), and the upstream call is most of our own overhead.
Adapters compose an `HTTPUpstream`; what differs between them (paths, bodies, decoders) stays
in their own modules.

Retries: a call that fails before the first byte of its answer is consumed (connection errors,
HTTP 429, HTTP 5xx) is sent again, up to the provider's `max_retries` times, after an
exponential backoff (`retry_backoff` doubled each time, at most 8 s, with jitter: a random
50-100 % of it) or the upstream's own `Retry-After` / `retry-after-ms` when it gives one. A wait
that would not fit in the provider's `timeout` is not taken: the error is the answer. Nothing
is retried once an answer is being read (a stream may have been shown to the client).
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import aiohttp
import orjson

from responsa.config import ProviderConfig
from responsa.errors import (
    ContextLengthExceededError,
    ResponsaError,
    UpstreamConnectionError,
    UpstreamProtocolError,
    UpstreamStatusError,
    UpstreamTimeoutError,
)
from responsa.providers.sse_decoder import sse_data

_JSON = {"Content-Type": "application/json"}
_MAX_BACKOFF = 8.0


def _retryable_status(status: int) -> bool:
    return status == 429 or status >= 500


class HTTPUpstream:
    def __init__(self, config: ProviderConfig, *, base_url: str, headers: Mapping[str, str],
                 context_markers: tuple[str, ...]) -> None:
        self.provider = config.name
        self.base_url = base_url.rstrip("/")
        self._headers = {"Accept": "application/json", **headers, **config.headers}
        # sock_read bounds the silence between two reads, not the whole (long) generation.
        self._timeout = aiohttp.ClientTimeout(total=None, connect=config.connect_timeout,
                                              sock_read=config.timeout)
        # Lower-case phrases an upstream puts in a 400 when the prompt does not fit.
        self._context_markers = context_markers
        self._session: aiohttp.ClientSession | None = None
        self.max_retries = max(0, config.max_retries)
        self._backoff = config.retry_backoff
        self._budget = config.timeout  # retries (and their waits) end within it

    @property
    def session(self) -> aiohttp.ClientSession:
        # Created lazily: an aiohttp session belongs to the running event loop.
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers=self._headers, timeout=self._timeout,
                connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300))
        return self._session

    def url(self, path: str) -> str:
        """`path` under the base URL; a path starting with `/` is at the server root (where
        llama.cpp keeps its extras, outside `/v1`)."""
        if path.startswith("/"):
            return self.base_url.removesuffix("/v1") + path
        return f"{self.base_url}/{path}"

    @asynccontextmanager
    async def exchange(self, path: str, body: bytes) -> AsyncIterator[aiohttp.ClientResponse]:
        """POST `body` and hold the answer open (a stream may follow). A non-2xx answer raises
        (after the retries, see the module docstring) before anything is yielded; the
        connection is released when the block ends."""
        upstream = await self._send("POST", self.url(path), data=body, headers=_JSON)
        try:
            yield upstream
        finally:
            upstream.release()

    async def _send(self, method: str, url: str, *, data: bytes | None = None,
                    headers: Mapping[str, str] | None = None,
                    params: Mapping[str, str] | None = None) -> aiohttp.ClientResponse:
        """A 2xx answer, its body not read yet; retried while nothing of it was consumed."""
        deadline = time.monotonic() + self._budget
        attempt = 0
        while True:
            error: ResponsaError
            retry_after: float | None = None
            try:
                with self.transport_errors():
                    upstream = await self._request(method, url, data, headers, params)
            except (UpstreamConnectionError, UpstreamTimeoutError) as exc:
                error = exc
            else:
                if upstream.status < 400:
                    return upstream
                try:
                    with self.transport_errors():
                        raw = await upstream.read()
                finally:
                    upstream.release()
                error = self.status_error(upstream.status, raw)
                if not _retryable_status(upstream.status):
                    raise error
                retry_after = _retry_after(upstream.headers)
            delay = self._delay(attempt, retry_after)
            if attempt >= self.max_retries or time.monotonic() + delay >= deadline:
                raise error
            attempt += 1
            await asyncio.sleep(delay)

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after
        ceiling = min(_MAX_BACKOFF, self._backoff * 2.0 ** attempt)
        return ceiling * random.uniform(0.5, 1.0)

    async def _request(self, method: str, url: str, data: bytes | None,
                       headers: Mapping[str, str] | None,
                       params: Mapping[str, str] | None) -> aiohttp.ClientResponse:
        try:
            return await self.session.request(method, url, data=data, headers=headers,
                                              params=params)
        except aiohttp.ServerDisconnectedError:
            # A pooled keep-alive connection the upstream had already closed: nothing was
            # consumed, so sending once more on a fresh connection is safe (and free).
            return await self.session.request(method, url, data=data, headers=headers,
                                              params=params)

    def sse_payloads(self, upstream: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
        content = upstream.content

        async def read() -> bytes:
            try:
                return await content.readany()
            except (TimeoutError, aiohttp.ClientError) as exc:
                raise self.transport_error(exc) from exc

        return sse_data(read)

    async def read(self, upstream: aiohttp.ClientResponse) -> bytes:
        with self.transport_errors():
            return await upstream.read()

    async def request_json(self, method: str, path: str, *, body: Any = None,
                           params: Mapping[str, str] | None = None) -> Any:
        """A small JSON call (models, token counts, engine properties)."""
        data = None if body is None else orjson.dumps(body)
        headers = None if body is None else _JSON
        reply = await self._send(method, self.url(path), data=data, headers=headers,
                                 params=params)
        try:
            raw = await self.read(reply)
        finally:
            reply.release()
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise UpstreamProtocolError(self.provider, f"unparseable answer from {path}") from exc

    async def model_ids(self, params: Mapping[str, str] | None = None) -> list[str]:
        """`GET models` in the OpenAI list shape, which Anthropic shares."""
        answer = await self.request_json("GET", "models", params=params)
        data = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(data, list):
            raise UpstreamProtocolError(self.provider, "unparseable model list")
        return [str(model["id"]) for model in data if isinstance(model, dict) and "id" in model]

    def status_error(self, status: int, raw: bytes) -> ResponsaError:
        message = error_message(raw)
        text = raw.decode(errors="replace").lower()  # markers hide in the message or the type
        if status == 400 and any(marker in text for marker in self._context_markers):
            return ContextLengthExceededError(
                f"Your input exceeds the context window of this model. ({message})", param="input")
        return UpstreamStatusError(self.provider, status, message)

    @contextmanager
    def transport_errors(self) -> Iterator[None]:
        """aiohttp's failures as ours, naming the provider."""
        try:
            yield
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise self.transport_error(exc) from exc

    def transport_error(self, exc: TimeoutError | aiohttp.ClientError) -> ResponsaError:
        if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
            return UpstreamTimeoutError(self.provider, "timed out waiting for the upstream")
        if isinstance(exc, aiohttp.ClientConnectorError):
            return UpstreamConnectionError(self.provider, f"cannot connect: {exc}")
        return UpstreamConnectionError(
            self.provider, f"connection failed: {exc or type(exc).__name__}")

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """The wait an upstream asks for: `retry-after-ms` (OpenAI), else `Retry-After` in seconds
    or as an HTTP date."""
    for name, scale in (("retry-after-ms", 0.001), ("Retry-After", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) * scale)
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            continue
        return max(0.0, float(when.timestamp()) - time.time())
    return None


def error_message(raw: bytes) -> str:
    """`{"error": {"message": …}}` (OpenAI, Anthropic), `{"error": "…"}`, `{"message": …}`, or
    whatever a proxy sent."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw[:500].decode(errors="replace") or "no details"
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return error
        if body.get("message"):
            return str(body["message"])
    return raw[:500].decode(errors="replace")
