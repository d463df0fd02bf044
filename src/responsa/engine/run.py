"""Running one response: context in, provider stream through the builder, state out.

Every response is a stream of events (stream first, one path): a streaming request sends them as
SSE, a non-streaming one drains them and returns the final snapshot. Either way the same run
persists the response, its input items and its event log when `store` is true.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from cryptography.fernet import Fernet

from responsa.engine.builder import Event, ResponseBuilder
from responsa.engine.compaction import auto_compact, compact_threshold
from responsa.engine.compaction_items import Sealer
from responsa.engine.context import ConversationContext, build_context
from responsa.engine.prompts import apply_prompt
from responsa.engine.snapshot import LOGPROBS, initial_response
from responsa.engine.truncation import fit_context_window
from responsa.errors import InvalidRequestError, ResponsaError, UpstreamError, UpstreamStatusError
from responsa.providers.base import ModelRequest, Provider
from responsa.providers.deltas import Delta
from responsa.providers.registry import ProviderRegistry
from responsa.store.base import Store, StoredResponse

JSONDict = dict[str, Any]
logger = logging.getLogger(__name__)


class Engine:
    def __init__(self, store: Store, providers: ProviderRegistry,
                 sealer: Sealer | None = None) -> None:
        self.store = store
        self.providers = providers
        # Seals and opens compaction items; a per-process key unless the app supplies one.
        self.sealer = sealer or Sealer(Fernet.generate_key())
        # Saves that must finish even when the request that started them is cancelled.
        self._pending_saves: set[asyncio.Task[None]] = set()

    async def create(self, body: JSONDict) -> ResponseRun:
        """Check references, open the upstream and return the run, ready to stream.

        Raises `ResponsaError` for anything that should be an HTTP error: nothing is stored and
        nothing streamed yet. Failures of the upstream itself do not raise here; they become a
        run that ends in `response.failed`.
        """
        run = await self.prepare(body)
        await run.open_upstream()
        return run

    async def prepare(self, body: JSONDict, *, response_id: str | None = None,
                      created_at: int | None = None) -> ResponseRun:
        """`create` without opening the upstream: a background run opens it later, maybe on
        another replica, which re-prepares it under its first `response_id` and `created_at`."""
        _reject_unsupported(body)
        body = await apply_prompt(self.store, body)
        provider, upstream_model = self.providers.resolve(body["model"])
        threshold = compact_threshold(body)
        context = await build_context(self.store, body, self.sealer)
        request = _model_request(body, upstream_model, context)
        compaction = None
        if threshold is not None:  # engine/compaction.py: summarize the older part first
            compaction = await auto_compact(provider, request, self.sealer, threshold=threshold,
                                            first_new=context.history_length)
        request = await fit_context_window(provider, request, body.get("truncation"))
        response = initial_response(body, model=body["model"])
        if response_id is not None and created_at is not None:
            response["id"], response["created_at"] = response_id, created_at
        include = frozenset(body.get("include") or ())
        run = ResponseRun(self, provider, request, response, context,
                          include_logprobs=LOGPROBS in include)
        if compaction is not None:
            run.first_items.append(compaction)
        return run

    def save_in_background(
        self, record: StoredResponse, *, conversation_id: str | None = None
    ) -> asyncio.Task[None]:
        """Save the response (and extend its conversation, atomically with it)."""
        return self._in_background(
            self.store.save_response(record, conversation_id=conversation_id))

    def extend_in_background(
        self, conversation_id: str, items: list[JSONDict]
    ) -> asyncio.Task[None]:
        """Append an unstored response's items to its conversation."""
        return self._in_background(self._extend(conversation_id, items))

    async def _extend(self, conversation_id: str, items: list[JSONDict]) -> None:
        # A conversation deleted while the response ran has nothing left to extend.
        await self.store.append_conversation_items(conversation_id, items)

    def _in_background(self, write: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(write)
        self._pending_saves.add(task)
        task.add_done_callback(self._pending_saves.discard)
        return task

    async def drain(self) -> None:
        """Wait for saves still in flight (at shutdown)."""
        if self._pending_saves:
            await asyncio.gather(*self._pending_saves, return_exceptions=True)


class ResponseRun:
    def __init__(self, engine: Engine, provider: Provider, request: ModelRequest,
                 response: JSONDict, context: ConversationContext, *,
                 include_logprobs: bool) -> None:
        self._engine = engine
        self._provider = provider
        self._request = request
        self._context = context
        self._builder = ResponseBuilder(response, include_logprobs=include_logprobs)
        self._exit_stack = contextlib.AsyncExitStack()
        self._deltas: AsyncIterator[Delta] | None = None
        self._open_error: ResponsaError | None = None
        self._events: list[Event] = []
        self.first_items: list[JSONDict] = []  # finished items that open the output

    @property
    def response(self) -> JSONDict:
        return self._builder.response

    def abort(self, error: ResponsaError) -> None:
        """End a started run as failed before its `events()` is closed or cancelled (a server
        shutting down), so the close stores `failed` rather than `cancelled`."""
        if self._builder.next_sequence_number and not self._builder.terminal:
            self._events.extend(self._builder.fail(error))

    async def open_upstream(self, *, background: bool = False) -> None:
        """Open the upstream call. A request the upstream refuses is the caller's error (a 400),
        or, for a background run that already answered, the run's failure."""
        try:
            self._deltas = await self._exit_stack.enter_async_context(
                self._provider.open(self._request))
        except UpstreamStatusError as exc:
            if exc.is_client_error and background:
                self._open_error = InvalidRequestError(exc.message,
                                                       code="upstream_rejected_request")
            elif exc.is_client_error:
                # The upstream refused the request itself: that is the caller's error to fix.
                raise InvalidRequestError(exc.message, code="upstream_rejected_request") from exc
            self._open_error = exc
        except UpstreamError as exc:
            self._open_error = exc

    async def events(self) -> AsyncIterator[Event]:
        """The response's events, ending in exactly one terminal event. Closing this iterator
        early (a client that went away) stops the upstream and stores the run as cancelled."""
        builder = self._builder
        log = self._events
        try:
            for event in builder.start(queued=bool(self.response["background"])):
                log.append(event)
                yield event
            for item in self.first_items:
                for event in builder.add_item(item):
                    log.append(event)
                    yield event
            try:
                if self._open_error is not None:
                    raise self._open_error
                assert self._deltas is not None
                async for delta in self._deltas:
                    for event in builder.feed(delta):
                        log.append(event)
                        yield event
                closing = builder.finish()
            except ResponsaError as exc:
                closing = builder.fail(exc)
            except Exception as exc:  # the outer run loop: a bug must still end the stream
                logger.exception("response %s failed", builder.response["id"])
                closing = builder.fail(ResponsaError(f"Internal error: {type(exc).__name__}."))
            for event in closing:
                log.append(event)
                yield event
        finally:
            if not builder.terminal:
                log.extend(builder.cancel())
            await self._finish()

    async def _finish(self) -> None:
        save: asyncio.Task[None] | None = None
        # Only a response that completed (or ended incomplete) extends its conversation.
        conversation_id = (self._context.conversation_id
                           if self.response["status"] in _EXTENDS_CONVERSATION else None)
        record = StoredResponse(self.response, self._context.input_items, self._events)
        if self.response["store"]:
            save = self._engine.save_in_background(record, conversation_id=conversation_id)
        elif conversation_id is not None:
            save = self._engine.extend_in_background(conversation_id, record.conversation_items)
        # Shielded: a cancelled request must still close the upstream and finish its save.
        await asyncio.shield(self._exit_stack.aclose())
        if save is not None:
            await asyncio.shield(save)


_EXTENDS_CONVERSATION = frozenset({"completed", "incomplete"})

# Hosted search tools a client may declare out of habit (Codex always does). With no search
# backend they are not offered to the model; every other tool kind must be usable or refused.
_NOT_OFFERED_TOOLS = frozenset({"web_search", "web_search_2025_08_26", "web_search_preview",
                                "web_search_preview_2025_03_11"})


def _reject_unsupported(body: JSONDict) -> None:
    """Fail loudly on what this server cannot do yet, naming the parameter."""
    for index, tool in enumerate(body.get("tools") or ()):
        kind = tool["type"]
        if kind != "function" and kind not in _NOT_OFFERED_TOOLS:
            raise InvalidRequestError(f"Tools of type '{kind}' are not supported yet.",
                                      param=f"tools[{index}].type", code="unsupported_value")


# Accepted, echoed, and meaningful only to an upstream that speaks Responses itself.
_PASSTHROUGH = ("text", "service_tier", "prompt_cache_key", "prompt_cache_retention",
                "prompt_cache_options", "safety_identifier", "moderation", "image",
                "client_metadata")


def _model_request(
    body: JSONDict, upstream_model: str, context: ConversationContext
) -> ModelRequest:
    include = body.get("include") or ()
    text = body.get("text") or {}
    tools = [tool for tool in body.get("tools") or () if tool["type"] == "function"]
    return ModelRequest(
        model=upstream_model,
        input=context.model_input,
        stream=bool(body.get("stream") or body.get("background")),  # background: stored as it goes
        instructions=body.get("instructions"),
        tools=tools,
        tool_choice=body.get("tool_choice") or "auto",
        parallel_tool_calls=body.get("parallel_tool_calls") is not False,
        temperature=body.get("temperature"),
        top_p=body.get("top_p"),
        presence_penalty=body.get("presence_penalty"),
        frequency_penalty=body.get("frequency_penalty"),
        max_output_tokens=body.get("max_output_tokens"),
        top_logprobs=body.get("top_logprobs"),
        logprobs=LOGPROBS in include,
        text_format=text.get("format"),
        reasoning=body.get("reasoning"),
        user=body.get("user"),
        passthrough={key: body[key] for key in _PASSTHROUGH if body.get(key) is not None},
    )
