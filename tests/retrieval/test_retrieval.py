"""Retrieval units: chunking windows, rank fusion, attribute filters, text extraction, and the
two embedders (the local model's sense of similarity; an /v1/embeddings endpoint's answers)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiohttp import web

from responsa.config import ConfigError, EmbeddingsConfig, load_settings
from responsa.errors import UpstreamProtocolError
from responsa.retrieval.chunker import chunk_text, count_tokens
from responsa.retrieval.embedders import EndpointEmbedder, LocalEmbedder
from responsa.retrieval.extract import ExtractionError, extract_text
from responsa.retrieval.filters import matches
from responsa.retrieval.fusion import fuse
from tests.support.documents import minimal_pdf


def test_chunks_are_overlapping_slices_of_the_text() -> None:
    text = " ".join(f"w{n}" for n in range(25)) + "."
    chunks = chunk_text(text, max_tokens=10, overlap_tokens=4)
    assert [count_tokens(c) for c in chunks] == [10, 10, 10, 8]
    assert chunks[0] == "w0 w1 w2 w3 w4 w5 w6 w7 w8 w9"
    assert chunks[1].startswith("w6 ") and chunks[-1].endswith("w24.")
    assert all(c in text for c in chunks)
    assert chunk_text("short text", 800, 400) == ["short text"]
    assert chunk_text("  \n ", 800, 400) == []
    with pytest.raises(ValueError):
        chunk_text("x", 10, 10)


def test_fusion_rewards_agreement_and_honours_weights() -> None:
    fused = dict(fuse([(["a", "b", "c"], 1.0), (["b", "d"], 1.0)]))
    assert max(fused, key=fused.__getitem__) == "b"  # ranked by both
    assert fused["a"] == pytest.approx(0.5)  # first in one list of two
    assert set(fused) == {"a", "b", "c", "d"}
    text_only = fuse([(["a"], 1.0), (["b"], 0.0)])
    assert text_only[0] == ("a", pytest.approx(1.0))
    assert fuse([(["x", "y"], 1.0)])[0] == ("x", pytest.approx(1.0))


@pytest.mark.parametrize(("filters", "expected"), [
    (None, True),
    ({"type": "eq", "key": "lang", "value": "en"}, True),
    ({"type": "ne", "key": "lang", "value": "en"}, False),
    ({"type": "ne", "key": "missing", "value": "x"}, True),
    ({"type": "gt", "key": "year", "value": 2020}, True),
    ({"type": "lte", "key": "year", "value": 2020}, False),
    ({"type": "gt", "key": "lang", "value": 3}, False),  # a string is not a number
    ({"type": "eq", "key": "draft", "value": False}, True),
    ({"type": "eq", "key": "year", "value": True}, False),  # a bool is not a number
    ({"type": "in", "key": "lang", "value": ["fr", "en"]}, True),
    ({"type": "nin", "key": "lang", "value": ["fr", "en"]}, False),
    ({"type": "and", "filters": [{"type": "eq", "key": "lang", "value": "en"},
                                 {"type": "lt", "key": "year", "value": 2000}]}, False),
    ({"type": "or", "filters": [{"type": "eq", "key": "lang", "value": "de"},
                                {"type": "gte", "key": "year", "value": 2024}]}, True),
])
def test_filters(filters: dict[str, Any] | None, expected: bool) -> None:
    assert matches(filters, {"lang": "en", "year": 2024, "draft": False}) is expected


def test_extraction() -> None:
    assert extract_text("\ufeffHéllo".encode(), "a.md") == "Héllo"
    assert extract_text(b'{"k": 1}', "a.json") == '{"k": 1}'
    assert "glaciers" in extract_text(minimal_pdf("About glaciers"), "doc.pdf")
    with pytest.raises(ExtractionError) as binary:
        extract_text(b"\x00\x01", "a.bin")
    assert binary.value.code == "unsupported_file"
    with pytest.raises(ExtractionError) as broken:
        extract_text(b"%PDF-1.4 nothing else", "broken.pdf")
    assert broken.value.code == "invalid_file"


async def test_local_embedder_ranks_similar_sentences_higher() -> None:
    embedder = LocalEmbedder()
    vectors = await embedder.embed([
        "A man is eating food.", "A man is eating a piece of bread.",
        "The girl is carrying a baby.", "PostgreSQL stores rows in heap pages."])
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > 0.6  # the reference model gives 0.755 for this pair
    assert similarity[0, 1] > similarity[0, 2] and similarity[0, 1] > similarity[0, 3]
    again = await embedder.embed(["A man is eating food."])
    assert np.allclose(again[0], vectors[0], atol=1e-5)  # padding does not change a sentence


@pytest.fixture
async def embeddings_endpoint() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """A stand-in /v1/embeddings: 2-d vectors from the text length, answered out of order."""
    seen: list[dict[str, Any]] = []

    async def embeddings(request: web.Request) -> web.Response:
        body = await request.json()
        seen.append({"body": body, "auth": request.headers.get("Authorization")})
        if body["input"] == ["broken"]:
            return web.json_response({"data": [{"index": 0, "embedding": "nope"}]})
        rows = [{"object": "embedding", "index": n, "embedding": [float(len(text)), 1.0]}
                for n, text in enumerate(body["input"])]
        return web.json_response({"object": "list", "data": rows[::-1]})

    app = web.Application()
    app.router.add_post("/v1/embeddings", embeddings)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/v1", seen
    finally:
        await runner.cleanup()


async def test_endpoint_embedder_batches_orders_and_normalizes(
        embeddings_endpoint: tuple[str, list[dict[str, Any]]]) -> None:
    url, seen = embeddings_endpoint
    embedder = EndpointEmbedder(EmbeddingsConfig(provider="endpoint", base_url=url,
                                                 model="m", api_key="sk-x", batch_size=2))
    try:
        vectors = await embedder.embed(["a", "bbb", "cc"])
        assert [s["body"] for s in seen] == [{"model": "m", "input": ["a", "bbb"]},
                                             {"model": "m", "input": ["cc"]}]
        assert seen[0]["auth"] == "Bearer sk-x"
        expected = np.array([[1, 1], [3, 1], [2, 1]], np.float32)
        expected /= np.linalg.norm(expected, axis=1, keepdims=True)
        assert np.allclose(vectors, expected)
        with pytest.raises(UpstreamProtocolError):
            await embedder.embed(["broken"])
    finally:
        await embedder.aclose()


def test_embeddings_config(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('files_dir = "/srv/files"\n[embeddings]\nprovider = "endpoint"\n'
                      'base_url = "http://e/v1"\nmodel = "m"\napi_key_env = "EMB_KEY"\n')
    settings = load_settings(str(config), environ={"EMB_KEY": "sk-1"})
    assert settings.files_dir == "/srv/files"
    assert (settings.embeddings.provider, settings.embeddings.base_url,
            settings.embeddings.model, settings.embeddings.api_key) == (
        "endpoint", "http://e/v1", "m", "sk-1")
    assert load_settings(None, environ={}).embeddings.provider == "local"
    for table, message in (('provider = "endpoint"', "needs base_url and model"),
                           ('provider = "torch"', "must be one of"),
                           ('dims = 3', "unknown setting")):
        config.write_text(f"[embeddings]\n{table}\n")
        with pytest.raises(ConfigError, match=message):
            load_settings(str(config), environ={})
