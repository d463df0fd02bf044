"""The building blocks every wire model shares: the strict base model, bounded strings and
numbers, and unions that pick their member by looking at the JSON value.

Why these exist instead of plain pydantic idioms:

- `WireModel` is strict (no "16" → 16 coercion) and forbids unknown keys, because the real API
  answers both with a 400 and clients rely on that to find their bugs.
- `Range` raises errors whose type *is* the OpenAI code (`decimal_above_max_value`, …):
  pydantic's `ge`/`le` cannot tell an integer field from a decimal one once JSON `2` arrives.
- `Tagged` makes a union choose its member up front (by `type`, by JSON kind, or by a routing
  function), so exactly one member is validated: error paths never carry branch names and never
  list the failures of members the client did not mean.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    StringConstraints,
)
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

JSONDict = dict[str, Any]

# Marks a union member in pydantic's error locations; `validation_errors` drops such segments so
# a path reads `input[0].role`, not `input[0].<member>.role`.
TAG_PREFIX = "\x00"

# The one custom error type raised when a union cannot pick a member.
UNION_ERROR = "responsa_union"


class WireModel(BaseModel):
    """A JSON object of the API: strict types, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", strict=True)

    # When set, the member tag of this model in a `Tagged` union (instead of its `type` values):
    # lets two models share a `type` ("message") and a routing function choose between them.
    wire_tag: ClassVar[str | None] = None

    def to_json_dict(self) -> JSONDict:
        """The object as the client sent it: only the keys it set (explicit nulls kept)."""
        return self.model_dump(by_alias=True, exclude_unset=True)


# ---- bounded strings -------------------------------------------------------------------------

MAX_TEXT = 10_485_760  # input text, tool outputs, diffs [spec]
MAX_IMAGE_URL = 20_971_520  # image data URLs, compaction blobs [spec]
MAX_FILE_DATA = 73_400_320  # base64 file contents [spec]

Text = Annotated[str, StringConstraints(max_length=MAX_TEXT)]
CallId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
NonEmpty = Annotated[str, StringConstraints(min_length=1)]
Str64 = Annotated[str, StringConstraints(max_length=64)]
Str512 = Annotated[str, StringConstraints(max_length=512)]

# Function, namespace and json_schema names. Length and charset fail separately so each gets
# its own OpenAI message (too long / empty / does not match pattern).
NAME_PATTERN = r"^[a-zA-Z0-9_-]+$"
Name64 = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=NAME_PATTERN)]
Name128 = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=NAME_PATTERN)]

# ---- enums shared by items and tools ---------------------------------------------------------

ItemStatus = Literal["in_progress", "completed", "incomplete"]
AllowedCallers = Annotated[list[Literal["direct", "programmatic"]], Field(min_length=1)]


# ---- numeric ranges --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Range:
    """Inclusive bounds on an `int` (→ `integer_*` codes) or `float` (→ `decimal_*` codes)."""

    lo: float | None = None
    hi: float | None = None

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        kind = "integer" if source is int else "decimal"
        lo, hi = self.lo, self.hi

        def check(value: float) -> float:
            if lo is not None and value < lo:
                raise PydanticCustomError(f"{kind}_below_min_value", "below minimum", {"limit": lo})
            if hi is not None and value > hi:
                raise PydanticCustomError(f"{kind}_above_max_value", "above maximum", {"limit": hi})
            return value

        return core_schema.no_info_after_validator_function(check, handler(source))


# ---- ids the server looks up -----------------------------------------------------------------

_ID_CHARSET = re.compile(r"[A-Za-z0-9_-]+")


def _check_id_charset(value: str) -> str:
    if _ID_CHARSET.fullmatch(value) is None:
        raise PydanticCustomError("invalid_id_charset", "bad id characters")
    return value


# `previous_response_id`: letters, digits, `_` and `-` only (the real API checks this first).
LookupId = Annotated[str, StringConstraints(min_length=1), AfterValidator(_check_id_charset)]


# ---- unions ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UnionSpec:
    """How to word the error for a value that fits no member of a union.

    `expected` names the accepted JSON kinds ("an object", "one of a string or an object").
    When object members are told apart by `type`, `values` are its accepted values.
    """

    expected: str
    values: tuple[str, ...] = ()


UNIONS: dict[str, UnionSpec] = {}

Route = Callable[[JSONDict], str | None]


@dataclass(frozen=True)
class Tagged:
    """`Annotated[A | B | str, Tagged("name")]`: validate against the one member the value picks.

    Members are tagged automatically: a model by the values of its `type` Literal (or its
    `wire_tag`), a model without `type` as "object", anything else by its JSON kind ("string",
    "array" …). An object picks by its `type`, or by `route(obj)` when given (which returns a
    `type` value or a `wire_tag`); other values pick by their JSON kind.
    """

    name: str
    expected: str = "an object"
    route: Route | None = None

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        choices: dict[str, CoreSchema] = {}
        by_type: dict[str, str] = {}  # `type` value or wire_tag → member tag
        by_kind: dict[str, str] = {}  # JSON kind → member tag
        by_class: dict[type, str] = {}
        type_values: list[str] = []  # for the error message, in declaration order
        for member in typing.get_args(source):
            model = _model_of(member)
            values = _type_values(model) if model is not None else []
            if values:
                tag = (model and model.wire_tag) or values[0]
                by_type[tag] = tag
                for value in values:
                    by_type.setdefault(value, tag)
                    if value not in type_values:
                        type_values.append(value)
            else:  # a model without `type` is "object"; str, list … go by JSON kind
                tag = "object" if model is not None else _kind_of(member)
                by_kind[tag] = tag
            if model is not None:
                by_class[model] = tag
            choices[TAG_PREFIX + tag] = handler.generate_schema(member)
        UNIONS[self.name] = UnionSpec(self.expected, tuple(type_values))
        route = self.route

        def discriminate(value: Any) -> str | None:
            if isinstance(value, BaseModel):
                tag: str | None = by_class.get(type(value))
            elif isinstance(value, dict):
                key = route(value) if route is not None else value.get("type")
                tag = by_type.get(key) if isinstance(key, str) else None
                if tag is None and not by_type:  # objects told apart by nothing but kind
                    tag = by_kind.get("object")
            else:
                kind = _kind_of_value(value)
                tag = by_kind.get(kind)
                if tag is None and kind == "integer":  # JSON 3 is a fine number
                    tag = by_kind.get("number")
            return None if tag is None else TAG_PREFIX + tag

        return core_schema.tagged_union_schema(
            choices,
            discriminate,
            custom_error_type=UNION_ERROR,
            custom_error_message=f"no member of {self.name} fits",
            custom_error_context={"union": self.name},
        )


def _model_of(member: Any) -> type[WireModel] | None:
    if typing.get_origin(member) is Annotated:
        member = typing.get_args(member)[0]
    if isinstance(member, type) and issubclass(member, WireModel):
        return member
    return None


def _type_values(model: type[WireModel]) -> list[str]:
    field = model.model_fields.get("type")
    if field is None:
        return []
    return [arg for arg in _literal_args(field.annotation) if isinstance(arg, str)]


def _literal_args(annotation: Any) -> list[Any]:
    if typing.get_origin(annotation) is Literal:
        return list(typing.get_args(annotation))
    # `Literal[...] | None`
    return [arg for part in typing.get_args(annotation) for arg in _literal_args(part)]


def _kind_of(annotation: Any) -> str:
    """The JSON kind a non-model union member accepts."""
    if typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    origin = typing.get_origin(annotation) or annotation
    if origin is Literal:
        origin = type(typing.get_args(annotation)[0])
    kinds = {
        str: "string",
        list: "array",
        dict: "object",
        bool: "boolean",
        int: "integer",
        float: "number",
    }
    return kinds[origin]


def _kind_of_value(value: Any) -> str:
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "null"


def json_kind(value: Any) -> str:
    """How OpenAI's messages name a JSON value's kind ("a string", "an array", "null")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    return "an object"
