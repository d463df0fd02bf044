"""The hosted `image_generation` tool through the SDK, over a local OpenAI-compatible images
endpoint (no image model runs here: tests/support/tool_backends.py speaks the documented
`/v1/images/generations` shape, JSON and streamed partials)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai import OpenAI

from tests.conftest import LLAMA_MODEL, config_text, sdk_client
from tests.support.asgi import running
from tests.support.llama_server import LlamaServer
from tests.support.responsa_server import RunningResponsa, serving
from tests.support.scripted_upstream import Script, ScriptedUpstream, chunk, text_script
from tests.support.sdk import streamed_events
from tests.support.tool_backends import ImagesEndpoint, tiny_png


@pytest.fixture(scope="module")
def images() -> Iterator[ImagesEndpoint]:
    with running(ImagesEndpoint()) as server:
        yield server


@pytest.fixture(scope="module", params=["sqlite"])  # some tests: both databases
def drawing_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                   llama: LlamaServer, scripted: ScriptedUpstream,
                   images: ImagesEndpoint) -> Iterator[RunningResponsa]:
    """On SQLite, or PostgreSQL for the test that replays a stored call."""
    database = (request.getfixturevalue("postgres_dsn")
                if request.param == "postgres" else None)
    extra = (f'\n[image_generation]\nbase_url = "{images.url}/v1"\nmodel = "local-image"\n'
             'api_key_env = "RESPONSA_TEST_IMAGES_KEY"\n')
    with serving(tmp_path_factory.mktemp("images"),
                 config_text(llama, scripted, extra), database=database) as server:
        yield server


@pytest.fixture
def drawing(drawing_server: RunningResponsa, images: ImagesEndpoint) -> OpenAI:
    images.requests.clear()
    images.status = 200
    return sdk_client(drawing_server)


def draw_call(prompt: str) -> Script:
    return Script([chunk({"role": "assistant", "tool_calls": [{
        "index": 0, "id": "call_ig", "type": "function",
        "function": {"name": "image_generation", "arguments": json.dumps({"prompt": prompt})}}]}),
        chunk(finish="tool_calls")])


def of_item(events: list[dict[str, Any]], item_id: str) -> list[dict[str, Any]]:
    return [e for e in events if e.get("item_id") == item_id
            or e.get("item", {}).get("id") == item_id]


def test_streamed_partials_and_the_final_image(drawing: OpenAI, scripted: ScriptedUpstream,
                                               images: ImagesEndpoint) -> None:
    model = scripted.play(draw_call("a red fox"), text_script("Here is your fox."))
    events = streamed_events(drawing, model=model, input="Draw a red fox",
                             tools=[{"type": "image_generation", "partial_images": 2,
                                     "size": "1024x1536", "quality": "low"}])
    response = events[-1]["response"]
    assert response["status"] == "completed"
    call, message = response["output"]
    assert message["type"] == "message"
    assert call == {"id": call["id"], "type": "image_generation_call", "status": "completed",
                    "result": tiny_png(255), "revised_prompt": "A picture of a red fox",
                    "size": "1024x1536", "quality": "low", "background": "opaque",
                    "output_format": "png"}
    own = of_item(events, call["id"])
    assert [e["type"] for e in own] == [
        "response.output_item.added", "response.image_generation_call.in_progress",
        "response.image_generation_call.generating",
        "response.image_generation_call.partial_image",
        "response.image_generation_call.partial_image",
        "response.image_generation_call.completed", "response.output_item.done"]
    assert own[0]["item"]["status"] == "in_progress" and own[0]["item"]["result"] is None
    partials = own[3:5]
    assert [(p["partial_image_index"], p["partial_image_b64"]) for p in partials] == [
        (0, tiny_png(0)), (1, tiny_png(60))]
    [sent] = images.requests
    assert sent.body == {"model": "local-image", "prompt": "a red fox", "n": 1,
                         "size": "1024x1536", "quality": "low", "stream": True,
                         "partial_images": 2}
    told = scripted.last_request(model)["messages"][-1]
    assert told == {"role": "tool", "tool_call_id": "call_ig",
                    "content": "The image was generated and is shown to the user."}


def test_llama_model_generates_an_image(drawing: OpenAI, images: ImagesEndpoint) -> None:
    response = drawing.responses.create(model=LLAMA_MODEL, input="Draw a cat",
                                        tools=[{"type": "image_generation"}],
                                        max_output_tokens=200)
    assert response.status == "completed"
    calls = [item for item in response.output if item.type == "image_generation_call"]
    assert len(calls) == 1 and calls[0].status == "completed"
    assert calls[0].result == tiny_png(255)
    [sent] = images.requests
    assert "stream" not in sent.body  # no partials asked: one JSON answer
    assert calls[0].revised_prompt == f"A picture of {sent.body['prompt']}"
    assert response.output[-1].type == "message"


def test_endpoint_failure_fails_the_call_not_the_response(
        drawing: OpenAI, scripted: ScriptedUpstream, images: ImagesEndpoint) -> None:
    images.status = 500
    model = scripted.play(draw_call("a fox"), text_script("Sorry."))
    events = streamed_events(drawing, model=model, input="x",
                             tools=[{"type": "image_generation"}])
    call = events[-1]["response"]["output"][0]
    assert events[-1]["type"] == "response.completed"
    assert call["status"] == "failed" and call["result"] is None
    assert "response.image_generation_call.completed" not in [e["type"] for e in events]
    told = scripted.last_request(model)["messages"][-1]["content"]
    assert told.startswith("The image generation failed:") and "overloaded" in told


@pytest.mark.parametrize("drawing_server", ["sqlite", "postgres"], indirect=True)
def test_stored_image_call_replays_without_the_image(
        drawing: OpenAI, scripted: ScriptedUpstream) -> None:
    model = scripted.play(draw_call("a boat"), text_script("Done."), text_script("Blue."))
    first = drawing.responses.create(model=model, input="Draw a boat",
                                     tools=[{"type": "image_generation"}])
    drawing.responses.create(model=model, input="What colour?", previous_response_id=first.id)
    messages = scripted.last_request(model)["messages"]
    call = next(m for m in messages if m.get("tool_calls"))
    assert call["tool_calls"][0]["function"] == {
        "name": "image_generation", "arguments": '{"prompt": "A picture of a boat"}'}
    output = next(m for m in messages if m["role"] == "tool")
    assert output["content"] == "The image was generated and is shown to the user."


def test_without_an_endpoint_the_tool_is_refused(client: OpenAI,
                                                 scripted: ScriptedUpstream) -> None:
    model = scripted.play(text_script("Hi."))
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model=model, input="x", tools=[
            {"type": "web_search"},  # not offered (no search backend), still counted
            {"type": "image_generation"}])
    error = caught.value.body
    assert isinstance(error, dict)
    assert error["param"] == "tools[1].type"
    assert "'image_generation' are not available" in error["message"]
