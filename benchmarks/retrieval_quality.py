"""File search quality and speed: full-text only, vectors only, and hybrid, on a labelled set.

    .venv/bin/python -m benchmarks.retrieval_quality [--rounds 3]

A small corpus of short documents on distinct topics, and queries labelled with the one
document that answers them: some share its keywords, some only its meaning (paraphrases), some
name a rare term. Each document is ingested as a vector store file (one chunk each) into a
SQLite store with the embedded all-MiniLM-L6-v2 embedder, then every query is searched three
ways through `hybrid_search` (weights select the mode). Reported: hit@1 and MRR per mode,
embedding throughput (chunks/s) and the median latency of one hybrid search.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from responsa.retrieval.embedders import LocalEmbedder
from responsa.retrieval.search import hybrid_search
from responsa.retrieval.vectors import to_blob
from responsa.store.files import NewChunk
from responsa.store.sqlite import SQLiteStore

DOCUMENTS = {
    "volcano": "Volcanoes form where molten rock from the mantle reaches the surface as lava; "
               "Mount Etna in Sicily erupts several times a year.",
    "sourdough": "A sourdough starter is a culture of wild yeast and lactic acid bacteria fed "
                 "with flour and water; it leavens bread without commercial yeast.",
    "tides": "Ocean tides come from the gravitational pull of the Moon and the Sun on the "
             "oceans; most coasts see two high and two low waters a day.",
    "photosynthesis": "Plants turn sunlight, water and carbon dioxide into glucose and oxygen "
                      "in their chloroplasts, a process called photosynthesis.",
    "tcp": "TCP establishes a connection with a three-way handshake (SYN, SYN-ACK, ACK) and "
           "retransmits segments that are not acknowledged.",
    "vaccines": "Vaccines train the immune system by exposing it to a harmless piece of a "
                "pathogen so that antibodies are ready for a real infection.",
    "inflation": "Inflation is the rate at which the general level of prices rises; central "
                 "banks raise interest rates to slow it down.",
    "marathon": "A marathon is a long-distance race of 42.195 kilometres, run on roads; "
                "runners train for months to build endurance.",
    "espresso": "Espresso is coffee brewed by forcing hot water through finely ground beans at "
                "about nine bars of pressure, topped with crema.",
    "blackhole": "A black hole is a region of spacetime where gravity is so strong that "
                 "nothing, not even light, can escape beyond its event horizon.",
    "git": "Git records snapshots of a project as commits; branches are movable pointers and "
           "merging joins the histories of two branches.",
    "bees": "Honey bees collect nectar from flowers and turn it into honey in the hive; they "
            "communicate the location of food with a waggle dance.",
    "chess": "In chess, castling moves the king two squares towards a rook, which jumps over "
             "to the other side; it is allowed only if neither piece has moved.",
    "sleep": "During deep sleep the brain consolidates memories, and adults need roughly seven "
             "to nine hours of sleep a night to stay healthy.",
    "sql": "An SQL JOIN combines rows from two tables using a related column; a LEFT JOIN "
           "keeps every row of the left table even without a match.",
    "glaciers": "Glaciers are slow rivers of ice that form where snow accumulates faster than "
                "it melts; they carve U-shaped valleys as they move.",
    "quota": "Error QX-4471 means the account went over its storage allowance; delete old "
             "backups or ask for a larger plan.",
    "replication": "Set max_wal_senders to the number of standby servers plus one, and "
                   "wal_level to replica, before starting streaming replication.",
    "timeout": "Error ZB-0932 is raised when the upstream does not answer within the "
               "configured time; raise the limit or retry later.",
}

QUERIES = [  # (query, answer): keywords, paraphrases, rare terms
    ("lava eruption", "volcano"),
    ("Which mountain in Sicily is active?", "volcano"),
    ("How can I make bread rise without buying yeast?", "sourdough"),
    ("Why does the sea go in and out twice daily?", "tides"),
    ("How do leaves make food from light?", "photosynthesis"),
    ("SYN-ACK", "tcp"),
    ("What happens when a network connection is opened?", "tcp"),
    ("How does an injection protect you from getting sick?", "vaccines"),
    ("Why do prices keep going up?", "inflation"),
    ("How long is the running race from Marathon?", "marathon"),
    ("strong coffee made under pressure", "espresso"),
    ("Can light escape from a collapsed star?", "blackhole"),
    ("event horizon", "blackhole"),
    ("How do I combine the work of two branches in version control?", "git"),
    ("How do insects tell each other where flowers are?", "bees"),
    ("castling rules", "chess"),
    ("How many hours should an adult rest at night?", "sleep"),
    ("keep all rows from the first table when nothing matches", "sql"),
    ("What shapes valleys into a U?", "glaciers"),
    ("frozen rivers in the mountains", "glaciers"),
    ("central bank interest rates", "inflation"),
    ("antibodies", "vaccines"),
    ("waggle dance", "bees"),
    ("What does a plant release into the air?", "photosynthesis"),
    ("endurance training for a 42 km race", "marathon"),
    ("QX-4471", "quota"),  # identifiers the embedder has never seen
    ("ZB-0932", "timeout"),
    ("max_wal_senders", "replication"),
    ("I keep getting ZB-0932, what should I do?", "timeout"),
]

MODES = {"full-text": {"text_weight": 1.0, "embedding_weight": 0.0},
         "vectors": {"text_weight": 0.0, "embedding_weight": 1.0},
         "hybrid": {"text_weight": 1.0, "embedding_weight": 1.0}}


async def build(store: SQLiteStore, embedder: LocalEmbedder) -> tuple[dict[str, str], float]:
    await store.create_vector_store({"id": "vs_bench", "created_at": 0})
    names = list(DOCUMENTS)
    started = time.perf_counter()
    vectors = await embedder.embed([DOCUMENTS[name] for name in names])
    rate = len(names) / (time.perf_counter() - started)
    for name, vector in zip(names, vectors, strict=True):
        await store.create_file({"id": f"file-{name}", "purpose": "assistants",
                                 "filename": f"{name}.txt"})
        item = {"id": f"file-{name}", "status": "in_progress", "usage_bytes": 0}
        await store.add_vector_store_files("vs_bench", [item])
        await store.finish_vector_store_file("vs_bench", f"file-{name}", {
            "status": "completed"}, [NewChunk(DOCUMENTS[name], to_blob(vector))])
    return {f"file-{name}": name for name in names}, rate


async def evaluate(rounds: int) -> None:
    embedder = LocalEmbedder()
    await embedder.embed(["warm up"])  # the model loads once, not inside a measurement
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "bench.db")
        await store.open()
        try:
            names, rate = await build(store, embedder)
            print(f"{len(DOCUMENTS)} documents, {len(QUERIES)} queries; "
                  f"embedding {rate:.0f} chunks/s")
            for mode, weights in MODES.items():
                ranks = []
                for query, answer in QUERIES:
                    hits = await hybrid_search(store, embedder, ["vs_bench"], [query],
                                               max_results=len(DOCUMENTS),
                                               ranking_options={"hybrid_search": weights})
                    found = [names[hit.file_id] for hit in hits]
                    ranks.append(found.index(answer) + 1 if answer in found else None)
                hit1 = sum(rank == 1 for rank in ranks) / len(ranks)
                mrr = sum(1 / rank for rank in ranks if rank) / len(ranks)
                print(f"  {mode:<10} hit@1 {hit1:.2f}  MRR {mrr:.2f}")
            latencies = []
            for _ in range(rounds):
                for query, _answer in QUERIES:
                    started = time.perf_counter()
                    await hybrid_search(store, embedder, ["vs_bench"], [query], max_results=5)
                    latencies.append(time.perf_counter() - started)
            print(f"  hybrid search: median {statistics.median(latencies) * 1000:.1f} ms "
                  f"(embedding the query included)")
        finally:
            await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    asyncio.run(evaluate(parser.parse_args().rounds))


if __name__ == "__main__":
    main()
