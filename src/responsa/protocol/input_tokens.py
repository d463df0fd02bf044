"""`POST /v1/responses/input_tokens`: the body, validated as a create's would be.

The parameters are the subset of a create that shapes what the model reads (SDK 3.54's twelve),
with the same field types, so every mistake gets the same OpenAI error as on `POST /responses`.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson
from pydantic import ValidationError

from responsa.errors import InvalidRequestError
from responsa.protocol.items import normalize_input
from responsa.protocol.request import Conversation, Input, ReasoningConfig
from responsa.protocol.text import TextConfig
from responsa.protocol.tools import Tool, ToolChoice, check_tools
from responsa.protocol.validation_errors import INVALID_JSON_MESSAGE, first_error
from responsa.protocol.wire import JSONDict, LookupId, WireModel


class InputTokensRequest(WireModel):
    """The body of `POST /v1/responses/input_tokens`; every parameter may be absent or null."""

    model: str | None = None
    input: Input | None = None
    instructions: str | None = None
    previous_response_id: LookupId | None = None
    conversation: Conversation | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    text: TextConfig | None = None
    reasoning: ReasoningConfig | None = None
    truncation: Literal["auto", "disabled"] | None = None
    personality: str | None = None  # "friendly" | "pragmatic" | any string; no effect here

    def canonical_body(self) -> JSONDict:
        """The parameters the client set, as JSON, with `input` as canonical items — the same
        shape `CreateResponseRequest.canonical_body` gives the engine."""
        body = self.model_dump(by_alias=True, exclude_unset=True, exclude={"input"})
        if "input" in self.model_fields_set:
            body["input"] = None if self.input is None else normalize_input(self.input)
        return body


def parse_input_tokens_request(body: bytes) -> InputTokensRequest:
    """Parse and validate a `POST /v1/responses/input_tokens` body, or raise
    `InvalidRequestError` with OpenAI's code, param and message."""
    try:
        data: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidRequestError(INVALID_JSON_MESSAGE) from None
    try:
        request = InputTokensRequest.model_validate(data)
    except ValidationError as exc:
        raise first_error(exc) from None
    if request.conversation is not None and request.previous_response_id is not None:
        raise InvalidRequestError(
            "Mutually exclusive parameters: Ensure you are only providing one of: "
            "'previous_response_id' or 'conversation'.",
            param="conversation",
            code="mutually_exclusive_parameters",
        )
    if request.tools or request.tool_choice is not None:
        check_tools(request.tools or [], request.tool_choice)
    return request
