"""Shared fixtures: real upstreams, real databases, and responsa as a real process.

- `llama`: llama.cpp's own server (xllamacpp) running a tiny model the suite generates;
- `scripted`: a chat-completions server that plays exact scripts for edge cases;
- `postgres_dsn`: a throwaway PostgreSQL cluster (or RESPONSA_TEST_POSTGRES_DSN);
- `server` / `client`: responsa on SQLite, driven by the official `openai` SDK;
- `server_any_db` / `client_any_db`: the same on SQLite and on PostgreSQL, for storage tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from openai import OpenAI

from tests.support.asgi import running
from tests.support.llama_server import LlamaServer, start_llama_server
from tests.support.postgres import start_postgres
from tests.support.responsa_server import RunningResponsa, serving
from tests.support.scripted_upstream import ScriptedUpstream
from tests.support.tiny_model import build_tiny_model

LLAMA_MODEL = "llama/tiny"


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("model") / "tiny.gguf")


@pytest.fixture(scope="session")
def llama(tiny_model: Path) -> Iterator[LlamaServer]:
    server = start_llama_server(tiny_model, alias="tiny")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def scripted() -> Iterator[ScriptedUpstream]:
    with running(ScriptedUpstream()) as upstream:
        yield upstream


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    server = start_postgres()
    try:
        yield server.dsn
    finally:
        server.stop()


def config_text(llama: LlamaServer, scripted: ScriptedUpstream, extra: str = "") -> str:
    """The suite's usual providers: the llama.cpp engine and the scripted upstream."""
    return f"""
embedded_engine = false
heartbeat_seconds = 0.5

[providers.llama]
base_url = "{llama.base_url}"
engine = "llama.cpp"
context_window = 8192

[providers.scripted]
base_url = "{scripted.base_url}"
timeout = 5
retry_backoff = 0.02
{extra}
"""


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, llama: LlamaServer,
           scripted: ScriptedUpstream) -> Iterator[RunningResponsa]:
    tmp = tmp_path_factory.mktemp("responsa-sqlite")
    with serving(tmp, config_text(llama, scripted)) as running:
        yield running


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def server_any_db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                  llama: LlamaServer, scripted: ScriptedUpstream) -> Iterator[RunningResponsa]:
    if request.param == "sqlite":
        yield request.getfixturevalue("server")
        return
    tmp = tmp_path_factory.mktemp("responsa-postgres")
    database = request.getfixturevalue("postgres_dsn")
    # Uploaded files' bytes: under this test run, not ./data (the PostgreSQL default).
    config = f'files_dir = "{tmp}/files"\n' + config_text(llama, scripted)
    with serving(tmp, config, database=database) as running:
        yield running


def sdk_client(server: RunningResponsa, **kwargs: object) -> OpenAI:
    # Strict validation: the SDK's own types must parse everything we send.
    return OpenAI(base_url=server.base_url, api_key="test-key", max_retries=0,
                  _strict_response_validation=True, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def client(server: RunningResponsa) -> OpenAI:
    return sdk_client(server)


@pytest.fixture
def client_any_db(server_any_db: RunningResponsa) -> OpenAI:
    return sdk_client(server_any_db)
