"""Decision study: CPU per proxied request of the HTTP client and of the server stack.

    .venv/bin/python benchmarks/http_clients.py [--out study.json]

Client side (measured in this process, asyncio on uvloop, pooled keep-alive clients, against
fake_upstream.py in another process): httpx.AsyncClient vs aiohttp.ClientSession, for one JSON
call (body read and parsed with orjson) and for reading a streamed chat completion, either line
by line with the library's own iterator or as raw chunks split on b"\\n" by hand. The process's
CPU time (time.process_time) over N requests, divided by N; median of interleaved repetitions.

Server side (fake_upstream.py's three implementations, loaded by loadgen.py in its own process,
measured from /proc like run.py): uvicorn (httptools, uvloop) with a plain Starlette app vs a raw
ASGI callable, plus the raw asyncio protocol server used as the fake upstream, for the JSON
endpoint and for the streaming one.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
import timeit
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import orjson

import _proc
import run as bench

HERE = Path(__file__).resolve().parent
CHAT = {"model": "bench", "messages": [{"role": "user", "content": "Write a short poem."}]}
STREAM = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
HEADERS = {"content-type": "application/json"}

# A case reads one response and returns (lines, reads) seen, to check both clients saw it all.
Case = Callable[[bytes], Awaitable[tuple[int, int]]]


def split_lines(buf: bytes, chunk: bytes) -> tuple[bytes, int]:
    """Append a chunk, drop the complete lines; returns (unfinished tail, lines dropped)."""
    buf += chunk
    lines = buf.count(b"\n")
    return (buf[buf.rfind(b"\n") + 1 :] if lines else buf), lines


def httpx_cases(client: httpx.AsyncClient, url: str) -> dict[str, Case]:
    async def json_call(body: bytes) -> tuple[int, int]:
        r = await client.post(url, content=body, headers=HEADERS)
        orjson.loads(r.content)
        return 0, 1

    async def lines(body: bytes) -> tuple[int, int]:
        n = 0
        async with client.stream("POST", url, content=body, headers=HEADERS) as r:
            async for _ in r.aiter_lines():
                n += 1
        return n, 0

    async def chunks(body: bytes) -> tuple[int, int]:
        n = reads = 0
        buf = b""
        async with client.stream("POST", url, content=body, headers=HEADERS) as r:
            async for chunk in r.aiter_raw():
                reads += 1
                buf, k = split_lines(buf, chunk)
                n += k
        return n, reads

    return {"json": json_call, "stream-lines": lines, "stream-chunks": chunks}


def aiohttp_cases(session: aiohttp.ClientSession, url: str) -> dict[str, Case]:
    async def json_call(body: bytes) -> tuple[int, int]:
        async with session.post(url, data=body, headers=HEADERS) as r:
            orjson.loads(await r.read())
        return 0, 1

    async def lines(body: bytes) -> tuple[int, int]:
        n = 0
        async with session.post(url, data=body, headers=HEADERS) as r:
            async for _ in r.content:  # StreamReader iterates by line
                n += 1
        return n, 0

    async def chunks(body: bytes) -> tuple[int, int]:
        n = reads = 0
        buf = b""
        async with session.post(url, data=body, headers=HEADERS) as r:
            async for chunk in r.content.iter_any():
                reads += 1
                buf, k = split_lines(buf, chunk)
                n += k
        return n, reads

    return {"json": json_call, "stream-lines": lines, "stream-chunks": chunks}


async def drive(case: Case, body: bytes, n: int, concurrency: int) -> tuple[float, float, float]:
    """CPU ms per request, lines per request, reads per request."""
    remaining = n
    lines = reads = 0

    async def worker() -> None:
        nonlocal remaining, lines, reads
        while remaining > 0:
            remaining -= 1
            k, r = await case(body)
            lines += k
            reads += r

    cpu0 = time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return 1000 * (time.process_time() - cpu0) / n, lines / n, reads / n


async def client_study(base: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    url = base + "/v1/chat/completions"
    limits = httpx.Limits(
        max_connections=args.concurrency, max_keepalive_connections=args.concurrency
    )
    async with (
        httpx.AsyncClient(limits=limits, timeout=60) as hc,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.concurrency)) as ac,
    ):
        clients = {"httpx": httpx_cases(hc, url), "aiohttp": aiohttp_cases(ac, url)}
        samples: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
        for rep in range(args.reps + 1):  # rep 0 warms up every case
            for case_name in ("json", "stream-lines", "stream-chunks"):
                stream = case_name != "json"
                n = args.stream_requests if stream else args.requests
                body = orjson.dumps(STREAM if stream else CHAT)
                for client, cases in clients.items():
                    got = await drive(
                        cases[case_name],
                        body,
                        n if rep else max(n // 5, args.concurrency),
                        args.concurrency,
                    )
                    if rep:
                        samples.setdefault((client, case_name), []).append(got)
    return [
        {
            "client": client,
            "case": case_name,
            "cpu_ms_per_req": statistics.median(s[0] for s in runs),
            "cpu_ms_per_req_min": min(s[0] for s in runs),
            "lines_per_req": runs[-1][1],
            "reads_per_req": runs[-1][2],
        }
        for (client, case_name), runs in samples.items()
    ]


def server_study(args: argparse.Namespace) -> list[dict[str, Any]]:
    ns = argparse.Namespace(rounds=args.reps, warmup=None, concurrency=args.concurrency)
    out = []
    for impl in ("protocol", "asgi", "starlette"):
        proc = subprocess.Popen(
            [
                sys.executable,
                str(HERE / "fake_upstream.py"),
                "--impl",
                impl,
                "--tokens",
                str(args.tokens),
                "--token-interval-ms",
                str(args.token_interval_ms),
            ],
            stdout=subprocess.PIPE,
        )
        try:
            base = f"http://127.0.0.1:{_proc.read_line(proc, 10)}"
            for wl in (
                bench.Workload("non-stream", False, args.requests),
                bench.Workload("stream", True, args.stream_requests),
            ):
                r = bench.measure(proc.pid, proc.pid, base, "chat", wl, ns)
                out.append(
                    {
                        "server": impl,
                        "workload": wl.name,
                        "cpu_ms_per_req": r["cpu_ms_per_req"],
                        "user_ms_per_req": r["user_ms_per_req"],
                        "sys_ms_per_req": r["sys_ms_per_req"],
                        "errors": r["errors"],
                    }
                )
        finally:
            _proc.stop(proc)
    return out


def building_blocks() -> dict[str, float]:
    """µs per call of the per-chunk JSON work every streaming proxy does."""
    chunk = (
        b'{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,'
        b'"model":"bench","system_fingerprint":null,"choices":[{"index":0,"delta":'
        b'{"content":" tok"},"logprobs":null,"finish_reason":null}],"usage":null}'
    )
    event = {
        "type": "response.output_text.delta",
        "sequence_number": 7,
        "item_id": "msg_" + "0" * 32,
        "output_index": 0,
        "content_index": 0,
        "delta": " tok",
        "logprobs": [],
    }
    n = 100_000
    return {
        "orjson.loads(upstream chunk) µs": 1e6
        * min(timeit.repeat(lambda: orjson.loads(chunk), number=n, repeat=3))
        / n,
        "orjson.dumps(delta event) µs": 1e6
        * min(timeit.repeat(lambda: orjson.dumps(event), number=n, repeat=3))
        / n,
    }


def report(
    clients: list[dict[str, Any]],
    servers: list[dict[str, Any]],
    blocks: dict[str, float],
    args: argparse.Namespace,
) -> str:
    out = [
        f"concurrency {args.concurrency}, {args.tokens} tokens/stream at "
        f"{args.token_interval_ms} ms/token, median of {args.reps}",
        "",
        "| client | case | CPU ms/req | min | lines/req | reads/req |",
        "|---|---|---:|---:|---:|---:|",
    ]
    out += [
        f"| {c['client']} | {c['case']} | **{c['cpu_ms_per_req']:.3f}** "
        f"| {c['cpu_ms_per_req_min']:.3f} | {c['lines_per_req']:.0f} "
        f"| {c['reads_per_req']:.0f} |"
        for c in clients
    ]
    out += ["", "| server | workload | CPU ms/req (user+sys) | errors |", "|---|---|---:|---:|"]
    out += [
        f"| {s['server']} | {s['workload']} | **{s['cpu_ms_per_req']:.3f}** "
        f"({s['user_ms_per_req']:.3f}+{s['sys_ms_per_req']:.3f}) | {s['errors']} |"
        for s in servers
    ]
    out += ["", *(f"- {k}: {v:.2f}" for k, v in blocks.items())]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=1000, help="JSON calls per repetition")
    ap.add_argument("--stream-requests", type=int, default=100, help="streams per repetition")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--tokens", type=int, default=200)
    ap.add_argument("--token-interval-ms", type=float, default=1.0)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--skip", choices=["clients", "servers"], action="append", default=[])
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)

    import uvloop

    clients: list[dict[str, Any]] = []
    if "clients" not in args.skip:
        upstream = subprocess.Popen(
            [
                sys.executable,
                str(HERE / "fake_upstream.py"),
                "--tokens",
                str(args.tokens),
                "--token-interval-ms",
                str(args.token_interval_ms),
            ],
            stdout=subprocess.PIPE,
        )
        try:
            base = f"http://127.0.0.1:{_proc.read_line(upstream, 10)}"
            clients = uvloop.run(client_study(base, args))
        finally:
            _proc.stop(upstream)
    servers = server_study(args) if "servers" not in args.skip else []
    blocks = building_blocks()
    print(report(clients, servers, blocks, args))
    if args.out:
        args.out.write_bytes(
            orjson.dumps(
                {"clients": clients, "servers": servers, "building_blocks": blocks},
                option=orjson.OPT_INDENT_2,
            )
        )


if __name__ == "__main__":
    main()
