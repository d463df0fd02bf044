"""Prompt templates in the store: the protocol, and the object both stores build.

A prompt is an id (`pmpt_…`) with versions "1", "2", … (each new version gets the next number).
Each version keeps its own `created_at` and `template`: the JSON object of the template's own
fields (`instructions`, `input`, `model`, `metadata`), stored verbatim. The Prompt object is
`{"id", "object": "prompt", "version", "created_at", **template}`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from responsa.store.base import ItemPage, Order

JSONDict = dict[str, Any]


class PromptStore(Protocol):
    async def create_prompt(self, prompt_id: str, created_at: int, template: JSONDict) -> JSONDict:
        """Insert a new prompt with `template` as its version "1"; the Prompt object."""

    async def add_prompt_version(
        self, prompt_id: str, created_at: int, template: JSONDict
    ) -> JSONDict | None:
        """Append the next version (atomically numbered); the Prompt object, or None if the
        prompt is not stored."""

    async def get_prompt(self, prompt_id: str, version: str | None = None) -> JSONDict | None:
        """That version (the latest when None) of the prompt, or None."""

    async def list_prompts(
        self, *, after: str | None, limit: int, order: Order
    ) -> ItemPage:
        """A page of prompts (each at its latest version) in creation order. `after` is a
        prompt id: the page starts after it (an unknown id gives an empty page)."""

    async def delete_prompt(self, prompt_id: str) -> bool:
        """Delete the prompt with all its versions; False if it did not exist."""


def version_number(version: str | None) -> int | None:
    """A version string as stored (None: the latest); -1 for one that cannot exist."""
    if version is None:
        return None
    if not version.isdigit() or version != str(int(version)) or int(version) > 2**31 - 1:
        return -1
    return int(version)


def prompt_object(prompt_id: str, version: int, created_at: int, template: JSONDict) -> JSONDict:
    return {"id": prompt_id, "object": "prompt", "version": str(version),
            "created_at": created_at, **template}
