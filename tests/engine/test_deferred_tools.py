"""Which client tools the model is offered when some are deferred (engine/deferred_tools.py)."""

from __future__ import annotations

from typing import Any

import pytest

from responsa.engine.deferred_tools import (
    check_loadable,
    deferred_tools,
    loaded_tools,
    offered_tools,
)
from responsa.errors import InvalidRequestError

LATER = {"type": "function", "name": "later", "defer_loading": True}
NOW = {"type": "function", "name": "now"}
CRM = {"type": "namespace", "name": "crm", "description": "CRM.", "tools": [
    {"type": "function", "name": "find", "defer_loading": True},
    {"type": "custom", "name": "note"}]}
SEARCH = {"type": "tool_search"}


def _names(tools: list[dict[str, Any]]) -> list[str]:
    return [f"{tool['name']}:{','.join(m['name'] for m in tool['tools'])}"
            if tool["type"] == "namespace" else tool.get("name", tool["type"]) for tool in tools]


def test_deferred_tools_wait_for_a_search() -> None:
    assert _names(offered_tools([NOW, LATER, CRM, SEARCH], [])) == ["now", "crm:note"]
    assert _names(deferred_tools([NOW, LATER, CRM, SEARCH])) == ["later", "crm:find"]
    # With nothing that could load them, deferred tools are offered at once.
    assert _names(offered_tools([NOW, LATER, CRM], [])) == ["now", "later", "crm:find,note"]
    # A client-executed search is itself a client tool, offered with the rest.
    client = {"type": "tool_search", "execution": "client"}
    assert _names(offered_tools([LATER, client], [])) == ["tool_search"]


def test_loaded_tools_join_once_and_namespaces_merge() -> None:
    items = [{"type": "tool_search_output", "tools": [
                 {**CRM, "tools": [CRM["tools"][0]]}, LATER]},
             {"type": "message", "role": "user", "content": "hi"},
             {"type": "additional_tools", "role": "developer", "tools": [LATER, {"type": "shell"}]},
             {"type": "tool_search_output", "tools": [LATER]}]
    assert _names(loaded_tools(items)) == ["crm:find", "later", "shell"]
    assert _names(offered_tools([NOW, LATER, CRM, SEARCH], items)) == [
        "now", "crm:note,find", "later", "shell"]


def test_only_client_tools_may_be_loaded_from_the_input() -> None:
    check_loadable(["text", {"type": "additional_tools", "tools": [NOW, CRM]}])
    with pytest.raises(InvalidRequestError) as caught:
        check_loadable([{"type": "message"}, {"type": "tool_search_output", "tools": [
            NOW, {"type": "web_search"}]}])
    assert (caught.value.param, caught.value.code) == ("input[1].tools[1].type",
                                                       "unsupported_value")
