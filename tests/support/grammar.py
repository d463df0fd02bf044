"""An independent checker of the Responses event grammar (api-surface §4.3 to 4.5).

Used on the builder's output and on what clients receive over the wire, so the two are held to
the same rules as the official SDK's stream helper, and a little more.
"""

from __future__ import annotations

from typing import Any

TERMINAL = {"response.completed", "response.incomplete", "response.failed"}
LIFECYCLE = {"response.created", "response.queued", "response.in_progress"} | TERMINAL
_TEXT_DELTAS = {
    "response.output_text.delta": ("response.output_text.done", "text", "output_text"),
    "response.refusal.delta": ("response.refusal.done", "refusal", "refusal"),
    "response.reasoning_text.delta": ("response.reasoning_text.done", "text", "reasoning_text"),
}
# Items a server-run tool produces may also end failed.
_FINAL_STATUSES = {kind: ("completed", "incomplete", "failed") for kind in (
    "mcp_call", "file_search_call", "web_search_call", "code_interpreter_call",
    "image_generation_call")}
_DONE_TO_DELTA = {done: delta for delta, (done, _, _) in _TEXT_DELTAS.items()}


def assert_valid_stream(events: list[dict[str, Any]], *, allow_unterminated: bool = False) -> None:
    assert events, "no events"
    assert events[0]["type"] == "response.created", events[0]["type"]
    assert [e["sequence_number"] for e in events] == list(range(len(events))), "sequence gaps"
    response_id = events[0]["response"]["id"]
    assert events[0]["response"]["output"] == []
    open_item: dict[str, Any] | None = None
    open_index = -1
    open_part: int | None = None
    parts_seen = 0
    buffers: dict[tuple[int, int | None], list[str]] = {}
    args: list[str] = []
    summaries: list[str] = []  # the open reasoning item's summary texts so far
    open_summary: int | None = None
    annotations = 0  # of the open content part
    commands: list[str] = []  # the open shell call's commands, as their events built them
    command_open = False  # a command was added and is not done yet
    done_items: list[dict[str, Any]] = []
    terminal_count = 0
    for position, event in enumerate(events):
        kind = event["type"]
        if kind in LIFECYCLE:
            assert event["response"]["id"] == response_id, "lifecycle identity changed"
            if kind in TERMINAL:
                terminal_count += 1
                assert position == len(events) - 1, "events after the terminal event"
                assert open_item is None, "terminal event with an item still open"
                assert event["response"]["output"] == done_items, "final output != done items"
                assert event["response"]["status"] == kind.removeprefix("response.")
            continue
        assert terminal_count == 0
        if kind == "response.output_item.added":
            assert open_item is None, "an item opened while another is open"
            assert event["output_index"] == len(done_items), "output_index not contiguous"
            open_item, open_index, open_part, parts_seen, args = event["item"], event[
                "output_index"], None, 0, []
            summaries, open_summary = [], None
            commands, command_open = [], False
            # Bookkeeping items (compaction, mcp_list_tools) have no status at all.
            assert open_item.get("status", "in_progress") == "in_progress"
            continue
        assert open_item is not None, f"{kind} outside an item"
        assert event["output_index"] == open_index, f"{kind} for another output_index"
        if "item_id" in event:
            assert event["item_id"] == open_item["id"], f"{kind} for another item"
        if kind == "response.output_item.done":
            item = event["item"]
            assert open_part is None, "item done with a content part open"
            assert open_summary is None, "item done with a summary part open"
            if item["type"] == "reasoning":
                assert [part["text"] for part in item["summary"]] == summaries
            if item["type"] == "shell_call":  # every command streamed, whole, in order
                assert not command_open, "shell call done with a command open"
                assert commands == item["action"]["commands"], "shell commands not streamed"
            assert (item["type"], item["id"], item.get("call_id")) == (
                open_item["type"], open_item["id"], open_item.get("call_id")), "identity changed"
            assert item.get("status", "completed") in _FINAL_STATUSES.get(
                item["type"], ("completed", "incomplete"))
            if item["type"] == "function_call":
                assert item["arguments"] == "".join(args)
            elif item["type"] == "custom_tool_call":
                assert item["input"] == "".join(args)
            done_items.append(item)
            open_item = None
        elif kind == "response.content_part.added":
            assert open_part is None and event["content_index"] == parts_seen
            assert open_summary is None, "content part opened inside a summary part"
            open_part = event["content_index"]
            annotations = 0
            parts_seen += 1
            buffers[(open_index, open_part)] = []
        elif kind == "response.content_part.done":
            assert event["content_index"] == open_part
            open_part = None
        elif kind in _TEXT_DELTAS:
            assert event["content_index"] == open_part, f"{kind} outside its content part"
            buffers[(open_index, open_part)].append(event["delta"])
        elif kind in _DONE_TO_DELTA:
            field = _TEXT_DELTAS[_DONE_TO_DELTA[kind]][1]
            assert event[field] == "".join(buffers[(open_index, event["content_index"])])
        elif kind == "response.output_text.annotation.added":
            assert event["content_index"] == open_part, "annotation outside its content part"
            assert event["annotation_index"] == annotations
            annotations += 1
        elif kind == "response.reasoning_summary_part.added":
            assert open_item["type"] == "reasoning" and open_part is None
            assert open_summary is None and event["summary_index"] == len(summaries)
            open_summary = event["summary_index"]
            summaries.append("")
        elif kind == "response.reasoning_summary_text.delta":
            assert event["summary_index"] == open_summary, "summary delta outside its part"
            summaries[-1] += event["delta"]
        elif kind == "response.reasoning_summary_text.done":
            assert event["summary_index"] == open_summary and event["text"] == summaries[-1]
        elif kind == "response.reasoning_summary_part.done":
            assert event["summary_index"] == open_summary
            assert event["part"] == {"type": "summary_text", "text": summaries[-1]}
            open_summary = None
        elif kind == "response.function_call_arguments.delta":
            assert open_item["type"] == "function_call"
            args.append(event["delta"])
        elif kind == "response.function_call_arguments.done":
            assert event["arguments"] == "".join(args)
        elif kind == "response.custom_tool_call_input.delta":
            assert open_item["type"] == "custom_tool_call"
            args.append(event["delta"])
        elif kind == "response.custom_tool_call_input.done":
            assert event["input"] == "".join(args)
        elif kind == "response.shell_call_command.added":
            assert open_item["type"] == "shell_call" and not command_open
            assert event["command_index"] == len(commands) and event["command"] == ""
            commands.append("")
            command_open = True
        elif kind == "response.shell_call_command.delta":
            assert command_open and event["command_index"] == len(commands) - 1
            commands[-1] += event["delta"]
        elif kind == "response.shell_call_command.done":
            assert command_open and event["command_index"] == len(commands) - 1
            assert event["command"] == commands[-1]
            command_open = False
        elif not kind.removeprefix("response.").startswith(open_item["type"]):
            # A tool item's own events are named after it: `response.mcp_call.in_progress`,
            # `response.code_interpreter_call_code.delta`, `response.web_search_call.searching`.
            raise AssertionError(f"unexpected event {kind} in a {open_item['type']} item")
    if not allow_unterminated:
        assert terminal_count == 1, "no terminal event"
