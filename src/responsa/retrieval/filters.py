"""Attribute filters (`filters` of file search): comparison and compound, evaluated on a vector
store file's `attributes`.

A comparison on a missing key, or between a number and a string, is false, except `ne` and
`nin`, which hold for values that are not there.
"""

from __future__ import annotations

from typing import Any

JSONDict = dict[str, Any]
Attributes = dict[str, str | float | bool]


def matches(filters: JSONDict | None, attributes: Attributes | None) -> bool:
    if not filters:
        return True
    attributes = attributes or {}
    kind = filters["type"]
    if kind == "and":
        return all(matches(f, attributes) for f in filters["filters"])
    if kind == "or":
        return any(matches(f, attributes) for f in filters["filters"])
    key, wanted = filters["key"], filters["value"]
    if key not in attributes:
        return kind in ("ne", "nin")
    value = attributes[key]
    if kind in ("in", "nin"):
        found = isinstance(wanted, list) and any(_equal(value, w) for w in wanted)
        return found if kind == "in" else not found
    if kind == "eq":
        return _equal(value, wanted)
    if kind == "ne":
        return not _equal(value, wanted)
    if _kind(value) != _kind(wanted) or isinstance(value, bool):
        return False
    return bool({"gt": value > wanted, "gte": value >= wanted, "lt": value < wanted,
                 "lte": value <= wanted}[kind])


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    return "number" if isinstance(value, int | float) else "string"


def _equal(a: Any, b: Any) -> bool:
    return _kind(a) == _kind(b) and a == b
