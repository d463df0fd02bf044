"""Pydantic's validation errors, said the way the OpenAI API says them.

Only one error is reported, as the real API does. Among all that pydantic found, the first by
kind wins — missing → unknown → wrong type → bad enum value → range/length/format — and, within
a kind, the first in document order. Wording follows OpenAI's templates, e.g.
`Invalid type for 'max_output_tokens': expected an integer, but got a string instead.`
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from responsa.errors import InvalidRequestError
from responsa.protocol.wire import TAG_PREFIX, UNION_ERROR, UNIONS, json_kind

INVALID_JSON_MESSAGE = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
    "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
    "sent was not valid JSON. If you have trouble figuring out how to fix this, please contact "
    "us through our help center at help.openai.com.)"
)

# Ranks: the order in which kinds of problems are reported.
MISSING, UNKNOWN, TYPE, ENUM, CONSTRAINT = range(5)

_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_type": "a decimal",
    "bool_type": "a boolean",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "list_type": "an array",
}

_RANGE_CODES = {
    "integer_below_min_value",
    "integer_above_max_value",
    "decimal_below_min_value",
    "decimal_above_max_value",
}


def first_error(exc: ValidationError) -> InvalidRequestError:
    """The one error to report for a failed validation."""
    ranked = [translate(error) for error in exc.errors(include_url=False)]
    return min(ranked, key=lambda pair: pair[0])[1]  # min() keeps the first among equals


def translate(error: ErrorDetails) -> tuple[int, InvalidRequestError]:
    """One pydantic error as (rank, OpenAI error)."""
    kind, loc, value = error["type"], error["loc"], error.get("input")
    ctx: dict[str, Any] = error.get("ctx") or {}
    if loc and loc[-1] == "[key]":  # a dict key failed (metadata key too long)
        return CONSTRAINT, _key_error(loc, ctx)
    param = json_path(loc)

    if kind == "missing":
        return MISSING, _missing(param)
    if kind == "extra_forbidden":
        return UNKNOWN, InvalidRequestError(
            f"Unknown parameter: '{param}'.", param=param, code="unknown_parameter"
        )
    if kind == "json_invalid":
        return TYPE, InvalidRequestError(INVALID_JSON_MESSAGE)
    if kind in _EXPECTED:
        return TYPE, _invalid_type(param, _EXPECTED[kind], value)
    if kind == "literal_error":
        if not isinstance(value, str):
            return TYPE, _invalid_type(param, "a string", value)
        return ENUM, _invalid_value(param, value, re.findall(r"'([^']*)'", ctx["expected"]))
    if kind == UNION_ERROR:
        return _union_error(param, ctx["union"], value)
    if kind in _RANGE_CODES:
        return CONSTRAINT, _out_of_range(param, kind, ctx["limit"], value)
    return CONSTRAINT, _constraint_error(param, kind, ctx, value, error["msg"])


def json_path(loc: Sequence[int | str]) -> str:
    """`('input', 1, <member tag>, 'status')` → `input[1].status`."""
    path = ""
    for segment in loc:
        if isinstance(segment, int):
            path += f"[{segment}]"
        elif not segment.startswith(TAG_PREFIX):
            path += f".{segment}" if path else segment
    return path


# ---- templates -------------------------------------------------------------------------------


def _missing(param: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter"
    )


def _invalid_type(param: str, expected: str, value: Any) -> InvalidRequestError:
    got = json_kind(value)
    if not param:  # the body itself
        return InvalidRequestError(
            f"Invalid type for request body: expected {expected}, but got {got} instead.",
            code="invalid_type",
        )
    return InvalidRequestError(
        f"Invalid type for '{param}': expected {expected}, but got {got} instead.",
        param=param,
        code="invalid_type",
    )


def _invalid_value(param: str, value: str, supported: Sequence[str]) -> InvalidRequestError:
    return InvalidRequestError(
        f"Invalid value: '{value}'. Supported values are: {_and_list(supported)}.",
        param=param,
        code="invalid_value",
    )


def _and_list(values: Sequence[str]) -> str:
    """'a' · 'a' and 'b' · 'a', 'b', and 'c' — OpenAI's own enumeration."""
    quoted = [f"'{value}'" for value in values]
    if len(quoted) <= 2:
        return " and ".join(quoted)
    return ", ".join(quoted[:-1]) + ", and " + quoted[-1]


def _union_error(param: str, union: str, value: Any) -> tuple[int, InvalidRequestError]:
    """A value no member of a union accepts: a bad `type`, or a value of the wrong kind."""
    spec = UNIONS[union]
    if isinstance(value, dict) and spec.values:
        type_param = f"{param}.type"
        if "type" not in value or value["type"] is None:
            return MISSING, _missing(type_param)
        if not isinstance(value["type"], str):
            return TYPE, _invalid_type(type_param, "a string", value["type"])
        return ENUM, _invalid_value(type_param, value["type"], spec.values)
    return TYPE, _invalid_type(param, spec.expected, value)


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def _out_of_range(param: str, code: str, limit: float, value: Any) -> InvalidRequestError:
    number, direction = code.split("_", 1)  # "decimal", "above_max_value"
    if direction.startswith("below"):
        what, bound = "below minimum value", f">= {_number(limit)}"
    else:
        what, bound = "above maximum value", f"<= {_number(limit)}"
    return InvalidRequestError(
        f"Invalid '{param}': {number} {what}. Expected a value {bound}, but got {value} instead.",
        param=param,
        code=code,
    )


def _constraint_error(
    param: str, kind: str, ctx: dict[str, Any], value: Any, fallback: str
) -> InvalidRequestError:
    if kind == "string_too_long":
        return InvalidRequestError(
            f"Invalid '{param}': string too long. Expected a string with maximum length "
            f"{ctx['max_length']}, but got a string with length {len(value)} instead.",
            param=param,
            code="string_above_max_length",
        )
    if kind == "string_too_short" and not value:
        return InvalidRequestError(
            f"Invalid '{param}': empty string. Expected a string with minimum length "
            f"{ctx['min_length']}, but got an empty string instead.",
            param=param,
            code="empty_string",
        )
    if kind == "string_pattern_mismatch":
        return InvalidRequestError(
            f"Invalid '{param}': string does not match pattern. Expected a string that matches "
            f"the pattern '{ctx['pattern']}'.",
            param=param,
            code="invalid_value",
        )
    if kind == "invalid_id_charset":
        return InvalidRequestError(
            f"Invalid '{param}': '{value}'. Expected an ID that contains letters, numbers, "
            "underscores, or dashes, but this value contained additional characters.",
            param=param,
            code="invalid_value",
        )
    if kind == "too_long" and ctx.get("field_type") == "Dictionary":
        return InvalidRequestError(
            f"Invalid '{param}': too many properties. Expected an object with at most "
            f"{ctx['max_length']} properties, but got an object with {len(value)} properties "
            "instead.",
            param=param,
            code="object_above_max_properties",
        )
    if kind == "too_long":
        return InvalidRequestError(
            f"Invalid '{param}': array too long. Expected an array with maximum length "
            f"{ctx['max_length']}, but got an array with length {len(value)} instead.",
            param=param,
            code="array_above_max_length",
        )
    if kind == "too_short" and not value:
        return InvalidRequestError(
            f"Invalid '{param}': empty array. Expected an array with minimum length "
            f"{ctx['min_length']}, but got an empty array instead.",
            param=param,
            code="empty_array",
        )
    return InvalidRequestError(f"Invalid '{param}': {fallback}.", param=param, code="invalid_value")


def _key_error(loc: Sequence[int | str], ctx: dict[str, Any]) -> InvalidRequestError:
    """A property name too long: `Invalid property name in 'metadata': 'k…' is too long. …`"""
    key = str(loc[-2])
    owner = json_path(loc[:-2])
    return InvalidRequestError(
        f"Invalid property name in '{owner}': '{key}' is too long. Expected a string with "
        f"maximum length {ctx.get('max_length')}, but got a string with length {len(key)} "
        "instead.",
        param=json_path(loc[:-1]),
        code="property_name_above_max_length",
    )
