"""What the model sees: the stored chain behind `previous_response_id` (or the items of the
`conversation`), then the new input.

The new input's items get server ids where the client sent none, so they can be listed
(`input_items`, conversation items) and continued from exactly as stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from responsa.engine.compaction_items import Sealer, expand_compactions
from responsa.engine.file_parts import inline_file_parts
from responsa.engine.reasoning_items import expand_reasoning
from responsa.errors import InvalidRequestError, NotFoundError
from responsa.ids import new_id
from responsa.providers.tool_surface import as_function_call, as_function_output, call_id_of
from responsa.store.base import Store
from responsa.tools.registry import replay_hosted_items

if TYPE_CHECKING:
    from responsa.retrieval.services import FileServices

JSONDict = dict[str, Any]

_ID_PREFIXES = {
    "message": "msg",
    "function_call": "fc",
    "function_call_output": "fco",
    "custom_tool_call": "ctc",
    "custom_tool_call_output": "ctco",
    "reasoning": "rs",
    "compaction": "cmp",
    "tool_search_call": "tsc",
    "tool_search_output": "tso",
    "additional_tools": "at",
}
# Items whose list form (ResponseItem) always carries a status.
_STATUS_DEFAULTED = frozenset({"message", "function_call", "function_call_output",
                               "custom_tool_call", "custom_tool_call_output", "shell_call",
                               "shell_call_output", "computer_call_output", "tool_search_call",
                               "tool_search_output"})


@dataclass(slots=True)
class ConversationContext:
    input_items: list[JSONDict]  # this request's own input, as stored
    model_input: list[JSONDict]  # everything the model sees, oldest first
    conversation_id: str | None = None  # the conversation a finished response extends
    history_length: int = 0  # how many of `model_input`'s items came before this request
    # The stored history then the new input, as stored: what hosted tools prepare from.
    items: list[JSONDict] = field(default_factory=list)


async def build_context(store: Store, body: JSONDict, sealer: Sealer | None = None, *,
                        local: Mapping[str, list[JSONDict]] | None = None,
                        provider: str | None = None,
                        files: FileServices | None = None) -> ConversationContext:
    """`local`: histories of responses kept outside the store (a WebSocket connection's
    `store: false` responses), looked up before it. `provider` (its name) is who answers:
    sealed reasoning it produced is restored for it. `files`: where image and file parts given
    by `file_id` are read from (engine/file_parts.py)."""
    input_items = [with_id(item) for item in body.get("input") or ()]
    history: list[JSONDict] = []
    previous_id = body.get("previous_response_id")
    conversation_id = conversation_id_of(body)
    if previous_id:
        found = local.get(previous_id) if local is not None else None
        if found is None:
            found = await store.get_context(previous_id)
        if found is None:
            raise InvalidRequestError(f"Previous response with id '{previous_id}' not found.",
                                      param="previous_response_id",
                                      code="previous_response_not_found")
        history = found
    elif conversation_id is not None:
        items = await store.get_conversation_items(conversation_id)
        if items is None:
            raise conversation_not_found(conversation_id, param="conversation")
        history = items
    if any(item["type"] == "item_reference" for item in input_items):
        input_items = resolve_references(input_items, history)
    items = history + input_items if history else input_items
    check_tool_call_pairs(items, first_new=len(history))
    model_input = items
    if sealer is not None:
        # Sealed reasoning items (engine/reasoning_items.py) opened for the provider, then
        # compaction items become their summaries (engine/compaction.py).
        model_input = expand_reasoning(model_input, sealer, first_new=len(history),
                                       provider=provider)
        model_input = expand_compactions(model_input, sealer, first_new=len(history))
    # Hosted tools' items read to the model as the function calls it made (engine/tool_loop.py).
    history_length = max(0, len(model_input) - len(input_items))
    earlier = replay_hosted_items(model_input[:history_length])
    model_input = earlier + replay_hosted_items(model_input[history_length:])
    model_input = await inline_file_parts(model_input, files, first_new=len(earlier))
    return ConversationContext(input_items=input_items, model_input=model_input,
                               conversation_id=conversation_id,
                               history_length=len(earlier), items=items)


def resolve_references(input_items: list[JSONDict], history: list[JSONDict]) -> list[JSONDict]:
    """`item_reference`s replaced by the items they name: items of the stored chain or
    conversation this request continues, or earlier items of its own input."""
    known = {item["id"]: item for item in history if item.get("id")}
    resolved: list[JSONDict] = []
    for item in input_items:
        if item["type"] == "item_reference":
            found = known.get(item["id"])
            if found is None:
                raise InvalidRequestError(
                    f"Item with id '{item['id']}' not found. Items are not persisted when "
                    "`store` is set to false. Try again with `store` set to true, or remove "
                    "this item from your input.", param="input")
            item = found
        known[item["id"]] = item
        resolved.append(item)
    return resolved


def conversation_id_of(body: JSONDict) -> str | None:
    """`conversation` as an id (`"conv_…"` or `{"id": "conv_…"}`), or None."""
    value = body.get("conversation")
    if value is None:
        return None
    return str(value) if isinstance(value, str) else str(value["id"])


def conversation_not_found(conversation_id: str, *, param: str | None = None) -> NotFoundError:
    return NotFoundError(f"Conversation with id '{conversation_id}' not found.", param=param)


def with_id(item: JSONDict) -> JSONDict:
    """The item with a server id (`msg_…`, `fc_…` …) where the client sent none, and the
    `status` its list form always carries."""
    kind = item["type"]
    if "id" not in item or item["id"] is None:
        item = {"id": new_id(_ID_PREFIXES.get(kind, "item")), **item}
    if kind in _STATUS_DEFAULTED and item.get("status") is None:
        item["status"] = "completed"
    if kind in ("tool_search_call", "tool_search_output") and item.get("execution") is None:
        item["execution"] = "server"  # the tool's own default, and required in the list form
    return item


def check_tool_call_pairs(items: list[JSONDict], *, first_new: int) -> None:
    """Every tool output (function, custom, apply_patch, shell, local_shell, computer,
    tool_search) answers an earlier call, and every finished call in the context has its
    output — as the real API insists before anything reaches the model."""
    calls: dict[str, int] = {}
    answered: set[str] = set()
    for position, item in enumerate(items):
        if as_function_call(item) is not None:
            if item.get("status") in (None, "completed"):
                calls[str(item["call_id"])] = position
        elif as_function_output(item) is not None:
            call_id = call_id_of(item)
            if call_id not in calls:
                raise InvalidRequestError(
                    f"No tool call found for {_OUTPUT_NAMES[item['type']]} output with "
                    f"call_id {call_id}.", param=_input_param(position, first_new))
            answered.add(call_id)
    for call_id, position in calls.items():
        if call_id not in answered:
            raise InvalidRequestError(
                f"No tool output found for {_CALL_NAMES[items[position]['type']]} {call_id}.",
                param=_input_param(position, first_new))


# How the errors name each kind (the real API's wording for function calls).
_CALL_NAMES = {"function_call": "function call", "custom_tool_call": "custom tool call",
               "apply_patch_call": "apply patch call", "shell_call": "shell call",
               "local_shell_call": "local shell call", "computer_call": "computer call",
               "tool_search_call": "tool search call"}
_OUTPUT_NAMES = {f"{kind}_output": name for kind, name in _CALL_NAMES.items()} | {
    "tool_search_output": "tool search"}


def _input_param(position: int, first_new: int) -> str:
    return "input" if position < first_new else f"input[{position - first_new}]"
