"""The Containers API through the SDK (`client.containers.*`): containers and their files as
the real API has them, pagination, expiry, and bad input as OpenAI's error envelope, on SQLite
and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest
from openai import OpenAI

from tests.conftest import sdk_client
from tests.support.containers import SandboxServer, sandbox_server
from tests.support.llama_server import LlamaServer
from tests.support.scripted_upstream import ScriptedUpstream


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres",
                                                                marks=pytest.mark.postgres)])
def sandboxed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
              llama: LlamaServer, scripted: ScriptedUpstream) -> Iterator[SandboxServer]:
    dsn = request.getfixturevalue("postgres_dsn") if request.param == "postgres" else None
    with sandbox_server(tmp_path_factory.mktemp("containers"), llama, scripted, dsn) as server:
        yield server


@pytest.fixture
def client(sandboxed: SandboxServer) -> OpenAI:
    return sdk_client(sandboxed.server)


def test_container_lifecycle(client: OpenAI, sandboxed: SandboxServer) -> None:
    created = client.containers.create(name="analysis", memory_limit="4g",
                                       expires_after={"anchor": "last_active_at", "minutes": 5})
    assert created.id.startswith("cntr_") and created.object == "container"
    assert created.status == "running" and created.name == "analysis"
    assert created.memory_limit == "4g"
    assert created.expires_after is not None and created.expires_after.minutes == 5
    assert created.expires_after.anchor == "last_active_at"
    assert created.last_active_at is not None and created.last_active_at >= created.created_at
    assert (sandboxed.data_dir / created.id).is_dir()
    default = client.containers.create(name="plain")
    assert default.expires_after is not None and default.expires_after.minutes == 20
    assert default.memory_limit == "1g"

    assert client.containers.retrieve(created.id).model_dump() == created.model_dump()
    client.containers.delete(created.id)
    assert not (sandboxed.data_dir / created.id).exists()
    with pytest.raises(openai.NotFoundError) as missing:
        client.containers.retrieve(created.id)
    assert missing.value.body["message"] == f"Container with id '{created.id}' not found."  # type: ignore[index]
    with pytest.raises(openai.NotFoundError):
        client.containers.delete(created.id)


def test_list_pages_and_filters_by_name(client: OpenAI) -> None:
    ids = [client.containers.create(name="paged").id for _ in range(3)]
    first = client.containers.list(limit=2, order="asc", name="paged")
    assert [c.id for c in first.data] == ids[:2] and first.has_more
    rest = client.containers.list(limit=2, order="asc", name="paged", after=ids[1])
    assert [c.id for c in rest.data] == ids[2:] and not rest.has_more
    newest = client.containers.list(limit=1, name="paged")  # desc by default
    assert [c.id for c in newest.data] == ids[-1:]
    assert all(c.name == "paged" for c in client.containers.list(name="paged", limit=100))


def test_files_upload_list_download_delete(client: OpenAI, sandboxed: SandboxServer) -> None:
    container = client.containers.create(name="files")
    uploaded = client.containers.files.create(container.id, file=("data.csv", b"a,b\n1,2\n"))
    assert uploaded.object == "container.file" and uploaded.id.startswith("cfile_")
    assert (uploaded.path, uploaded.bytes, uploaded.source) == ("/mnt/data/data.csv", 8, "user")
    assert uploaded.container_id == container.id
    assert (sandboxed.data_dir / container.id / "data.csv").read_bytes() == b"a,b\n1,2\n"
    # The same name again replaces the file and keeps its id.
    again = client.containers.files.create(container.id, file=("data.csv", b"a,b\n3,4\n5,6\n"))
    assert again.id == uploaded.id and again.bytes == 12
    other = client.containers.files.create(container.id, file=("dir/notes.txt", b"hi"))
    assert other.path == "/mnt/data/notes.txt"  # the upload's base name

    listed = client.containers.files.list(container.id, order="asc")
    assert [f.id for f in listed.data] == [uploaded.id, other.id]
    got = client.containers.files.retrieve(uploaded.id, container_id=container.id)
    assert got.path == "/mnt/data/data.csv" and got.bytes == 12
    content = client.containers.files.content.retrieve(uploaded.id, container_id=container.id)
    assert content.read() == b"a,b\n3,4\n5,6\n"

    client.containers.files.delete(uploaded.id, container_id=container.id)
    assert not (sandboxed.data_dir / container.id / "data.csv").exists()
    with pytest.raises(openai.NotFoundError):
        client.containers.files.retrieve(uploaded.id, container_id=container.id)
    with pytest.raises(openai.NotFoundError):
        client.containers.files.content.retrieve(uploaded.id, container_id=container.id)
    with pytest.raises(openai.NotFoundError):
        client.containers.files.list("cntr_missing")


def test_bad_input_is_refused_like_openai(client: OpenAI, sandboxed: SandboxServer) -> None:
    url = sandboxed.server.base_url
    cases = [
        ({}, "name", "missing_required_parameter"),
        ({"name": "x", "memory_limit": "2g"}, "memory_limit", "invalid_value"),
        ({"name": "x", "expires_after": {"anchor": "created_at", "minutes": 5}},
         "expires_after.anchor", "invalid_value"),
        ({"name": "x", "network_policy": {"type": "allowlist", "allowed_domains": ["a.b"]}},
         "network_policy", "unsupported_value"),
    ]
    for body, param, code in cases:
        reply = httpx.post(f"{url}/containers", json=body)
        assert reply.status_code == 400, body
        error = reply.json()["error"]
        assert (error["type"], error["param"], error["code"]) == (
            "invalid_request_error", param, code), error
    container = client.containers.create(name="refusals")
    # No Files API on this server: a file_id cannot be resolved.
    with pytest.raises(openai.BadRequestError) as by_id:
        client.containers.files.create(container.id, file_id="file-abc")
    assert by_id.value.body["param"] == "file_id"  # type: ignore[index]
    assert by_id.value.body["code"] == "invalid_value"  # type: ignore[index]
    reply = httpx.post(f"{url}/containers/{container.id}/files",
                       files={"other": ("x.txt", b"x")})
    assert reply.status_code == 400 and reply.json()["error"]["param"] == "file"
    assert httpx.get(f"{url}/containers?limit=0").json()["error"]["code"] == (
        "integer_below_min_value")


def test_idle_container_expires_and_frees_its_folder(client: OpenAI,
                                                     sandboxed: SandboxServer) -> None:
    container = client.containers.create(
        name="short", expires_after={"anchor": "last_active_at", "minutes": 1})
    client.containers.files.create(container.id, file=("keep.txt", b"x"))
    folder = sandboxed.data_dir / container.id
    assert (folder / "keep.txt").exists()
    sandboxed.idle_for(container.id, 30)
    assert client.containers.retrieve(container.id).status == "running"
    sandboxed.idle_for(container.id, 31)
    expired = client.containers.retrieve(container.id)
    assert expired.status == "expired"
    assert not folder.exists()
    with pytest.raises(openai.BadRequestError) as refused:
        client.containers.files.create(container.id, file=("more.txt", b"y"))
    assert refused.value.body["code"] == "container_expired"  # type: ignore[index]
    # Still listed, as the real API keeps listing expired containers.
    assert container.id in [c.id for c in client.containers.list(name="short", limit=100)]


def test_files_come_in_by_file_id(client: OpenAI) -> None:
    uploaded = client.files.create(file=("notes.txt", b"remember"), purpose="user_data")
    container = client.containers.create(name="by-id", file_ids=[uploaded.id])
    listed = client.containers.files.list(container.id)
    assert [(f.path, f.bytes, f.source) for f in listed] == [("/mnt/data/notes.txt", 8, "user")]
    added = client.containers.files.create(container.id, file_id=uploaded.id)  # replaces it
    assert added.id == listed.data[0].id
    content = client.containers.files.content.retrieve(added.id, container_id=container.id)
    assert content.read() == b"remember"
    with pytest.raises(openai.BadRequestError) as missing:
        client.containers.create(name="x", file_ids=[uploaded.id, "file-nope"])
    assert missing.value.body["param"] == "file_ids[1]"  # type: ignore[index]
    assert missing.value.body["message"] == "No such File object: file-nope"  # type: ignore[index]
