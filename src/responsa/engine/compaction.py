"""Compaction: a model-written summary in place of the older part of a context.

`POST /v1/responses/compact` (`compact`) takes the effective context — the stored chain behind
`previous_response_id`, then `input` — and returns a compacted window: the **most recent user
message, verbatim**, followed by one `compaction` item whose sealed summary covers everything
else (older user messages, assistant messages, tool calls and outputs, reasoning, earlier
compaction items). A context that is a single user message is summarized whole. Feeding the
output back as input (with `store: false` too) shows the model the kept message and the
summary (`compaction_items.expand_compactions`).

`context_management: [{"type": "compaction", "compact_threshold": N}]` on create
(`auto_compact`): when the effective context counts more than N input tokens
(`provider.count_input_tokens`), the part before this request's input (or, with no history,
before its last user message) is summarized first; the model then reads the summary followed by
the rest, and the response's output starts with the `compaction` item. A later turn that
continues the chain drops the items that item covers.

The summary is one non-streaming call to the same model with `SUMMARY_INSTRUCTIONS`; the
conversation is handed over as a plain-text transcript, so any provider can summarize any item.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from responsa.engine.compaction_items import Sealer, expand_compactions
from responsa.engine.context import with_id
from responsa.errors import InvalidRequestError, UpstreamStatusError
from responsa.ids import new_id
from responsa.providers.base import ModelRequest, Provider
from responsa.providers.deltas import TextDelta, Usage
from responsa.providers.registry import ProviderRegistry
from responsa.providers.tool_surface import as_function_call, as_function_output, call_id_of
from responsa.store.base import Store

JSONDict = dict[str, Any]

SUMMARY_INSTRUCTIONS = (
    "You compact conversations. Write a concise summary of the conversation below that lets "
    "the assistant continue it without the original: the user's goals and constraints, "
    "decisions made, facts and results established (tool results included), and what "
    "remains to be done. Reply with the summary only."
)

# A summary is a fraction of what it replaces; the cap stops a model that never ends.
SUMMARY_MAX_OUTPUT_TOKENS = 2048


async def summarize(provider: Provider, model: str, items: list[JSONDict],
                    instructions: str | None = None) -> tuple[str, Usage | None]:
    """The model's summary of `items` (already expanded), and the call's usage."""
    transcript = "\n\n".join(filter(None, (_line(item) for item in items)))
    if instructions:
        transcript = f"instructions: {instructions}\n\n{transcript}"
    request = ModelRequest(
        model=model, stream=False, instructions=SUMMARY_INSTRUCTIONS,
        max_output_tokens=SUMMARY_MAX_OUTPUT_TOKENS,
        input=[{"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": f"Conversation to summarize:\n\n{transcript}"}]}])
    chunks: list[str] = []
    usage: Usage | None = None
    try:
        async with provider.open(request) as deltas:
            async for delta in deltas:
                if isinstance(delta, TextDelta):
                    chunks.append(delta.text)
                elif isinstance(delta, Usage):
                    usage = delta
    except UpstreamStatusError as exc:
        if exc.is_client_error:
            raise InvalidRequestError(exc.message, code="upstream_rejected_request") from exc
        raise
    return "".join(chunks).strip(), usage


async def compact(store: Store, providers: ProviderRegistry, sealer: Sealer,
                  body: JSONDict) -> JSONDict:
    """The `CompactedResponse` for a validated `CompactRequest` body."""
    model = body.get("model")
    provider, upstream_model = providers.resolve(model) if model else (None, "")
    history: list[JSONDict] = []
    previous_id = body.get("previous_response_id")
    if previous_id:
        found = await store.get_context(previous_id)
        previous = await store.get_response(previous_id) if found is not None else None
        if found is None or previous is None:
            raise InvalidRequestError(f"Previous response with id '{previous_id}' not found.",
                                      param="previous_response_id",
                                      code="previous_response_not_found")
        history = found
        if model is None:
            model = str(previous["model"])
            provider, upstream_model = providers.resolve(model)
    assert provider is not None and model is not None
    items = history + [with_id(item) for item in body.get("input") or ()]
    expanded = expand_compactions(items, sealer, first_new=len(history))
    if not expanded:
        raise InvalidRequestError("There is nothing to compact: 'input' is empty.",
                                  param="input", code="empty_input")
    summary_ids = {item.get("id") for item in items if item["type"] == "compaction"}
    kept_at = _last_user_message(expanded, summary_ids)
    kept = [] if kept_at is None or len(expanded) == 1 else [expanded[kept_at]]
    covered = [item for item in expanded if not any(item is k for k in kept)]
    summary, usage = await summarize(provider, upstream_model, covered, body.get("instructions"))
    covers = [str(item["id"]) for item in items
              if item.get("id") is not None and not any(item is k for k in kept)]
    output = [*kept, compaction_item(sealer, summary, covers)]
    return {"id": new_id("resp"), "object": "response.compaction",
            "created_at": int(time.time()), "output": output, "usage": usage_object(usage)}


def compaction_item(sealer: Sealer, summary: str, covers: list[str],
                    item_id: str | None = None) -> JSONDict:
    return {"id": item_id or new_id("cmp"), "type": "compaction",
            "encrypted_content": sealer.seal(summary, covers)}


def split_compaction_trigger(body: JSONDict) -> tuple[JSONDict, bool]:
    """The body without a final `compaction_trigger` input item, and whether it had one.

    The trigger (Codex's remote compaction v2) asks for the whole context to be compacted
    instead of answered: the response's output is exactly one `compaction` item. It is a
    control signal, so it is not kept as an input item.
    """
    items = body.get("input") or []
    for position, item in enumerate(items[:-1]):
        if item["type"] == "compaction_trigger":
            raise InvalidRequestError(
                "The 'compaction_trigger' item must be the final input item.",
                param=f"input[{position}]", code="invalid_value")
    if not items or items[-1]["type"] != "compaction_trigger":
        return body, False
    return {**body, "input": items[:-1]}, True


def compact_threshold(body: JSONDict) -> int | None:
    """The token threshold of a `compaction` entry of `context_management`, if any. Entries
    of other types are refused; an entry without a threshold never triggers (there is no
    context window to default to)."""
    threshold: int | None = None
    for index, entry in enumerate(body.get("context_management") or ()):
        if entry.get("type") != "compaction":
            raise InvalidRequestError(
                f"Invalid value: '{entry.get('type')}'. Supported values are: 'compaction'.",
                param=f"context_management[{index}].type", code="invalid_value")
        if entry.get("compact_threshold") is not None:
            threshold = int(entry["compact_threshold"])
    return threshold


async def auto_compact(provider: Provider, request: ModelRequest, sealer: Sealer, *,
                       threshold: int, first_new: int) -> JSONDict | None:
    """Compact `request.input` in place when it counts more than `threshold` tokens; returns the
    `compaction` item to put first in the output, or None when nothing was compacted."""
    if await provider.count_input_tokens(request) <= threshold:
        return None
    items = request.input
    split = first_new
    if split == 0:
        split = _last_user_message(items, set()) or 0
    # A kept tool output needs its call: never summarize a call whose output is kept.
    kept_outputs = {call_id_of(item) for item in items[split:]
                    if as_function_output(item) is not None}
    for position, item in enumerate(items[:split]):
        if as_function_call(item) is not None and call_id_of(item) in kept_outputs:
            split = position
            break
    if split == 0:
        return None
    older = items[:split]
    summary, _ = await summarize(provider, request.model, older, request.instructions)
    item = compaction_item(sealer, summary,
                           [str(i["id"]) for i in older if i.get("id") is not None])
    request.input = expand_compactions([{**item, "id": None}, *items[split:]], sealer,
                                       first_new=0)
    return item


def usage_object(usage: Usage | None) -> JSONDict:
    usage = usage or Usage(0, 0)
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_tokens,
                                 "cache_write_tokens": 0},
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.input_tokens + usage.output_tokens,
    }


def _last_user_message(items: list[JSONDict], summary_ids: set[Any]) -> int | None:
    for position in range(len(items) - 1, -1, -1):
        item = items[position]
        if (item["type"] == "message" and item.get("role") == "user"
                and (item.get("id") is None or item["id"] not in summary_ids)):
            return position
    return None


def _line(item: JSONDict) -> str:
    kind = item["type"]
    if kind == "message":
        return f"{item.get('role')}: {_text(item.get('content'))}"
    if kind == "function_call":
        return f"assistant called tool {item.get('name')}({item.get('arguments')})"
    if kind == "function_call_output":
        return f"tool result for {item.get('call_id')}: {_text(item.get('output'))}"
    if kind in ("reasoning", "compaction_trigger"):
        return ""
    rest = {key: value for key, value in item.items() if key not in ("id", "status")}
    return f"{kind}: {orjson.dumps(rest).decode()}"


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    texts: list[str] = []
    for part in content or ():
        kind = part.get("type")
        if kind in ("input_text", "output_text", "text"):
            texts.append(str(part.get("text", "")))
        elif kind == "refusal":
            texts.append(str(part.get("refusal", "")))
        else:
            texts.append(f"[{kind}]")
    return "\n".join(texts)
