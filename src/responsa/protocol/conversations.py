"""The Conversations API bodies: create, update, and add items — validated as the real API does.

Items are the same union as a response's `input` (`items.InputItem`) and come out in the same
canonical form (`normalize_input`); errors carry the same wording, with paths like
`items[0].role`.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

import orjson
from pydantic import Field, ValidationError

from responsa.errors import InvalidRequestError
from responsa.protocol.items import InputItem, normalize_input
from responsa.protocol.request import Metadata
from responsa.protocol.validation_errors import INVALID_JSON_MESSAGE, first_error
from responsa.protocol.wire import JSONDict, WireModel

MAX_ITEMS = 20  # items per create / add-items call [spec]

Items = Annotated[list[InputItem], Field(max_length=MAX_ITEMS)]


class CreateConversationRequest(WireModel):
    """`POST /v1/conversations`: optional initial items and metadata."""

    items: Items | None = None
    metadata: Metadata | None = None

    def items_json(self) -> list[JSONDict]:
        return normalize_input(self.items)


class UpdateConversationRequest(WireModel):
    """`POST /v1/conversations/{id}`: `metadata` is required, and may be null."""

    metadata: Metadata | None


class AddItemsRequest(WireModel):
    """`POST /v1/conversations/{id}/items`."""

    items: Items

    def items_json(self) -> list[JSONDict]:
        return normalize_input(self.items)


Body = TypeVar("Body", bound=WireModel)


def parse_body(model: type[Body], body: bytes) -> Body:
    """Parse and validate a JSON body (an empty one counts as `{}`), or raise
    `InvalidRequestError` with OpenAI's code, param and message for the first problem."""
    data: Any = {}
    if body.strip():
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise InvalidRequestError(INVALID_JSON_MESSAGE) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise first_error(exc) from None
