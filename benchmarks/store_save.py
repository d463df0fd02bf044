"""CPU per `save_response` of a streamed 200-token response, on SQLite and PostgreSQL.

    .venv/bin/python -m benchmarks.store_save [--saves 2000] [--rounds 5] [--stores sqlite]

The record is what the engine stores at the end of a stream: 1 response, 2 input items and
205 events (4 opening events, 197 text deltas, 4 closing events; the lifecycle ones carry the
~1 KB Response). Each save is a new response, as in production.

To measure another version of the store (e.g. the last commit's), put its `src` first:
`git archive HEAD src | tar -x -C /tmp/old`, then
`PYTHONPATH=/tmp/old/src:. .venv/bin/python -m benchmarks.store_save`.

Reported per save, median over rounds: `cpu` is this process's CPU (all threads: the caller's
serialization plus, for SQLite, the worker thread's database work) — responsa's own CPU, the
budgeted figure. For PostgreSQL, `db` is the database server's CPU (all its processes), which
is not responsa's but shows the work did not just move there. `replay` is `get_events` of the
whole log (a resumed stream), for context.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.support.postgres import start_postgres

from responsa.engine.snapshot import initial_response
from responsa.store.base import JSONDict, Store, StoredResponse
from responsa.store.postgres import PostgresStore
from responsa.store.sqlite import SQLiteStore

DELTAS = 197
WORD = " word"


def streamed_record(n: int) -> StoredResponse:
    response = initial_response(
        {"model": "fake/bench", "input": "Say something long.", "store": True, "stream": True,
         "instructions": "You are a helpful assistant. " * 8},
        model="fake/bench",
    )  # fmt: skip
    rid = f"resp_bench_{n:08}_{os.urandom(4).hex()}"
    response["id"] = rid
    item_id = f"msg_{os.urandom(12).hex()}"
    seq = iter(range(1_000))
    events: list[JSONDict] = []

    def event(type_: str, **fields: object) -> None:
        events.append({"type": type_, "sequence_number": next(seq), **fields})

    item: JSONDict = {"id": item_id, "type": "message", "status": "in_progress",
                      "role": "assistant", "content": []}  # fmt: skip
    part: JSONDict = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    event("response.created", response={**response})
    event("response.in_progress", response={**response})
    event("response.output_item.added", output_index=0, item=item)
    event("response.content_part.added", item_id=item_id, output_index=0, content_index=0,
          part=part)  # fmt: skip
    for _ in range(DELTAS):
        event("response.output_text.delta", item_id=item_id, output_index=0, content_index=0,
              delta=WORD, logprobs=[])  # fmt: skip
    text = WORD * DELTAS
    done_part = {**part, "text": text}
    done_item = {**item, "status": "completed", "content": [done_part]}
    event("response.output_text.done", item_id=item_id, output_index=0, content_index=0,
          text=text, logprobs=[])  # fmt: skip
    event("response.content_part.done", item_id=item_id, output_index=0, content_index=0,
          part=done_part)  # fmt: skip
    event("response.output_item.done", output_index=0, item=done_item)
    final = {**response, "status": "completed", "completed_at": response["created_at"] + 1,
             "output": [done_item],
             "usage": {"input_tokens": 20, "input_tokens_details": {"cached_tokens": 0},
                       "output_tokens": DELTAS, "output_tokens_details": {"reasoning_tokens": 0},
                       "total_tokens": 20 + DELTAS}}  # fmt: skip
    event("response.completed", response=final)
    inputs = [
        {"type": "message", "id": f"msg_{os.urandom(12).hex()}", "role": "developer",
         "content": [{"type": "input_text", "text": "Be brief."}]},
        {"type": "message", "id": f"msg_{os.urandom(12).hex()}", "role": "user",
         "content": [{"type": "input_text", "text": "Say something long."}]},
    ]  # fmt: skip
    return StoredResponse(response=final, input_items=inputs, events=events)


def _pids_cpu(pids: list[int]) -> float:
    """Seconds of CPU of these (single-threaded) processes, from schedstat (ns)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(FileNotFoundError):  # a backend that exited
            total += int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])
    return total / 1e9


def _postgres_pids(postmaster: int) -> list[int]:
    children = Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split()
    return [postmaster, *map(int, children)]


async def _round(
    store: Store, saves: int, start: int, db_cpu: Callable[[], float]
) -> tuple[float, float, float]:
    # New responses sharing one event log: a heap of 2000 whole logs would make every GC pass
    # far costlier than on a server, which holds only its in-flight streams.
    template = streamed_record(start)
    records = [
        StoredResponse({**template.response, "id": f"{template.id}_{n}"},
                       template.input_items, template.events)
        for n in range(saves)
    ]  # fmt: skip
    gc.collect()
    cpu0, db0 = time.process_time(), db_cpu()
    for rec in records:
        await store.save_response(rec)
    cpu1, db1 = time.process_time(), db_cpu()
    for rec in records[: saves // 4]:
        await store.get_events(rec.id, starting_after=None)
    cpu2 = time.process_time()
    return (cpu1 - cpu0) / saves, (db1 - db0) / saves, (cpu2 - cpu1) / (saves // 4)


async def bench(
    name: str, store: Store, saves: int, rounds: int, db_cpu: Callable[[], float]
) -> None:
    await store.open()
    try:
        await _round(store, max(saves // 10, 50), 10_000_000, db_cpu)  # warm-up
        results = [await _round(store, saves, r * saves, db_cpu) for r in range(rounds)]
    finally:
        await store.close()
    cpu, db, replay = (statistics.median(col) * 1e6 for col in zip(*results, strict=True))
    per_round = ", ".join(f"{r[0] * 1e6:.0f}" for r in results)
    db_text = f"  db {db:6.0f} µs" if name == "postgres" else ""
    print(f"{name:9} save: cpu {cpu:6.0f} µs{db_text}  | replay cpu {replay:6.0f} µs"
          f"  (save cpu per round: {per_round})")  # fmt: skip


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--saves", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--stores", default="sqlite,postgres")
    args = parser.parse_args()
    sample = streamed_record(0)
    print(f"record: {len(sample.events)} events, {len(sample.input_items)} items")
    kinds = args.stores.split(",")
    if "sqlite" in kinds:
        with tempfile.TemporaryDirectory() as tmp:
            store = SQLiteStore(Path(tmp) / "bench.db")
            await bench("sqlite", store, args.saves, args.rounds, lambda: 0.0)
    if "postgres" in kinds:
        server = start_postgres()
        try:
            pid = server.pid
            db_cpu = (lambda: _pids_cpu(_postgres_pids(pid))) if pid else (lambda: 0.0)
            await bench("postgres", PostgresStore(server.dsn), args.saves, args.rounds, db_cpu)
        finally:
            server.stop()


if __name__ == "__main__":
    asyncio.run(main())
