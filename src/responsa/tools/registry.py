"""Which request tool types the server runs itself, and how their stored items replay.

Each hosted tool kind registers its factory under every request `type` it answers to, and a
replay for every output item type it produces. A type missing here is not a hosted tool.
"""

from __future__ import annotations

from responsa.tools.base import Replay, ToolFactory

FACTORIES: dict[str, ToolFactory] = {}
REPLAYS: dict[str, Replay] = {}
