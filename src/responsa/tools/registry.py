"""Which request tool types the server runs itself, and how their stored items replay.

Each hosted tool kind registers its factory under every request `type` it answers to, and a
replay for every output item type it produces. A type missing here is not a hosted tool.
"""

from __future__ import annotations

from typing import Any

from responsa.tools.base import Replay, ToolFactory

JSONDict = dict[str, Any]

FACTORIES: dict[str, ToolFactory] = {}
REPLAYS: dict[str, Replay] = {}


def replay_hosted_items(items: list[JSONDict]) -> list[JSONDict]:
    """Stored hosted items as the model saw them when they ran (function call and output)."""
    if not any(item.get("type") in REPLAYS for item in items):
        return items
    replayed: list[JSONDict] = []
    for item in items:
        replay = REPLAYS.get(item.get("type", ""))
        if replay is None:
            replayed.append(item)
        else:
            replayed.extend(replay(item))
    return replayed


# The hosted tools register themselves on import (after the tables above exist).
import responsa.tools.mcp  # noqa: E402, F401
from responsa.tools import (  # noqa: E402, F401
    code_interpreter,
    file_search,
    image_generation,
    tool_search,
    web_search,
)
