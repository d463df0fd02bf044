"""The response builder: the only place that turns provider deltas into Responses events.

It alone owns `sequence_number`, `output_index`, `content_index`, item ids and item statuses, so
the event grammar (api-surface §4.4) holds by construction: `response.created` first, every
`output_item.added` closed by an `output_item.done` before the next item opens, content parts
bracketed by `content_part.added`/`.done`, and exactly one terminal event.

It is sans-I/O: `start()`, `feed()`, `finish()` and `fail()` return lists of event dicts, and the
caller decides where they go (an SSE socket, the store, or nowhere for a non-streaming request).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from responsa.errors import ResponsaError, UpstreamProtocolError
from responsa.ids import new_id
from responsa.providers.deltas import (
    REASONING_STATE_KEY,
    AnnotationDelta,
    Delta,
    Finish,
    ReasoningDelta,
    ReasoningState,
    ReasoningSummaryDelta,
    RefusalDelta,
    RelayedItem,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from responsa.providers.tool_surface import (
    ITEM_ID_PREFIXES,
    ITEM_TYPES,
    call_fields,
    kind_of_call,
)

JSONDict = dict[str, Any]
Event = JSONDict

_INCOMPLETE_REASONS = {"length": "max_output_tokens", "content_filter": "content_filter"}
# Seals a finished reasoning item (and its provider state) into its `encrypted_content`.
Seal = Callable[[JSONDict, JSONDict], str]


class _OpenItem:
    """The item currently being streamed, with its open content part (if any)."""

    __slots__ = (
        "annotations",
        "chunks",
        "item",
        "logprobs",
        "output_index",
        "part",
        "part_index",
        "part_kind",
        "state",
        "summary_key",
        "tool_index",
    )

    def __init__(self, item: JSONDict, output_index: int, tool_index: int | None = None) -> None:
        self.item = item
        self.output_index = output_index
        self.tool_index = tool_index
        self.part: JSONDict | None = None
        self.part_index = -1
        self.part_kind = ""
        self.chunks: list[str] = []
        self.logprobs: list[JSONDict] = []
        self.annotations: list[JSONDict] = []
        self.state: JSONDict = {}  # a reasoning item's ReasoningState, merged
        self.summary_key: int | None = None  # the upstream's index of the open summary part


class ResponseBuilder:
    """Builds one response's events. `response` is the initial snapshot (status, echo fields);
    the builder updates it in place and it is the final Response object once a terminal event
    was produced."""

    def __init__(self, response: JSONDict, *, include_logprobs: bool = False,
                 seal: Seal | None = None) -> None:
        self.response = response
        self._include_logprobs = include_logprobs
        self._seal = seal  # set when the client asked for `reasoning.encrypted_content`
        self._seq = 0
        self._open: _OpenItem | None = None
        self._usage: Usage | None = None  # of the current model call
        self._earlier_usage: Usage | None = None  # of the response's earlier model calls
        self._finish: str | None = None
        self._closed_tool_indexes: set[int] = set()
        self._reasoning_states: dict[str, JSONDict] = {}  # item id → its ReasoningState
        self.terminal = False
        # Annotations for each finished `output_text` part (hosted web search's citations).
        self.annotate: Callable[[str], list[JSONDict]] | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self, *, queued: bool = False) -> list[Event]:
        self.response["status"] = "queued" if queued else "in_progress"
        events = [self._lifecycle("response.created")]
        if queued:
            events.append(self._lifecycle("response.queued"))
            self.response["status"] = "in_progress"
        events.append(self._lifecycle("response.in_progress"))
        return events

    def feed(self, delta: Delta) -> list[Event]:
        if isinstance(delta, TextDelta):
            return self._content_delta("output_text", delta.text, delta.logprobs)
        if isinstance(delta, ToolCallDelta):
            return self._tool_call_delta(delta)
        if isinstance(delta, AnnotationDelta):
            return self._annotation(delta.annotation)
        if isinstance(delta, ReasoningDelta):
            return self._reasoning_delta(delta.text)
        if isinstance(delta, ReasoningSummaryDelta):
            return self._summary_delta(delta.text, delta.index)
        if isinstance(delta, ReasoningState):
            return self._reasoning_state(delta)
        if isinstance(delta, RefusalDelta):
            return self._content_delta("refusal", delta.text, None)
        if isinstance(delta, RelayedItem):
            prefix = _RELAYED_ID_PREFIXES.get(delta.item["type"], "item")
            item = {"status": "completed", **delta.item, "id": new_id(prefix)}
            return [*self.open_hosted({**item, "status": "in_progress"}),
                    *self.close_hosted(item)]
        if isinstance(delta, Usage):
            self._usage = delta  # an upstream may repeat its running total: the last one counts
            return []
        if isinstance(delta, Finish):
            self._finish = delta.reason
            return []
        raise TypeError(f"unknown delta {delta!r}")

    def add_item(self, item: JSONDict) -> list[Event]:
        """A finished item from outside the model's stream (a `compaction` item), added and
        done at once, before the model's own items."""
        events = self._close_item("completed")
        events.append(self._open_item(item))
        self._open = None
        events.append(self._event("response.output_item.done",
                                  output_index=len(self.response["output"]) - 1, item=item))
        return events

    def next_turn(self) -> list[Event]:
        """The engine calls the model again (after running hosted tools): the next call numbers
        its tool calls from 0 again, so earlier indexes are forgotten."""
        events = self._close_item("completed")
        self._closed_tool_indexes.clear()
        # One response may call the model several times: the usage of each call adds up.
        if self._usage is not None:
            self._earlier_usage = (self._usage if self._earlier_usage is None
                                   else _add_usage(self._earlier_usage, self._usage))
            self._usage = None
        return events

    def for_provider(self, items: list[JSONDict]) -> list[JSONDict]:
        """Output items as the provider that made them reads them again within this response
        (a turn after hosted tools ran): reasoning items with their provider state (Anthropic
        wants its signed thinking back before the tool results)."""
        return [{**item, REASONING_STATE_KEY: self._reasoning_states[item["id"]]}
                if item.get("id") in self._reasoning_states else item for item in items]

    # -- hosted tool items (tools/base.py OutputSink) ----------------------------------------

    def open_hosted(self, item: JSONDict) -> list[Event]:
        """Open an item a hosted tool streams itself (`file_search_call`, `mcp_call` …)."""
        events = self._close_item("completed")
        events.append(self._open_item(item))
        return events

    def hosted_event(self, type_: str, **fields: Any) -> list[Event]:
        current = self._open
        if current is None:
            raise RuntimeError(f"{type_} emitted with no open item")
        return [self._event(type_, item_id=current.item["id"],
                            output_index=current.output_index, **fields)]

    def close_hosted(self, item: JSONDict) -> list[Event]:
        """Close the open hosted item with its finished form (status set by the tool)."""
        current = self._open
        if current is None or current.item["id"] != item["id"]:
            raise RuntimeError(f"item {item.get('id')} closed but not open")
        self._open = None
        self.response["output"][current.output_index] = item
        return [self._event("response.output_item.done", output_index=current.output_index,
                            item=item)]

    def finish(self) -> list[Event]:
        """Close the open item and emit `response.completed` or `response.incomplete`."""
        reason = _INCOMPLETE_REASONS.get(self._finish or "stop")
        events = self._close_item("incomplete" if reason else "completed")
        self.response["usage"] = self._usage_object()
        if reason:
            self.response["status"] = "incomplete"
            self.response["incomplete_details"] = {"reason": reason}
            events.append(self._terminal("response.incomplete"))
        else:
            self.response["status"] = "completed"
            self.response["completed_at"] = int(time.time())
            events.append(self._terminal("response.completed"))
        return events

    def fail(self, error: ResponsaError) -> list[Event]:
        """End with `response.failed`; a half-streamed item is closed as `incomplete` first so
        every `output_item.added` still has its `.done`."""
        events = self._close_item("incomplete")
        self.response["status"] = "failed"
        self.response["error"] = {"code": error.code or "server_error", "message": error.message}
        self.response["usage"] = self._usage_object()
        events.append(self._terminal("response.failed"))
        return events

    def cancel(self) -> list[Event]:
        """End as `cancelled` (client gone or cancel requested). No event of the real API marks
        this, so only the closing of the open item is emitted; the snapshot carries the status."""
        events = self._close_item("incomplete")
        self.response["status"] = "cancelled"
        self.response["usage"] = self._usage_object()
        self.terminal = True
        return events

    # -- items ---------------------------------------------------------------------------------

    def _content_delta(self, kind: str, text: str, logprobs: list[JSONDict] | None, *,
                       force: bool = False) -> list[Event]:
        """Text into the open part of `kind`; `force` opens the part even with no text."""
        if not text and not logprobs and not force:
            return []
        events: list[Event] = []
        current = self._open
        if current is None or current.item["type"] != "message":
            events += self._close_item("completed")
            item = {"id": new_id("msg"), "type": "message", "status": "in_progress",
                    "content": [], "role": "assistant"}
            events.append(self._open_item(item))
            current = self._open
            assert current is not None
        if current.part_kind != kind:
            events += self._close_part(current)
            events.append(self._open_part(current, kind))
        if not text and not logprobs:
            return events
        current.chunks.append(text)
        # Built in place, not through `_event(**fields)`: this runs once per token.
        text_part = kind == "output_text"
        event = {"type": _TEXT_DELTA if text_part else _REFUSAL_DELTA,
                 "sequence_number": self._seq, "item_id": current.item["id"],
                 "output_index": current.output_index, "content_index": current.part_index,
                 "delta": text}
        self._seq += 1
        if text_part:
            entries = logprobs if self._include_logprobs and logprobs else []
            current.logprobs.extend(entries)
            event["logprobs"] = entries
        events.append(event)
        return events

    def _annotation(self, annotation: JSONDict) -> list[Event]:
        """An annotation on the output text part being streamed (one is opened if needed)."""
        current = self._open
        events: list[Event] = []
        if current is None or current.part_kind != "output_text":
            events += self._content_delta("output_text", "", None, force=True)
            current = self._open
            assert current is not None
        current.annotations.append(annotation)
        events.append(self._event("response.output_text.annotation.added",
                                  item_id=current.item["id"], output_index=current.output_index,
                                  content_index=current.part_index,
                                  annotation_index=len(current.annotations) - 1,
                                  annotation=annotation))
        return events

    def _reasoning_item(self) -> tuple[_OpenItem, list[Event]]:
        """The open reasoning item, opened (closing any other) if needed."""
        current = self._open
        if current is not None and current.item["type"] == "reasoning":
            return current, []
        events = self._close_item("completed")
        item = {"id": new_id("rs"), "type": "reasoning", "summary": [], "content": [],
                "status": "in_progress"}
        events.append(self._open_item(item))
        assert self._open is not None
        return self._open, events

    def _reasoning_delta(self, text: str) -> list[Event]:
        if not text:
            return []
        current, events = self._reasoning_item()
        if current.part_kind != "reasoning_text":
            events += self._close_part(current)
            events.append(self._open_part(current, "reasoning_text"))
        current.chunks.append(text)
        events.append(self._event("response.reasoning_text.delta", item_id=current.item["id"],
                                  output_index=current.output_index,
                                  content_index=current.part_index, delta=text))
        return events

    def _summary_delta(self, text: str, key: int) -> list[Event]:
        """Summary text; a new upstream `summary_index` opens the next summary part."""
        if not text:
            return []
        current, events = self._reasoning_item()
        if current.part_kind != "summary_text" or current.summary_key != key:
            events += self._close_part(current)
            events.append(self._open_part(current, "summary_text"))
            current.summary_key = key
        current.chunks.append(text)
        events.append(self._event("response.reasoning_summary_text.delta",
                                  item_id=current.item["id"], output_index=current.output_index,
                                  summary_index=len(current.item["summary"]), delta=text))
        return events

    def _reasoning_state(self, delta: ReasoningState) -> list[Event]:
        """Provider state for the reasoning being streamed (a redacted block may be all there
        is of it: the item then has no text, only its `encrypted_content`)."""
        current, events = self._reasoning_item()
        if delta.blocks:
            current.state.setdefault("blocks", []).extend(delta.blocks)
        if delta.encrypted_content is not None:
            current.state["encrypted_content"] = delta.encrypted_content
        return events

    def _tool_call_delta(self, delta: ToolCallDelta) -> list[Event]:
        events: list[Event] = []
        current = self._open
        if current is None or current.tool_index != delta.index:
            if delta.index in self._closed_tool_indexes:
                # Upstreams stream calls one after another; a fragment for a call we already
                # closed would need the grammar reopened, which the Responses API cannot express.
                raise UpstreamProtocolError(
                    "upstream", f"tool call {delta.index} continued after it was closed")
            events += self._close_item("completed")
            item = _call_item(delta)
            if delta.kind in _STREAMED_KINDS:
                events.append(self._open_item(item, tool_index=delta.index))
            else:  # announced once its arguments are whole (see `_close_item`)
                self._open = _OpenItem(item, len(self.response["output"]), delta.index)
                self.response["output"].append(item)
            current = self._open
            assert current is not None
        elif delta.name and not current.item.get("name"):
            current.item["name"] = delta.name
        if delta.arguments:
            current.chunks.append(delta.arguments)
            kind = current.item["type"]
            if kind in _DELTA_EVENTS:
                events.append(self._event(_DELTA_EVENTS[kind], item_id=current.item["id"],
                                          output_index=current.output_index,
                                          delta=delta.arguments))
        return events

    def _open_item(self, item: JSONDict, tool_index: int | None = None) -> Event:
        output = self.response["output"]
        self._open = _OpenItem(item, len(output), tool_index)
        output.append(item)
        # The added event carries a copy: the item keeps changing until its `.done`.
        return self._event("response.output_item.added", output_index=self._open.output_index,
                           item=_copy_item(item))

    def _close_item(self, status: str) -> list[Event]:
        current = self._open
        if current is None:
            return []
        self._open = None
        item = current.item
        events: list[Event] = []
        kind = item["type"]
        if current.tool_index is not None:
            self._closed_tool_indexes.add(current.tool_index)
            closing = self._close_call(current, status)
            if closing is None:  # never announced, and not a whole call to announce now
                self.response["output"].pop()
                return []
            events += closing
        else:
            events += self._close_part(current)
        if kind == "reasoning" and current.state:
            self._reasoning_states[item["id"]] = current.state
        if kind == "reasoning" and self._seal is not None:
            item["encrypted_content"] = self._seal(item, current.state)
        item["status"] = status
        events.append(self._event("response.output_item.done",
                                  output_index=current.output_index, item=item))
        return events

    def _close_call(self, current: _OpenItem, status: str) -> list[Event] | None:
        """A tool call's arguments are whole: its `.done` event, or its whole item for the
        kinds announced only now. None drops such an item: a call cut short (or one whose
        arguments make no item) is not the client's to run."""
        item, text = current.item, "".join(current.chunks)
        base = {"item_id": item["id"], "output_index": current.output_index}
        kind = item["type"]
        if kind == "function_call":
            item["arguments"] = text
            return [self._event("response.function_call_arguments.done", **base,
                                arguments=text, name=item["name"])]
        if kind == "custom_tool_call":
            item["input"] = text
            return [self._event("response.custom_tool_call_input.done", **base, input=text)]
        if status != "completed":
            return None
        try:
            item.update(call_fields(kind_of_call(kind) or "function", text))
        except ValueError as exc:
            self.response["output"].pop()
            raise UpstreamProtocolError("upstream", f"the model's {kind}: {exc}") from exc
        events = [self._event("response.output_item.added", output_index=current.output_index,
                              item=_copy_item(item))]
        if kind == "shell_call":
            events += self._shell_commands(current.output_index, item["action"]["commands"])
        return events

    def _shell_commands(self, output_index: int, commands: list[str]) -> list[Event]:
        """Each command of a shell call as the API streams it: added empty, one delta, done.
        (Its `shell_call_output_content` events are the client's to produce, not ours.)"""
        events: list[Event] = []
        for index, command in enumerate(commands):
            base = {"output_index": output_index, "command_index": index}
            events += [self._event("response.shell_call_command.added", **base, command=""),
                       self._event("response.shell_call_command.delta", **base, delta=command),
                       self._event("response.shell_call_command.done", **base, command=command)]
        return events

    def _open_part(self, current: _OpenItem, kind: str) -> Event:
        current.part_kind = kind
        current.chunks = []
        current.logprobs = []
        current.annotations = []
        if kind == "summary_text":  # numbered apart from content parts, by `summary_index`
            current.part = {"type": "summary_text", "text": ""}
            return self._event("response.reasoning_summary_part.added",
                               item_id=current.item["id"], output_index=current.output_index,
                               summary_index=len(current.item["summary"]),
                               part=dict(current.part))
        current.part_index += 1
        if kind == "output_text":
            part: JSONDict = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
        elif kind == "refusal":
            part = {"type": "refusal", "refusal": ""}
        else:
            part = {"type": "reasoning_text", "text": ""}
        current.part = part
        return self._event("response.content_part.added", item_id=current.item["id"],
                           output_index=current.output_index, content_index=current.part_index,
                           part=dict(part))

    def _close_part(self, current: _OpenItem) -> list[Event]:
        part = current.part
        if part is None:
            return []
        current.part = None
        current.part_kind = ""
        text = "".join(current.chunks)
        kind = part["type"]
        if kind == "summary_text":
            return self._close_summary_part(current, part, text)
        base = {"item_id": current.item["id"], "output_index": current.output_index,
                "content_index": current.part_index}
        events: list[Event] = []
        if kind == "output_text":
            part["text"] = text
            part["annotations"] = current.annotations
            part["logprobs"] = current.logprobs
            for annotation in self.annotate(text) if self.annotate else ():
                current.annotations.append(annotation)
                events.append(self._event("response.output_text.annotation.added", **base,
                                          annotation_index=len(current.annotations) - 1,
                                          annotation=annotation))
            events.append(self._event("response.output_text.done", **base, text=text,
                                      logprobs=current.logprobs))
        elif kind == "refusal":
            part["refusal"] = text
            events.append(self._event("response.refusal.done", **base, refusal=text))
        else:
            part["text"] = text
            events.append(self._event("response.reasoning_text.done", **base, text=text))
        current.item["content"].append(part)
        events.append(self._event("response.content_part.done", **base, part=part))
        return events

    def _close_summary_part(self, current: _OpenItem, part: JSONDict, text: str) -> list[Event]:
        part["text"] = text
        summaries: list[JSONDict] = current.item["summary"]
        base = {"item_id": current.item["id"], "output_index": current.output_index,
                "summary_index": len(summaries)}
        summaries.append(part)
        current.summary_key = None
        return [self._event("response.reasoning_summary_text.done", **base, text=text),
                self._event("response.reasoning_summary_part.done", **base, part=dict(part))]

    # -- events --------------------------------------------------------------------------------

    def _event(self, type_: str, **fields: Any) -> Event:
        event = {"type": type_, "sequence_number": self._seq, **fields}
        self._seq += 1
        return event

    def _lifecycle(self, type_: str) -> Event:
        # Lifecycle snapshots are taken now; later mutations of the response must not leak in.
        snapshot = {**self.response, "output": list(self.response["output"])}
        return self._event(type_, response=snapshot)

    def _terminal(self, type_: str) -> Event:
        self.terminal = True
        return self._event(type_, response=self.response)

    def _usage_object(self) -> JSONDict | None:
        usage, earlier = self._usage, self._earlier_usage
        if earlier is not None:
            usage = earlier if usage is None else _add_usage(earlier, usage)
        if usage is None:
            return None
        return {
            "input_tokens": usage.input_tokens,
            "input_tokens_details": {"cached_tokens": usage.cached_tokens, "cache_write_tokens": 0},
            "output_tokens": usage.output_tokens,
            "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
            "total_tokens": usage.input_tokens + usage.output_tokens,
        }

    @property
    def next_sequence_number(self) -> int:
        return self._seq


_TEXT_DELTA = "response.output_text.delta"
_REFUSAL_DELTA = "response.refusal.delta"
# Items relayed from a native upstream, by the prefix of the id they get here.
_RELAYED_ID_PREFIXES = {"tool_search_call": "tsc", "tool_search_output": "tso"}
# Call kinds streamed as they come (the others are added whole, once their arguments are).
_STREAMED_KINDS = frozenset({"function", "custom"})
_DELTA_EVENTS = {"function_call": "response.function_call_arguments.delta",
                 "custom_tool_call": "response.custom_tool_call_input.delta"}


def _call_item(delta: ToolCallDelta) -> JSONDict:
    """A tool call's item as it opens, by kind (providers/tool_surface.py)."""
    item: JSONDict = {"id": new_id(ITEM_ID_PREFIXES[delta.kind]), "type": ITEM_TYPES[delta.kind],
                      "status": "in_progress", "call_id": delta.call_id or new_id("call")}
    if delta.kind == "function":
        item.update(name=delta.name or "", arguments="")
    elif delta.kind == "custom":
        item.update(name=delta.name or "", input="")
    if delta.namespace is not None:
        item["namespace"] = delta.namespace
    return item


def _copy_item(item: JSONDict) -> JSONDict:
    copy = dict(item)
    for key in ("content", "summary"):
        if key in copy:
            copy[key] = list(copy[key])
    return copy


def _add_usage(first: Usage, second: Usage) -> Usage:
    return Usage(input_tokens=first.input_tokens + second.input_tokens,
                 output_tokens=first.output_tokens + second.output_tokens,
                 cached_tokens=first.cached_tokens + second.cached_tokens,
                 reasoning_tokens=first.reasoning_tokens + second.reasoning_tokens)
