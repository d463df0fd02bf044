"""Reasoning items that survive turns without stored state (`include:
["reasoning.encrypted_content"]`).

Sealing: a finished reasoning item gets `encrypted_content`, a `Sealer` blob of kind
`reasoning` over `{"provider", "text", "summary", "blocks", "upstream"}`: the reasoning text
and summary texts (clients such as Codex send the item back with `content: null`), and what the
provider that produced it needs to restore it (`ReasoningState`: Anthropic thinking blocks with
their signatures and redacted_thinking data, a native Responses upstream's own
`encrypted_content`).

Expansion (what the provider sees): each reasoning item carrying `encrypted_content` is opened;
its text fills `content` where the client left it out, and the provider state goes under
`REASONING_STATE_KEY`, only when the same provider continues (a signature or an upstream blob
means nothing to another one). A blob this server did not seal is the real API's 400
`invalid_encrypted_content`.
"""

from __future__ import annotations

from typing import Any

from responsa.engine.compaction_items import Sealer
from responsa.errors import InvalidRequestError
from responsa.providers.deltas import REASONING_STATE_KEY

JSONDict = dict[str, Any]

_KIND = "reasoning"


def seal_reasoning(sealer: Sealer, provider: str, item: JSONDict, state: JSONDict) -> str:
    """The `encrypted_content` for a finished reasoning item."""
    text = "".join(part.get("text") or "" for part in item.get("content") or ())
    summary = [part.get("text") or "" for part in item.get("summary") or ()]
    return sealer.seal_payload(_KIND, {"provider": provider, "text": text, "summary": summary,
                                       "blocks": state.get("blocks") or [],
                                       "upstream": state.get("encrypted_content")})


def expand_reasoning(items: list[JSONDict], sealer: Sealer, *, first_new: int,
                     provider: str | None) -> list[JSONDict]:
    """`items` with every sealed reasoning item opened for `provider` (see the docstring)."""
    if not any(item["type"] == "reasoning" and item.get("encrypted_content") for item in items):
        return items
    return [_opened(item, sealer, position, first_new, provider)
            if item["type"] == "reasoning" and item.get("encrypted_content") else item
            for position, item in enumerate(items)]


def _opened(item: JSONDict, sealer: Sealer, position: int, first_new: int,
            provider: str | None) -> JSONDict:
    blob = str(item["encrypted_content"])
    payload = sealer.open_payload(blob, _KIND)
    if payload is None:
        param = ("input" if position < first_new
                 else f"input[{position - first_new}].encrypted_content")
        shown = f"{blob[:4]}...{blob[-4:]}" if len(blob) > 12 else blob
        raise InvalidRequestError(
            f"The encrypted content {shown} could not be verified. Reason: Encrypted content "
            "could not be decrypted or parsed.", param=param, code="invalid_encrypted_content")
    opened = {key: value for key, value in item.items() if key != "encrypted_content"}
    if not opened.get("content") and payload.get("text"):
        opened["content"] = [{"type": "reasoning_text", "text": str(payload["text"])}]
    if not opened.get("summary") and payload.get("summary"):
        opened["summary"] = [{"type": "summary_text", "text": str(text)}
                             for text in payload["summary"]]
    if provider is not None and payload.get("provider") == provider:
        state = {"blocks": payload.get("blocks") or [],
                 "encrypted_content": payload.get("upstream")}
        if state["blocks"] or state["encrypted_content"]:
            opened[REASONING_STATE_KEY] = state
    return opened
