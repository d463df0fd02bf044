"""Incremental SSE decoding of upstream bodies: raw reads in, `data:` payloads out.

Splitting raw reads by hand costs a quarter of a library line iterator on a 200-chunk stream
(benchmarks/http_clients.py), and this runs once per upstream token.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson

from responsa.errors import UpstreamProtocolError

DONE = b"[DONE]"


async def sse_data(read: Callable[[], Awaitable[bytes]]) -> AsyncIterator[bytes]:
    """Yields each event's `data` payload (multi-line data joined with newlines), stopping at
    `[DONE]`. Comments, `event:`/`id:` fields and CR line endings are handled per the spec.

    `read` returns what arrived (b"" at the end): a plain call per read, not one more async
    iterator in the chain each token passes through."""
    pending = b""
    data: list[bytes] = []
    while chunk := await read():
        pending += chunk
        if b"\n" not in chunk:
            continue
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:
                if data:
                    payload = b"\n".join(data)
                    data = []
                    if payload == DONE:
                        return
                    yield payload
            elif line.startswith(b"data:"):
                value = line[5:]
                data.append(value[1:] if value.startswith(b" ") else value)
    if data:  # a last event without its blank line
        payload = b"\n".join(data)
        if payload != DONE:
            yield payload


def json_object(provider: str, payload: bytes, what: str = "stream event") -> dict[str, Any]:
    """One event's payload as a JSON object, or a protocol error naming the provider."""
    try:
        value = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise UpstreamProtocolError(provider, f"unparseable {what}") from exc
    if not isinstance(value, dict):
        raise UpstreamProtocolError(provider, f"{what} is not an object")
    return value
