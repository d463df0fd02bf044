"""The wire types every layer speaks, and request validation as the real API does it (no I/O).

request.py            CreateResponseRequest, parse_create_request
items.py              the input item union, normalize_input
tools.py              tool declarations, tool_choice, name rules
content.py            content parts of messages and tool outputs
tool_calls.py         built-in tool-call items clients replay
text.py               `text.format` (text / json_object / json_schema)
validation_errors.py  pydantic errors → OpenAI's error envelope
wire.py               the strict base model, ranges, tagged unions
"""

from responsa.protocol.items import InputItem, normalize_input
from responsa.protocol.request import (
    CreateResponseRequest,
    parse_create_request,
    validate_create_request,
)
from responsa.protocol.tools import Tool, ToolChoice

__all__ = [
    "CreateResponseRequest",
    "InputItem",
    "Tool",
    "ToolChoice",
    "normalize_input",
    "parse_create_request",
    "validate_create_request",
]
