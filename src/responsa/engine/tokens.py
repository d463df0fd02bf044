"""Counting a request's input tokens without running it (`POST /v1/responses/input_tokens`).

The count is over the same effective context a create would build — the stored chain behind
`previous_response_id`, `instructions`, the new input and the tools — handed to the provider as
the same `ModelRequest`, so the provider counts exactly what it would send; with
`truncation: "auto"`, after the oldest turns a create would drop are dropped. The provider decides
how to count (exact with llama.cpp's tokenizer, else an estimate: `providers/token_estimate.py`).
With no `model` there is no provider to ask: the estimate is used.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from responsa.engine.compaction_items import Sealer
from responsa.engine.context import build_context
from responsa.engine.run import _model_request, _reject_unsupported
from responsa.engine.truncation import fit_context_window
from responsa.errors import ContextLengthExceededError, InvalidRequestError, UpstreamStatusError
from responsa.providers.base import Capabilities
from responsa.providers.chat_translation import build_chat_body
from responsa.providers.registry import ProviderRegistry
from responsa.providers.token_estimate import estimate_chat_tokens
from responsa.store.base import Store

if TYPE_CHECKING:
    from responsa.retrieval.services import FileServices

JSONDict = dict[str, Any]


async def count_input_tokens(store: Store, providers: ProviderRegistry, body: JSONDict,
                             sealer: Sealer | None = None,
                             files: FileServices | None = None) -> int:
    """Input tokens for a validated `InputTokensRequest` body. Raises `ResponsaError` for what a
    create would refuse (unknown model or previous response, unsupported parameters or tools,
    unpaired tool calls) and `UpstreamError` when the upstream cannot count."""
    _reject_unsupported(body)
    model = body.get("model")
    if not model:
        request = _model_request(body, "", await build_context(store, body, sealer,
                                                               files=files))
        return estimate_chat_tokens(build_chat_body(request, Capabilities()))
    provider, upstream_model = providers.resolve(model)  # before the store, as a create does
    # Sealed reasoning counts as the provider would read it (its signed blocks included).
    context = await build_context(store, body, sealer, provider=provider.name, files=files)
    request = _model_request(body, upstream_model, context,
                             native_tool_search=provider.capabilities.tool_search)
    try:
        if body.get("truncation") == "auto":  # count what the model would read after the cut
            with contextlib.suppress(ContextLengthExceededError):  # a create fails; we count
                request = await fit_context_window(provider, request, "auto")
        return await provider.count_input_tokens(request)
    except UpstreamStatusError as exc:
        if exc.is_client_error:  # the upstream refused the input itself, as a create reports it
            raise InvalidRequestError(exc.message, code="upstream_rejected_request") from exc
        raise
