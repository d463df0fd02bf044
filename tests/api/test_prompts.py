"""Prompt templates: responsa's `/v1/prompts` API and `prompt` on create, through the official
SDK on SQLite and PostgreSQL; and the `responsa prompts` CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import openai
import pytest
from openai import OpenAI

from tests.support.responsa_server import RunningResponsa
from tests.support.scripted_upstream import ScriptedUpstream, text_script

IMAGE = "data:image/png;base64,iVBORw0KGgo="


def create_prompt(client: OpenAI, **body: Any) -> dict[str, Any]:
    prompt: dict[str, Any] = client.post("/prompts", body=body, cast_to=object)
    return prompt


def add_version(client: OpenAI, prompt_id: str, **body: Any) -> dict[str, Any]:
    prompt: dict[str, Any] = client.post(f"/prompts/{prompt_id}/versions", body=body,
                                         cast_to=object)
    return prompt


def get_prompt(client: OpenAI, prompt_id: str, **params: str) -> dict[str, Any]:
    prompt: dict[str, Any] = client.get(f"/prompts/{prompt_id}", cast_to=object,
                                        options={"params": params})
    return prompt


def test_create_version_retrieve_list_delete(client_any_db: OpenAI) -> None:
    client = client_any_db
    first = create_prompt(client, instructions="Be {{tone}}.", model="scripted/x",
                          metadata={"team": "docs"}, input="About {{topic}}")
    assert first["id"].startswith("pmpt_") and first["object"] == "prompt"
    assert first["version"] == "1" and first["created_at"] > 0
    assert first["instructions"] == "Be {{tone}}." and first["model"] == "scripted/x"
    assert first["metadata"] == {"team": "docs"}
    assert first["input"] == [{"type": "message", "role": "user",
                               "content": [{"type": "input_text", "text": "About {{topic}}"}]}]
    assert get_prompt(client, first["id"]) == first

    second = add_version(client, first["id"], instructions="Be {{tone}}, briefly.")
    assert (second["id"], second["version"]) == (first["id"], "2")
    assert second["input"] is None and second["model"] is None and second["metadata"] == {}
    assert get_prompt(client, first["id"]) == second
    assert get_prompt(client, first["id"], version="1") == first

    other = create_prompt(client, instructions="Other")
    listed = client.get("/prompts", cast_to=object, options={"params": {"limit": 100}})
    assert isinstance(listed, dict) and listed["object"] == "list"
    ids = [p["id"] for p in listed["data"]]
    assert ids.index(other["id"]) < ids.index(first["id"])  # newest first by default
    assert next(p for p in listed["data"] if p["id"] == first["id"])["version"] == "2"
    asc = client.get("/prompts", cast_to=object, options={"params": {
        "order": "asc", "after": first["id"], "limit": 100}})
    assert isinstance(asc, dict) and asc["data"][0]["id"] == other["id"]

    deleted = client.delete(f"/prompts/{first['id']}", cast_to=object)
    assert deleted == {"id": first["id"], "object": "prompt.deleted", "deleted": True}
    with pytest.raises(openai.NotFoundError) as caught:
        get_prompt(client, first["id"])
    assert caught.value.message.endswith(f"Prompt with id '{first['id']}' not found.")
    with pytest.raises(openai.NotFoundError):
        client.delete(f"/prompts/{first['id']}", cast_to=object)
    with pytest.raises(openai.NotFoundError):
        add_version(client, first["id"], instructions="x")
    with pytest.raises(openai.NotFoundError) as caught:
        get_prompt(client, other["id"], version="7")
    assert "has no version '7'" in caught.value.message


def test_bad_template_bodies(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        create_prompt(client, instructions=5)
    assert caught.value.code == "invalid_type"
    assert caught.value.param == "instructions"  # type: ignore[attr-defined]
    with pytest.raises(openai.BadRequestError) as caught:
        create_prompt(client, instructions="x", unknown=1)
    assert caught.value.code == "unknown_parameter"
    with pytest.raises(openai.BadRequestError) as caught:
        create_prompt(client, input=[{"role": "wizard", "content": "x"}])
    assert caught.value.param.startswith("input[0]")  # type: ignore[attr-defined]


def test_prompt_on_create_substitutes_variables(client_any_db: OpenAI,
                                                 scripted: ScriptedUpstream) -> None:
    model = scripted.play(text_script("Bonjour"))
    prompt = create_prompt(
        client_any_db, model=model, instructions="You are {{ role }} in {{city}}.",
        input=[{"role": "user", "content": [
            {"type": "input_text", "text": "Describe {{city}}:"},
            {"type": "input_text", "text": "{{photo}}"}]}])
    variables: dict[str, Any] = {
        "role": "a guide", "city": {"type": "input_text", "text": "Paris"},
        "photo": {"type": "input_image", "image_url": IMAGE, "detail": "low"},
        "unused": "ignored"}
    response = client_any_db.responses.create(
        prompt={"id": prompt["id"], "variables": variables}, input="And the food?")
    assert response.status == "completed" and response.output_text == "Bonjour"
    assert response.model == model
    assert response.prompt is not None and response.prompt.id == prompt["id"]
    assert response.prompt.variables is not None
    assert response.prompt.variables["role"] == "a guide"
    assert response.instructions == "You are a guide in Paris."
    messages = scripted.last_request(model)["messages"]
    assert messages == [
        {"role": "system", "content": "You are a guide in Paris."},
        {"role": "user", "content": [
            {"type": "text", "text": "Describe Paris:"},
            {"type": "image_url", "image_url": {"url": IMAGE, "detail": "low"}}]},
        {"role": "user", "content": "And the food?"},
    ]
    # The template's items are part of this response's input.
    items = client_any_db.responses.input_items.list(response.id, order="asc")
    assert len(items.data) == 2


def test_versions_request_instructions_and_model(client: OpenAI,
                                                 scripted: ScriptedUpstream) -> None:
    model = scripted.play(text_script("ok"))
    prompt = create_prompt(client, instructions="v1 for {{name}}")
    add_version(client, prompt["id"], instructions="v2 for {{name}}")
    ref = {"id": prompt["id"], "version": "1", "variables": {"name": "Ada"}}
    client.responses.create(model=model, prompt=ref, input="hi")  # type: ignore[arg-type]
    assert scripted.last_request(model)["messages"][0] == {
        "role": "system", "content": "v1 for Ada"}
    client.responses.create(model=model, prompt={"id": prompt["id"], "variables": {"name": "B"}},
                            input="hi")
    assert scripted.last_request(model)["messages"][0]["content"] == "v2 for B"
    # The request's own instructions win over the template's.
    client.responses.create(model=model, prompt={"id": prompt["id"], "variables": {}},
                            instructions="Mine", input="hi")
    assert scripted.last_request(model)["messages"][0]["content"] == "Mine"


def bad_request(client: OpenAI, **kwargs: Any) -> openai.BadRequestError:
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(**kwargs)
    return caught.value


def test_prompt_errors(client_any_db: OpenAI, scripted: ScriptedUpstream) -> None:
    model = scripted.play(text_script("never"))
    unknown = bad_request(client_any_db, model=model, prompt={"id": "pmpt_nope"}, input="hi")
    assert unknown.param == "prompt.id"  # type: ignore[attr-defined]
    assert unknown.message.endswith("Prompt with id 'pmpt_nope' not found.")

    prompt = create_prompt(client_any_db, instructions="Hello {{name}}",
                           input=[{"role": "user", "content": "Picture: {{photo}}"}])
    version = bad_request(client_any_db, model=model,
                          prompt={"id": prompt["id"], "version": "9"}, input="hi")
    assert version.param == "prompt.version"  # type: ignore[attr-defined]

    missing = bad_request(client_any_db, model=model, prompt={"id": prompt["id"]}, input="hi")
    assert missing.param == "prompt.variables.name"  # type: ignore[attr-defined]
    assert missing.code == "missing_required_parameter"

    image = {"type": "input_image", "image_url": IMAGE}
    inline_image = bad_request(client_any_db, model=model, prompt={
        "id": prompt["id"], "variables": {"name": "x", "photo": image}}, input="hi")
    assert inline_image.param == "prompt.variables.photo"  # type: ignore[attr-defined]

    no_model = bad_request(client_any_db, prompt={"id": prompt["id"], "variables": {
        "name": "x", "photo": "y"}}, input="hi")
    assert no_model.param == "model"  # type: ignore[attr-defined]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "responsa", "prompts", *args],
                          capture_output=True, text=True, timeout=60)


def test_cli_manages_prompts_a_server_uses(server: RunningResponsa, client: OpenAI,
                                           scripted: ScriptedUpstream) -> None:
    import json

    database = f"sqlite:///{Path(server.log_path).parent / 'responsa.db'}"
    model = scripted.play(text_script("done"))
    created = cli("create", "--database", database, "--instructions", "Speak {{lang}}.",
                  "--model", model, "--metadata", "owner=cli",
                  "--input", '[{"role": "user", "content": "Say {{word}}"}]')
    assert created.returncode == 0, created.stderr
    prompt = json.loads(created.stdout)
    assert prompt["version"] == "1" and prompt["metadata"] == {"owner": "cli"}

    second = cli("create", "--database", database, "--id", prompt["id"],
                 "--instructions", "Speak {{lang}} loudly.", "--model", model)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["version"] == "2"

    shown = cli("show", prompt["id"], "--version", "1", "--database", database)
    assert json.loads(shown.stdout) == prompt
    listed = cli("list", "--database", database)
    assert f"{prompt['id']}\tv2\t{model}" in listed.stdout.splitlines()

    # The running server sees what the CLI wrote.
    response = client.responses.create(
        prompt={"id": prompt["id"], "version": "1", "variables": {"lang": "French", "word": "oui"}})
    assert response.output_text == "done"
    assert scripted.last_request(model)["messages"] == [
        {"role": "system", "content": "Speak French."},
        {"role": "user", "content": "Say oui"}]

    bad = cli("create", "--database", database, "--instructions", "x", "--input", "{nope")
    assert bad.returncode == 2 and "not valid JSON" in bad.stderr
    deleted = cli("delete", prompt["id"], "--database", database)
    assert deleted.returncode == 0
    gone = cli("show", prompt["id"], "--database", database)
    assert gone.returncode == 1 and "not found" in gone.stderr
