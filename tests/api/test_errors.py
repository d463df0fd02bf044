"""OpenAI's error envelope over HTTP: statuses, codes, params, request ids, authentication."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from tests.conftest import config_text
from tests.support.responsa_server import RunningResponsa, serving
from tests.support.scripted_upstream import ScriptedUpstream, text_script


def post(server: RunningResponsa, body: Any, path: str = "/responses") -> httpx.Response:
    return httpx.post(f"{server.base_url}{path}", json=body, timeout=10)


def test_envelope_has_all_four_keys(server: RunningResponsa) -> None:
    reply = post(server, {"model": "llama/tiny", "input": "x", "temperature": 3})
    assert reply.status_code == 400
    assert reply.headers["x-request-id"].startswith("req_")
    assert reply.json() == {"error": {
        "message": "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, "
                   "but got 3 instead.",
        "type": "invalid_request_error", "param": "temperature",
        "code": "decimal_above_max_value"}}


@pytest.mark.parametrize(("body", "code", "param"), [
    ({"model": "llama/tiny", "input": "x", "max_output_tokens": 10}, "integer_below_min_value",
     "max_output_tokens"),
    ({"model": "llama/tiny", "input": "x", "top_logprobs": 21}, "integer_above_max_value",
     "top_logprobs"),
    ({"model": "llama/tiny", "input": "x", "bogus": 1}, "unknown_parameter", "bogus"),
    ({"input": "x"}, "missing_required_parameter", "model"),
    ({"model": "llama/tiny", "input": "x", "metadata": {f"k{i}": "v" for i in range(17)}},
     "object_above_max_properties", "metadata"),
    ({"model": "nope/tiny", "input": "x"}, "model_not_found", "model"),
    ({"model": "unrouted", "input": "x"}, "model_not_found", "model"),
    ({"model": "llama/tiny", "input": "x", "previous_response_id": "resp_missing"},
     "previous_response_not_found", "previous_response_id"),
    ({"model": "llama/tiny", "input": "x", "background": True, "store": False},
     "invalid_value", "background"),
    ({"model": "llama/tiny", "input": "x", "tools": [{"type": "programmatic_tool_calling"}]},
     "unsupported_value", "tools[0].type"),
    ({"model": "llama/tiny", "input": [{"type": "item_reference", "id": "msg_1"}]},
     None, "input"),
])
def test_validation_errors(server: RunningResponsa, body: dict[str, Any], code: str | None,
                           param: str) -> None:
    reply = post(server, body)
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert (error["code"], error["param"], error["type"]) == (code, param, "invalid_request_error")


def test_declared_web_search_is_accepted_and_not_offered(client: OpenAI,
                                                         scripted: ScriptedUpstream) -> None:
    scripted.scripts["websearch"] = text_script("ok")
    response = client.responses.create(
        model="scripted/websearch", input="x",
        tools=[{"type": "web_search", "external_web_access": False}])  # as Codex sends it
    assert response.status == "completed"
    assert response.tools[0].type == "web_search"
    assert "tools" not in scripted.last_request("websearch")


def test_malformed_json(server: RunningResponsa) -> None:
    reply = httpx.post(f"{server.base_url}/responses", content=b"{nope", timeout=10,
                       headers={"content-type": "application/json"})
    assert reply.status_code == 400
    assert reply.json()["error"]["type"] == "invalid_request_error"


def test_unmatched_function_call_output(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="llama/tiny", input=[
            {"type": "function_call_output", "call_id": "call_nope", "output": "x"}])
    assert caught.value.message.endswith(
        "No tool call found for function call output with call_id call_nope.")
    assert caught.value.param == "input[0]"


def test_function_call_without_output(client: OpenAI, scripted: ScriptedUpstream) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="llama/tiny", input=[
            {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"},
            {"role": "user", "content": "and?"}])
    assert "No tool output found for function call call_1." in caught.value.message


def test_unknown_routes_and_ids(server: RunningResponsa, client: OpenAI) -> None:
    reply = httpx.get(f"{server.base_url}/nothing-here", timeout=10)
    assert reply.status_code == 404
    assert reply.json()["error"]["message"] == "Invalid URL (GET /v1/nothing-here)"
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve("resp_nope")
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.retrieve("resp_nope", include=["not.a.thing"])  # type: ignore[list-item]
    assert caught.value.param == "include"


def test_models_are_listed_with_their_provider(client: OpenAI) -> None:
    models = {model.id: model for model in client.models.list()}
    assert "llama/tiny" in models
    assert models["llama/tiny"].owned_by == "llama"
    assert client.models.retrieve("llama/tiny").id == "llama/tiny"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("llama/absent")


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory, llama: Any,
                 scripted: ScriptedUpstream) -> Iterator[RunningResponsa]:
    tmp: Path = tmp_path_factory.mktemp("keyed")
    text = 'api_keys = ["sk-right-key-123"]\n' + config_text(llama, scripted)
    with serving(tmp, text) as server:
        yield server


def test_api_keys(keyed_server: RunningResponsa, scripted: ScriptedUpstream) -> None:
    scripted.scripts["keyed"] = text_script("ok")
    good = OpenAI(base_url=keyed_server.base_url, api_key="sk-right-key-123", max_retries=0)
    assert good.responses.create(model="scripted/keyed", input="x").status == "completed"
    bad = OpenAI(base_url=keyed_server.base_url, api_key="sk-wrong-key-456", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        bad.responses.create(model="scripted/keyed", input="x")
    assert caught.value.code == "invalid_api_key"
    assert "sk-wrong-key-456" not in caught.value.message
    missing = httpx.post(f"{keyed_server.base_url}/responses", json={}, timeout=10)
    assert missing.status_code == 401 and missing.json()["error"]["code"] is None
    assert httpx.get(f"{keyed_server.url}/health", timeout=10).status_code == 200
