"""Compaction items: sealing a summary into `encrypted_content`, and expanding it back.

The blob is a Fernet token (AES-128-CBC + HMAC-SHA256, `engine/secret.py` holds the key) over
`{"v": 1, "kind": "compaction", "summary": …, "covers": [item ids]}`: opaque to clients,
authenticated, and self-contained, so it round-trips with `store: false`.

Expansion (what the provider sees): every item whose id a compaction item `covers` is dropped
(it is part of the summary), and the compaction item itself becomes a user message
`Summary of the earlier conversation: …` at its place. A user message is what every chat
template accepts anywhere; system messages are often only allowed first.
"""

from __future__ import annotations

from typing import Any

import orjson
from cryptography.fernet import Fernet, InvalidToken

from responsa.errors import InvalidRequestError

JSONDict = dict[str, Any]

SUMMARY_PREFIX = "Summary of the earlier conversation:\n"
_VERSION = 1


class Sealer:
    """The one sealing mechanism: Fernet tokens over `{"v", "kind", …}` payloads, so a blob
    sealed for one purpose (a compaction summary, a reasoning item) never opens as another."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def seal_payload(self, kind: str, data: JSONDict) -> str:
        return self._fernet.encrypt(orjson.dumps({"v": _VERSION, "kind": kind, **data})).decode()

    def open_payload(self, blob: str, kind: str) -> JSONDict | None:
        """The payload, or None for a blob this server did not seal as `kind` (tampered,
        truncated, sealed with another key, or for another purpose)."""
        try:
            payload = orjson.loads(self._fernet.decrypt(blob.encode()))
        except (InvalidToken, ValueError, TypeError, AttributeError, orjson.JSONDecodeError):
            return None
        if not isinstance(payload, dict) or payload.get("v") != _VERSION:
            return None
        return payload if payload.get("kind") == kind else None

    def seal(self, summary: str, covers: list[str]) -> str:
        return self.seal_payload("compaction", {"summary": summary, "covers": covers})

    def open(self, blob: str, *, param: str) -> tuple[str, list[str]]:
        """The summary and covered ids, or a 400 naming `param` for a blob this server did not
        seal."""
        payload = self.open_payload(blob, "compaction")
        try:
            if payload is None:
                raise ValueError("not a compaction payload")
            return str(payload["summary"]), [str(i) for i in payload.get("covers") or ()]
        except (ValueError, KeyError, TypeError):
            raise InvalidRequestError(
                f"Invalid '{param}': the encrypted content could not be decrypted or verified.",
                param=param, code="invalid_encrypted_content") from None


def has_compaction(items: list[JSONDict]) -> bool:
    return any(item["type"] == "compaction" for item in items)


def summary_message(item_id: str | None, summary: str) -> JSONDict:
    message: JSONDict = {"type": "message", "role": "user",
                         "content": [{"type": "input_text", "text": SUMMARY_PREFIX + summary}]}
    if item_id:
        message = {"id": item_id, **message}
    return message


def expand_compactions(items: list[JSONDict], sealer: Sealer, *, first_new: int) -> list[JSONDict]:
    """`items` as the provider must see them: covered items dropped, summaries in place."""
    if not has_compaction(items):
        return items
    summaries: dict[int, str] = {}
    covered: set[str] = set()
    for position, item in enumerate(items):
        if item["type"] == "compaction":
            param = ("input" if position < first_new
                     else f"input[{position - first_new}].encrypted_content")
            summary, covers = sealer.open(item["encrypted_content"], param=param)
            summaries[position] = summary
            covered.update(covers)
    expanded: list[JSONDict] = []
    for position, item in enumerate(items):
        if item.get("id") is not None and item["id"] in covered:
            continue
        if position in summaries:
            expanded.append(summary_message(item.get("id"), summaries[position]))
        else:
            expanded.append(item)
    return expanded
