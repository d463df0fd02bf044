"""Deferred tool loading (`defer_loading`, `tool_search`, `additional_tools`) for upstreams that
do not do it themselves: which of the client's tools the model is offered.

While the request declares a `tool_search`, its functions and custom tools (namespace members
too) marked `defer_loading: true` are held back: the model finds them by searching
(tools/tool_search.py, or the client's own search). Every `tool_search_output` in the context
(whoever ran the search) and every `additional_tools` item loads its tools for the rest of that
context: the model is offered them on each later call, whether the context is a stored chain, a
conversation or the full input sent again. Native Responses upstreams get the declarations and
items unchanged and do all of this themselves (`Capabilities.tool_search`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from responsa.errors import InvalidRequestError
from responsa.providers.tool_surface import is_client_tool

JSONDict = dict[str, Any]

# Items that carry tool definitions into the context.
LOADING_ITEMS = frozenset({"tool_search_output", "additional_tools"})


def offered_tools(declared: Sequence[JSONDict], items: Iterable[JSONDict]) -> list[JSONDict]:
    """The client tools the model is offered: the declared ones, less the deferred ones while
    a tool search can load them, plus every tool loaded in `items`."""
    searchable = any(tool["type"] == "tool_search" for tool in declared)
    client = [tool for tool in declared if is_client_tool(tool)]
    offered = [part for tool in client
               if (part := _part(tool, deferred=False) if searchable else tool) is not None]
    return merge_tools(offered, loaded_tools(items))


def deferred_tools(declared: Sequence[JSONDict]) -> list[JSONDict]:
    """What a tool search searches: the deferred functions and custom tools, and the
    namespaces with their deferred members only."""
    return [part for tool in declared if is_client_tool(tool)
            if (part := _part(tool, deferred=True)) is not None]


def loaded_tools(items: Iterable[JSONDict]) -> list[JSONDict]:
    """The tools that `tool_search_output` and `additional_tools` items loaded, in order."""
    loaded: list[JSONDict] = []
    for item in items:
        if item.get("type") in LOADING_ITEMS:
            loaded = merge_tools(loaded, item["tools"])
    return loaded


def merge_tools(tools: Sequence[JSONDict], extra: Iterable[JSONDict]) -> list[JSONDict]:
    """`tools` and those of `extra` not among them yet; a namespace's new members join the
    namespace of that name. A tool loaded twice (searched for again) is offered once."""
    merged = list(tools)
    for tool in extra:
        if not is_client_tool(tool):  # a native upstream's own search may load hosted kinds
            continue
        position = next((n for n, known in enumerate(merged) if _key(known) == _key(tool)), None)
        if position is None:
            merged.append(tool)
        elif tool["type"] == "namespace":
            known = merged[position]
            names = {member["name"] for member in known["tools"]}
            added = [member for member in tool["tools"] if member["name"] not in names]
            if added:
                merged[position] = {**known, "tools": [*known["tools"], *added]}
    return merged


def check_loadable(items: Sequence[Any]) -> None:
    """Items of the input may load only tools the client executes: a hosted tool arriving
    mid-context is not supported (it is refused, not ignored)."""
    for index, item in enumerate(items):
        if not isinstance(item, dict) or item.get("type") not in LOADING_ITEMS:
            continue
        for position, tool in enumerate(item["tools"]):
            if not is_client_tool(tool):
                raise InvalidRequestError(
                    f"Tools of type '{tool['type']}' cannot be loaded by an '{item['type']}' "
                    "item yet; only tools the client executes (function, custom, namespace, "
                    "shell …) can.", param=f"input[{index}].tools[{position}].type",
                    code="unsupported_value")


def _part(tool: JSONDict, *, deferred: bool) -> JSONDict | None:
    """The deferred part of `tool` (or the rest of it); None when that part is empty."""
    if tool["type"] == "namespace":
        members = [member for member in tool["tools"]
                   if bool(member.get("defer_loading")) == deferred]
        return {**tool, "tools": members} if members else None
    return tool if bool(tool.get("defer_loading")) == deferred else None


def _key(tool: JSONDict) -> tuple[bool, str]:
    """What makes two tools the same offer: a namespace's name, a tool's name, or the kind of a
    builtin (`shell`, `apply_patch` …)."""
    return tool["type"] == "namespace", str(tool.get("name") or tool["type"])
