"""Latency from an upstream token to a reader following the run on another replica.

    .venv/bin/python -m benchmarks.resume_latency [--runs 20] [--tokens 50] [--interval-ms 20]

Two `responsa serve` replicas share one PostgreSQL. Each run is a background response created
on replica A; a reader on replica B follows it (`GET /v1/responses/{id}?stream=true`) while A
runs it. The upstream (in this process) notes when it sends each token; the reader (also in this
process, same clock) notes when that token's `response.output_text.delta` arrives. What is
measured is the whole path: A's stream decoding, its flush of the batch to PostgreSQL, the
NOTIFY, B's read of the log and its SSE frame. A reader on A itself is measured for context.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import uvicorn
from tests.support.postgres import start_postgres
from tests.support.responsa_server import RunningResponsa, free_port, start_responsa


class PacedUpstream:
    """A chat-completions stream of `tokens` pieces `interval` seconds apart, each piece naming
    its run and index; `sent[(run, i)]` is when piece i left."""

    def __init__(self, tokens: int, interval: float, lead: float) -> None:
        self.tokens, self.interval, self.lead = tokens, interval, lead
        self.sent: dict[tuple[str, int], float] = {}
        self.port = free_port()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        run = orjson.loads(body)["messages"][-1]["content"]
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream")]})
        await asyncio.sleep(self.lead)  # the reader attaches meanwhile
        for i in range(self.tokens):
            self.sent[(run, i)] = time.perf_counter()
            await send({"type": "http.response.body", "more_body": True,
                        "body": _chunk({"content": f"{run}:{i} "})})
            await asyncio.sleep(self.interval)
        await send({"type": "http.response.body", "more_body": False,
                    "body": _chunk({}, finish="stop") + b"data: [DONE]\n\n"})

    def start(self) -> None:
        server = uvicorn.Server(uvicorn.Config(self, port=self.port, log_level="critical",
                                               lifespan="off"))
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.01)


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    body = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return b"data: " + orjson.dumps(body) + b"\n\n"


def follow(reader: RunningResponsa, response_id: str,
           received: dict[tuple[str, int], float]) -> None:
    with httpx.stream("GET", f"{reader.base_url}/responses/{response_id}",
                      params={"stream": "true"}, timeout=60) as reply:
        for line in reply.iter_lines():
            if line.startswith("data:") and '"response.output_text.delta"' in line:
                now = time.perf_counter()
                run, _, index = orjson.loads(line[5:])["delta"].strip().partition(":")
                received[(run, int(index))] = now


def measure(upstream: PacedUpstream, creator: RunningResponsa, reader: RunningResponsa,
            runs: int, label: str) -> list[float]:
    received: dict[tuple[str, int], float] = {}
    for n in range(runs):
        run = f"{label}{n}"
        created = httpx.post(f"{creator.base_url}/responses", timeout=30, json={
            "model": "paced/m", "input": run, "background": True}).json()
        follow(reader, created["id"], received)
    return [(received[key] - sent) * 1000 for key, sent in upstream.sent.items()
            if key[0].startswith(label) and key in received]


def report(label: str, latencies: list[float]) -> None:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(f"{label:22} n={len(ordered):5}  p50 {statistics.median(ordered):6.2f} ms"
          f"  p99 {p99:6.2f} ms  max {ordered[-1]:6.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--tokens", type=int, default=50)
    parser.add_argument("--interval-ms", type=float, default=20.0)
    args = parser.parse_args()
    upstream = PacedUpstream(args.tokens, args.interval_ms / 1000, lead=0.2)
    upstream.start()
    postgres = start_postgres()
    replicas: list[RunningResponsa] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "responsa.toml"
            config.write_text(f'embedded_engine = false\n[providers.paced]\n'
                              f'base_url = "http://127.0.0.1:{upstream.port}/v1"\n')
            for name in ("a", "b"):
                replicas.append(start_responsa(
                    "--config", str(config), "--database", postgres.dsn,
                    log_path=Path(tmp) / f"{name}.log"))
            a, b = replicas
            report("other replica (B)", measure(upstream, a, b, args.runs, "b"))
            report("same replica (A)", measure(upstream, a, a, args.runs, "a"))
    finally:
        for replica in replicas:
            replica.stop()
        postgres.stop()


if __name__ == "__main__":
    main()
