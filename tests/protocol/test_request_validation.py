"""`POST /v1/responses` bodies: what is accepted, what is refused, and with which exact error.

Everything here calls `parse_create_request` directly; no server is involved.
"""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any

import pytest
import typing_extensions

from responsa.errors import InvalidRequestError
from responsa.protocol import CreateResponseRequest, normalize_input, parse_create_request
from responsa.protocol import items as item_models
from responsa.protocol import tools as tool_models
from responsa.protocol.items import FunctionCall, InputMessage, ItemReference, ReasoningItem
from responsa.protocol.validation_errors import INVALID_JSON_MESSAGE

CODEX_EXAMPLE = Path("/work/shared/reference/codex-request-example.json")
M = {"model": "m"}


def body(**params: Any) -> bytes:
    return json.dumps({**M, **params}).encode()


def parse(params: dict[str, Any] | bytes) -> CreateResponseRequest:
    raw = params if isinstance(params, bytes) else json.dumps(params).encode()
    return parse_create_request(raw)


def refusal(params: dict[str, Any] | bytes) -> dict[str, Any]:
    with pytest.raises(InvalidRequestError) as caught:
        parse(params)
    assert caught.value.status_code == 400
    return caught.value.to_dict()


# ---- errors: (body, code, param, message) ----------------------------------------------------

FUNCTION = {"type": "function", "name": "get_weather", "parameters": {"type": "object"}}
FENCE = "'^[a-zA-Z0-9_-]+$'"

ERRORS: list[tuple[str, dict[str, Any] | bytes, str | None, str | None, str]] = [
    # --- the body itself
    ("invalid json", b'{"model": "m",', None, None, INVALID_JSON_MESSAGE),
    ("empty body", b"", None, None, INVALID_JSON_MESSAGE),
    ("array body", b"[]", "invalid_type", None,
     "Invalid type for request body: expected an object, but got an array instead."),
    ("string body", b'"hi"', "invalid_type", None,
     "Invalid type for request body: expected an object, but got a string instead."),
    # --- missing / unknown
    ("missing model", {"input": "hi"}, "missing_required_parameter", "model",
     "Missing required parameter: 'model'."),
    ("null model", {"model": None, "input": "hi"}, "missing_required_parameter", "model",
     "Missing required parameter: 'model'."),
    ("unknown top-level", {**M, "bogus": 1}, "unknown_parameter", "bogus",
     "Unknown parameter: 'bogus'."),
    ("unknown in item", {**M, "input": [{"role": "user", "content": "a"},
                                        {"role": "user", "content": "b", "foo": 1}]},
     "unknown_parameter", "input[1].foo", "Unknown parameter: 'input[1].foo'."),
    ("status on easy message part", {**M, "input": [
        {"role": "user", "content": [{"type": "input_text", "text": "x", "status": "done"}]}]},
     "unknown_parameter", "input[0].content[0].status",
     "Unknown parameter: 'input[0].content[0].status'."),
    ("chat-style tool", {**M, "tools": [{"type": "function", "function": {"name": "f"}}]},
     "missing_required_parameter", "tools[0].name",
     "Missing required parameter: 'tools[0].name'."),
    ("json_schema without name", {**M, "text": {"format": {"type": "json_schema", "schema": {}}}},
     "missing_required_parameter", "text.format.name",
     "Missing required parameter: 'text.format.name'."),
    ("json_schema without schema", {**M, "text": {"format": {"type": "json_schema", "name": "a"}}},
     "missing_required_parameter", "text.format.schema",
     "Missing required parameter: 'text.format.schema'."),
    ("message without role", {**M, "input": [{"content": "hi"}]},
     "missing_required_parameter", "input[0].role",
     "Missing required parameter: 'input[0].role'."),
    ("function_call without call_id", {**M, "input": [
        {"type": "function_call", "name": "f", "arguments": "{}"}]},
     "missing_required_parameter", "input[0].call_id",
     "Missing required parameter: 'input[0].call_id'."),
    ("content part without type", {**M, "input": [{"role": "user", "content": [{"text": "x"}]}]},
     "missing_required_parameter", "input[0].content[0].type",
     "Missing required parameter: 'input[0].content[0].type'."),
    ("tool without type", {**M, "tools": [{"name": "f"}]},
     "missing_required_parameter", "tools[0].type", "Missing required parameter: 'tools[0].type'."),
    ("prompt without id", {"prompt": {"version": "1"}},
     "missing_required_parameter", "prompt.id", "Missing required parameter: 'prompt.id'."),
    # --- types
    ("integer as string", {**M, "max_output_tokens": "16"}, "invalid_type", "max_output_tokens",
     "Invalid type for 'max_output_tokens': expected an integer, but got a string instead."),
    ("integer as decimal", {**M, "max_output_tokens": 16.5}, "invalid_type", "max_output_tokens",
     "Invalid type for 'max_output_tokens': expected an integer, but got a decimal instead."),
    ("decimal as string", {**M, "temperature": "0.5"}, "invalid_type", "temperature",
     "Invalid type for 'temperature': expected a decimal, but got a string instead."),
    ("boolean as string", {**M, "stream": "true"}, "invalid_type", "stream",
     "Invalid type for 'stream': expected a boolean, but got a string instead."),
    ("boolean as integer", {**M, "store": 1}, "invalid_type", "store",
     "Invalid type for 'store': expected a boolean, but got an integer instead."),
    ("string as integer", {**M, "instructions": 5}, "invalid_type", "instructions",
     "Invalid type for 'instructions': expected a string, but got an integer instead."),
    ("object as array", {**M, "tools": {"type": "function"}}, "invalid_type", "tools",
     "Invalid type for 'tools': expected an array, but got an object instead."),
    ("array as object", {**M, "reasoning": []}, "invalid_type", "reasoning",
     "Invalid type for 'reasoning': expected an object, but got an array instead."),
    ("metadata value not a string", {**M, "metadata": {"k": 1}}, "invalid_type", "metadata.k",
     "Invalid type for 'metadata.k': expected a string, but got an integer instead."),
    ("input neither string nor array", {**M, "input": 5}, "invalid_type", "input",
     "Invalid type for 'input': expected one of a string or array of objects, but got an "
     "integer instead."),
    ("input as object", {**M, "input": {"role": "user"}}, "invalid_type", "input",
     "Invalid type for 'input': expected one of a string or array of objects, but got an "
     "object instead."),
    ("item not an object", {**M, "input": ["hi"]}, "invalid_type", "input[0]",
     "Invalid type for 'input[0]': expected an object, but got a string instead."),
    ("item type not a string", {**M, "input": [{"type": 3}]}, "invalid_type", "input[0].type",
     "Invalid type for 'input[0].type': expected a string, but got an integer instead."),
    ("content neither string nor array", {**M, "input": [{"role": "user", "content": 5}]},
     "invalid_type", "input[0].content",
     "Invalid type for 'input[0].content': expected one of a string or array of objects, but "
     "got an integer instead."),
    ("function output neither string nor array", {**M, "input": [
        {"type": "function_call_output", "call_id": "c", "output": {"a": 1}}]},
     "invalid_type", "input[0].output",
     "Invalid type for 'input[0].output': expected one of a string or array of objects, but "
     "got an object instead."),
    ("conversation as integer", {**M, "conversation": 5}, "invalid_type", "conversation",
     "Invalid type for 'conversation': expected one of a string or an object, but got an "
     "integer instead."),
    ("tool_choice object of a string type", {**M, "tool_choice": {"type": "string"}},
     "invalid_value", "tool_choice.type",
     "Invalid value: 'string'. Supported values are: 'allowed_tools', 'file_search', "
     "'web_search_preview', 'computer', 'computer_use_preview', 'computer_use', "
     "'web_search_preview_2025_03_11', 'image_generation', 'code_interpreter', 'function', "
     "'custom', 'mcp', 'programmatic_tool_calling', 'apply_patch', and 'shell'."),
    ("tool_choice as integer", {**M, "tool_choice": 1}, "invalid_type", "tool_choice",
     "Invalid type for 'tool_choice': expected one of a string or an object, but got an "
     "integer instead."),
    ("function parameters not an object", {**M, "tools": [{**FUNCTION, "parameters": "x"}]},
     "invalid_type", "tools[0].parameters",
     "Invalid type for 'tools[0].parameters': expected an object, but got a string instead."),
    ("null where not nullable", {**M, "input": [{"role": "user", "content": None}]},
     "invalid_type", "input[0].content",
     "Invalid type for 'input[0].content': expected one of a string or array of objects, but "
     "got null instead."),
    ("enum value not a string", {**M, "truncation": 1}, "invalid_type", "truncation",
     "Invalid type for 'truncation': expected a string, but got an integer instead."),
    # --- enums
    ("truncation", {**M, "truncation": "foo"}, "invalid_value", "truncation",
     "Invalid value: 'foo'. Supported values are: 'auto' and 'disabled'."),
    ("service_tier", {**M, "service_tier": "gold"}, "invalid_value", "service_tier",
     "Invalid value: 'gold'. Supported values are: 'auto', 'default', 'flex', 'scale', "
     "'priority', 'fast', and 'ultrafast'."),
    ("include", {**M, "include": ["reasoning.encrypted_content", "output.everything"]},
     "invalid_value", "include[1]",
     "Invalid value: 'output.everything'. Supported values are: 'file_search_call.results', "
     "'web_search_call.results', 'web_search_call.action.sources', "
     "'message.input_image.image_url', 'computer_call_output.output.image_url', "
     "'code_interpreter_call.outputs', 'reasoning.encrypted_content', and "
     "'message.output_text.logprobs'."),
    ("reasoning effort", {**M, "reasoning": {"effort": "extreme"}}, "invalid_value",
     "reasoning.effort",
     "Invalid value: 'extreme'. Supported values are: 'none', 'minimal', 'low', 'medium', "
     "'high', 'xhigh', and 'max'."),
    ("verbosity", {**M, "text": {"verbosity": "loud"}}, "invalid_value", "text.verbosity",
     "Invalid value: 'loud'. Supported values are: 'low', 'medium', and 'high'."),
    ("message role", {**M, "input": [{"role": "bot", "content": "x"}]}, "invalid_value",
     "input[0].role",
     "Invalid value: 'bot'. Supported values are: 'user', 'assistant', 'system', and "
     "'developer'."),
    ("item status", {**M, "input": [{"type": "function_call", "call_id": "c", "name": "f",
                                     "arguments": "{}", "status": "done"}]},
     "invalid_value", "input[0].status",
     "Invalid value: 'done'. Supported values are: 'in_progress', 'completed', and "
     "'incomplete'."),
    ("image detail", {**M, "input": [{"role": "user", "content": [
        {"type": "input_image", "image_url": "https://x/y.png", "detail": "ultra"}]}]},
     "invalid_value", "input[0].content[0].detail",
     "Invalid value: 'ultra'. Supported values are: 'low', 'high', 'auto', and 'original'."),
    ("assistant with input_text", {**M, "input": [
        {"role": "assistant", "content": [{"type": "input_text", "text": "x"}]}]},
     "invalid_value", "input[0].content[0].type",
     "Invalid value: 'input_text'. Supported values are: 'output_text' and 'refusal'."),
    ("user with output_text", {**M, "input": [
        {"role": "user", "content": [{"type": "output_text", "text": "x"}]}]},
     "invalid_value", "input[0].content[0].type",
     "Invalid value: 'output_text'. Supported values are: 'input_text', 'input_image', and "
     "'input_file'."),
    ("tool_choice mode", {**M, "tool_choice": "any"}, "invalid_value", "tool_choice",
     "Invalid value: 'any'. Supported values are: 'none', 'auto', and 'required'."),
    ("text format type", {**M, "text": {"format": {"type": "xml"}}}, "invalid_value",
     "text.format.type",
     "Invalid value: 'xml'. Supported values are: 'text', 'json_object', and 'json_schema'."),
    ("tool type", {**M, "tools": [{"type": "browser"}]}, "invalid_value", "tools[0].type",
     "Invalid value: 'browser'. Supported values are: 'function', 'custom', 'namespace', "
     "'file_search', 'web_search', 'web_search_2025_08_26', 'web_search_preview', "
     "'web_search_preview_2025_03_11', 'computer', 'computer_use_preview', "
     "'code_interpreter', 'mcp', 'image_generation', 'local_shell', 'shell', 'apply_patch', "
     "'tool_search', and 'programmatic_tool_calling'."),
    # --- ranges
    ("max_output_tokens below 16", {**M, "max_output_tokens": 10}, "integer_below_min_value",
     "max_output_tokens",
     "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, but got "
     "10 instead."),
    ("top_logprobs above 20", {**M, "top_logprobs": 21}, "integer_above_max_value",
     "top_logprobs",
     "Invalid 'top_logprobs': integer above maximum value. Expected a value <= 20, but got 21 "
     "instead."),
    ("top_logprobs below 0", {**M, "top_logprobs": -1}, "integer_below_min_value", "top_logprobs",
     "Invalid 'top_logprobs': integer below minimum value. Expected a value >= 0, but got -1 "
     "instead."),
    ("temperature above 2", {**M, "temperature": 2.5}, "decimal_above_max_value", "temperature",
     "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got 2.5 "
     "instead."),
    ("temperature integer above 2", {**M, "temperature": 3}, "decimal_above_max_value",
     "temperature",
     "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got 3 "
     "instead."),
    ("temperature below 0", {**M, "temperature": -0.5}, "decimal_below_min_value", "temperature",
     "Invalid 'temperature': decimal below minimum value. Expected a value >= 0, but got -0.5 "
     "instead."),
    ("top_p above 1", {**M, "top_p": 1.5}, "decimal_above_max_value", "top_p",
     "Invalid 'top_p': decimal above maximum value. Expected a value <= 1, but got 1.5 "
     "instead."),
    ("presence_penalty below -2", {**M, "presence_penalty": -2.5}, "decimal_below_min_value",
     "presence_penalty",
     "Invalid 'presence_penalty': decimal below minimum value. Expected a value >= -2, but got "
     "-2.5 instead."),
    ("frequency_penalty above 2", {**M, "frequency_penalty": 2.1}, "decimal_above_max_value",
     "frequency_penalty",
     "Invalid 'frequency_penalty': decimal above maximum value. Expected a value <= 2, but got "
     "2.1 instead."),
    ("compact_threshold below 1000", {**M, "context_management": [
        {"type": "compaction", "compact_threshold": 999}]}, "integer_below_min_value",
     "context_management[0].compact_threshold",
     "Invalid 'context_management[0].compact_threshold': integer below minimum value. Expected "
     "a value >= 1000, but got 999 instead."),
    ("partial_images above 3", {**M, "tools": [{"type": "image_generation", "partial_images": 4}]},
     "integer_above_max_value", "tools[0].partial_images",
     "Invalid 'tools[0].partial_images': integer above maximum value. Expected a value <= 3, "
     "but got 4 instead."),
    # --- lengths
    ("metadata value too long", {**M, "metadata": {"k": "v" * 600}}, "string_above_max_length",
     "metadata.k",
     "Invalid 'metadata.k': string too long. Expected a string with maximum length 512, but got "
     "a string with length 600 instead."),
    ("metadata too many pairs", {**M, "metadata": {f"k{i}": "v" for i in range(17)}},
     "object_above_max_properties", "metadata",
     "Invalid 'metadata': too many properties. Expected an object with at most 16 properties, "
     "but got an object with 17 properties instead."),
    ("metadata key too long", {**M, "metadata": {"k" * 65: "v"}},
     "property_name_above_max_length", "metadata." + "k" * 65,
     "Invalid property name in 'metadata': '" + "k" * 65 + "' is too long. Expected a string "
     "with maximum length 64, but got a string with length 65 instead."),
    ("safety_identifier too long", {**M, "safety_identifier": "s" * 65},
     "string_above_max_length", "safety_identifier",
     "Invalid 'safety_identifier': string too long. Expected a string with maximum length 64, "
     "but got a string with length 65 instead."),
    ("prompt_cache_key too long", {**M, "prompt_cache_key": "p" * 65},
     "string_above_max_length", "prompt_cache_key",
     "Invalid 'prompt_cache_key': string too long. Expected a string with maximum length 64, "
     "but got a string with length 65 instead."),
    ("function name too long", {**M, "tools": [{**FUNCTION, "name": "f" * 65}]},
     "string_above_max_length", "tools[0].name",
     "Invalid 'tools[0].name': string too long. Expected a string with maximum length 64, but "
     "got a string with length 65 instead."),
    ("function name pattern", {**M, "tools": [{**FUNCTION, "name": "get weather"}]},
     "invalid_value", "tools[0].name",
     f"Invalid 'tools[0].name': string does not match pattern. Expected a string that matches "
     f"the pattern {FENCE}."),
    ("json_schema name pattern", {**M, "text": {"format": {
        "type": "json_schema", "name": "my schema", "schema": {}}}},
     "invalid_value", "text.format.name",
     f"Invalid 'text.format.name': string does not match pattern. Expected a string that "
     f"matches the pattern {FENCE}."),
    ("function name empty", {**M, "tools": [{**FUNCTION, "name": ""}]}, "empty_string",
     "tools[0].name",
     "Invalid 'tools[0].name': empty string. Expected a string with minimum length 1, but got "
     "an empty string instead."),
    ("call_id too long", {**M, "input": [
        {"type": "function_call_output", "call_id": "c" * 65, "output": "x"}]},
     "string_above_max_length", "input[0].call_id",
     "Invalid 'input[0].call_id': string too long. Expected a string with maximum length 64, "
     "but got a string with length 65 instead."),
    ("namespace on output bad pattern", {**M, "input": [
        {"type": "function_call_output", "call_id": "c", "output": "x", "namespace": "a.b"}]},
     "invalid_value", "input[0].namespace",
     f"Invalid 'input[0].namespace': string does not match pattern. Expected a string that "
     f"matches the pattern {FENCE}."),
    ("context_management empty", {**M, "context_management": []}, "empty_array",
     "context_management",
     "Invalid 'context_management': empty array. Expected an array with minimum length 1, but "
     "got an empty array instead."),
    ("previous_response_id charset", {**M, "previous_response_id": "resp_1/../x"},
     "invalid_value", "previous_response_id",
     "Invalid 'previous_response_id': 'resp_1/../x'. Expected an ID that contains letters, "
     "numbers, underscores, or dashes, but this value contained additional characters."),
    # --- rules across fields
    ("stream_options without stream", {**M, "stream_options": {"include_obfuscation": False}},
     None, "stream_options",
     "The 'stream_options' parameter is only allowed when 'stream' is enabled."),
    ("stream_options with stream false", {**M, "stream": False, "stream_options": {}},
     None, "stream_options",
     "The 'stream_options' parameter is only allowed when 'stream' is enabled."),
    ("conversation and previous_response_id", {**M, "conversation": {"id": "conv_1"},
                                               "previous_response_id": "resp_1"},
     "mutually_exclusive_parameters", "conversation",
     "Mutually exclusive parameters: Ensure you are only providing one of: "
     "'previous_response_id' or 'conversation'."),
    ("background without store", {**M, "background": True, "store": False}, "invalid_value",
     "background",
     "Background responses must be stored: 'background' requires 'store' to be true."),
    ("completion window without background", {**M, "background_options": {
        "completion_window": "2h"}}, "invalid_value", "background_options.completion_window",
     "Invalid 'background_options.completion_window': '2h' requires 'background' to be true "
     "and 'stream' to be false."),
    ("duplicate function names", {**M, "tools": [FUNCTION, {**FUNCTION, "description": "2"}]},
     "invalid_value", "tools[1].name",
     "Invalid 'tools': duplicate tool name 'get_weather'. Function and custom tool names must "
     "be unique."),
    ("function and custom share a name", {**M, "tools": [
        FUNCTION, {"type": "custom", "name": "get_weather"}]},
     "invalid_value", "tools[1].name",
     "Invalid 'tools': duplicate tool name 'get_weather'. Function and custom tool names must "
     "be unique."),
    ("tool_choice names a missing function", {**M, "tools": [FUNCTION],
                                              "tool_choice": {"type": "function", "name": "x"}},
     None, "tool_choice", "Tool choice 'x' not found in 'tools' parameter."),
    ("tool_choice names a function that is custom", {
        **M, "tools": [FUNCTION], "tool_choice": {"type": "custom", "name": "get_weather"}},
     None, "tool_choice", "Tool choice 'get_weather' not found in 'tools' parameter."),
    ("tool_choice without tools", {**M, "tool_choice": {"type": "function", "name": "f"}},
     None, "tool_choice", "Tool choice 'f' not found in 'tools' parameter."),
    ("allowed_tools names a missing function", {**M, "tools": [FUNCTION], "tool_choice": {
        "type": "allowed_tools", "mode": "auto", "tools": [{"type": "function", "name": "x"}]}},
     None, "tool_choice.tools[0]", "Tool choice 'x' not found in 'tools' parameter."),
    # --- the first error wins: missing → unknown → type → enum → range
    ("unknown before type", {**M, "max_output_tokens": "x", "zzz": 1}, "unknown_parameter",
     "zzz", "Unknown parameter: 'zzz'."),
    ("type before enum", {**M, "truncation": "foo", "temperature": "x"}, "invalid_type",
     "temperature",
     "Invalid type for 'temperature': expected a decimal, but got a string instead."),
    ("enum before range", {**M, "max_output_tokens": 1, "truncation": "foo"}, "invalid_value",
     "truncation", "Invalid value: 'foo'. Supported values are: 'auto' and 'disabled'."),
    ("missing before unknown", {**M, "tools": [{"type": "function", "function": {}}]},
     "missing_required_parameter", "tools[0].name",
     "Missing required parameter: 'tools[0].name'."),
    ("document order within a kind", {**M, "top_p": 3, "temperature": 3},
     "decimal_above_max_value", "temperature",
     "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got 3 "
     "instead."),
    ("schema errors before cross-field rules", {"input": "x", "max_output_tokens": 1},
     "integer_below_min_value", "max_output_tokens",
     "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, but got "
     "1 instead."),
]


@pytest.mark.parametrize(("params", "code", "param", "message"),
                         [case[1:] for case in ERRORS], ids=[case[0] for case in ERRORS])
def test_refused_with_openai_error(params: dict[str, Any] | bytes, code: str | None,
                                   param: str | None, message: str) -> None:
    assert refusal(params) == {
        "message": message, "type": "invalid_request_error", "param": param, "code": code}


# ---- every parameter, absent or null ---------------------------------------------------------

SDK_PARAMETERS = {
    "access_programs", "background", "background_options", "context_management", "conversation",
    "image", "include", "input", "instructions", "max_output_tokens", "max_tool_calls",
    "metadata", "model", "moderation", "parallel_tool_calls", "previous_response_id", "prompt",
    "prompt_cache_key", "prompt_cache_options", "prompt_cache_retention", "reasoning",
    "safety_identifier", "service_tier", "store", "stream", "stream_options", "temperature",
    "text", "tool_choice", "tools", "top_logprobs", "top_p", "truncation", "user",
}
EXTRA_PARAMETERS = {"client_metadata", "presence_penalty", "frequency_penalty"}


def test_the_34_sdk_parameters_and_the_whitelisted_extras() -> None:
    assert len(SDK_PARAMETERS) == 34
    assert set(CreateResponseRequest.model_fields) == SDK_PARAMETERS | EXTRA_PARAMETERS


def test_sdk_parameters_match_the_installed_sdk() -> None:
    params = pytest.importorskip("openai.types.responses.response_create_params")
    sdk = set(typing_extensions.get_type_hints(params.ResponseCreateParamsBase)) | {"stream"}
    assert sdk == SDK_PARAMETERS


def test_every_parameter_absent() -> None:
    request = parse(M)
    assert request.model == "m"
    assert all(getattr(request, name) is None for name in SDK_PARAMETERS - {"model"})


@pytest.mark.parametrize("name", sorted((SDK_PARAMETERS | EXTRA_PARAMETERS) - {"model"}))
def test_each_parameter_null(name: str) -> None:
    assert getattr(parse({**M, name: None}), name) is None


def test_every_parameter_null_at_once() -> None:
    nulls = dict.fromkeys(SDK_PARAMETERS | EXTRA_PARAMETERS)
    request = parse({**nulls, "model": "m"})
    assert request.to_json_dict() == {**nulls, "model": "m"}


def test_model_may_be_omitted_when_a_prompt_is_given() -> None:
    request = parse({"prompt": {"id": "pmpt_1", "variables": {"city": "Paris"}}, "input": "hi"})
    assert request.model is None
    assert request.prompt is not None and request.prompt.id == "pmpt_1"


def test_every_parameter_set() -> None:
    request = parse({
        **M, "input": "hi", "instructions": "be brief", "previous_response_id": "resp_1",
        "include": ["reasoning.encrypted_content", "message.output_text.logprobs"],
        "tools": [FUNCTION], "tool_choice": {"type": "function", "name": "get_weather"},
        "parallel_tool_calls": False, "max_tool_calls": 3,
        "text": {"format": {"type": "json_object"}, "verbosity": "low"},
        "reasoning": {"effort": "low", "summary": "auto", "generate_summary": "concise",
                      "context": "all_turns", "mode": "pro"},
        "max_output_tokens": 16, "temperature": 0, "top_p": 1, "top_logprobs": 20,
        "presence_penalty": -2, "frequency_penalty": 2, "truncation": "auto",
        "context_management": [{"type": "compaction", "compact_threshold": 1000}],
        "stream": True, "stream_options": {"include_obfuscation": False},
        "background": True, "background_options": {"completion_window": "soonest",
                                                    "continuation_id": "c"},
        "store": True, "metadata": {"k" * 64: "v" * 512}, "client_metadata": {"a": "b"},
        "user": "u", "safety_identifier": "s" * 64,
        "prompt": {"id": "pmpt_1", "version": "2", "variables": {
            "a": "text", "b": {"type": "input_text", "text": "t"},
            "c": {"type": "input_image", "image_url": "https://x/y.png"},
            "d": {"type": "input_file", "file_id": "file_1"}}},
        "prompt_cache_key": "k" * 64,
        "prompt_cache_options": {"mode": "explicit", "ttl": "12h", "prewarm": True,
                                 "comparison_response_id": None},
        "prompt_cache_retention": "24h", "service_tier": "flex",
        "moderation": {"model": "omni", "policy": {"input": {"mode": "block"}, "output": None}},
        "access_programs": {"cyber": "standard"}, "image": {"context_compression": "auto"},
    })
    assert request.max_output_tokens == 16 and request.temperature == 0
    assert request.includes("message.output_text.logprobs")
    assert request.tool_choice_json() == {"type": "function", "name": "get_weather"}
    assert request.text_format_json() == {"type": "json_object"}


# ---- what real clients send ------------------------------------------------------------------


def codex_body() -> dict[str, Any]:
    body: dict[str, Any] = json.loads(CODEX_EXAMPLE.read_text())["body"]
    return body


def test_codex_request_is_accepted_unchanged() -> None:
    sent = codex_body()
    request = parse(sent)
    assert request.stream is True and request.store is False
    assert request.client_metadata == sent["client_metadata"]
    assert request.tools_json() == sent["tools"]  # namespace and web_search kept as sent
    assert request.input_items() == sent["input"]  # already canonical: nothing changes
    reasoning = request.input[4] if isinstance(request.input, list) else None
    assert isinstance(reasoning, ReasoningItem)
    assert reasoning.content is None and reasoning.encrypted_content == "gAAAA-stub"


AGENTS_TOOL = {
    "name": "get_weather",
    "parameters": {"properties": {"city": {"title": "City", "type": "string"}},
                   "required": ["city"], "title": "get_weather_args", "type": "object",
                   "additionalProperties": False},
    "strict": True, "type": "function", "description": "Get the weather for a city.",
}
AGENTS_TURN_1 = {
    "model": "stub-model", "include": [], "instructions": "You are helpful.",
    "input": [{"content": "TOOL what is the weather in Paris?", "role": "user"}],
    "tools": [AGENTS_TOOL],
}
AGENTS_TURN_2 = {
    "model": "stub-model", "include": [], "instructions": "You are helpful.",
    "tools": [AGENTS_TOOL], "input": [
        {"content": "TOOL what is the weather in Paris?", "role": "user"},
        {"arguments": '{"city": "Paris"}', "call_id": "call_1", "name": "get_weather",
         "type": "function_call", "id": "fc_1", "status": "completed"},
        {"call_id": "call_1", "output": "Sunny in Paris", "type": "function_call_output"},
    ],
}
AGENTS_WITH_SETTINGS = {
    "model": "stub-model", "include": ["reasoning.encrypted_content"], "input": [
        {"content": "hi", "role": "user"},
        {"id": "rs_1", "summary": [{"type": "summary_text", "text": "s"}], "type": "reasoning",
         "encrypted_content": "enc"},
    ],
    "max_output_tokens": 256, "metadata": {"k": "v"},
    "reasoning": {"effort": "low", "summary": "auto"}, "store": False, "temperature": 0.3,
    "tool_choice": "auto", "tools": [], "top_p": 0.9, "truncation": "auto",
    "text": {"format": {"type": "json_schema", "name": "final_output", "strict": True,
                        "schema": {"type": "object", "properties": {},
                                   "additionalProperties": False}},
             "verbosity": "low"},
}
AGENTS_AUTO_PREVIOUS = {
    "model": "stub-model", "include": [], "previous_response_id": "resp_abc",
    "input": [{"type": "function_call_output", "call_id": "call_1", "output": "Sunny"}],
}
PYTHON_SDK_BODIES = [
    {"model": "stub-model", "input": "hello", "metadata": {"k": "v"}, "temperature": 0.5},
    {"model": "stub-model", "stream": True, "include": ["reasoning.encrypted_content"],
     "input": "REASON hello"},
    {"model": "stub-model", "stream": True, "input": "hello", "text": {"format": {
        "type": "json_schema", "strict": True, "name": "Answer",
        "schema": {"type": "object", "properties": {"a": {"type": "string"}},
                   "required": ["a"], "additionalProperties": False}}}},
    {"model": "stub-model", "stream": True, "input": "w?", "tools": [
        {"type": "function", "name": "get_weather", "description": "w",
         "parameters": {"type": "object"}, "strict": True}]},
    {"model": "stub-model", "conversation": "conv_1", "input": "hi"},
    {"model": "stub-model", "conversation": {"id": "conv_1"}, "input": "hi"},
]


@pytest.mark.parametrize("sent", [
    AGENTS_TURN_1, AGENTS_TURN_2, AGENTS_WITH_SETTINGS, AGENTS_AUTO_PREVIOUS, *PYTHON_SDK_BODIES,
], ids=["agents-1", "agents-2", "agents-settings", "agents-auto-previous",
        *(f"python-{i}" for i in range(len(PYTHON_SDK_BODIES)))])
def test_client_bodies_are_accepted(sent: dict[str, Any]) -> None:
    request = parse(sent)
    assert request.to_json_dict() == sent


def test_agents_sdk_replayed_function_call_keeps_id_and_status() -> None:
    request = parse(AGENTS_TURN_2)
    assert isinstance(request.input, list)
    first, call, _ = request.input
    assert isinstance(first, InputMessage) and first.type is None
    assert isinstance(call, FunctionCall) and (call.id, call.status) == ("fc_1", "completed")


def test_conversation_accessor() -> None:
    assert parse({**M, "conversation": "conv_1"}).conversation_id == "conv_1"
    assert parse({**M, "conversation": {"id": "conv_2"}}).conversation_id == "conv_2"
    assert parse(M).conversation_id is None


def test_tool_choice_defaults_to_auto() -> None:
    assert parse(M).tool_choice_json() == "auto"
    assert parse({**M, "tool_choice": "required"}).tool_choice_json() == "required"


def test_json_schema_format_is_read_as_sent() -> None:
    schema = {"type": "object", "properties": {}}
    request = parse({**M, "text": {"format": {"type": "json_schema", "name": "A",
                                              "schema": schema, "strict": True}}})
    assert request.text_format_json() == {"type": "json_schema", "name": "A", "schema": schema,
                                          "strict": True}
    assert parse({**M, "text": {"format": {"type": "text"}}}).text_format_json() is None


# ---- every item type -------------------------------------------------------------------------

CALLER = {"type": "program", "caller_id": "call_p"}
ITEMS: dict[str, dict[str, Any]] = {
    "message": {"type": "message", "role": "developer",
                "content": [{"type": "input_text", "text": "x"}], "id": "msg_1",
                "status": "completed"},
    "function_call": {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}",
                      "id": "fc_1", "status": "completed", "namespace": "ns", "caller": CALLER,
                      "async": True},
    "function_call_output": {"type": "function_call_output", "call_id": "c", "output": [
        {"type": "input_text", "text": "t"}, {"type": "input_image", "file_id": "file_1"},
        {"type": "input_file", "file_url": "https://x/y.pdf", "filename": "y.pdf"},
        {"type": "input_video", "video_url": "https://x/v.mp4"}],
        "name": "f", "namespace": "ns", "status": "completed", "id": "fco_1",
        "caller": {"type": "direct"}},
    "custom_tool_call": {"type": "custom_tool_call", "call_id": "c", "input": "x", "name": "g",
                         "async": False},
    "custom_tool_call_output": {"type": "custom_tool_call_output", "call_id": "c",
                                "output": "done"},
    "reasoning": {"type": "reasoning", "id": "rs_1",
                  "summary": [{"type": "summary_text", "text": "s"}],
                  "content": [{"type": "reasoning_text", "text": "r"}], "status": "completed"},
    "compaction": {"type": "compaction", "encrypted_content": "e", "id": "cmp_1"},
    "compaction_trigger": {"type": "compaction_trigger"},
    "item_reference": {"type": "item_reference", "id": "msg_1"},
    "configuration_update": {"type": "configuration_update", "reasoning": {"effort": "high"},
                             "text": {"format": {"type": "text"}}},
    "file_search_call": {"type": "file_search_call", "id": "fs_1", "queries": ["q"],
                         "status": "completed", "results": [
                             {"file_id": "f", "score": 0.5, "attributes": {"a": 1, "b": "x"}}]},
    "web_search_call": {"type": "web_search_call", "id": "ws_1", "status": "completed",
                        "action": {"type": "search", "query": "q", "sources": [
                            {"type": "url", "url": "https://x"}]}},
    "computer_call": {"type": "computer_call", "id": "cu_1", "call_id": "c",
                      "pending_safety_checks": [], "status": "completed",
                      "action": {"type": "click", "button": "left", "x": 1, "y": 2},
                      "actions": [{"type": "drag", "path": [{"x": 1, "y": 2}]},
                                  {"type": "double_click", "keys": None, "x": 1, "y": 1}]},
    "computer_call_output": {"type": "computer_call_output", "call_id": "c", "output": {
        "type": "computer_screenshot", "image_url": "data:image/png;base64,AA=="}},
    "image_generation_call": {"type": "image_generation_call", "id": "ig_1", "result": None,
                              "status": "generating"},
    "code_interpreter_call": {"type": "code_interpreter_call", "id": "ci_1", "code": "1+1",
                              "container_id": "cntr_1", "outputs": [{"type": "logs",
                                                                     "logs": "2"}],
                              "status": "completed"},
    "local_shell_call": {"type": "local_shell_call", "id": "ls_1", "call_id": "c",
                         "status": "completed", "action": {"type": "exec", "command": ["ls"],
                                                           "env": {}}},
    "local_shell_call_output": {"type": "local_shell_call_output", "id": "ls_1", "output": "x"},
    "shell_call": {"type": "shell_call", "call_id": "c", "action": {"commands": ["ls"]},
                   "environment": {"type": "local"}},
    "shell_call_output": {"type": "shell_call_output", "call_id": "c", "output": [
        {"stdout": "a", "stderr": "", "outcome": {"type": "exit", "exit_code": 0}}]},
    "apply_patch_call": {"type": "apply_patch_call", "call_id": "c", "status": "completed",
                         "operation": {"type": "update_file", "path": "a.py", "diff": "-x\n+y"}},
    "apply_patch_call_output": {"type": "apply_patch_call_output", "call_id": "c",
                                "status": "failed", "output": "conflict"},
    "mcp_list_tools": {"type": "mcp_list_tools", "id": "mcpl_1", "server_label": "s",
                       "tools": [{"name": "t", "input_schema": {"type": "object"}}]},
    "mcp_approval_request": {"type": "mcp_approval_request", "id": "mcpr_1", "arguments": "{}",
                             "name": "t", "server_label": "s"},
    "mcp_approval_response": {"type": "mcp_approval_response", "approval_request_id": "mcpr_1",
                              "approve": True},
    "mcp_call": {"type": "mcp_call", "id": "mcp_1", "arguments": "{}", "name": "t",
                 "server_label": "s", "status": "failed",
                 "error": {"type": "http_error", "code": 500, "message": "boom"}},
    "tool_search_call": {"type": "tool_search_call", "arguments": {"query": "crm"},
                         "execution": "client"},
    "tool_search_output": {"type": "tool_search_output", "tools": [FUNCTION],
                           "execution": "client"},
    "additional_tools": {"type": "additional_tools", "role": "developer", "tools": [FUNCTION]},
    "program": {"type": "program", "id": "p_1", "call_id": "c", "code": "1", "fingerprint": "f"},
    "program_output": {"type": "program_output", "id": "po_1", "call_id": "c", "result": "1",
                       "status": "completed"},
}


def test_the_31_item_types_are_covered() -> None:
    assert len(ITEMS) == 31


@pytest.mark.parametrize("kind", sorted(ITEMS))
def test_every_item_type_is_accepted_as_sent(kind: str) -> None:
    request = parse({**M, "input": [ITEMS[kind]]})
    assert request.to_json_dict()["input"] == [ITEMS[kind]]


def test_items_without_type_are_messages() -> None:
    request = parse({**M, "input": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "system", "content": [{"type": "input_text", "text": "s"}]},
    ]})
    assert isinstance(request.input, list)
    assert [type(item).__name__ for item in request.input] == [
        "InputMessage", "AssistantMessage", "InputMessage"]


@pytest.mark.parametrize("reference", [{"id": "msg_1"}, {"id": "msg_1", "type": None},
                                       {"id": "msg_1", "type": "item_reference"}])
def test_an_object_with_only_an_id_is_an_item_reference(reference: dict[str, Any]) -> None:
    request = parse({**M, "input": [reference]})
    assert isinstance(request.input, list) and isinstance(request.input[0], ItemReference)
    assert request.input_items() == [{"type": "item_reference", "id": "msg_1"}]


def test_replayed_assistant_output_message() -> None:
    message = {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
               "phase": "final_answer",
               "content": [{"type": "output_text", "text": "hi", "annotations": [
                   {"type": "url_citation", "url": "https://x", "title": "X", "start_index": 0,
                    "end_index": 2}], "logprobs": [{"token": "hi", "bytes": [104, 105],
                                                    "logprob": -0.1, "top_logprobs": []}]},
                           {"type": "refusal", "refusal": "no"}]}
    assert parse({**M, "input": [message]}).input_items() == [message]


def test_every_tool_type_is_accepted() -> None:
    tools: list[dict[str, Any]] = [
        FUNCTION,
        {"type": "custom", "name": "g", "format": {"type": "grammar", "syntax": "lark",
                                                   "definition": "start: /x/"}},
        {"type": "namespace", "name": "crm", "description": "CRM", "tools": [
            {"type": "function", "name": "f" * 100, "strict": False},
            {"type": "custom", "name": "c", "format": {"type": "text"}}]},
        {"type": "file_search", "vector_store_ids": ["vs_1"], "max_num_results": 3,
         "filters": {"type": "and", "filters": [{"type": "eq", "key": "a", "value": 1},
                                                {"type": "in", "key": "b", "value": ["x", 2]}]},
         "ranking_options": {"ranker": "auto", "score_threshold": 0.5}},
        {"type": "web_search", "external_web_access": False},
        {"type": "web_search_2025_08_26", "search_context_size": "low",
         "user_location": {"type": "approximate", "city": "Paris"},
         "filters": {"allowed_domains": ["x.org"]}},
        {"type": "web_search_preview", "search_content_types": ["text", "image"]},
        {"type": "web_search_preview_2025_03_11"},
        {"type": "computer"},
        {"type": "computer_use_preview", "display_width": 1024, "display_height": 768,
         "environment": "browser"},
        {"type": "code_interpreter", "container": "cntr_1"},
        {"type": "code_interpreter", "container": {"type": "auto", "file_ids": ["file_1"],
                                                   "memory_limit": "4g",
                                                   "network_policy": {"type": "disabled"}}},
        {"type": "mcp", "server_label": "s", "server_url": "https://mcp", "require_approval":
         "never", "allowed_tools": ["a"], "headers": {"x": "y"}},
        {"type": "mcp", "server_label": "t", "connector_id": "connector_gmail",
         "allowed_tools": {"tool_names": ["a"], "read_only": True},
         "require_approval": {"always": {"tool_names": ["b"]}}},
        {"type": "image_generation", "partial_images": 3, "output_compression": 100,
         "size": "1024x1024", "quality": "high"},
        {"type": "local_shell"},
        {"type": "shell", "environment": {"type": "container_auto", "skills": [
            {"type": "skill_reference", "skill_id": "sk_1"}]}},
        {"type": "apply_patch"},
        {"type": "tool_search", "execution": "client", "parameters": {"type": "object"}},
        {"type": "programmatic_tool_calling"},
    ]
    request = parse({**M, "tools": tools})
    assert request.tools_json() == tools
    kinds = {tool["type"] for tool in tools}
    assert len(kinds) == 18


@pytest.mark.parametrize("choice", [
    "none", "auto", "required",
    {"type": "allowed_tools", "mode": "required", "tools": [{"type": "function",
                                                             "name": "get_weather"}]},
    {"type": "file_search"}, {"type": "web_search_preview"}, {"type": "computer_use"},
    {"type": "computer_use_preview"}, {"type": "image_generation"},
    {"type": "code_interpreter"}, {"type": "web_search_preview_2025_03_11"}, {"type": "computer"},
    {"type": "function", "name": "get_weather"},
    {"type": "mcp", "server_label": "s", "name": None},
    {"type": "custom", "name": "g"},
    {"type": "programmatic_tool_calling"}, {"type": "apply_patch"}, {"type": "shell"},
])
def test_every_tool_choice_form_is_accepted(choice: Any) -> None:
    tools = [FUNCTION, {"type": "custom", "name": "g"}]
    assert parse({**M, "tools": tools, "tool_choice": choice}).tool_choice_json() == choice


def test_tool_choice_may_name_a_namespaced_function() -> None:
    namespace = {"type": "namespace", "name": "ns", "description": "d",
                 "tools": [{"type": "function", "name": "inner"}]}
    parse({**M, "tools": [namespace], "tool_choice": {"type": "function", "name": "inner"}})


# ---- canonical items -------------------------------------------------------------------------


def test_string_input_becomes_one_user_message() -> None:
    assert parse({**M, "input": "hi"}).input_items() == [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}]


@pytest.mark.parametrize(("role", "part"), [
    ("user", {"type": "input_text", "text": "x"}),
    ("system", {"type": "input_text", "text": "x"}),
    ("developer", {"type": "input_text", "text": "x"}),
    ("assistant", {"type": "output_text", "text": "x", "annotations": []}),
])
def test_string_content_becomes_one_part(role: str, part: dict[str, Any]) -> None:
    items = parse({**M, "input": [{"role": role, "content": "x"}]}).input_items()
    assert items == [{"type": "message", "role": role, "content": [part]}]


def test_canonical_items_keep_what_the_client_sent() -> None:
    sent = [
        {"role": "user", "content": "hi", "id": "msg_client"},
        {"type": "reasoning", "id": "rs_1", "summary": [], "content": None,
         "encrypted_content": "enc"},
        {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}", "id": "fc_1",
         "status": "completed"},
        {"type": "function_call_output", "call_id": "c", "output": "ok", "id": "fco_1"},
        {"role": "assistant", "content": [{"type": "output_text", "text": "t"}]},
    ]
    assert parse({**M, "input": sent}).input_items() == [
        {"type": "message", "role": "user", "id": "msg_client",
         "content": [{"type": "input_text", "text": "hi"}]},
        sent[1], sent[2], sent[3],
        {"type": "message", "role": "assistant",
         "content": [{"type": "output_text", "text": "t", "annotations": []}]},
    ]


def test_canonical_body_is_what_was_set_with_canonical_input() -> None:
    request = parse({**M, "input": "hi", "temperature": None, "store": False})
    assert request.canonical_body() == {
        **M, "temperature": None, "store": False,
        "input": [{"type": "message", "role": "user",
                   "content": [{"type": "input_text", "text": "hi"}]}]}
    assert "input" not in parse(M).canonical_body()


def test_normalize_input_takes_validated_items_or_a_string() -> None:
    assert normalize_input(None) == []
    assert normalize_input("x")[0]["role"] == "user"
    items = [InputMessage(role="user", content="x")]
    assert normalize_input(items) == [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "x"}]}]


# ---- the field lists are SDK 3.54's ----------------------------------------------------------

# Where Open Responses (or real clients) are laxer than the SDK types, the laxer rule wins.
RELAXED = {("reasoning", "id"), ("function", "parameters"), ("function", "strict")}
# Fields real clients send beyond the SDK types: Codex replays the `status` of custom tool calls
# and their outputs, and declares web search with `search_content_types`.
CLIENT_EXTRAS = {("custom_tool_call", "status"), ("custom_tool_call_output", "status"),
                 ("web_search", "search_content_types"),
                 ("web_search_2025_08_26", "search_content_types")}


def _members(union: Any) -> tuple[Any, ...]:
    return typing.get_args(typing.get_args(union)[0])


def _type_values(annotation: Any) -> list[str]:
    if typing.get_origin(annotation) is typing.Literal:
        return [arg for arg in typing.get_args(annotation) if isinstance(arg, str)]
    return [value for arg in typing.get_args(annotation) for value in _type_values(arg)]


def _is_required(hint: Any) -> bool:
    origin: Any = typing.get_origin(hint)
    return origin is typing_extensions.Required


def _compare(sdk_union: Any, our_union: Any) -> list[str]:
    ours: dict[str, Any] = {}
    for model in _members(our_union):
        for value in _type_values(model.model_fields["type"].annotation):
            ours.setdefault(value, model)
    problems = []
    for typed_dict in typing.get_args(sdk_union):
        hints = typing_extensions.get_type_hints(typed_dict, include_extras=True)
        sdk_required = {name for name, hint in hints.items() if _is_required(hint)}
        for value in _type_values(hints["type"]):
            if value == "message":
                continue  # three SDK classes, two models by role: tested separately
            model = ours[value]
            fields = {field.alias or name for name, field in model.model_fields.items()}
            required = {field.alias or name for name, field in model.model_fields.items()
                        if field.is_required()}
            extras = {name for kind, name in CLIENT_EXTRAS if kind == value}
            if fields - extras != set(hints):
                problems.append(f"{value}: fields {sorted((fields - extras) ^ set(hints))}")
            relaxed = {name for name in sdk_required - required if (value, name) in RELAXED}
            if required != sdk_required - relaxed:
                problems.append(f"{value}: required {sorted(required ^ sdk_required)}")
    return problems


def test_item_fields_are_the_sdk_fields() -> None:
    sdk = pytest.importorskip("openai.types.responses.response_input_item_param")
    assert _compare(sdk.ResponseInputItemParam, item_models.InputItem) == []


def test_tool_fields_are_the_sdk_fields() -> None:
    sdk = pytest.importorskip("openai.types.responses.tool_param")
    assert _compare(sdk.ToolParam, tool_models.Tool) == []
