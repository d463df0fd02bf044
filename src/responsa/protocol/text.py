"""`text`: the output format (plain text, JSON object, JSON schema) and verbosity."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from responsa.protocol.wire import Name64, Tagged, WireModel


class FormatText(WireModel):
    type: Literal["text"]


class FormatJsonObject(WireModel):
    type: Literal["json_object"]


class FormatJsonSchema(WireModel):
    type: Literal["json_schema"]
    name: Name64
    # `schema` would shadow a BaseModel attribute; read it as `.schema_`.
    schema_: dict[str, Any] = Field(alias="schema")
    description: str | None = None
    strict: bool | None = None


TextFormat = Annotated[FormatText | FormatJsonObject | FormatJsonSchema, Tagged("text_format")]


class TextConfig(WireModel):
    format: TextFormat | None = None
    verbosity: Literal["low", "medium", "high"] | None = None
