"""The prompt-template bodies of responsa's own `/v1/prompts` API (an extension: the real API
manages prompts in its dashboard), validated with the same wording as `POST /v1/responses`.

A template is what a version stores: `instructions` (a string with `{{variable}}` placeholders),
`input` (items as in a response's `input`, placeholders in their text parts; a part that is
exactly `{{name}}` may be replaced by an image or file variable), `model` and `metadata`.
"""

from __future__ import annotations

from responsa.protocol.items import normalize_input
from responsa.protocol.request import Input, Metadata
from responsa.protocol.wire import JSONDict, WireModel


class PromptTemplateRequest(WireModel):
    """`POST /v1/prompts` (the first version) and `POST /v1/prompts/{id}/versions`."""

    instructions: str | None = None
    input: Input | None = None
    model: str | None = None
    metadata: Metadata | None = None

    def template(self) -> JSONDict:
        """The template as stored: every field present, `input` in canonical form."""
        return {
            "instructions": self.instructions,
            "input": normalize_input(self.input) if self.input is not None else None,
            "model": self.model,
            "metadata": self.metadata or {},
        }
