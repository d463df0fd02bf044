"""Codex's tool surface on upstreams that only know functions (chat completions, Messages).

The client-executed tool kinds of the Responses API are offered to the model as functions,
and the model's calls of those functions come back as the items the client expects:

- `function` → itself; a `namespace`'s functions as `NS__name` (characters a chat function name
  cannot hold become `_`; a name over 64 characters keeps its head and gets a hash), coming
  back as `function_call` items with `name` and `namespace` set apart again.
- `custom` (freeform input) → a function with one string parameter `input`, coming back as a
  `custom_tool_call` whose `input` is that string, streamed as it is decoded. A `format` of
  `regex` becomes the string's `pattern` (an engine that constrains decoding by JSON schema,
  such as llama.cpp, then enforces it); a `lark` grammar is only described to the model in the
  function's description, never enforced.
- `apply_patch` → `apply_patch({operation})` → `apply_patch_call` items;
  `shell` → `shell({commands, timeout_ms?, max_output_length?})` → `shell_call`;
  `local_shell` → `local_shell({command, env?, working_directory?, timeout_ms?, user?})` →
  `local_shell_call`; `computer` / `computer_use_preview` → `computer({action})` →
  `computer_call` (with `pending_safety_checks: []`).
- `tool_search` executed by the client → `tool_search` with its `description` and `parameters`
  (or a `{query}` default) → `tool_search_call` with `arguments` and `execution: "client"`.

The other way, every such call item and its `*_output` item in the input become a function
call and its tool result (`as_function_call`, `as_function_output`): a shell's output as a
terminal would show it, a screenshot as a note (chat tool results hold text only), a
`tool_search_output` as the names of the functions it loaded.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from responsa.errors import InvalidRequestError
from responsa.providers.deltas import Delta, Finish, ToolCallDelta, ToolKind

JSONDict = dict[str, Any]

# Tool types a client declares and executes itself: offered to the model, never run here.
CLIENT_TOOL_TYPES = frozenset({"function", "custom", "namespace", "apply_patch", "shell",
                               "local_shell", "computer", "computer_use_preview"})
TOOL_SEARCH = "tool_search"  # the function name of a tool search, client or hosted
NAMESPACE_SEPARATOR = "__"
MAX_FUNCTION_NAME = 64
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_-]")

# The item each non-function kind comes back as, and the id prefix of that item.
ITEM_TYPES: dict[ToolKind, str] = {
    "function": "function_call", "custom": "custom_tool_call", "apply_patch": "apply_patch_call",
    "shell": "shell_call", "local_shell": "local_shell_call", "computer": "computer_call",
    "tool_search": "tool_search_call"}
ITEM_ID_PREFIXES: dict[ToolKind, str] = {
    "function": "fc", "custom": "ctc", "apply_patch": "apc", "shell": "sh", "local_shell": "lsh",
    "computer": "cu", "tool_search": "tsc"}
_KIND_OF_CALL = {item_type: kind for kind, item_type in ITEM_TYPES.items()}

_STRING = {"type": "string"}
_INTEGER = {"type": "integer"}
_STRINGS = {"type": "array", "items": _STRING}
_BUILTIN_FUNCTIONS: dict[str, JSONDict] = {
    "apply_patch": {
        "description": "Create, update or delete one file. For update_file, `diff` is a V4A "
                       "diff of the change; for create_file, the whole new file with each line "
                       "prefixed by '+'; delete_file takes no diff.",
        "parameters": {"type": "object", "properties": {"operation": {
            "type": "object", "properties": {
                "type": {"type": "string", "enum": ["create_file", "update_file", "delete_file"]},
                "path": _STRING, "diff": _STRING},
            "required": ["type", "path"]}}, "required": ["operation"]},
    },
    "shell": {
        "description": "Run shell commands on the user's machine and read their output.",
        "parameters": {"type": "object", "properties": {
            "commands": {**_STRINGS, "minItems": 1}, "timeout_ms": _INTEGER,
            "max_output_length": _INTEGER}, "required": ["commands"]},
    },
    "local_shell": {
        "description": "Run one command (argv list) on the user's machine and read its output.",
        "parameters": {"type": "object", "properties": {
            "command": {**_STRINGS, "minItems": 1},
            "env": {"type": "object", "additionalProperties": _STRING},
            "working_directory": _STRING, "timeout_ms": _INTEGER, "user": _STRING},
            "required": ["command"]},
    },
    "computer": {
        "description": "Act on the user's computer screen; each call returns a screenshot.",
        "parameters": {"type": "object", "properties": {"action": {
            "type": "object", "properties": {
                "type": {"type": "string", "enum": [
                    "click", "double_click", "drag", "keypress", "move", "screenshot",
                    "scroll", "type", "wait"]},
                "x": _INTEGER, "y": _INTEGER,
                "button": {"type": "string",
                           "enum": ["left", "right", "wheel", "back", "forward"]},
                "keys": _STRINGS, "text": _STRING, "scroll_x": _INTEGER, "scroll_y": _INTEGER,
                "path": {"type": "array", "items": {"type": "object", "properties": {
                    "x": _INTEGER, "y": _INTEGER}, "required": ["x", "y"]}}},
            "required": ["type"]}}, "required": ["action"]},
    },
}
_TOOL_SEARCH_DEFAULTS: JSONDict = {
    "description": "Search for more tools by what they do. The tools found can be called from "
                   "then on.",
    "parameters": {"type": "object", "properties": {"query": {
        "type": "string", "minLength": 1, "description": "What the tools should do."}},
        "required": ["query"], "additionalProperties": False},
}
_BUILTIN_KINDS: dict[str, ToolKind] = {
    "apply_patch": "apply_patch", "shell": "shell", "local_shell": "local_shell",
    "computer": "computer", "computer_use_preview": "computer"}


def is_client_tool(tool: JSONDict) -> bool:
    """Whether the client executes `tool` itself: offered to the model, never run here."""
    kind = tool["type"]
    return kind in CLIENT_TOOL_TYPES or (kind == TOOL_SEARCH and tool.get("execution") == "client")


def tool_search_function(tool: JSONDict) -> JSONDict:
    """The function a `tool_search` is offered as: its own description and parameters (a
    client's), else the `{query}` default."""
    return {"type": "function", "name": TOOL_SEARCH,
            **{key: tool.get(key) or default for key, default in _TOOL_SEARCH_DEFAULTS.items()}}


def exposed_name(name: str, namespace: str | None = None) -> str:
    """The function name the model sees for a (namespaced) tool: the same every turn."""
    full = name if namespace is None else f"{namespace}{NAMESPACE_SEPARATOR}{name}"
    safe = _UNSAFE_NAME.sub("_", full)
    if len(safe) <= MAX_FUNCTION_NAME and safe == full:
        return safe
    digest = hashlib.sha256(full.encode()).hexdigest()[:8]
    return f"{safe[:MAX_FUNCTION_NAME - 9]}_{digest}"


@dataclass(frozen=True, slots=True)
class Exposed:
    """One client tool as the model sees it (`function`, a Responses function tool) and what
    its calls come back as."""

    function: JSONDict
    kind: ToolKind
    name: str  # on the item: the tool's own name, or the builtin kind
    namespace: str | None = None


class ToolSurface:
    """The client tools of one request, as functions, and the way back from their names."""

    def __init__(self, tools: Sequence[JSONDict]) -> None:
        self._exposed: dict[str, Exposed] = {}
        for index, tool in enumerate(tools):
            for exposed in _expose(tool):
                name = exposed.function["name"]
                if name in self._exposed:
                    raise InvalidRequestError(
                        f"Invalid 'tools': the {tool['type']} tool would be offered to the "
                        f"model as function '{name}', which another tool already is.",
                        param=f"tools[{index}]", code="invalid_value")
                self._exposed[name] = exposed

    @property
    def functions(self) -> list[JSONDict]:
        return [exposed.function for exposed in self._exposed.values()]

    def resolve(self, function_name: str) -> Exposed | None:
        return self._exposed.get(function_name)

    def choice_name(self, choice: JSONDict) -> str | None:
        """The function a named `tool_choice` (or an `allowed_tools` entry) stands for."""
        kind = choice.get("type")
        if kind in ("function", "custom"):
            return exposed_name(str(choice.get("name")), choice.get("namespace"))
        if kind in _BUILTIN_KINDS:
            return _BUILTIN_KINDS[kind]
        return None

    def decoder(self) -> CallDecoder:
        return CallDecoder(self)


def _expose(tool: JSONDict) -> list[Exposed]:
    kind = tool["type"]
    if kind == "namespace":
        return [_member(member, tool["name"]) for member in tool["tools"]]
    if kind in ("function", "custom"):
        return [_member(tool, None)]
    if kind == "tool_search":
        return [Exposed(tool_search_function(tool), "tool_search", TOOL_SEARCH)]
    builtin = _BUILTIN_KINDS[kind]
    function = {"type": "function", "name": builtin, **_BUILTIN_FUNCTIONS[builtin]}
    if kind == "computer_use_preview":
        function["description"] += (
            f" The display is {tool['display_width']}x{tool['display_height']} pixels "
            f"({tool['environment']}).")
    return [Exposed(function, builtin, builtin)]


def _member(tool: JSONDict, namespace: str | None) -> Exposed:
    name = tool["name"]
    function: JSONDict = {"type": "function", "name": exposed_name(name, namespace)}
    if tool["type"] == "custom":
        function.update(_custom_function(tool))
        return Exposed(function, "custom", name, namespace)
    for key in ("description", "parameters", "strict"):
        if tool.get(key) is not None:
            function[key] = tool[key]
    return Exposed(function, "function", name, namespace)


def _custom_function(tool: JSONDict) -> JSONDict:
    """A custom tool's freeform input as the one string parameter `input`."""
    description = tool.get("description") or ""
    text: JSONDict = {"type": "string", "description": "The tool's input, as free text."}
    fmt = tool.get("format") or {"type": "text"}
    if fmt["type"] == "grammar":
        description += (f"\n\nThe input must follow this {fmt['syntax']} grammar:\n"
                        f"{fmt['definition']}")
        if fmt["syntax"] == "regex":
            text["pattern"] = _anchored(fmt["definition"])
    return {"description": description.strip(),
            "parameters": {"type": "object", "properties": {"input": text},
                           "required": ["input"], "additionalProperties": False}}


def _anchored(pattern: str) -> str:
    """JSON-schema patterns match anywhere; a custom tool's regex means the whole input (and
    llama.cpp only takes anchored patterns)."""
    if pattern.startswith("^") and pattern.endswith("$"):
        return pattern
    return f"^({pattern})$"


# -- the model's calls back to items -------------------------------------------------------------


class CallDecoder:
    """Maps one model call's deltas back to the client's tool kinds: names resolved, and a
    custom tool's `{"input": "…"}` arguments decoded to the raw input as they stream."""

    def __init__(self, surface: ToolSurface) -> None:
        self._surface = surface
        self._calls: dict[int, _Call] = {}
        self._last: int | None = None

    def map(self, delta: Delta) -> list[Delta]:
        if isinstance(delta, Finish):
            return [*self._flush(), delta]
        if not isinstance(delta, ToolCallDelta):
            return [delta]
        out: list[Delta] = []
        call = self._calls.get(delta.index)
        if call is None:
            # Calls stream one after another: whatever the previous one still holds is due.
            out += self._flush()
            exposed = self._surface.resolve(delta.name) if delta.name else None
            call = self._calls[delta.index] = _Call(delta.index, exposed)
        self._last = delta.index
        exposed = call.exposed
        if exposed is None:  # a function the request did not declare: left as the model said
            return [*out, delta]
        arguments = delta.arguments
        if exposed.kind == "custom":
            arguments = call.input.feed(arguments)
        first = not call.started
        call.started = True
        if not arguments and not first:
            return out
        out.append(replace(delta, kind=exposed.kind, name=exposed.name if first else None,
                           namespace=exposed.namespace, arguments=arguments))
        return out

    def _flush(self) -> list[Delta]:
        """The rest of the last call's custom input that could not be streamed (arguments that
        were not the expected JSON)."""
        if self._last is None:
            return []
        call = self._calls[self._last]
        self._last = None
        rest = call.input.finish() if call.exposed and call.exposed.kind == "custom" else ""
        if not rest:
            return []
        return [ToolCallDelta(index=call.index, arguments=rest, kind="custom",
                              namespace=call.exposed.namespace if call.exposed else None)]


@dataclass(slots=True)
class _Call:
    index: int
    exposed: Exposed | None
    started: bool = False
    input: InputDecoder = field(default_factory=lambda: InputDecoder())


_INPUT_PREFIX = '{"input":"'
_INPUT_START = re.compile(r'\s*\{\s*"input"\s*:\s*"')


class InputDecoder:
    """Streams the string value of `{"input": "…"}` out of JSON arriving in fragments. Arguments
    of any other shape are taken as the input itself, verbatim (a model that wrote raw text)."""

    __slots__ = ("_buffer", "_done", "_mode", "_position")

    def __init__(self) -> None:
        self._buffer = ""
        self._position = 0  # how much of `_buffer` was decoded (string mode)
        self._mode = "head"  # head (deciding) → string, or raw
        self._done = False  # the closing quote was seen

    def feed(self, fragment: str) -> str:
        self._buffer += fragment
        if self._mode == "head":
            match = _INPUT_START.match(self._buffer)
            if match:
                self._mode, self._position = "string", match.end()
            elif _INPUT_PREFIX.startswith(re.sub(r"\s+", "", self._buffer)):
                return ""  # still could be the expected head
            else:
                self._mode = "raw"
                return self._buffer
        if self._mode == "raw":
            return fragment
        return self._decode()

    def finish(self) -> str:
        """What is left once the arguments are complete."""
        if self._mode == "head":
            self._mode = "raw"
            return self._buffer
        return ""

    def _decode(self) -> str:
        text, start, end = self._buffer, self._position, self._position
        position = start
        while position < len(text) and not self._done:
            char = text[position]
            if char == '"':
                self._done = True
                break
            if char == "\\":
                step = _escape_length(text, position)
                if step == 0:
                    break  # the escape is not complete yet
                position += step
            else:
                position += 1
            end = position
        self._position = end
        chunk = text[start:end]
        try:
            return str(json.loads(f'"{chunk}"', strict=False))
        except json.JSONDecodeError:
            return chunk


def _escape_length(text: str, position: int) -> int:
    """The length of the escape at `position` (a backslash), or 0 while it is incomplete."""
    if position + 1 >= len(text):
        return 0
    if text[position + 1] != "u":
        return 2
    if position + 6 > len(text):
        return 0
    try:
        code = int(text[position + 2:position + 6], 16)
    except ValueError:
        return 2
    if 0xD800 <= code < 0xDC00:  # a surrogate pair decodes only with its second half
        return 12 if position + 12 <= len(text) else 0
    return 6


def call_fields(kind: ToolKind, arguments: str) -> JSONDict:
    """The fields of a finished `apply_patch`, `shell`, `local_shell`, `computer` or
    `tool_search` call item, from the function arguments the model wrote. Raises ValueError
    when they do not make one."""
    try:
        args = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"the {kind} call's arguments are not JSON") from exc
    if not isinstance(args, dict):
        raise ValueError(f"the {kind} call's arguments are not an object")
    if kind == "apply_patch":
        return {"operation": _operation(args.get("operation"))}
    if kind == "shell":
        return {"action": {"commands": _strings(args.get("commands"), "commands"),
                           "timeout_ms": _integer(args.get("timeout_ms")),
                           "max_output_length": _integer(args.get("max_output_length"))}}
    if kind == "local_shell":
        action: JSONDict = {"type": "exec", "command": _strings(args.get("command"), "command"),
                            "env": args.get("env") if isinstance(args.get("env"), dict) else {}}
        for key in ("working_directory", "user"):
            if isinstance(args.get(key), str):
                action[key] = args[key]
        if _integer(args.get("timeout_ms")) is not None:
            action["timeout_ms"] = args["timeout_ms"]
        return {"action": action}
    if kind == "tool_search":
        return {"arguments": args, "execution": "client"}
    if kind == "computer":
        computer_action = args.get("action")
        if not isinstance(computer_action, dict) or not isinstance(computer_action.get("type"),
                                                                   str):
            raise ValueError("the computer call has no action")
        return {"action": computer_action, "pending_safety_checks": []}
    raise ValueError(f"no item fields for {kind} calls")


def _operation(value: Any) -> JSONDict:
    if not isinstance(value, dict) or not isinstance(value.get("path"), str):
        raise ValueError("the apply_patch call has no operation with a path")
    kind = value.get("type")
    if kind == "delete_file":
        return {"type": kind, "path": value["path"]}
    if kind not in ("create_file", "update_file"):
        raise ValueError(f"the apply_patch operation type {kind!r} is unknown")
    return {"type": kind, "path": value["path"], "diff": str(value.get("diff") or "")}


def _strings(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ValueError(f"the call's {name} is not a list of strings")
    return list(value)


def _integer(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# -- items in the input, as function calls and results -----------------------------------------


def kind_of_call(item_type: str) -> ToolKind | None:
    return _KIND_OF_CALL.get(item_type)


def as_function_call(item: JSONDict) -> tuple[str, str, str] | None:
    """A client tool call item as (call_id, function name, arguments), or None for other
    items."""
    kind = _KIND_OF_CALL.get(item["type"])
    if kind is None or item.get("call_id") is None:  # (a tool search's call_id is optional)
        return None
    call_id = str(item["call_id"])
    if kind == "function":
        return call_id, exposed_name(item["name"], item.get("namespace")), item["arguments"]
    if kind == "custom":
        arguments: JSONDict = {"input": item["input"]}
        return call_id, exposed_name(item["name"], item.get("namespace")), _json(arguments)
    if kind == "apply_patch":
        arguments = {"operation": item["operation"]}
    elif kind == "shell":
        arguments = _present(item["action"])
    elif kind == "local_shell":
        arguments = _present({k: v for k, v in item["action"].items() if k != "type"})
    elif kind == "tool_search":
        arguments = item["arguments"]
    else:
        action = item.get("action") or (item.get("actions") or [None])[0]
        arguments = {"action": action}
    return call_id, kind, _json(arguments)


def call_id_of(item: JSONDict) -> str | None:
    """The call id that pairs a client tool call item with its output item."""
    if item["type"] == "local_shell_call_output":
        return str(item["id"])  # it has no call_id: its id is the call's
    call_id = item.get("call_id")
    return call_id if isinstance(call_id, str) else None


def as_function_output(item: JSONDict) -> tuple[str, str | list[JSONDict]] | None:
    """A client tool output item as (call_id, output), or None for other items. Outputs with
    no text of their own are told to the model as JSON or a short note."""
    kind = item["type"]
    if kind in ("function_call_output", "custom_tool_call_output"):
        return str(item["call_id"]), item["output"]
    if kind == "apply_patch_call_output":
        output = item.get("output")
        return str(item["call_id"]), f"{item['status']}: {output}" if output else item["status"]
    if kind == "shell_call_output":
        return str(item["call_id"]), "\n".join(_shell_text(chunk) for chunk in item["output"])
    if kind == "local_shell_call_output":
        # The output's `id` is the call's `call_id` (the item has no call_id of its own).
        return str(item["id"]), item["output"]
    if kind == "tool_search_output" and item.get("call_id") is not None:
        return str(item["call_id"]), loaded_tools_note(item["tools"])
    if kind == "computer_call_output":  # its screenshot (made inline: engine/file_parts.py)
        url = item["output"].get("image_url")
        if not url:
            return str(item["call_id"]), "screenshot not available"
        return str(item["call_id"]), [{"type": "input_image", "image_url": url}]
    return None


def loaded_tools_note(tools: Sequence[JSONDict]) -> str:
    """What the model reads of a tool search's result: the functions it can call now (their
    definitions come with the tools offered on its next call)."""
    names = [exposed.function["name"] for tool in tools if is_client_tool(tool)
             for exposed in _expose(tool)]
    if not names:
        return "No tools found."
    return "Tools loaded, callable from now on: " + ", ".join(names)


def _shell_text(chunk: JSONDict) -> str:
    """One command's output as a terminal would show it, with how it ended."""
    outcome = chunk["outcome"]
    ending = (f"[exit code {outcome['exit_code']}]" if outcome["type"] == "exit"
              else "[timed out]")
    stderr = f"stderr: {chunk['stderr']}" if chunk["stderr"] else ""
    return "\n".join(text for text in (chunk["stdout"], stderr, ending) if text)


def _present(values: JSONDict) -> JSONDict:
    return {key: value for key, value in values.items() if value is not None}


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()
