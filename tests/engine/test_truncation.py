"""The cut search of `truncation: "auto"`, against a provider that counts deterministically."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from responsa.engine.truncation import fit_context_window, turn_boundaries
from responsa.errors import ContextLengthExceededError
from responsa.providers.base import Capabilities, ModelRequest


class Counting:
    """Tokens = 10 per item plus its `weight`; window as given."""

    name = "fake"
    capabilities = Capabilities()

    def __init__(self, window: int | None) -> None:
        self.window = window
        self.counts = 0

    async def context_window_of(self, model: str) -> int | None:
        return self.window

    async def count_input_tokens(self, request: ModelRequest) -> int:
        self.counts += 1
        return tokens(request.input)

    # the rest of the Provider protocol, unused here
    def open(self, request: ModelRequest) -> Any:
        raise NotImplementedError

    async def list_models(self) -> list[Any]:
        return []

    async def aclose(self) -> None:
        return None


def tokens(items: list[dict[str, Any]]) -> int:
    return sum(10 + int(item.get("weight", 0)) for item in items)


def user(weight: int) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": "u" * weight, "weight": weight}


def other(weight: int, **fields: Any) -> dict[str, Any]:
    return {"type": "message", "role": "assistant", "content": "a" * weight, "weight": weight,
            **fields}


def fit(provider: Counting, items: list[dict[str, Any]], truncation: str = "auto",
        max_output_tokens: int | None = None) -> list[dict[str, Any]]:
    request = ModelRequest(model="m", input=items, max_output_tokens=max_output_tokens)
    return asyncio.run(fit_context_window(provider, request, truncation)).input  # type: ignore[arg-type]


def test_turn_boundaries_skip_call_spans_and_stop_at_the_newest_user() -> None:
    items = [user(1), {"type": "function_call", "call_id": "a"}, user(1),
             {"type": "function_call_output", "call_id": "a"}, user(1), other(1), user(1),
             other(1)]
    assert turn_boundaries(items) == [4, 6]
    assert turn_boundaries([other(1), other(1)]) == []


def test_unknown_window_is_not_counted() -> None:
    provider = Counting(None)
    items = [user(10_000)]
    assert fit(provider, items, "disabled") == items and provider.counts == 0


@pytest.mark.parametrize("seed", range(40))
def test_search_finds_the_earliest_fitting_cut(seed: int) -> None:
    rng = random.Random(seed)
    items: list[dict[str, Any]] = []
    for _ in range(rng.randint(2, 120)):
        items.append(user(rng.randint(0, 400)))
        items.extend(other(rng.randint(0, 400)) for _ in range(rng.randint(0, 3)))
    window = rng.randint(200, 6000)
    budget = window - min(1024, window // 4)
    provider = Counting(window)
    cuts = [0, *turn_boundaries(items)]
    expected = next((cut for cut in cuts if tokens(items[cut:]) <= budget), None)
    if expected is None:
        with pytest.raises(ContextLengthExceededError):
            fit(provider, items)
        return
    assert fit(provider, items) == items[expected:]
    if expected:  # one full count, then a handful, not one per turn
        assert provider.counts <= 3 + len(cuts).bit_length()
