"""The hosted `file_search` tool over the server's vector stores (api/vector_stores.py).

The model is offered one function, `file_search({"queries": [...]})`. Each call streams a
`file_search_call` item: `response.file_search_call.in_progress`, `.searching`, `.completed`;
the finished item carries its `queries` and `results` (`file_id`, `filename`, `score`, `text`,
`attributes`), which reach the client only under `include: ["file_search_call.results"]`
(engine/snapshot.py). Retrieval is hybrid (retrieval/search.py), with the tool's
`max_num_results`, `filters` and `ranking_options`.

The model reads the results numbered across the whole response (`[1] filename` then the text).
Its answer gets a `file_citation` (`file_id`, `filename`, `index`: where the mention starts)
wherever it writes one of those numbers in brackets or one of the files' names.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from responsa.errors import InvalidRequestError, ResponsaError
from responsa.ids import new_id
from responsa.retrieval.embedders import Embedder
from responsa.retrieval.search import SearchHit, hybrid_search
from responsa.store.files import FileStore
from responsa.tools.base import (
    HostedCall,
    HostedOutcome,
    OutputSink,
    ToolServices,
    failed_outcome,
)
from responsa.tools.registry import FACTORIES, REPLAYS

JSONDict = dict[str, Any]

FUNCTION_NAME = "file_search"
# The real API's default is up to 50 results; a tenth of that keeps a small model's context.
DEFAULT_RESULTS = 10
MAX_RESULTS = 50

_FUNCTION: JSONDict = {
    "type": "function",
    "name": FUNCTION_NAME,
    "description": ("Search the user's files. Results come back numbered [1], [2], …; cite a "
                    "result in your answer by writing its number in brackets."),
    "parameters": {
        "type": "object",
        "properties": {"queries": {
            "type": "array", "minItems": 1,
            "items": {"type": "string", "minLength": 1},
            "description": "One or more search queries."}},
        "required": ["queries"],
        "additionalProperties": False,
    },
    "strict": False,  # `minLength` keeps a grammar-constrained small model from sending ""
}


@dataclass(slots=True)
class FileSearchTool:
    type: str
    store: FileStore
    embedder: Embedder
    vector_store_ids: list[str]
    max_results: int
    filters: JSONDict | None
    ranking_options: JSONDict | None
    index: int  # in the request's `tools`, for error params
    # Every result the model was shown in this response, numbered from 1 in this order.
    results: list[SearchHit] = field(default_factory=list)

    def functions(self) -> list[JSONDict]:
        return [_FUNCTION]

    def owns(self, name: str) -> bool:
        return name == FUNCTION_NAME

    async def check(self) -> None:
        for vector_store_id in self.vector_store_ids:
            if await self.store.get_vector_store(vector_store_id) is None:
                raise InvalidRequestError(
                    f"Vector store with id '{vector_store_id}' not found.",
                    param=f"tools[{self.index}].vector_store_ids")

    async def prepare(self, history: list[JSONDict], sink: OutputSink) -> list[HostedCall]:
        return []

    async def call(self, call: HostedCall, sink: OutputSink) -> HostedOutcome:
        queries = _queries(call.arguments)
        item: JSONDict = {"id": new_id("fs"), "type": "file_search_call",
                          "status": "in_progress", "queries": queries or [], "results": None}
        sink.open_item(dict(item))
        sink.item_event("response.file_search_call.in_progress")
        if not queries:
            return failed_outcome(sink, item, 'The arguments must be a JSON object {"queries": '
                                       "[string, ...]} with at least one non-empty query.")
        sink.item_event("response.file_search_call.searching")
        try:
            hits = await hybrid_search(self.store, self.embedder, self.vector_store_ids,
                                       queries, max_results=self.max_results,
                                       filters=self.filters,
                                       ranking_options=self.ranking_options)
        except ResponsaError as exc:
            return failed_outcome(sink, item, f"The file search failed: {exc.message}")
        sink.item_event("response.file_search_call.completed")
        done = {**item, "status": "completed", "results": [_result(hit) for hit in hits]}
        sink.close_item(done)
        return HostedOutcome(done, self._numbered(hits))

    async def aclose(self) -> None:
        return None

    def _numbered(self, hits: list[SearchHit]) -> str:
        if not hits:
            return "No matching content was found in the files."
        blocks = []
        for hit in hits:
            known = next((n for n, seen in enumerate(self.results, 1)
                          if (seen.file_id, seen.text) == (hit.file_id, hit.text)), None)
            if known is None:
                self.results.append(hit)
                known = len(self.results)
            blocks.append(f"[{known}] {hit.filename}\n{hit.text}")
        return "\n\n".join(blocks)

    def citations(self, text: str) -> list[JSONDict]:
        """`file_citation`s for `text`: each `[n]` naming a result shown, and each result's
        file name written out, in the order they appear."""
        found: dict[int, JSONDict] = {}
        for match in _MARKER.finditer(text):
            number = int(match.group(1))
            if 1 <= number <= len(self.results):
                found[match.start()] = _citation(self.results[number - 1], match.start())
        for hit in self.results:
            start = text.find(hit.filename)
            while start != -1:
                found.setdefault(start, _citation(hit, start))
                start = text.find(hit.filename, start + len(hit.filename))
        return [found[start] for start in sorted(found)]


_MARKER = re.compile(r"\[(\d{1,3})\]")


def _citation(hit: SearchHit, index: int) -> JSONDict:
    return {"type": "file_citation", "file_id": hit.file_id, "filename": hit.filename,
            "index": index}


def _result(hit: SearchHit) -> JSONDict:
    return {"file_id": hit.file_id, "filename": hit.filename, "score": hit.score,
            "text": hit.text, "attributes": hit.attributes}


def _queries(arguments: str) -> list[str]:
    """The queries of a call; a bare `query` string is taken too (small models write it)."""
    try:
        parsed = json.loads(arguments or "{}")
    except json.JSONDecodeError:
        return []
    if not isinstance(parsed, dict):
        return []
    raw = parsed.get("queries", parsed.get("query"))
    values = raw if isinstance(raw, list) else [raw]
    return [value.strip() for value in values if isinstance(value, str) and value.strip()]


def file_search_factory(tool: JSONDict, index: int, services: ToolServices) -> FileSearchTool:
    if services.files is None:
        raise RuntimeError("file_search built without file services")
    limit = tool.get("max_num_results")
    if limit is not None and not 1 <= limit <= MAX_RESULTS:
        raise InvalidRequestError(
            f"Invalid 'tools[{index}].max_num_results': expected a value between 1 and "
            f"{MAX_RESULTS}, but got {limit} instead.",
            param=f"tools[{index}].max_num_results",
            code="integer_below_min_value" if limit < 1 else "integer_above_max_value")
    return FileSearchTool(
        type=tool["type"], store=services.store, embedder=services.files.embedder,
        vector_store_ids=list(tool.get("vector_store_ids") or ()),
        max_results=limit or DEFAULT_RESULTS, filters=tool.get("filters"),
        ranking_options=tool.get("ranking_options"), index=index)


def replay(item: JSONDict) -> list[JSONDict]:
    """A stored search as the model saw it: its queries and the results (stored whole)."""
    results = item.get("results") or []
    if item.get("status") != "completed":
        output = "The file search failed."
    elif results:
        output = "\n\n".join(f"[{n}] {r.get('filename')}\n{r.get('text')}"
                             for n, r in enumerate(results, 1))
    else:
        output = "No matching content was found in the files."
    return [
        {"type": "function_call", "call_id": item["id"], "name": FUNCTION_NAME,
         "arguments": json.dumps({"queries": item.get("queries") or []})},
        {"type": "function_call_output", "call_id": item["id"], "output": output},
    ]


FACTORIES["file_search"] = file_search_factory
REPLAYS["file_search_call"] = replay
