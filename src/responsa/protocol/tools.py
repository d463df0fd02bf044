"""Tool declarations (`tools`, 16 kinds / 18 `type` values) and `tool_choice` (9 forms).

Every kind is accepted structurally, whether or not the server can run it: Codex always
declares `web_search` and a `namespace`, and refusing them would refuse Codex. Whether a
provider can honour a tool is the engine's call, not the parser's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from responsa.errors import InvalidRequestError
from responsa.protocol.wire import (
    MAX_TEXT,
    AllowedCallers,
    CallId,
    Name64,
    Name128,
    NonEmpty,
    Range,
    Tagged,
    WireModel,
)

JSONSchema = dict[str, Any]

# ---- function-like tools ---------------------------------------------------------------------


class FunctionTool(WireModel):
    type: Literal["function"]
    name: Name64
    # `Required` (nullable) in the SDK types, but clients omit them.
    parameters: JSONSchema | None = None
    strict: bool | None = None
    description: str | None = None
    defer_loading: bool | None = None
    allowed_callers: AllowedCallers | None = None
    output_schema: JSONSchema | None = None
    async_: bool | None = Field(default=None, alias="async")


class NamespaceFunction(FunctionTool):
    """A function inside a `namespace`: the spec allows names up to 128 characters there."""

    name: Name128


class CustomToolText(WireModel):
    type: Literal["text"]


class CustomToolGrammar(WireModel):
    type: Literal["grammar"]
    syntax: Literal["lark", "regex"]
    definition: str


class CustomTool(WireModel):
    type: Literal["custom"]
    name: str
    description: str | None = None
    format: Annotated[CustomToolText | CustomToolGrammar, Tagged("custom_tool_format")] | None = (
        None
    )
    defer_loading: bool | None = None
    allowed_callers: AllowedCallers | None = None
    async_: bool | None = Field(default=None, alias="async")


class NamespaceTool(WireModel):
    type: Literal["namespace"]
    name: NonEmpty
    description: str
    tools: Annotated[
        list[Annotated[NamespaceFunction | CustomTool, Tagged("namespace_member")]],
        Field(min_length=1),
    ]


class ToolSearchTool(WireModel):
    type: Literal["tool_search"]
    description: str | None = None
    execution: Literal["server", "client"] | None = None
    parameters: JSONSchema | None = None


# ---- file search -----------------------------------------------------------------------------

FilterListItem = Annotated[
    str | float, Tagged("filter_list_item", expected="one of a string or number")
]


class ComparisonFilter(WireModel):
    type: Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "nin"]
    key: str
    value: Annotated[
        str | float | bool | list[FilterListItem],
        Tagged("filter_value", expected="one of a string, number, boolean or array"),
    ]


class CompoundFilter(WireModel):
    type: Literal["and", "or"]
    filters: list[Annotated[ComparisonFilter | CompoundFilter, Tagged("filter")]]


Filter = Annotated[ComparisonFilter | CompoundFilter, Tagged("filter")]


class HybridSearch(WireModel):
    embedding_weight: float
    text_weight: float


class RankingOptions(WireModel):
    hybrid_search: HybridSearch | None = None
    ranker: Literal["auto", "default-2024-11-15"] | None = None
    score_threshold: Annotated[float, Range(0, 1)] | None = None


class FileSearchTool(WireModel):
    type: Literal["file_search"]
    vector_store_ids: list[str]
    filters: Filter | None = None
    max_num_results: int | None = None
    ranking_options: RankingOptions | None = None


# ---- web search ------------------------------------------------------------------------------

ContextSize = Literal["low", "medium", "high"]


class WebSearchFilters(WireModel):
    allowed_domains: list[str] | None = None


class UserLocation(WireModel):
    type: Literal["approximate"] | None = None
    city: str | None = None
    country: str | None = None
    region: str | None = None
    timezone: str | None = None


class WebSearchTool(WireModel):
    type: Literal["web_search", "web_search_2025_08_26"]
    external_web_access: bool | None = None
    # Not in SDK 3.54's type, but Codex sends it for models that search images too.
    search_content_types: list[Literal["text", "image"]] | None = None
    filters: WebSearchFilters | None = None
    search_context_size: ContextSize | None = None
    user_location: UserLocation | None = None


class WebSearchPreviewTool(WireModel):
    type: Literal["web_search_preview", "web_search_preview_2025_03_11"]
    search_content_types: list[Literal["text", "image"]] | None = None
    search_context_size: ContextSize | None = None
    user_location: UserLocation | None = None


# ---- computers, containers, shells -----------------------------------------------------------


class ComputerTool(WireModel):
    type: Literal["computer"]


class ComputerUsePreviewTool(WireModel):
    type: Literal["computer_use_preview"]
    display_width: int
    display_height: int
    environment: Literal["windows", "mac", "linux", "ubuntu", "browser"]


class DomainSecret(WireModel):
    domain: NonEmpty
    name: NonEmpty
    value: Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT)]


class NetworkDisabled(WireModel):
    type: Literal["disabled"]


class NetworkAllowlist(WireModel):
    type: Literal["allowlist"]
    allowed_domains: Annotated[list[str], Field(min_length=1)]
    domain_secrets: Annotated[list[DomainSecret], Field(min_length=1)] | None = None


NetworkPolicy = Annotated[NetworkDisabled | NetworkAllowlist, Tagged("network_policy")]
MemoryLimit = Literal["1g", "4g", "16g", "64g"]
FileIds = Annotated[list[str], Field(max_length=50)]


class CodeInterpreterAuto(WireModel):
    type: Literal["auto"]
    file_ids: FileIds | None = None
    memory_limit: MemoryLimit | None = None
    network_policy: NetworkPolicy | None = None


class CodeInterpreterTool(WireModel):
    type: Literal["code_interpreter"]
    container: Annotated[
        str | CodeInterpreterAuto, Tagged("container", expected="one of a string or an object")
    ]
    allowed_callers: AllowedCallers | None = None


class SkillReference(WireModel):
    type: Literal["skill_reference"]
    skill_id: CallId
    version: str | None = None


class InlineSkillSource(WireModel):
    type: Literal["base64"]
    media_type: Literal["application/zip"]
    data: Annotated[str, StringConstraints(min_length=1, max_length=70_254_592)]


class InlineSkill(WireModel):
    type: Literal["inline"]
    name: str
    description: str
    source: InlineSkillSource


class LocalSkill(WireModel):
    name: str
    description: str
    path: str


Skills = Annotated[
    list[Annotated[SkillReference | InlineSkill, Tagged("skill")]], Field(max_length=200)
]


class ContainerAuto(WireModel):
    type: Literal["container_auto"]
    file_ids: FileIds | None = None
    memory_limit: MemoryLimit | None = None
    network_policy: NetworkPolicy | None = None
    skills: Skills | None = None


class LocalEnvironment(WireModel):
    type: Literal["local"]
    skills: Annotated[list[LocalSkill], Field(max_length=200)] | None = None


class ContainerReference(WireModel):
    type: Literal["container_reference"]
    container_id: str


class ShellTool(WireModel):
    type: Literal["shell"]
    environment: (
        Annotated[
            ContainerAuto | LocalEnvironment | ContainerReference, Tagged("shell_environment")
        ]
        | None
    ) = None
    allowed_callers: AllowedCallers | None = None


class LocalShellTool(WireModel):
    type: Literal["local_shell"]


class ApplyPatchTool(WireModel):
    type: Literal["apply_patch"]
    allowed_callers: AllowedCallers | None = None


class ProgrammaticToolCallingTool(WireModel):
    type: Literal["programmatic_tool_calling"]


# ---- MCP -------------------------------------------------------------------------------------


class McpToolFilter(WireModel):
    read_only: bool | None = None
    tool_names: list[str] | None = None


class McpApprovalFilter(WireModel):
    always: McpToolFilter | None = None
    never: McpToolFilter | None = None


Connector = Literal[
    "connector_dropbox",
    "connector_gmail",
    "connector_googlecalendar",
    "connector_googledrive",
    "connector_microsoftteams",
    "connector_outlookcalendar",
    "connector_outlookemail",
    "connector_sharepoint",
]


class McpTool(WireModel):
    type: Literal["mcp"]
    server_label: str
    server_url: str | None = None
    connector_id: Connector | None = None
    tunnel_id: Annotated[str, StringConstraints(pattern=r"^tunnel_[a-z0-9]{32}$")] | None = None
    authorization: str | None = None
    headers: dict[str, str] | None = None
    allowed_tools: (
        Annotated[
            list[str] | McpToolFilter,
            Tagged("mcp_allowed_tools", expected="one of an array or an object"),
        ]
        | None
    ) = None
    require_approval: (
        Annotated[
            McpApprovalFilter | Literal["always", "never"],
            Tagged("mcp_require_approval", expected="one of a string or an object"),
        ]
        | None
    ) = None
    server_description: str | None = None
    defer_loading: bool | None = None
    allowed_callers: AllowedCallers | None = None


# ---- image generation ------------------------------------------------------------------------


class InputImageMask(WireModel):
    file_id: str | None = None
    image_url: str | None = None


class SvgReasoning(WireModel):
    effort: Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"] | None = None


class SvgOptions(WireModel):
    model: str | None = None
    reasoning: SvgReasoning | None = None


class ImageGenerationTool(WireModel):
    type: Literal["image_generation"]
    action: Literal["generate", "edit", "auto"] | None = None
    background: Literal["transparent", "opaque", "auto"] | None = None
    complexity: Literal["low", "medium", "high"] | None = None
    frame_count: int | None = None
    frame_duration_ms: int | None = None
    input_fidelity: Literal["high", "low"] | None = None
    input_image_mask: InputImageMask | None = None
    model: str | None = None
    moderation: Literal["auto", "low"] | None = None
    output_compression: Annotated[int, Range(0, 100)] | None = None
    output_format: Literal["png", "webp", "jpeg", "gif", "svg"] | None = None
    partial_images: Annotated[int, Range(0, 3)] | None = None
    quality: Literal["low", "medium", "high", "xhigh", "max", "auto"] | None = None
    size: str | None = None
    svg: SvgOptions | None = None


Tool = Annotated[
    FunctionTool
    | CustomTool
    | NamespaceTool
    | FileSearchTool
    | WebSearchTool
    | WebSearchPreviewTool
    | ComputerTool
    | ComputerUsePreviewTool
    | CodeInterpreterTool
    | McpTool
    | ImageGenerationTool
    | LocalShellTool
    | ShellTool
    | ApplyPatchTool
    | ToolSearchTool
    | ProgrammaticToolCallingTool,
    Tagged("tool"),
]

# ---- tool_choice -----------------------------------------------------------------------------

ToolChoiceMode = Literal["none", "auto", "required"]


class ToolChoiceAllowed(WireModel):
    type: Literal["allowed_tools"]
    mode: Literal["auto", "required"]
    tools: list[dict[str, Any]]


class ToolChoiceHosted(WireModel):
    type: Literal[
        "file_search",
        "web_search_preview",
        "computer",
        "computer_use_preview",
        "computer_use",
        "web_search_preview_2025_03_11",
        "image_generation",
        "code_interpreter",
    ]


class ToolChoiceFunction(WireModel):
    type: Literal["function"]
    name: str


class ToolChoiceCustom(WireModel):
    type: Literal["custom"]
    name: str


class ToolChoiceMcp(WireModel):
    type: Literal["mcp"]
    server_label: str
    name: str | None = None


class ToolChoiceProgrammatic(WireModel):
    type: Literal["programmatic_tool_calling"]


class ToolChoiceApplyPatch(WireModel):
    type: Literal["apply_patch"]


class ToolChoiceShell(WireModel):
    type: Literal["shell"]


ToolChoice = Annotated[
    ToolChoiceMode
    | ToolChoiceAllowed
    | ToolChoiceHosted
    | ToolChoiceFunction
    | ToolChoiceCustom
    | ToolChoiceMcp
    | ToolChoiceProgrammatic
    | ToolChoiceApplyPatch
    | ToolChoiceShell,
    Tagged("tool_choice", expected="one of a string or an object"),
]


# ---- rules across tools and tool_choice ------------------------------------------------------


def check_tools(tools: Sequence[Any], tool_choice: Any) -> None:
    """Function/custom names are unique (per namespace), and a tool_choice names a real tool."""
    _check_unique_names(tools, "tools")
    _check_unique_server_labels(tools)
    for index, tool in enumerate(tools):
        if isinstance(tool, NamespaceTool):
            _check_unique_names(tool.tools, f"tools[{index}].tools")
    if isinstance(tool_choice, ToolChoiceFunction | ToolChoiceCustom):
        _check_declared(tools, tool_choice.type, tool_choice.name, "tool_choice")
    elif isinstance(tool_choice, ToolChoiceAllowed):
        for index, allowed in enumerate(tool_choice.tools):
            kind, name = allowed.get("type"), allowed.get("name")
            if kind in ("function", "custom") and isinstance(name, str):
                _check_declared(tools, kind, name, f"tool_choice.tools[{index}]")


def _check_unique_names(tools: Sequence[Any], param: str) -> None:
    seen: set[str] = set()
    for index, tool in enumerate(tools):
        if isinstance(tool, FunctionTool | CustomTool):
            if tool.name in seen:
                raise InvalidRequestError(
                    f"Invalid '{param}': duplicate tool name '{tool.name}'. "
                    "Function and custom tool names must be unique.",
                    param=f"{param}[{index}].name",
                    code="invalid_value",
                )
            seen.add(tool.name)


def _check_unique_server_labels(tools: Sequence[Any]) -> None:
    """An MCP server's label names its calls and items: two servers cannot share one."""
    seen: set[str] = set()
    for index, tool in enumerate(tools):
        if isinstance(tool, McpTool):
            if tool.server_label in seen:
                raise InvalidRequestError(
                    f"Invalid 'tools': duplicate MCP server label '{tool.server_label}'. "
                    "Server labels must be unique.",
                    param=f"tools[{index}].server_label", code="invalid_value")
            seen.add(tool.server_label)


def _declared_names(tools: Sequence[Any], kind: str) -> set[str]:
    cls = FunctionTool if kind == "function" else CustomTool
    names = {tool.name for tool in tools if isinstance(tool, cls)}
    for tool in tools:
        if isinstance(tool, NamespaceTool):  # namespaced members are callable by name too
            names.update(member.name for member in tool.tools if isinstance(member, cls))
    return names


def _check_declared(tools: Sequence[Any], kind: str, name: str, param: str) -> None:
    if name not in _declared_names(tools, kind):
        raise InvalidRequestError(
            f"Tool choice '{name}' not found in 'tools' parameter.", param=param, code=None
        )
