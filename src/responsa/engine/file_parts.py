"""Image and file parts given by `file_id` (an upload of the Files API), made inline for the
model: `input_image` gets a `data:` URL, `input_file` gets `file_data` and its filename, as
every provider takes them. Stored items keep the ids as sent; only what the model reads is
changed.

Parts live in messages' `content`, in tool outputs given as a list of parts
(`function_call_output`, `custom_tool_call_output`), and in a `computer_call_output`'s
screenshot. An unknown file in this request's own input is a 400; one in the history (deleted
or expired since) becomes a short note, so that an old turn cannot block the conversation.
"""

from __future__ import annotations

import base64
import mimetypes
from typing import TYPE_CHECKING, Any

from responsa.errors import InvalidRequestError

if TYPE_CHECKING:
    from responsa.retrieval.services import FileServices

JSONDict = dict[str, Any]


async def inline_file_parts(items: list[JSONDict], files: FileServices | None, *,
                            first_new: int) -> list[JSONDict]:
    """`items` with every `file_id` part inline; items without one are passed through as is.
    `first_new`: the index of this request's first own item (the ones a 400 can name)."""
    if files is None or not any(_has_file_id(item) for item in items):
        return items
    inlined: list[JSONDict] = []
    for index, item in enumerate(items):
        param = f"input[{index - first_new}]" if index >= first_new else None
        inlined.append(await _inline_item(item, files, param) if _has_file_id(item) else item)
    return inlined


def _has_file_id(item: JSONDict) -> bool:
    return any(part.get("file_id") and not _is_inline(part) for part, _ in _parts(item))


def _parts(item: JSONDict) -> list[tuple[JSONDict, str]]:
    """The item's content parts with the key path a `param` names them by."""
    kind = item.get("type")
    if kind == "message" and isinstance(item.get("content"), list):
        return [(part, f"content[{n}]") for n, part in enumerate(item["content"])]
    if kind in ("function_call_output", "custom_tool_call_output") and isinstance(
            item.get("output"), list):
        return [(part, f"output[{n}]") for n, part in enumerate(item["output"])]
    if kind == "computer_call_output" and isinstance(item.get("output"), dict):
        return [(item["output"], "output")]
    return []


def _is_inline(part: JSONDict) -> bool:
    return bool(part.get("image_url") or part.get("file_data"))


async def _inline_item(item: JSONDict, files: FileServices, param: str | None) -> JSONDict:
    replaced: dict[int, JSONDict] = {}
    for part, path in _parts(item):
        if part.get("file_id") and not _is_inline(part):
            where = f"{param}.{path}.file_id" if param else None
            replaced[id(part)] = await _inline_part(part, files, where)
    if item.get("type") == "computer_call_output":
        return {**item, "output": replaced[id(item["output"])]}
    key = "content" if item.get("type") == "message" else "output"
    return {**item, key: [replaced.get(id(part), part) for part in item[key]]}


async def _inline_part(part: JSONDict, files: FileServices, param: str | None) -> JSONDict:
    file_id = str(part["file_id"])
    found = await files.named_content(file_id)
    if found is None:
        if param is not None:
            raise InvalidRequestError(f"No such File object: {file_id}", param=param,
                                      code="invalid_value")
        return {"type": "input_text", "text": f"[file {file_id} is no longer available]"}
    filename, data = found
    media_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    url = f"data:{media_type};base64,{base64.b64encode(data).decode()}"
    inline = {key: value for key, value in part.items() if key != "file_id"}
    if part.get("type") == "input_file":
        return {**inline, "filename": part.get("filename") or filename, "file_data": url}
    return {**inline, "image_url": url}  # input_image, or a computer screenshot
