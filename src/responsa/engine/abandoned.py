"""Ending a background run whose replica died mid-stream, from what it had stored.

The stored log and snapshot are all that is left of the run. The item the run had open is
closed as `incomplete` from the deltas in the log (so every `.added` still has its `.done`), then
the response ends as `failed` with a `server_error`, or as `cancelled` when a cancel was asked.
"""

from __future__ import annotations

from typing import Any

JSONDict = dict[str, Any]
STOPPED = "The server running this response stopped before it finished."

_PART_TEXT = {  # content part type -> (its .done event, the part's text field)
    "output_text": ("response.output_text.done", "text"),
    "refusal": ("response.refusal.done", "refusal"),
    "reasoning_text": ("response.reasoning_text.done", "text"),
}


class _OpenItem:
    def __init__(self, event: JSONDict) -> None:
        self.item: JSONDict = {**event["item"]}
        self.output_index: int = event["output_index"]
        self.part: JSONDict | None = None
        self.content_index = -1
        self.done_parts: list[JSONDict] = []
        self.chunks: list[str] = []


def close_abandoned(snapshot: JSONDict, log: list[JSONDict], *,
                    cancelled: bool) -> list[JSONDict]:
    """The events that end the run (the snapshot is updated in place to its final state)."""
    current = _open_item(log)
    sequence = log[-1]["sequence_number"] + 1 if log else 0
    events: list[JSONDict] = []

    def emit(kind: str, **fields: Any) -> None:
        nonlocal sequence
        events.append({"type": kind, "sequence_number": sequence, **fields})
        sequence += 1

    if current is not None:
        item = current.item
        base = {"item_id": item["id"], "output_index": current.output_index}
        if item["type"] == "function_call":
            item["arguments"] = "".join(current.chunks)
            emit("response.function_call_arguments.done", **base,
                 arguments=item["arguments"], name=item.get("name", ""))
        elif item["type"] == "custom_tool_call":
            item["input"] = "".join(current.chunks)
            emit("response.custom_tool_call_input.done", **base, input=item["input"])
        elif current.part is not None:
            part, text = current.part, "".join(current.chunks)
            done, field = _PART_TEXT.get(part["type"], ("response.output_text.done", "text"))
            part[field] = text
            extra: JSONDict = {"logprobs": []} if part["type"] == "output_text" else {}
            emit(done, **base, content_index=current.content_index, **{field: text}, **extra)
            current.done_parts.append(part)
            emit("response.content_part.done", **base, content_index=current.content_index,
                 part=part)
        if "content" in item:
            item["content"] = current.done_parts
        item["status"] = "incomplete"
        emit("response.output_item.done", output_index=current.output_index, item=item)
        output = snapshot.setdefault("output", [])
        if current.output_index < len(output):
            output[current.output_index] = item
        else:
            output.append(item)
    if cancelled:
        snapshot["status"] = "cancelled"  # like a live cancel: no event marks it
        return events
    snapshot["status"] = "failed"
    snapshot["error"] = {"code": "server_error", "message": STOPPED}
    emit("response.failed", response=snapshot)
    return events


def _open_item(log: list[JSONDict]) -> _OpenItem | None:
    """The item added but not done by the end of the log, with its deltas folded in."""
    current: _OpenItem | None = None
    for event in log:
        kind = event["type"]
        if kind == "response.output_item.added":
            current = _OpenItem(event)
        elif current is None:
            continue
        elif kind == "response.output_item.done":
            current = None
        elif kind == "response.content_part.added":
            current.part, current.chunks = {**event["part"]}, []
            current.content_index = event["content_index"]
        elif kind == "response.content_part.done":
            current.part = None
            current.done_parts.append(event["part"])
        elif kind.endswith(".delta"):
            current.chunks.append(event["delta"])
    return current
