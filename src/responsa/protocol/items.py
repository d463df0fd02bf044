"""Input items (`input` as an array): the 31 `type`s of SDK 3.54, and their canonical form.

Parsing rules the official clients depend on:

- An item without `type` is a message (the Agents SDK sends `{"role": "user", "content": …}`);
  an object with only an `id` (and maybe `"type": "item_reference"`) references a stored item.
- Output items come back as input with their output-only fields: `id` and `status` on
  function calls and messages, `"content": null` next to `encrypted_content` on reasoning
  (Codex). Clients mint their own ids (`msg_<uuid>`, `fco_<uuid>`); any string is accepted.
- Message parts depend on the role: assistant messages hold `output_text`/`refusal`, the other
  roles `input_text`/`input_image`/`input_file` — as the real API insists.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from responsa.protocol.content import InputContent, OutputContent, ToolOutput
from responsa.protocol.text import FormatJsonSchema, FormatText
from responsa.protocol.tool_calls import (
    AdditionalTools,
    ApplyPatchCall,
    ApplyPatchCallOutput,
    Caller,
    CodeInterpreterCall,
    ComputerCall,
    ComputerCallOutput,
    FileSearchCall,
    ImageGenerationCall,
    LocalShellCall,
    LocalShellCallOutput,
    McpApprovalRequest,
    McpApprovalResponse,
    McpCall,
    McpListTools,
    Program,
    ProgramOutput,
    ShellCall,
    ShellCallOutput,
    ToolSearchCall,
    ToolSearchOutput,
    WebSearchCall,
)
from responsa.protocol.wire import (
    MAX_IMAGE_URL,
    CallId,
    ItemStatus,
    JSONDict,
    Name64,
    Tagged,
    Text,
    WireModel,
)

Phase = Literal["commentary", "final_answer"]

# ---- messages --------------------------------------------------------------------------------


class InputMessage(WireModel):
    """A user, system or developer message (`EasyInputMessage` / `Message` in the SDK)."""

    wire_tag = "message"

    type: Literal["message"] | None = None
    # All four roles, so a bad role is answered with the full list; "assistant" is routed to
    # `AssistantMessage` before this model is ever tried.
    role: Literal["user", "assistant", "system", "developer"]
    content: InputContent
    id: str | None = None  # Codex mints `msg_<uuid>` ids for its messages
    status: ItemStatus | None = None
    phase: Phase | None = None


class AssistantMessage(WireModel):
    """An assistant message: a replayed output message, or a short-hand history entry."""

    wire_tag = "assistant_message"

    type: Literal["message"] | None = None
    role: Literal["assistant"]
    content: OutputContent
    id: str | None = None
    status: ItemStatus | None = None
    phase: Phase | None = None


# ---- function and custom tool calls ----------------------------------------------------------


class FunctionCall(WireModel):
    type: Literal["function_call"]
    arguments: str
    call_id: str
    name: str
    id: str | None = None
    status: ItemStatus | None = None
    namespace: str | None = None
    caller: Caller | None = None
    async_: bool | None = Field(default=None, alias="async")


class FunctionCallOutput(WireModel):
    type: Literal["function_call_output"]
    output: ToolOutput
    # Nullable in SDK 3.54; pairing with a call is checked by the engine, against the context.
    call_id: CallId | None = None
    id: str | None = None
    status: ItemStatus | None = None
    name: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = None
    namespace: Name64 | None = None
    caller: Caller | None = None


class CustomToolCall(WireModel):
    type: Literal["custom_tool_call"]
    call_id: str
    input: str
    name: str
    id: str | None = None
    status: ItemStatus | None = None  # not in the SDK's input type; output items replay it
    namespace: str | None = None
    caller: Caller | None = None
    async_: bool | None = Field(default=None, alias="async")


class CustomToolCallOutput(WireModel):
    type: Literal["custom_tool_call_output"]
    call_id: str
    output: ToolOutput
    id: str | None = None
    status: ItemStatus | None = None  # as listed (`input_items`), replayed
    caller: Caller | None = None


# ---- reasoning and context management --------------------------------------------------------


class SummaryText(WireModel):
    type: Literal["summary_text"]
    text: Text


class ReasoningText(WireModel):
    type: Literal["reasoning_text"]
    text: Text


class ReasoningItem(WireModel):
    type: Literal["reasoning"]
    summary: list[SummaryText]
    # Required by the SDK types, optional in Open Responses: accepted absent.
    id: str | None = None
    content: list[ReasoningText] | None = None  # Codex replays `"content": null`
    encrypted_content: str | None = None
    status: ItemStatus | None = None


class Compaction(WireModel):
    type: Literal["compaction"]
    encrypted_content: Annotated[str, StringConstraints(max_length=MAX_IMAGE_URL)]
    id: str | None = None


class CompactionTrigger(WireModel):
    type: Literal["compaction_trigger"]
    id: str | None = None


class ItemReference(WireModel):
    type: Literal["item_reference"] | None = None
    id: str


class ReasoningUpdate(WireModel):
    effort: Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"] | None = None


class TextUpdate(WireModel):
    format: Annotated[FormatText | FormatJsonSchema, Tagged("configuration_text_format")]


class ConfigurationUpdate(WireModel):
    type: Literal["configuration_update"]
    id: str | None = None
    reasoning: ReasoningUpdate | None = None
    text: TextUpdate | None = None


# ---- the union -------------------------------------------------------------------------------


def _route(item: JSONDict) -> str | None:
    """Which member an input object means: messages by role, untyped objects by their keys."""
    kind = item.get("type")
    if kind is None:
        if "id" in item and item.keys() <= {"id", "type"}:
            return "item_reference"
        kind = "message"
    if kind == "message":
        return "assistant_message" if item.get("role") == "assistant" else "message"
    return kind if isinstance(kind, str) else None


InputItem = Annotated[
    InputMessage
    | AssistantMessage
    | FunctionCall
    | FunctionCallOutput
    | CustomToolCall
    | CustomToolCallOutput
    | ReasoningItem
    | Compaction
    | CompactionTrigger
    | ItemReference
    | ConfigurationUpdate
    | FileSearchCall
    | WebSearchCall
    | ComputerCall
    | ComputerCallOutput
    | ImageGenerationCall
    | CodeInterpreterCall
    | LocalShellCall
    | LocalShellCallOutput
    | ShellCall
    | ShellCallOutput
    | ApplyPatchCall
    | ApplyPatchCallOutput
    | McpListTools
    | McpApprovalRequest
    | McpApprovalResponse
    | McpCall
    | ToolSearchCall
    | ToolSearchOutput
    | AdditionalTools
    | Program
    | ProgramOutput,
    Tagged("input_item", route=_route),
]

# ---- canonical form --------------------------------------------------------------------------


def normalize_input(value: str | Sequence[WireModel] | None) -> list[JSONDict]:
    """The canonical JSON items the engine stores and sends upstream.

    Every item gets its `type`; a string becomes one user message; a message's string content
    becomes a one-part list (`input_text`, or `output_text` with `annotations: []` for the
    assistant). Everything else the client set — its ids included, explicit nulls too — is
    kept. Ids are not minted here; the engine does that.
    """
    if value is None:
        return []
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": [_text_part("user", value)]}]
    return [_canonical(item) for item in value]


def _canonical(item: WireModel) -> JSONDict:
    data = item.to_json_dict()
    if isinstance(item, InputMessage | AssistantMessage):
        content = data["content"]
        if isinstance(content, str):
            content = [_text_part(item.role, content)]
        elif item.role == "assistant":
            content = [_with_annotations(part) for part in content]
        rest = {key: value for key, value in data.items() if key not in ("type", "content")}
        return {"type": "message", **rest, "content": content}
    if isinstance(item, ItemReference):
        return {"type": "item_reference", "id": item.id}
    return data


def _text_part(role: str, text: str) -> JSONDict:
    if role == "assistant":
        return {"type": "output_text", "text": text, "annotations": []}
    return {"type": "input_text", "text": text}


def _with_annotations(part: JSONDict) -> JSONDict:
    """`output_text` parts always carry `annotations` (required by the SDK's output type)."""
    if part.get("type") == "output_text" and part.get("annotations") is None:
        return {**part, "annotations": []}
    return part
