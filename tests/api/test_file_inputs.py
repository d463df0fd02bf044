"""Images and files given by the `file_id` of an upload (the Files API) reach the model inline,
in messages and in tool outputs, while the stored input keeps the ids as sent; an unknown file
is a 400 naming the part. Through the SDK, with the scripted chat upstream recording what the
model was sent."""

from __future__ import annotations

import base64

import openai
import pytest
from openai import OpenAI

from tests.support.scripted_upstream import ScriptedUpstream, text_script

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAE"
                       "hQGAhKmMIQAAAABJRU5ErkJggg==")
PNG_URL = "data:image/png;base64," + base64.b64encode(PNG).decode()


def test_message_parts_by_file_id_reach_the_model_inline(client: OpenAI,
                                                         scripted: ScriptedUpstream) -> None:
    image = client.files.create(file=("dot.png", PNG), purpose="vision")
    notes = client.files.create(file=("notes.txt", b"remember the milk"), purpose="user_data")
    model = scripted.play(text_script("Seen."))
    response = client.responses.create(model=model, input=[{"role": "user", "content": [
        {"type": "input_text", "text": "What is this?"},
        {"type": "input_image", "file_id": image.id, "detail": "low"},
        {"type": "input_file", "file_id": notes.id}]}])
    assert response.status == "completed"
    [message] = scripted.last_request(model)["messages"]
    assert message["content"][1:] == [
        {"type": "image_url", "image_url": {"url": PNG_URL, "detail": "low"}},
        {"type": "file", "file": {"file_data": "data:text/plain;base64,"
                                               + base64.b64encode(b"remember the milk").decode(),
                                  "filename": "notes.txt"}}]
    # Stored as sent: the ids, not the bytes.
    [stored] = client.responses.input_items.list(response.id).data
    assert [part.model_dump(exclude_none=True) for part in stored.content] == [  # type: ignore[union-attr]
        {"type": "input_text", "text": "What is this?"},
        {"type": "input_image", "file_id": image.id, "detail": "low"},
        {"type": "input_file", "file_id": notes.id}]
    # A file deleted since does not block the conversation: the model is told it is gone.
    client.files.delete(image.id)
    later = scripted.play(text_script("Ok."))
    client.responses.create(model=later, previous_response_id=response.id, input="And now?")
    earlier = scripted.last_request(later)["messages"][0]["content"]
    assert earlier[1] == {"type": "text", "text": f"[file {image.id} is no longer available]"}


def test_an_image_a_function_returned_follows_its_result(client: OpenAI,
                                                         scripted: ScriptedUpstream) -> None:
    image = client.files.create(file=("chart.png", PNG), purpose="vision")
    model = scripted.play(text_script("A dot."))
    client.responses.create(model=model, input=[
        {"type": "function_call", "call_id": "call_1", "name": "draw", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": [
            {"type": "input_text", "text": "drawn"},
            {"type": "input_image", "file_id": image.id}]}],
        tools=[{"type": "function", "name": "draw", "parameters": {"type": "object"}}])
    assistant, result, pictures = scripted.last_request(model)["messages"]
    assert assistant["tool_calls"][0]["id"] == "call_1"
    assert result == {"role": "tool", "tool_call_id": "call_1",
                      "content": "drawn [1 image(s), shown next]"}
    assert pictures["role"] == "user" and pictures["content"][1:] == [
        {"type": "image_url", "image_url": {"url": PNG_URL, "detail": "auto"}}]


def test_an_unknown_file_is_a_400_naming_the_part(client: OpenAI,
                                                  scripted: ScriptedUpstream) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model=scripted.play(text_script("x")), input=[
            {"role": "user", "content": [{"type": "input_text", "text": "hi"},
                                         {"type": "input_image", "file_id": "file-nope"}]}])
    assert caught.value.body == {  # type: ignore[comparison-overlap]
        "message": "No such File object: file-nope", "type": "invalid_request_error",
        "param": "input[0].content[1].file_id", "code": "invalid_value"}
