"""Query-string parameters, validated with the same error envelope as request bodies."""

from __future__ import annotations

from typing import get_args

from starlette.datastructures import QueryParams

from responsa.errors import InvalidRequestError
from responsa.protocol.request import IncludeValue

INCLUDABLE: frozenset[str] = frozenset(get_args(IncludeValue))


def include_param(query: QueryParams) -> frozenset[str]:
    """`include[]=a&include[]=b` as the SDKs send it, or repeated `include` as others do."""
    values = [*query.getlist("include[]"), *query.getlist("include")]
    for value in values:
        if value not in INCLUDABLE:
            supported = ", ".join(f"'{v}'" for v in sorted(INCLUDABLE))
            raise InvalidRequestError(
                f"Invalid value: '{value}'. Supported values are: {supported}.",
                param="include", code="invalid_value")
    return frozenset(values)


def bool_param(query: QueryParams, name: str) -> bool:
    value = query.get(name)
    if value is None:
        return False
    lowered = value.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise InvalidRequestError(
        f"Invalid value: '{value}'. Supported values are: 'true' and 'false'.",
        param=name, code="invalid_value")


def int_param(query: QueryParams, name: str, *, default: int | None, minimum: int | None = None,
              maximum: int | None = None) -> int | None:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRequestError(
            f"Invalid type for '{name}': expected an integer, but got a string instead.",
            param=name, code="invalid_type") from None
    if minimum is not None and value < minimum:
        raise InvalidRequestError(
            f"Invalid '{name}': integer below minimum value. Expected a value >= {minimum}, "
            f"but got {value} instead.", param=name, code="integer_below_min_value")
    if maximum is not None and value > maximum:
        raise InvalidRequestError(
            f"Invalid '{name}': integer above maximum value. Expected a value <= {maximum}, "
            f"but got {value} instead.", param=name, code="integer_above_max_value")
    return value


def order_param(query: QueryParams) -> str:
    value = query.get("order", "desc")
    if value not in ("asc", "desc"):
        raise InvalidRequestError(
            f"Invalid value: '{value}'. Supported values are: 'asc' and 'desc'.",
            param="order", code="invalid_value")
    return value
