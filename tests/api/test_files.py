"""The Files API through the SDK: upload, list (purpose, pagination), retrieve, content,
delete, and the errors of the real API. On SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
import time

import httpx
import openai
import pytest
from openai import OpenAI

from tests.support.responsa_server import RunningResponsa


def test_upload_retrieve_content_delete(client_any_db: OpenAI) -> None:
    data = "Grüße\nThe answer is 42.\n".encode()
    uploaded = client_any_db.files.create(file=("notes.md", data, "text/markdown"),
                                          purpose="assistants")
    assert uploaded.id.startswith("file-") and uploaded.object == "file"
    assert (uploaded.filename, uploaded.bytes, uploaded.purpose, uploaded.status) == (
        "notes.md", len(data), "assistants", "processed")
    assert client_any_db.files.retrieve(uploaded.id) == uploaded
    assert client_any_db.files.content(uploaded.id).content == data
    deleted = client_any_db.files.delete(uploaded.id)
    assert (deleted.id, deleted.deleted) == (uploaded.id, True)
    with pytest.raises(openai.NotFoundError):
        client_any_db.files.retrieve(uploaded.id)
    with pytest.raises(openai.NotFoundError):
        client_any_db.files.content(uploaded.id)
    with pytest.raises(openai.NotFoundError):
        client_any_db.files.delete(uploaded.id)


def test_list_filters_by_purpose_and_pages(client_any_db: OpenAI) -> None:
    made = [client_any_db.files.create(file=(f"f{n}.txt", b"x", "text/plain"),
                                       purpose="user_data" if n % 2 else "batch").id
            for n in range(4)]
    batch = [f.id for f in client_any_db.files.list(purpose="batch")]
    assert made[0] in batch and made[2] in batch and made[1] not in batch
    page = client_any_db.files.list(purpose="user_data", limit=1, order="asc",
                                    after=made[1])
    assert [f.id for f in page.data] == [made[3]]
    newest = client_any_db.files.list(limit=2)
    assert [f.id for f in newest.data] == [made[3], made[2]] and newest.has_more
    expiring = client_any_db.files.create(file=("e.txt", b"x"), purpose="user_data",
                                          expires_after={"anchor": "created_at",
                                                         "seconds": 3600})
    assert expiring.expires_at == expiring.created_at + 3600


def test_bad_uploads_get_the_error_envelope(server_any_db: RunningResponsa,
                                            client_any_db: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client_any_db.files.create(file=("a.txt", b"x"), purpose="nonsense")  # type: ignore[arg-type]
    error = caught.value.body
    assert isinstance(error, dict)
    assert (error["param"], error["code"]) == ("purpose", "invalid_value")
    missing = httpx.post(f"{server_any_db.base_url}/files", data={"purpose": "assistants"},
                         files={"other": ("a.txt", b"x")})
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "missing_required_parameter"
    assert missing.json()["error"]["param"] == "file"
    with pytest.raises(openai.BadRequestError) as caught:
        client_any_db.files.create(file=("a.txt", b"x"), purpose="batch",
                                   expires_after={"anchor": "created_at", "seconds": 10})
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["param"] == "expires_after.seconds"
    with pytest.raises(openai.BadRequestError):
        client_any_db.files.list(limit=0)


def test_an_expired_file_is_gone(server: RunningResponsa, client: OpenAI) -> None:
    expiring = client.files.create(file=("old.txt", b"old news"), purpose="user_data",
                                   expires_after={"anchor": "created_at", "seconds": 3600})
    kept = client.files.create(file=("kept.txt", b"kept"), purpose="user_data")
    store = client.vector_stores.create(name="with-expiring", file_ids=[expiring.id, kept.id])
    # An hour later, as far as the database knows.
    with sqlite3.connect(server.log_path.parent / "responsa.db") as db:
        db.execute("UPDATE files SET file = json_set(file, '$.expires_at', ?) WHERE id = ?",
                   (int(time.time()) - 1, expiring.id))
    assert expiring.id not in [f.id for f in client.files.list(purpose="user_data")]
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(expiring.id)
    with pytest.raises(openai.NotFoundError):
        client.files.content(expiring.id)
    assert [f.id for f in client.vector_stores.files.list(store.id)] == [kept.id]
    assert client.files.retrieve(kept.id).id == kept.id
