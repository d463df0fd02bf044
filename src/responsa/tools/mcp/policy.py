"""Which of a server's tools a request allows, and which need the client's approval.

Both `allowed_tools` and `require_approval`'s `always`/`never` use the same filter:
`{tool_names, read_only}`, where a tool matches when it is named (if names are given) and its
`read_only` annotation equals the filter's (if given). A `require_approval` that leaves a tool
out, or no `require_approval` at all, means approval: the real API asks before sharing anything
with a server unless told otherwise.
"""

from __future__ import annotations

from typing import Any

JSONDict = dict[str, Any]


def is_allowed(allowed_tools: Any, tool: JSONDict) -> bool:
    if allowed_tools is None:
        return True
    if isinstance(allowed_tools, list):
        return tool["name"] in allowed_tools
    return _matches(allowed_tools, tool)


def needs_approval(require_approval: Any, tool: JSONDict) -> bool:
    if require_approval is None or require_approval == "always":
        return True
    if require_approval == "never":
        return False
    if _matches(require_approval.get("always"), tool):
        return True
    return not _matches(require_approval.get("never"), tool)


def _matches(tool_filter: JSONDict | None, tool: JSONDict) -> bool:
    if not tool_filter:
        return False
    names, read_only = tool_filter.get("tool_names"), tool_filter.get("read_only")
    if names is None and read_only is None:
        return False
    if names is not None and tool["name"] not in names:
        return False
    return read_only is None or bool((tool.get("annotations") or {}).get("read_only")) == read_only
