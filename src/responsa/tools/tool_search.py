"""The hosted `tool_search` (`execution: "server"`, the default): the model finds the request's
deferred tools (`defer_loading: true`, engine/deferred_tools.py) by what they do.

The model is offered one function, `tool_search({"query"})`. Each call adds a
`tool_search_call` item (`execution: "server"`, its `arguments`) and a `tool_search_output`
item whose `tools` are the definitions found, as declared (a namespace's members found come
inside that namespace). The engine offers the model those tools from its next call on, and
later turns load them again from the stored output item. The model reads the names of the
functions it can now call (`loaded_tools_note`, the same text a replay gives it).

Ranking is simple and deterministic: the query's words (letters and digits, lower-cased) are
each scored once per tool, 3 when one matches a word of the tool's name or its namespace's
name, 1 when one matches a word of their descriptions; a query word matches a tool word when
they are equal or, both at least 4 letters long, one begins the other ("customer" and
"customers"). Tools scoring 0 are left out; the best `MAX_RESULTS` are loaded, ties in the
order the request declared them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from responsa.ids import new_id
from responsa.providers.tool_surface import TOOL_SEARCH, loaded_tools_note, tool_search_function
from responsa.tools.base import HostedCall, HostedOutcome, OutputSink, ToolServices, string_argument
from responsa.tools.registry import FACTORIES

JSONDict = dict[str, Any]

MAX_RESULTS = 5
_NAME_SCORE, _DESCRIPTION_SCORE = 3, 1
_WORD = re.compile(r"[a-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_FUNCTION: JSONDict = {**tool_search_function({}), "strict": False}  # strict forbids minLength
_BAD_ARGUMENTS = 'The arguments must be a JSON object {"query": string} with a non-empty query.'


@dataclass(slots=True)
class ToolSearchTool:
    type: str
    catalog: list[JSONDict] = field(default_factory=list)  # the request's deferred tools

    def defer(self, tools: list[JSONDict]) -> None:
        self.catalog = tools

    def functions(self) -> list[JSONDict]:
        return [_FUNCTION]

    def owns(self, name: str) -> bool:
        return name == TOOL_SEARCH

    async def prepare(self, history: list[JSONDict], sink: OutputSink) -> list[HostedCall]:
        return []

    async def call(self, call: HostedCall, sink: OutputSink) -> HostedOutcome:
        query = string_argument(call.arguments, "query")
        item: JSONDict = {"id": new_id("tsc"), "type": "tool_search_call",
                          "call_id": call.call_id, "execution": "server",
                          "arguments": _object(call.arguments), "status": "in_progress"}
        sink.open_item(dict(item))
        sink.close_item({**item, "status": "completed"})
        found = search(self.catalog, query) if query else []
        output: JSONDict = {"id": new_id("tso"), "type": "tool_search_output",
                            "call_id": call.call_id, "execution": "server",
                            "status": "completed", "tools": found}
        sink.open_item({**output, "status": "in_progress"})
        sink.close_item(output)
        return HostedOutcome(output, loaded_tools_note(found) if query else _BAD_ARGUMENTS)

    async def aclose(self) -> None:
        return None


def search(catalog: list[JSONDict], query: str, limit: int = MAX_RESULTS) -> list[JSONDict]:
    """The catalog's tools that best match `query` (see the module docstring), namespaced
    members grouped back into their namespaces."""
    terms = set(_words(query))
    scored: list[tuple[int, int, JSONDict | None, JSONDict]] = []
    for tool in catalog:
        namespace = tool if tool["type"] == "namespace" else None
        for member in tool["tools"] if namespace is not None else [tool]:
            score = _score(terms, member, namespace)
            if score:
                scored.append((-score, len(scored), namespace, member))
    found: list[JSONDict] = []
    groups: dict[str, JSONDict] = {}
    for _, _, namespace, member in sorted(scored, key=lambda entry: entry[:2])[:limit]:
        if namespace is None:
            found.append(member)
        elif namespace["name"] in groups:
            groups[namespace["name"]]["tools"].append(member)
        else:
            groups[namespace["name"]] = {**namespace, "tools": [member]}
            found.append(groups[namespace["name"]])
    return found


def _score(terms: set[str], tool: JSONDict, namespace: JSONDict | None) -> int:
    names = _words(tool["name"]) + (_words(namespace["name"]) if namespace else [])
    described = _words(tool.get("description") or "") + (
        _words(namespace.get("description") or "") if namespace else [])
    score = 0
    for term in terms:
        if any(_matches(term, word) for word in names):
            score += _NAME_SCORE
        elif any(_matches(term, word) for word in described):
            score += _DESCRIPTION_SCORE
    return score


def _words(text: str) -> list[str]:
    return _WORD.findall(_CAMEL.sub(" ", text).lower())


def _matches(term: str, word: str) -> bool:
    if term == word:
        return True
    return min(len(term), len(word)) >= 4 and (word.startswith(term) or term.startswith(word))


def _object(arguments: str) -> JSONDict:
    """The call's arguments as the object the item carries ({} when they are not one)."""
    try:
        parsed = json.loads(arguments or "{}")
    except json.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _tool_search(tool: JSONDict, index: int, services: ToolServices) -> ToolSearchTool:
    return ToolSearchTool(tool["type"])


FACTORIES["tool_search"] = _tool_search
