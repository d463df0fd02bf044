"""The hosted `image_generation` tool over a configured OpenAI-compatible images endpoint
(`POST {base_url}/images/generations`, `[image_generation]` in the config).

The model is offered one function, `image_generation({"prompt"})`. Each call streams an
`image_generation_call` item: `response.image_generation_call.in_progress`, `.generating`, one
`.partial_image` per partial the endpoint streams (asked for with `stream: true` and
`partial_images` when the tool sets `partial_images` > 0), `.completed`; the finished item holds
the image as base64 `result`, with `revised_prompt`, `size`, `quality`, `background` and
`output_format` as the endpoint reported them. The model reads a short confirmation, never the
image itself.

With no endpoint configured a request declaring the tool is refused (400 naming the tool).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson

from responsa.config import ImageGenerationConfig, ProviderConfig
from responsa.errors import InvalidRequestError, ResponsaError, UpstreamProtocolError
from responsa.ids import new_id
from responsa.providers.http_upstream import HTTPUpstream
from responsa.tools.base import (
    HostedCall,
    HostedOutcome,
    OutputSink,
    ToolServices,
    failed_outcome,
    string_argument,
)
from responsa.tools.registry import FACTORIES, REPLAYS

JSONDict = dict[str, Any]

FUNCTION_NAME = "image_generation"
# Tool options the images endpoint takes under the same names.
_PASSED_OPTIONS = ("size", "quality", "background", "output_format", "output_compression",
                   "moderation")
# What the endpoint reports about the image and the item keeps.
_REPORTED = ("size", "quality", "background", "output_format")

_FUNCTION: JSONDict = {
    "type": "function",
    "name": FUNCTION_NAME,
    "description": "Generate an image from a text description; the user sees the image.",
    "parameters": {
        "type": "object",
        "properties": {"prompt": {"type": "string", "minLength": 1,
                                  "description": "A detailed description of the image."}},
        "required": ["prompt"],
        "additionalProperties": False,
    },
    # Not strict: strict schemas allow only a subset of JSON Schema, and `minLength` is what
    # keeps a small model on a grammar-constrained engine (llama.cpp) from sending "".
    "strict": False,
}


@dataclass(frozen=True, slots=True)
class PartialImage:
    b64: str
    index: int
    reported: JSONDict  # size, quality, … when the endpoint says


@dataclass(frozen=True, slots=True)
class FinalImage:
    b64: str
    revised_prompt: str | None
    reported: JSONDict


class ImagesEndpoint:
    """An OpenAI-compatible `/images/generations` endpoint."""

    def __init__(self, config: ImageGenerationConfig) -> None:
        self.model = config.model
        headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        self._http = HTTPUpstream(
            ProviderConfig(name="image_generation", base_url=config.base_url,
                           timeout=config.timeout, connect_timeout=min(config.timeout, 10.0)),
            base_url=config.base_url, headers=headers, context_markers=())

    async def generate(self, body: JSONDict) -> AsyncIterator[PartialImage | FinalImage]:
        """The partial images the endpoint streams (when `body` asks for a stream), then the
        final image. Raises `UpstreamError` when the endpoint fails."""
        async with self._http.exchange("images/generations", orjson.dumps(body)) as reply:
            if reply.content_type != "text/event-stream":  # not streamed: one JSON answer
                yield _final_from_json(await self._http.read(reply), self._http.provider)
                return
            async for payload in self._http.sse_payloads(reply):
                event = _json_object(payload, self._http.provider)
                kind = event.get("type")
                if kind == "image_generation.partial_image":
                    yield PartialImage(str(event.get("b64_json") or ""),
                                       int(event.get("partial_image_index") or 0),
                                       _reported(event))
                elif kind == "image_generation.completed":
                    yield FinalImage(_b64(event, self._http.provider),
                                     event.get("revised_prompt"), _reported(event))
                    return
        raise UpstreamProtocolError(self._http.provider, "the stream ended without an image")

    async def aclose(self) -> None:
        await self._http.aclose()


def _final_from_json(raw: bytes, provider: str) -> FinalImage:
    answer = _json_object(raw, provider)
    data = answer.get("data")
    if not isinstance(data, list) or not data or not isinstance(data[0], dict):
        raise UpstreamProtocolError(provider, "the answer has no image in `data`")
    return FinalImage(_b64(data[0], provider), data[0].get("revised_prompt"),
                      _reported(answer))


def _json_object(raw: bytes, provider: str) -> JSONDict:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise UpstreamProtocolError(provider, "unparseable answer") from exc
    if not isinstance(value, dict):
        raise UpstreamProtocolError(provider, "the answer is not a JSON object")
    return value


def _b64(image: JSONDict, provider: str) -> str:
    b64 = image.get("b64_json")
    if not isinstance(b64, str) or not b64:
        # A URL-only answer (DALL·E's default) cannot become the item's base64 `result`.
        raise UpstreamProtocolError(provider, "the answer has no base64 image (b64_json)")
    return b64


def _reported(source: JSONDict) -> JSONDict:
    return {key: source[key] for key in _REPORTED if source.get(key) is not None}


@dataclass(slots=True)
class ImageGenerationTool:
    endpoint: ImagesEndpoint
    options: JSONDict  # the request's tool object
    type: str = "image_generation"

    def functions(self) -> list[JSONDict]:
        return [_FUNCTION]

    def owns(self, name: str) -> bool:
        return name == FUNCTION_NAME

    async def prepare(self, history: list[JSONDict], sink: OutputSink) -> list[HostedCall]:
        return []

    async def call(self, call: HostedCall, sink: OutputSink) -> HostedOutcome:
        item: JSONDict = {"id": new_id("ig"), "type": "image_generation_call",
                          "status": "in_progress", "result": None}
        sink.open_item(dict(item))
        sink.item_event("response.image_generation_call.in_progress")
        prompt = string_argument(call.arguments, "prompt")
        if prompt is None:
            return failed_outcome(sink, item, 'The arguments must be a JSON object '
                                  '{"prompt": string} with a non-empty prompt.')
        sink.item_event("response.image_generation_call.generating")
        final: FinalImage | None = None
        try:
            async for image in self.endpoint.generate(self._body(prompt)):
                if isinstance(image, PartialImage):
                    sink.item_event("response.image_generation_call.partial_image",
                                    partial_image_b64=image.b64,
                                    partial_image_index=image.index, **image.reported)
                else:
                    final = image
        except ResponsaError as exc:
            return failed_outcome(sink, item, f"The image generation failed: {exc.message}")
        assert final is not None  # generate() ends in a final image or raises
        sink.item_event("response.image_generation_call.completed")
        done = {**item, "status": "completed", "result": final.b64,
                "revised_prompt": final.revised_prompt or prompt, **final.reported}
        sink.close_item(done)
        return HostedOutcome(done, "The image was generated and is shown to the user.")

    def _body(self, prompt: str) -> JSONDict:
        body: JSONDict = {"model": self.options.get("model") or self.endpoint.model,
                          "prompt": prompt, "n": 1}
        body.update({key: self.options[key] for key in _PASSED_OPTIONS
                     if self.options.get(key) is not None})
        partials = self.options.get("partial_images") or 0
        if partials > 0:
            body.update(stream=True, partial_images=partials)
        return body

    async def aclose(self) -> None:
        return None  # the endpoint is the application's, shared by all responses


def image_generation_factory(tool: JSONDict, index: int,
                             services: ToolServices) -> ImageGenerationTool:
    if services.images is None:
        raise InvalidRequestError(
            "Tools of type 'image_generation' are not available on this server: no images "
            "endpoint is configured ([image_generation] in its config).",
            param=f"tools[{index}].type", code="unsupported_value")
    return ImageGenerationTool(services.images, tool)


def replay(item: JSONDict) -> list[JSONDict]:
    """A stored image generation as the model saw it (the image itself stays out)."""
    done = item.get("status") == "completed"
    return [
        {"type": "function_call", "call_id": item["id"], "name": FUNCTION_NAME,
         "arguments": json.dumps({"prompt": item.get("revised_prompt") or ""})},
        {"type": "function_call_output", "call_id": item["id"],
         "output": ("The image was generated and is shown to the user." if done
                    else "The image generation failed.")},
    ]


FACTORIES["image_generation"] = image_generation_factory
REPLAYS["image_generation_call"] = replay
