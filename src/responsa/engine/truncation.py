"""`truncation`: what happens when the input does not fit the model's context window.

The window is the provider's (`KnowsContextWindow`: configured `context_window`, or asked of
the engine — llama.cpp reports its `n_ctx`). With no known window nothing is checked here: the
request goes upstream, whose own overflow error still becomes a 400 `context_length_exceeded`.

The input must leave room for the answer: `max_output_tokens` when the request sets it, else
`min(1024, window // 4)`. So the input budget is `window - reserve`, counted by the provider
(`count_input_tokens`: exact with llama.cpp's tokenizer, else the documented estimate).

- `"disabled"` (the default): an input over budget fails with 400 `context_length_exceeded`
  (`param: "input"`) before anything is sent upstream.
- `"auto"`: whole turns are dropped from the oldest end of the input until it fits. A turn
  starts at a user message; a cut never separates a tool call from its output (items sharing a
  `call_id` stay together), `instructions` are always kept, and the newest user turn is never
  dropped: when even it does not fit, the request fails as with `"disabled"`. Only what the
  model reads changes — the stored input items and the chain behind `previous_response_id` keep
  everything, and each later turn truncates the full history afresh.

Cost: nothing when the window is unknown or when the input's characters (over its JSON) fit
the budget even at one token per character. Otherwise one count; for `"auto"` over budget, item
sizes scaled to that count guess the cut, and the guess and its neighbour are counted (then a
bisection over the turn boundaries if the guess was off): usually 3 counts in all, at most
3 + log2(turns). Measured with llama.cpp and the tiny test model: ~25 ms for a 30-turn chain,
~110-220 ms for 300 turns (15k tokens), most of it the first, full count.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import replace
from typing import Any, cast

import orjson

from responsa.errors import ContextLengthExceededError, UpstreamError
from responsa.providers.base import KnowsContextWindow, ModelRequest, Provider
from responsa.providers.tool_surface import call_id_of

JSONDict = dict[str, Any]
logger = logging.getLogger(__name__)

DEFAULT_OUTPUT_RESERVE = 1024  # tokens kept free for the answer, at most a quarter of the window


def output_reserve(request: ModelRequest, window: int) -> int:
    if request.max_output_tokens is not None:
        return request.max_output_tokens
    return min(DEFAULT_OUTPUT_RESERVE, window // 4)


async def fit_context_window(
    provider: Provider, request: ModelRequest, truncation: str | None
) -> ModelRequest:
    """`request` as it may be sent: unchanged when it fits (or cannot be checked), with its
    oldest turns dropped under `"auto"`. Raises `ContextLengthExceededError` when it cannot fit."""
    if not _knows_window(type(provider)):
        return request
    try:
        window = await cast(KnowsContextWindow, provider).context_window_of(request.model)
    except UpstreamError:
        return request  # the create itself reports an unreachable upstream
    if not window:
        return request
    reserve = output_reserve(request, window)
    budget = window - reserve
    if _characters(request) <= budget:  # fits even at one token per character
        return request
    try:
        return await _fit(provider, request, truncation == "auto", window, reserve)
    except UpstreamError as exc:  # the upstream could not count: let it judge the input itself
        logger.warning("cannot count input tokens for truncation: %s", exc)
        return request


@functools.cache
def _knows_window(kind: type) -> bool:
    # Once per provider class: a runtime protocol check walks the protocol's members on every
    # call, and this runs on every request.
    return issubclass(kind, KnowsContextWindow)


async def _fit(provider: Provider, request: ModelRequest, auto: bool, window: int,
               reserve: int) -> ModelRequest:
    budget = window - reserve
    tokens = await provider.count_input_tokens(request)
    if tokens <= budget:
        return request
    cuts = turn_boundaries(request.input) if auto else []
    if not cuts:
        raise _exceeded(tokens, reserve, window, auto=auto)
    cut = cuts[await _earliest_fitting(provider, request, cuts, tokens, budget, reserve, window)]
    logger.info("truncation: dropped the oldest %d of %d input items to fit %d tokens",
                cut, len(request.input), window)
    return replace(request, input=request.input[cut:])


async def _earliest_fitting(provider: Provider, request: ModelRequest, cuts: list[int],
                            total: int, budget: int, reserve: int, window: int) -> int:
    """The index into `cuts` of the earliest cut whose remaining input fits `budget`.

    The count only falls as the cut moves later, so this is a bisection between "no cut" (known
    too long: `total` tokens) and the latest cut (the newest turn alone, fitting or the request
    fails). Its first two probes are guessed: the item sizes scaled to the exact `total` give
    the cut that should just fit, and its neighbour confirms it — usually 2 counts in all.
    """
    items = request.input
    sizes = [len(orjson.dumps(item)) for item in items]
    remaining = sum(sizes) or 1
    after: list[int] = []  # after[k]: the size of items[cuts[k]:]
    position = 0
    for cut in cuts:
        remaining -= sum(sizes[position:cut])
        position = cut
        after.append(remaining)
    whole = sum(sizes) or 1
    guess = next((k for k, size in enumerate(after) if total * size / whole <= budget),
                 len(cuts) - 1)
    too_long, fits, fits_known = -1, len(cuts) - 1, False  # -1 stands for no cut at all
    probe: int | None = guess
    tries = 0
    while fits - too_long > 1 or not fits_known:
        if probe is None or not too_long < probe <= fits:
            probe = fits if fits - too_long <= 1 else (fits + too_long) // 2
        tried = replace(request, input=items[cuts[probe]:])
        tokens = await provider.count_input_tokens(tried)
        if tokens <= budget:
            fits, fits_known, probe = probe, True, probe - 1
        elif probe == len(cuts) - 1:
            raise _exceeded(tokens, reserve, window, auto=True)
        else:
            too_long, probe = probe, probe + 1
        if tries:
            probe = None  # past the guess and its neighbour: bisect
        tries += 1
    return fits


def _characters(request: ModelRequest) -> int:
    """An upper bound for the tokens of ordinary text: its characters, counted over the JSON of
    the input and tools (whose keys also stand for the template's per-message tokens)."""
    return (len(orjson.dumps(request.input)) + len(request.instructions or "")
            + (len(orjson.dumps(request.tools)) if request.tools else 0))


def turn_boundaries(items: list[JSONDict]) -> list[int]:
    """Where the input may be cut (ascending, all > 0): at a user message, up to the newest
    one, never between two items that share a `call_id` (a tool call and its output)."""
    newest_user = max((index for index, item in enumerate(items) if _is_user_message(item)),
                      default=0)
    spans: dict[str, tuple[int, int]] = {}
    for index, item in enumerate(items):
        call_id = call_id_of(item)
        if call_id is not None:
            first, _ = spans.get(call_id, (index, index))
            spans[call_id] = (first, index)
    # A cut at i keeps items[i:]; it splits a span (first, last) when first < i <= last.
    opened = [0] * (len(items) + 2)
    for first, last in spans.values():
        opened[first + 1] += 1
        opened[last + 1] -= 1
    cuts: list[int] = []
    inside = 0
    for index in range(1, newest_user + 1):
        inside += opened[index]
        if not inside and _is_user_message(items[index]):
            cuts.append(index)
    return cuts


def _is_user_message(item: JSONDict) -> bool:
    return item.get("type", "message") == "message" and item.get("role") == "user"


def _exceeded(tokens: int, reserve: int, window: int, *, auto: bool) -> ContextLengthExceededError:
    what = "The newest turn of your input" if auto else "Your input"
    return ContextLengthExceededError(
        f"{what} exceeds the context window of this model: {tokens} input tokens plus "
        f"{reserve} reserved for output exceed its {window} tokens. Please adjust your input "
        f"and try again" + ("." if auto else ", or set truncation to 'auto'."), param="input")
