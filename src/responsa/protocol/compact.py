"""`POST /v1/responses/compact`: the body, validated with the real API's errors.

`model` is a required key that may be null (then the model of `previous_response_id` is used).
Beyond SDK 3.54's parameters, what Codex sends to this endpoint (`tools`,
`parallel_tool_calls`, `reasoning`, `text`, `client_metadata`) is accepted and has no effect on
the summary.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson
from pydantic import ValidationError

from responsa.errors import InvalidRequestError
from responsa.protocol.items import normalize_input
from responsa.protocol.request import ImageOptions, Input, PromptCacheOptions, ReasoningConfig
from responsa.protocol.text import TextConfig
from responsa.protocol.tools import Tool
from responsa.protocol.validation_errors import INVALID_JSON_MESSAGE, first_error
from responsa.protocol.wire import JSONDict, LookupId, Str64, WireModel


class CompactRequest(WireModel):
    model: str | None
    input: Input | None = None
    instructions: str | None = None
    previous_response_id: LookupId | None = None
    prompt_cache_key: Str64 | None = None
    prompt_cache_options: PromptCacheOptions | None = None
    prompt_cache_retention: Literal["in_memory", "24h"] | None = None
    service_tier: Literal["auto", "default", "fast", "flex", "priority"] | None = None
    image: ImageOptions | None = None
    # Sent by Codex; accepted, no effect.
    tools: list[Tool] | None = None
    parallel_tool_calls: bool | None = None
    reasoning: ReasoningConfig | None = None
    text: TextConfig | None = None
    client_metadata: dict[str, str] | None = None

    def canonical_body(self) -> JSONDict:
        """The parameters the client set, with `input` as canonical items."""
        body = self.model_dump(by_alias=True, exclude_unset=True, exclude={"input"})
        if "input" in self.model_fields_set:
            body["input"] = None if self.input is None else normalize_input(self.input)
        return body


def parse_compact_request(body: bytes) -> CompactRequest:
    """Parse and validate a `POST /v1/responses/compact` body, or raise `InvalidRequestError`."""
    try:
        data: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidRequestError(INVALID_JSON_MESSAGE) from None
    try:
        request = CompactRequest.model_validate(data)
    except ValidationError as exc:
        raise first_error(exc) from None
    if request.model is None and request.previous_response_id is None:
        raise InvalidRequestError("Missing required parameter: 'model'.", param="model",
                                  code="missing_required_parameter")
    return request
