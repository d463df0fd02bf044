"""Content parts: what messages, tool outputs and prompt variables are made of (SDK 3.54).

Input parts (`input_text`, `input_image`, `input_file`) appear in user/system/developer
messages, in `function_call_output.output` and `custom_tool_call_output.output`, and in
`prompt.variables`. Assistant replays carry `output_text` and `refusal`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import StringConstraints

from responsa.protocol.wire import MAX_FILE_DATA, MAX_IMAGE_URL, Range, Tagged, Text, WireModel

ImageUrl = Annotated[str, StringConstraints(max_length=MAX_IMAGE_URL)]
FileData = Annotated[str, StringConstraints(max_length=MAX_FILE_DATA)]


class PromptCacheBreakpoint(WireModel):
    mode: Literal["explicit"]
    ttl: Literal["30m", "12h"] | None = None


class InputText(WireModel):
    type: Literal["input_text"]
    text: Text
    prompt_cache_breakpoint: PromptCacheBreakpoint | None = None


class InputImage(WireModel):
    type: Literal["input_image"]
    # `Required` in the 3.54 types, but clients omit it; the API defaults it to "auto".
    detail: Literal["low", "high", "auto", "original"] | None = None
    file_id: str | None = None
    image_url: ImageUrl | None = None
    prompt_cache_breakpoint: PromptCacheBreakpoint | None = None


class InputFile(WireModel):
    type: Literal["input_file"]
    detail: Literal["auto", "low", "high"] | None = None
    file_data: FileData | None = None
    file_id: str | None = None
    file_url: str | None = None
    filename: str | None = None
    prompt_cache_breakpoint: PromptCacheBreakpoint | None = None


class InputVideo(WireModel):
    """Open Responses only (in tool outputs); not in SDK 3.54."""

    type: Literal["input_video"]
    video_url: str


InputPart = Annotated[InputText | InputImage | InputFile, Tagged("input_content")]
ToolOutputPart = Annotated[
    InputText | InputImage | InputFile | InputVideo, Tagged("tool_output_content")
]

# ---- assistant replays -----------------------------------------------------------------------

Index = Annotated[int, Range(lo=0)]


class FileCitation(WireModel):
    type: Literal["file_citation"]
    file_id: str
    filename: str
    index: int


class UrlCitation(WireModel):
    type: Literal["url_citation"]
    url: str
    title: str
    start_index: Index
    end_index: Index


class ContainerFileCitation(WireModel):
    type: Literal["container_file_citation"]
    container_id: str
    file_id: str
    filename: str
    start_index: int
    end_index: int


class FilePath(WireModel):
    type: Literal["file_path"]
    file_id: str
    index: int


Annotation = Annotated[
    FileCitation | UrlCitation | ContainerFileCitation | FilePath, Tagged("annotation")
]


class TopLogprob(WireModel):
    token: str
    bytes: list[int]
    logprob: float


class Logprob(WireModel):
    token: str
    bytes: list[int]
    logprob: float
    top_logprobs: list[TopLogprob]


class OutputText(WireModel):
    type: Literal["output_text"]
    text: Text
    # Required by the SDK type, optional in Open Responses; normalize_input fills in `[]`.
    annotations: list[Annotation] | None = None
    logprobs: list[Logprob] | None = None


class Refusal(WireModel):
    type: Literal["refusal"]
    refusal: Text


OutputPart = Annotated[OutputText | Refusal, Tagged("output_content")]

# `content` / `output`: a plain string, or an array of parts.
_TEXT_OR_PARTS = "one of a string or array of objects"
InputContent = Annotated[
    Text | list[InputPart], Tagged("input_message_content", expected=_TEXT_OR_PARTS)
]
OutputContent = Annotated[
    Text | list[OutputPart], Tagged("output_message_content", expected=_TEXT_OR_PARTS)
]
ToolOutput = Annotated[Text | list[ToolOutputPart], Tagged("tool_output", expected=_TEXT_OR_PARTS)]
