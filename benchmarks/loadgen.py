"""Load generator, in its own process: N requests at concurrency C, one JSON result line.

    python benchmarks/loadgen.py --url http://127.0.0.1:8000 --api responses [--stream]
        [--requests 2000] [--concurrency 16] [--warmup 100] [--control]

`--api responses` posts `{"model": "fake/bench", "input": …, "store": true}` to /v1/responses;
`--api chat` posts the chat-completions equivalent to /v1/chat/completions (the bare upstream).
Every body is read whole, streamed or not, and checked (HTTP 200 and a terminal marker).

With `--control` it warms up (which also opens its C keep-alive connections), prints `ready`,
waits for a line on stdin, then runs the measured requests: the orchestrator samples the
servers' CPU between those two points only. aiohttp is the client because it costs less CPU per
request than httpx (see http_clients.py), and the load generator shares the cores it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import aiohttp
import orjson


@dataclass(frozen=True, slots=True)
class Workload:
    path: str
    body: bytes
    marker: bytes  # must occur in a good response body


def workload(api: str, stream: bool, model: str | None = None) -> Workload:
    prompt = "Write a short poem about benchmarks."
    if api == "responses":
        req: dict[str, Any] = {"model": model or "fake/bench", "input": prompt, "store": True}
        if stream:
            req["stream"] = True
        return Workload(
            "/v1/responses", orjson.dumps(req), b"response.completed" if stream else b'"completed"'
        )
    req = {"model": model or "bench", "messages": [{"role": "user", "content": prompt}]}
    if stream:
        req["stream"] = True
        req["stream_options"] = {"include_usage": True}
    return Workload(
        "/v1/chat/completions", orjson.dumps(req), b"data: [DONE]" if stream else b'"choices"'
    )


@dataclass(slots=True)
class Result:
    requests: int = 0
    ok: int = 0
    errors: int = 0
    first_error: str | None = None
    wall_s: float = 0.0
    rps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    mean_ms: float = 0.0
    bytes_per_response: float = 0.0
    events_per_response: float = 0.0  # blank-line-separated SSE events (streams only)
    loadgen_cpu_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list, repr=False)


def percentile(sorted_ms: list[float], q: float) -> float:
    if not sorted_ms:
        return 0.0
    return sorted_ms[max(0, math.ceil(q * len(sorted_ms)) - 1)]


async def run(
    session: aiohttp.ClientSession, url: str, wl: Workload, n: int, concurrency: int, stream: bool
) -> Result:
    res = Result(requests=n)
    total_bytes = total_events = 0
    remaining = n
    headers = {"content-type": "application/json"}

    async def worker() -> None:
        nonlocal remaining, total_bytes, total_events
        while remaining > 0:
            remaining -= 1
            t0 = time.perf_counter()
            try:
                async with session.post(url, data=wl.body, headers=headers) as resp:
                    body = await resp.read()
                    status = resp.status
            except (TimeoutError, aiohttp.ClientError) as exc:
                status, body = -1, repr(exc).encode()
            res.latencies_ms.append((time.perf_counter() - t0) * 1000)
            if status == 200 and wl.marker in body:
                res.ok += 1
                total_bytes += len(body)
                if stream:
                    total_events += body.count(b"\n\n")
            else:
                res.errors += 1
                if res.first_error is None:
                    res.first_error = f"HTTP {status}: {body[:300]!r}"

    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    res.wall_s = time.perf_counter() - t0
    res.loadgen_cpu_s = time.process_time() - cpu0
    res.rps = n / res.wall_s if res.wall_s else 0.0
    lat = sorted(res.latencies_ms)
    res.p50_ms, res.p99_ms = percentile(lat, 0.50), percentile(lat, 0.99)
    res.mean_ms = sum(lat) / len(lat) if lat else 0.0
    res.bytes_per_response = total_bytes / res.ok if res.ok else 0.0
    res.events_per_response = total_events / res.ok if res.ok else 0.0
    return res


async def main_async(args: argparse.Namespace) -> Result:
    wl = workload(args.api, args.stream, args.model)
    url = args.url.rstrip("/") + wl.path
    connector = aiohttp.TCPConnector(limit=args.concurrency, ttl_dns_cache=None)
    timeout = aiohttp.ClientTimeout(total=args.timeout)
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, auto_decompress=False
    ) as session:
        if args.warmup:
            warm = await run(session, url, wl, args.warmup, args.concurrency, args.stream)
            if warm.errors:
                raise SystemExit(f"warm-up failed: {warm.first_error}")
        if args.control:
            print("ready", flush=True)
            sys.stdin.readline()  # blocking is fine: nothing else is scheduled meanwhile
        return await run(session, url, wl, args.requests, args.concurrency, args.stream)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True, help="base URL, e.g. http://127.0.0.1:8000")
    ap.add_argument("--api", choices=["responses", "chat"], default="responses")
    ap.add_argument("--stream", action="store_true")
    ap.add_argument("--model", help="default: fake/bench (responses), bench (chat)")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--warmup", type=int, default=0, help="unmeasured requests first")
    ap.add_argument("--timeout", type=float, default=120.0, help="per request, seconds")
    ap.add_argument("--control", action="store_true", help="print ready, wait for stdin")
    ap.add_argument("--latencies", action="store_true", help="include every latency")
    args = ap.parse_args(argv)

    import uvloop

    res = uvloop.run(main_async(args))
    out = asdict(res)
    if not args.latencies:
        del out["latencies_ms"]
    sys.stdout.write(orjson.dumps(out).decode() + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
