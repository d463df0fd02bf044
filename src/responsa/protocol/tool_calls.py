"""Tool-call items clients replay as input: built-in tools (file search, web search, computer,
code interpreter, image generation, shells, apply_patch, MCP, tool search, programs).

Field lists follow the SDK 3.54 input params; ids and statuses are accepted because clients
replay output items with them. Function and custom tool calls live in `items`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from responsa.protocol.content import ImageUrl
from responsa.protocol.tools import ContainerReference, LocalEnvironment, Tool
from responsa.protocol.wire import CallId, ItemStatus, NonEmpty, Str512, Tagged, Text, WireModel

# ---- who made a call (programmatic tool calling) ---------------------------------------------


class CallerDirect(WireModel):
    type: Literal["direct"]


class CallerProgram(WireModel):
    type: Literal["program"]
    caller_id: CallId


Caller = Annotated[CallerDirect | CallerProgram, Tagged("caller")]

SearchStatus = Literal["in_progress", "searching", "completed", "incomplete", "failed"]

# ---- file search -----------------------------------------------------------------------------

AttributeValue = Annotated[
    Str512 | float | bool, Tagged("attribute_value", expected="one of a string, number or boolean")
]


class FileSearchResult(WireModel):
    attributes: Annotated[dict[str, AttributeValue], Field(max_length=16)] | None = None
    file_id: str | None = None
    filename: str | None = None
    score: float | None = None
    text: str | None = None


class FileSearchCall(WireModel):
    type: Literal["file_search_call"]
    id: str
    queries: list[str]
    status: SearchStatus
    results: list[FileSearchResult] | None = None


# ---- web search ------------------------------------------------------------------------------


class SearchSource(WireModel):
    type: Literal["url"]
    url: str


class ActionSearch(WireModel):
    type: Literal["search"]
    queries: list[str] | None = None
    query: str | None = None
    sources: list[SearchSource] | None = None


class ActionOpenPage(WireModel):
    type: Literal["open_page"]
    url: str | None = None


class ActionFind(WireModel):
    type: Literal["find_in_page"]
    pattern: str
    url: str


class WebSearchCall(WireModel):
    type: Literal["web_search_call"]
    id: str
    action: Annotated[ActionSearch | ActionOpenPage | ActionFind, Tagged("web_search_action")]
    status: SearchStatus


# ---- computer use ----------------------------------------------------------------------------

MouseButton = Literal["left", "right", "wheel", "back", "forward"]


class Click(WireModel):
    type: Literal["click"]
    button: MouseButton
    x: int
    y: int
    keys: list[str] | None = None


class DoubleClick(WireModel):
    type: Literal["double_click"]
    keys: list[str] | None
    x: int
    y: int


class Point(WireModel):
    x: int
    y: int


class Drag(WireModel):
    type: Literal["drag"]
    path: list[Point]
    keys: list[str] | None = None


class Keypress(WireModel):
    type: Literal["keypress"]
    keys: list[str]


class Move(WireModel):
    type: Literal["move"]
    x: int
    y: int
    keys: list[str] | None = None


class Screenshot(WireModel):
    type: Literal["screenshot"]


class Scroll(WireModel):
    type: Literal["scroll"]
    scroll_x: int
    scroll_y: int
    x: int
    y: int
    keys: list[str] | None = None


class TypeText(WireModel):
    type: Literal["type"]
    text: str


class Wait(WireModel):
    type: Literal["wait"]


ComputerAction = Annotated[
    Click | DoubleClick | Drag | Keypress | Move | Screenshot | Scroll | TypeText | Wait,
    Tagged("computer_action"),
]


class SafetyCheck(WireModel):
    id: str
    code: str | None = None
    message: str | None = None


class ComputerCall(WireModel):
    type: Literal["computer_call"]
    id: str
    call_id: str
    pending_safety_checks: list[SafetyCheck]
    status: ItemStatus
    action: ComputerAction | None = None
    actions: list[ComputerAction] | None = None


class ComputerScreenshot(WireModel):
    type: Literal["computer_screenshot"]
    file_id: str | None = None
    image_url: ImageUrl | None = None


class ComputerCallOutput(WireModel):
    type: Literal["computer_call_output"]
    call_id: CallId
    output: ComputerScreenshot
    id: str | None = None
    acknowledged_safety_checks: list[SafetyCheck] | None = None
    status: ItemStatus | None = None


# ---- image generation ------------------------------------------------------------------------


class ModerationDetails(WireModel):
    categories: list[str]
    moderation_stage: Literal["input", "output", "unknown"]


class ImageGenerationError(WireModel):
    code: str | None
    message: str
    param: str | None
    type: str
    moderation_details: ModerationDetails | None = None


class SvgUsage(WireModel):
    input_tokens: int
    model: str
    output_tokens: int
    reasoning_tokens: int
    total_tokens: int


class ImageGenerationCall(WireModel):
    type: Literal["image_generation_call"]
    id: str
    result: str | None
    status: Literal["in_progress", "completed", "generating", "failed"]
    action: Literal["generate", "edit", "auto"] | None = None
    background: Literal["transparent", "opaque", "auto"] | None = None
    error: ImageGenerationError | None = None
    output_format: Literal["png", "webp", "jpeg", "gif", "svg"] | None = None
    quality: Literal["low", "medium", "high", "xhigh", "max", "auto"] | None = None
    revised_prompt: str | None = None
    size: str | None = None
    svg_usage: SvgUsage | None = None


# ---- code interpreter ------------------------------------------------------------------------


class OutputLogs(WireModel):
    type: Literal["logs"]
    logs: str


class OutputImage(WireModel):
    type: Literal["image"]
    url: str


class CodeInterpreterCall(WireModel):
    type: Literal["code_interpreter_call"]
    id: str
    code: str | None
    container_id: str
    outputs: list[Annotated[OutputLogs | OutputImage, Tagged("code_interpreter_output")]] | None
    status: Literal["in_progress", "completed", "incomplete", "interpreting", "failed"]


# ---- shells ----------------------------------------------------------------------------------


class LocalShellAction(WireModel):
    type: Literal["exec"]
    command: list[str]
    env: dict[str, str]
    timeout_ms: int | None = None
    user: str | None = None
    working_directory: str | None = None


class LocalShellCall(WireModel):
    type: Literal["local_shell_call"]
    id: str
    action: LocalShellAction
    call_id: str
    status: ItemStatus


class LocalShellCallOutput(WireModel):
    type: Literal["local_shell_call_output"]
    id: str
    output: str
    status: ItemStatus | None = None


class ShellAction(WireModel):
    commands: list[str]
    max_output_length: int | None = None
    timeout_ms: int | None = None


class ShellCall(WireModel):
    type: Literal["shell_call"]
    action: ShellAction
    call_id: CallId
    id: str | None = None
    caller: Caller | None = None
    environment: (
        Annotated[LocalEnvironment | ContainerReference, Tagged("shell_call_environment")] | None
    ) = None
    status: ItemStatus | None = None


class OutcomeTimeout(WireModel):
    type: Literal["timeout"]


class OutcomeExit(WireModel):
    type: Literal["exit"]
    exit_code: int


class ShellOutputChunk(WireModel):
    outcome: Annotated[OutcomeTimeout | OutcomeExit, Tagged("shell_outcome")]
    stderr: Text
    stdout: Text


class ShellCallOutput(WireModel):
    type: Literal["shell_call_output"]
    call_id: CallId
    output: list[ShellOutputChunk]
    id: str | None = None
    caller: Caller | None = None
    max_output_length: int | None = None
    status: ItemStatus | None = None


# ---- apply_patch -----------------------------------------------------------------------------


class CreateFile(WireModel):
    type: Literal["create_file"]
    path: NonEmpty
    diff: Text


class DeleteFile(WireModel):
    type: Literal["delete_file"]
    path: NonEmpty


class UpdateFile(WireModel):
    type: Literal["update_file"]
    path: NonEmpty
    diff: Text


class ApplyPatchCall(WireModel):
    type: Literal["apply_patch_call"]
    call_id: CallId
    operation: Annotated[CreateFile | DeleteFile | UpdateFile, Tagged("apply_patch_operation")]
    status: Literal["in_progress", "completed"]
    id: str | None = None
    caller: Caller | None = None


class ApplyPatchCallOutput(WireModel):
    type: Literal["apply_patch_call_output"]
    call_id: CallId
    status: Literal["completed", "failed"]
    id: str | None = None
    caller: Caller | None = None
    output: Text | None = None


# ---- MCP -------------------------------------------------------------------------------------


class McpToolInfo(WireModel):
    name: str
    input_schema: dict[str, Any]
    annotations: dict[str, Any] | None = None
    description: str | None = None


class McpListTools(WireModel):
    type: Literal["mcp_list_tools"]
    id: str
    server_label: str
    tools: list[McpToolInfo]
    error: str | None = None


class McpApprovalRequest(WireModel):
    type: Literal["mcp_approval_request"]
    id: str
    arguments: str
    name: str
    server_label: str


class McpApprovalResponse(WireModel):
    type: Literal["mcp_approval_response"]
    approval_request_id: str
    approve: bool
    id: str | None = None
    reason: str | None = None


class McpProtocolError(WireModel):
    type: Literal["mcp_protocol_error"]
    code: int
    message: str


class McpToolExecutionError(WireModel):
    type: Literal["mcp_tool_execution_error"]
    content: dict[str, Any]


class McpHttpError(WireModel):
    type: Literal["http_error"]
    code: int
    message: str


class McpCall(WireModel):
    type: Literal["mcp_call"]
    id: str
    arguments: str
    name: str
    server_label: str
    approval_request_id: str | None = None
    error: (
        Annotated[McpProtocolError | McpToolExecutionError | McpHttpError, Tagged("mcp_error")]
        | None
    ) = None
    output: str | None = None
    status: Literal["in_progress", "completed", "incomplete", "calling", "failed"] | None = None


# ---- tool search and deferred tools ----------------------------------------------------------

Execution = Literal["server", "client"]


class ToolSearchCall(WireModel):
    type: Literal["tool_search_call"]
    arguments: dict[str, Any]
    id: str | None = None
    call_id: CallId | None = None
    execution: Execution | None = None
    status: ItemStatus | None = None


class ToolSearchOutput(WireModel):
    type: Literal["tool_search_output"]
    tools: list[Tool]
    id: str | None = None
    call_id: CallId | None = None
    execution: Execution | None = None
    status: ItemStatus | None = None


class AdditionalTools(WireModel):
    type: Literal["additional_tools"]
    role: Literal["developer"]
    tools: list[Tool]
    id: str | None = None


# ---- programmatic tool calling ---------------------------------------------------------------


class Program(WireModel):
    type: Literal["program"]
    id: str
    call_id: CallId
    code: Text
    fingerprint: Text


class ProgramOutput(WireModel):
    type: Literal["program_output"]
    id: str
    call_id: CallId
    result: Text
    status: Literal["completed", "incomplete"]
