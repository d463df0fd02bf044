"""`POST /v1/responses`: the request body, parsed and validated as the real API does it.

`parse_create_request(body)` is the only entry point the edge needs: it returns a typed
`CreateResponseRequest` or raises `InvalidRequestError` with OpenAI's exact code, param and
message for the first problem found (JSON → unknown keys → types → enums → ranges → rules that
span fields). References (`previous_response_id`, `conversation`, `call_id` pairing) need the
store and are the engine's to check.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from pydantic import Field, ValidationError

from responsa.errors import InvalidRequestError
from responsa.protocol.content import InputFile, InputImage, InputText
from responsa.protocol.items import InputItem, normalize_input
from responsa.protocol.text import FormatJsonObject, FormatJsonSchema, TextConfig
from responsa.protocol.tools import Tool, ToolChoice, check_tools
from responsa.protocol.validation_errors import INVALID_JSON_MESSAGE, first_error
from responsa.protocol.wire import (
    JSONDict,
    LookupId,
    Range,
    Str64,
    Str512,
    Tagged,
    Text,
    WireModel,
)

IncludeValue = Literal[
    "file_search_call.results",
    "web_search_call.results",
    "web_search_call.action.sources",
    "message.input_image.image_url",
    "computer_call_output.output.image_url",
    "code_interpreter_call.outputs",
    "reasoning.encrypted_content",
    "message.output_text.logprobs",
]

# ≤16 pairs, keys ≤64, values ≤512 strings [sdk docstring, spec prose].
Metadata = Annotated[dict[Str64, Str512], Field(max_length=16)]

# ---- nested parameter objects ----------------------------------------------------------------


class StreamOptions(WireModel):
    include_obfuscation: bool | None = None


class BackgroundOptions(WireModel):
    completion_window: Literal["soonest", "2h", "8h"] | None = None
    continuation_id: str | None = None


class ConversationRef(WireModel):
    id: str


class ContextManagement(WireModel):
    type: str  # "compaction" is the only one known; the SDK types it as any string
    compact_threshold: Annotated[int, Range(lo=1000)] | None = None


class ModerationPolicyMode(WireModel):
    mode: Literal["score", "block"]


class ModerationPolicy(WireModel):
    input: ModerationPolicyMode | None = None
    output: ModerationPolicyMode | None = None


class Moderation(WireModel):
    model: str
    policy: ModerationPolicy | None = None


class AccessPrograms(WireModel):
    cyber: Literal["standard", "daybreak_blue", "daybreak_red"] | None = None


class ImageOptions(WireModel):
    context_compression: Literal["auto", "enabled", "disabled"] | None = None


PromptVariable = Annotated[
    Text | InputText | InputImage | InputFile,
    Tagged("prompt_variable", expected="one of a string or an object"),
]


class Prompt(WireModel):
    id: str
    version: str | None = None
    variables: dict[str, PromptVariable] | None = None


class PromptCacheOptions(WireModel):
    comparison_response_id: str | None = None
    mode: Literal["implicit", "explicit"] | None = None
    prewarm: bool | None = None
    ttl: Literal["30m", "12h"] | None = None


ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]
ReasoningSummary = Literal["auto", "concise", "detailed"]


class ReasoningConfig(WireModel):
    effort: ReasoningEffort | None = None
    summary: ReasoningSummary | None = None
    generate_summary: ReasoningSummary | None = None  # deprecated alias of `summary`
    context: Literal["auto", "current_turn", "all_turns"] | None = None
    mode: str | None = None  # "standard" | "pro" | any string


Input = Annotated[
    Text | list[InputItem],
    Tagged("input", expected="one of a string or array of objects"),
]
Conversation = Annotated[
    str | ConversationRef, Tagged("conversation", expected="one of a string or an object")
]

# ---- the body --------------------------------------------------------------------------------


class CreateResponseRequest(WireModel):
    """The body of `POST /v1/responses`: SDK 3.54's 34 parameters (each may be absent or null),
    plus what real clients send beyond them: Codex's `client_metadata`, and the sampling
    penalties of the Open Responses spec (sent through `extra_body`)."""

    model: str | None = None
    input: Input | None = None
    instructions: str | None = None
    previous_response_id: LookupId | None = None
    conversation: Conversation | None = None
    include: list[IncludeValue] | None = None

    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    max_tool_calls: Annotated[int, Range(lo=0)] | None = None

    text: TextConfig | None = None
    reasoning: ReasoningConfig | None = None
    max_output_tokens: Annotated[int, Range(lo=16)] | None = None
    temperature: Annotated[float, Range(0, 2)] | None = None
    top_p: Annotated[float, Range(0, 1)] | None = None
    top_logprobs: Annotated[int, Range(0, 20)] | None = None
    presence_penalty: Annotated[float, Range(-2, 2)] | None = None
    frequency_penalty: Annotated[float, Range(-2, 2)] | None = None
    truncation: Literal["auto", "disabled"] | None = None
    context_management: Annotated[list[ContextManagement], Field(min_length=1)] | None = None

    stream: bool | None = None
    stream_options: StreamOptions | None = None
    background: bool | None = None
    background_options: BackgroundOptions | None = None
    store: bool | None = None

    metadata: Metadata | None = None
    client_metadata: dict[str, str] | None = None  # Codex, on every request
    user: str | None = None
    safety_identifier: Str64 | None = None
    prompt: Prompt | None = None
    prompt_cache_key: Str64 | None = None  # maxLength 64 in the Open Responses spec
    prompt_cache_options: PromptCacheOptions | None = None
    prompt_cache_retention: Literal["in_memory", "24h"] | None = None
    service_tier: (
        Literal["auto", "default", "flex", "scale", "priority", "fast", "ultrafast"] | None
    ) = None
    moderation: Moderation | None = None
    access_programs: AccessPrograms | None = None
    image: ImageOptions | None = None

    # ---- what the engine reads ---------------------------------------------------------------

    def input_items(self) -> list[JSONDict]:
        """`input` as canonical JSON items (see `normalize_input`); `[]` when absent."""
        return normalize_input(self.input)

    def canonical_body(self) -> JSONDict:
        """The parameters the client set, as JSON, with `input` in canonical form: for code
        that stores or forwards the request as a document."""
        body = self.model_dump(by_alias=True, exclude_unset=True, exclude={"input"})
        if "input" in self.model_fields_set:
            body["input"] = None if self.input is None else self.input_items()
        return body

    def tools_json(self) -> list[JSONDict]:
        """The tool declarations as sent (`[]` when absent)."""
        return [tool.to_json_dict() for tool in self.tools or ()]

    def tool_choice_json(self) -> str | JSONDict:
        """`tool_choice` as sent; `"auto"` when absent (also what the Response echoes)."""
        choice = self.tool_choice
        if choice is None:
            return "auto"
        return choice if isinstance(choice, str) else choice.to_json_dict()

    def text_format_json(self) -> JSONDict | None:
        """The structured-output format (`json_object` / `json_schema`), or None for text."""
        fmt = self.text.format if self.text is not None else None
        if isinstance(fmt, FormatJsonObject | FormatJsonSchema):
            return fmt.to_json_dict()
        return None

    @property
    def conversation_id(self) -> str | None:
        conversation = self.conversation
        return conversation.id if isinstance(conversation, ConversationRef) else conversation

    def includes(self, value: IncludeValue) -> bool:
        return value in (self.include or ())


# ---- parsing ---------------------------------------------------------------------------------


def parse_create_request(body: bytes) -> CreateResponseRequest:
    """Parse and validate a `POST /v1/responses` body, or raise `InvalidRequestError`."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidRequestError(INVALID_JSON_MESSAGE) from None
    return validate_create_request(data)


def validate_create_request(data: Any) -> CreateResponseRequest:
    """Validate an already-decoded body (the WebSocket `response.create` event carries one)."""
    try:
        request = CreateResponseRequest.model_validate(data)
    except ValidationError as exc:
        raise first_error(exc) from None
    check_request(request)
    return request


def check_request(request: CreateResponseRequest) -> None:
    """The rules that span fields, checked once every field is valid on its own."""
    if request.model is None and request.prompt is None:
        raise InvalidRequestError(
            "Missing required parameter: 'model'.",
            param="model",
            code="missing_required_parameter",
        )
    if request.stream_options is not None and request.stream is not True:
        raise InvalidRequestError(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            param="stream_options",
        )
    if request.conversation is not None and request.previous_response_id is not None:
        raise InvalidRequestError(
            "Mutually exclusive parameters: Ensure you are only providing one of: "
            "'previous_response_id' or 'conversation'.",
            param="conversation",
            code="mutually_exclusive_parameters",
        )
    if request.background is True and request.store is False:
        raise InvalidRequestError(
            "Background responses must be stored: 'background' requires 'store' to be true.",
            param="background",
            code="invalid_value",
        )
    _check_background_options(request)
    if request.tools or request.tool_choice is not None:
        check_tools(request.tools or [], request.tool_choice)


def _check_background_options(request: CreateResponseRequest) -> None:
    options = request.background_options
    if options is None or options.completion_window not in ("2h", "8h"):
        return
    if request.background is not True or request.stream is True:
        raise InvalidRequestError(
            f"Invalid 'background_options.completion_window': '{options.completion_window}' "
            "requires 'background' to be true and 'stream' to be false.",
            param="background_options.completion_window",
            code="invalid_value",
        )
