"""Prefixed, unguessable ids in the shapes the real API uses (resp_, msg_, fc_, call_, rs_ …)."""

from __future__ import annotations

import os


def new_id(prefix: str) -> str:
    """`prefix_` + 48 hex characters (24 random bytes), as long as OpenAI's own ids."""
    return f"{prefix}_{os.urandom(24).hex()}"


def new_file_id() -> str:
    """Files are `file-` + hex, as the real API spells them (a hyphen, not an underscore)."""
    return f"file-{os.urandom(16).hex()}"
