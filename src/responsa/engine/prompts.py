"""`prompt` on create: resolve the stored template and substitute its variables.

Rules:
- the version asked for, or the latest; an unknown id or version is a 400 (`prompt.id`,
  `prompt.version`);
- `{{name}}` (spaces inside the braces allowed) in the template's `instructions` and text parts
  is replaced by a string variable, or by the text of an `input_text` variable;
- a content part of the template's `input` whose text is exactly `{{name}}` is replaced by the
  variable's part when it is an `input_text`, `input_image` or `input_file` object (an image or
  file variable used inside other text is a 400);
- every placeholder must have a variable (else a 400 naming `prompt.variables.<name>`); variables
  no placeholder uses are allowed and ignored;
- the request's own `instructions`, when given (not null), win over the template's;
- the template's `input` items come before the request's `input`;
- the template's `model` is used when the request has none (a 400 if neither has one).
"""

from __future__ import annotations

import re
from typing import Any

from responsa.errors import InvalidRequestError
from responsa.store.base import Store

JSONDict = dict[str, Any]

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.\-]+)\s*\}\}")
_WHOLE = re.compile(r"\s*\{\{\s*([A-Za-z0-9_.\-]+)\s*\}\}\s*")
_TEXT_PARTS = frozenset({"input_text", "output_text"})


async def apply_prompt(store: Store, body: JSONDict) -> JSONDict:
    """The body with its prompt template applied (the body itself when it has no `prompt`).
    `prompt` stays in the body, as sent, for the Response to echo."""
    prompt = body.get("prompt")
    if not prompt:
        if body.get("model") is None:
            raise _missing_model()
        return body
    prompt_id, version = prompt["id"], prompt.get("version")
    template = await store.get_prompt(prompt_id, version)
    if template is None:
        if version is not None and await store.get_prompt(prompt_id) is not None:
            raise InvalidRequestError(
                f"Prompt with id '{prompt_id}' has no version '{version}'.",
                param="prompt.version", code="invalid_value")
        raise InvalidRequestError(f"Prompt with id '{prompt_id}' not found.",
                                  param="prompt.id", code="invalid_value")
    variables: JSONDict = prompt.get("variables") or {}
    resolved = dict(body)
    if body.get("instructions") is None and template.get("instructions") is not None:
        resolved["instructions"] = substitute_text(template["instructions"], variables)
    items = [_substitute_item(item, variables) for item in template.get("input") or ()]
    if items:
        resolved["input"] = items + list(body.get("input") or ())
    if body.get("model") is None:
        if template.get("model") is None:
            raise _missing_model()
        resolved["model"] = template["model"]
    return resolved


def substitute_text(text: str, variables: JSONDict) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        value = _variable(variables, name)
        if isinstance(value, str):
            return value
        if value.get("type") == "input_text":
            return str(value["text"])
        raise InvalidRequestError(
            f"Invalid 'prompt.variables.{name}': a variable of type '{value.get('type')}' must "
            "fill a whole content part (a part whose text is exactly the placeholder).",
            param=f"prompt.variables.{name}", code="invalid_value")

    return PLACEHOLDER.sub(replace, text)


def _substitute_item(item: JSONDict, variables: JSONDict) -> JSONDict:
    content = item.get("content")
    if item.get("type") != "message" or not isinstance(content, list):
        return item
    return {**item, "content": [_substitute_part(part, variables) for part in content]}


def _substitute_part(part: JSONDict, variables: JSONDict) -> JSONDict:
    if part.get("type") not in _TEXT_PARTS or not isinstance(part.get("text"), str):
        return part
    whole = _WHOLE.fullmatch(part["text"])
    if whole is not None and part["type"] == "input_text":
        value = _variable(variables, whole.group(1))
        if isinstance(value, dict):
            return dict(value)
    return {**part, "text": substitute_text(part["text"], variables)}


def _variable(variables: JSONDict, name: str) -> Any:
    if name not in variables:
        raise InvalidRequestError(
            f"Missing required parameter: 'prompt.variables.{name}'.",
            param=f"prompt.variables.{name}", code="missing_required_parameter")
    return variables[name]


def _missing_model() -> InvalidRequestError:
    return InvalidRequestError("Missing required parameter: 'model'.", param="model",
                               code="missing_required_parameter")
