"""The hosted tool search's ranking (tools/tool_search.py), without I/O."""

from __future__ import annotations

from typing import Any

from responsa.tools.tool_search import search

CATALOG: list[dict[str, Any]] = [
    {"type": "function", "name": "send_email", "description": "Send a message to a customer."},
    {"type": "function", "name": "getWeather", "description": "The forecast for a city."},
    {"type": "namespace", "name": "crm", "description": "Customer records.", "tools": [
        {"type": "function", "name": "find_customer", "description": "Look a customer up."},
        {"type": "custom", "name": "add_note", "description": "Attach a note."}]},
    {"type": "function", "name": "archive", "description": "Archive old customers."},
]


def _names(found: list[dict[str, Any]]) -> list[str]:
    return [f"{tool['name']}:{','.join(m['name'] for m in tool['tools'])}"
            if tool["type"] == "namespace" else tool["name"] for tool in found]


def test_names_outrank_descriptions_and_ties_keep_their_order() -> None:
    # find_customer: "customer" in its name (3); the others in descriptions (1 each: add_note
    # by its namespace's), "customers" counting as "customer". Members stay in their namespace.
    assert _names(search(CATALOG, "customer")) == ["crm:find_customer,add_note", "send_email",
                                                   "archive"]
    assert _names(search(CATALOG, "Weather forecast")) == ["getWeather"]  # camelCase words
    assert _names(search(CATALOG, "crm")) == ["crm:find_customer,add_note"]  # namespace name


def test_nothing_matching_loads_nothing_and_the_limit_holds() -> None:
    assert search(CATALOG, "spaceship") == []
    assert search(CATALOG, "cus") == []  # too short to count as the start of "customer"
    # add_note: "note" in its name, "customer" in its namespace's description (4).
    assert _names(search(CATALOG, "customer note", limit=2)) == ["crm:add_note,find_customer"]
