"""Running one response: context in, provider stream through the builder, state out.

Every response is a stream of events (stream first, one path): a streaming request sends them as
SSE, a non-streaming one drains them and returns the final snapshot. Either way the same run
persists the response, its input items and its event log when `store` is true.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from typing import Any

from cryptography.fernet import Fernet

from responsa.engine.builder import Event, ResponseBuilder, Seal
from responsa.engine.compaction import (
    auto_compact,
    compact_threshold,
    compaction_item,
    split_compaction_trigger,
    summarize,
)
from responsa.engine.compaction_items import Sealer
from responsa.engine.context import ConversationContext, build_context
from responsa.engine.deferred_tools import check_loadable, loaded_tools, merge_tools, offered_tools
from responsa.engine.prompts import apply_prompt
from responsa.engine.reasoning_items import seal_reasoning
from responsa.engine.snapshot import LOGPROBS, initial_response
from responsa.engine.tool_loop import BuilderSink, HostedCallCollector, HostedTools, is_hosted_type
from responsa.engine.truncation import fit_context_window
from responsa.errors import InvalidRequestError, ResponsaError, UpstreamError, UpstreamStatusError
from responsa.ids import new_id
from responsa.providers.base import ModelRequest, Provider
from responsa.providers.deltas import Delta, ToolCallDelta
from responsa.providers.registry import ProviderRegistry
from responsa.providers.tool_surface import is_client_tool
from responsa.store.base import Store, StoredResponse
from responsa.tools.base import HostedCall, ToolServices
from responsa.tools.web_search import WEB_SEARCH_TYPES

JSONDict = dict[str, Any]
logger = logging.getLogger(__name__)


class Engine:
    def __init__(self, store: Store, providers: ProviderRegistry,
                 sealer: Sealer | None = None, services: ToolServices | None = None) -> None:
        self.store = store
        self.providers = providers
        self.services = services or ToolServices(settings=None, store=store)
        # Seals and opens compaction items; a per-process key unless the app supplies one.
        self.sealer = sealer or Sealer(Fernet.generate_key())
        # Saves that must finish even when the request that started them is cancelled.
        self._pending_saves: set[asyncio.Task[None]] = set()

    async def create(self, body: JSONDict, *,
                     local: Mapping[str, list[JSONDict]] | None = None) -> ResponseRun:
        """Check references, open the upstream and return the run, ready to stream.

        `local` holds histories that continue without the store (engine/context.py).

        Raises `ResponsaError` for anything that should be an HTTP error: nothing is stored and
        nothing streamed yet. Failures of the upstream itself do not raise here; they become a
        run that ends in `response.failed`.
        """
        run, compaction = await self.prepare(body, local=local)
        try:
            await run.begin(compaction)
        except BaseException:
            await run.aclose_tools()
            raise
        return run

    async def prepare(
        self, body: JSONDict, *, local: Mapping[str, list[JSONDict]] | None = None,
        response_id: str | None = None, created_at: int | None = None,
    ) -> tuple[ResponseRun, JSONDict | None]:
        """`create` up to `begin` (the run, and the compaction item that opens its output): a
        background run begins later, maybe on another replica, which prepares it again under
        its first `response_id` and `created_at`."""
        _reject_unsupported(body)
        body = await apply_prompt(self.store, body)
        not_offered = _not_offered(body, self.services)
        provider, upstream_model = self.providers.resolve(body["model"])
        threshold = compact_threshold(body)
        body, compacting = split_compaction_trigger(body)
        context = await build_context(self.store, body, self.sealer, local=local,
                                      provider=provider.name, files=self.services.files)
        native_search = provider.capabilities.tool_search
        request = _model_request(body, upstream_model, context, native_tool_search=native_search)
        compaction = None
        if compacting:  # the whole context becomes one compaction item: no answer, no tools
            hosted = HostedTools([], 0)
        else:
            if threshold is not None:  # engine/compaction.py: summarize the older part first
                compaction = await auto_compact(provider, request, self.sealer,
                                                threshold=threshold,
                                                first_new=context.history_length)
            request = await fit_context_window(provider, request, body.get("truncation"))
            # A native upstream runs its own tool search: the declaration goes up as it is.
            skip = not_offered | {"tool_search"} if native_search else not_offered
            hosted = HostedTools.from_request(body, self.services, skip=skip)
            await hosted.check()
        response = initial_response(body, model=body["model"])
        if response_id is not None and created_at is not None:
            response["id"], response["created_at"] = response_id, created_at
        include = frozenset(body.get("include") or ())
        seal = (functools.partial(seal_reasoning, self.sealer, provider.name)
                if ENCRYPTED_REASONING in include else None)
        run = ResponseRun(self, provider, request, response, context, hosted,
                          include_logprobs=LOGPROBS in include, compacting=compacting, seal=seal)
        run.unavailable_tools = ("web_search",) if not_offered else ()
        return run, compaction

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
                 response: JSONDict, context: ConversationContext, hosted: HostedTools, *,
                 include_logprobs: bool, compacting: bool = False, seal: Seal | None = None,
                 ) -> None:
        self._engine = engine
        self._compacting = compacting
        self._provider = provider
        self._request = request
        self._client_tools = request.tools
        self._context = context
        self._hosted = hosted
        self._builder = ResponseBuilder(response, include_logprobs=include_logprobs, seal=seal)
        self._exit_stack = contextlib.AsyncExitStack()  # the current model call's stream
        self._deltas: AsyncIterator[Delta] | None = None
        self._open_error: ResponsaError | None = None
        self._events: list[Event] = []
        self._opening: list[Event] = []  # produced before streaming starts (`begin`)
        self._approved_calls: list[HostedCall] = []
        # Declared tool kinds this server could not offer the model (`_not_offered`).
        self.unavailable_tools: tuple[str, ...] = ()
        # Asked before the final save; False: the run is no longer ours to store (a background
        # run whose lease another replica took over).
        self.may_save: Callable[[], Awaitable[bool]] | None = None
        if hosted:  # web search annotates the answer with the results it cites
            self._builder.annotate = hosted.citations

    @property
    def response(self) -> JSONDict:
        return self._builder.response

    @property
    def context(self) -> ConversationContext:
        return self._context

    @property
    def opening_events(self) -> int:
        """How many events `begin` produced that `events()` has not yielded yet."""
        return len(self._opening)

    def abort(self, error: ResponsaError) -> None:
        """End a started run as failed before its `events()` is closed or cancelled (a server
        shutting down), so the close stores `failed` rather than `cancelled`."""
        if self._builder.next_sequence_number and not self._builder.terminal:
            self._events.extend(self._builder.fail(error))

    async def aclose_tools(self) -> None:
        """Release the hosted tools of a run that will not stream."""
        await self._hosted.aclose()

    async def begin(self, compaction: JSONDict | None, *, background: bool = False) -> None:
        """Everything before the first token: the opening events, the hosted tools' own
        preparation (MCP lists its tools), and the upstream call, so that an upstream that
        refuses the request is still an HTTP error (for a `background` run, which answered
        already, the run's failure)."""
        builder = self._builder
        self._opening += builder.start(queued=bool(self.response["background"]))
        if compaction is not None:
            self._opening += builder.add_item(compaction)
        if self._hosted:
            sink = BuilderSink(builder, self._opening.extend)
            self._approved_calls = await self._hosted.prepare(self._context.items, sink)
            self._request = self._next_request(first=True)
        if not self._approved_calls and not self._compacting:
            await self._open_upstream(background=background)  # else once the approved calls ran

    async def _open_upstream(self, *, background: bool = False) -> None:
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
            for event in self._opening:
                log.append(event)
                yield event
            self._opening = []
            try:
                async for event in self._compact() if self._compacting else self._turns():
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

    async def _turns(self) -> AsyncIterator[Event]:
        """Model calls until the model answers without calling a hosted tool (or the response
        must end for the client: its own tool calls, an approval to give)."""
        builder = self._builder
        calls, client_called = self._approved_calls, False
        spoken = len(builder.response["output"])  # where the current model call's items start
        hosted = bool(self._hosted)
        while True:
            if calls:
                results = []
                for call in calls:
                    events, result = self._hosted.run(call, builder)
                    async for event in events:
                        yield event
                    results.append(result)
                if client_called or any(result.ends_response for result in results):
                    return
                if not any(result.ran for result in results):
                    return  # only calls past max_tool_calls, of tools no longer offered: stop
                for event in builder.next_turn():
                    yield event
                said = builder.for_provider([item for item in builder.response["output"][spoken:]
                                             if item["type"] in _MODEL_SPOKEN])
                # Tools a tool search loaded are offered from the next call on.
                self._client_tools = merge_tools(self._client_tools,
                                                 loaded_tools(builder.response["output"]))
                model_items = [item for result in results for item in result.model_items()]
                self._request = dataclasses.replace(
                    self._next_request(first=False),
                    input=[*self._request.input, *said, *model_items])
                await self._reopen_upstream()
            if self._open_error is not None:
                raise self._open_error
            assert self._deltas is not None
            collector = HostedCallCollector(self._hosted)
            spoken = len(builder.response["output"])
            async for delta in self._deltas:
                if hosted and isinstance(delta, ToolCallDelta) and collector.take(delta):
                    continue
                for event in builder.feed(delta):
                    yield event
            calls, client_called = collector.calls, collector.client_called
            if not calls:
                return

    async def _compact(self) -> AsyncIterator[Event]:
        """The output of a request ending in `compaction_trigger`: one `compaction` item whose
        summary covers the whole context."""
        builder = self._builder
        item = {"id": new_id("cmp"), "type": "compaction", "encrypted_content": ""}
        for event in [*builder.open_hosted(item),
                      *builder.hosted_event("response.compaction.compacting")]:
            yield event
        request = self._request
        summary, usage = await summarize(self._provider, request.model, request.input,
                                         request.instructions)
        covers = [str(i["id"]) for i in self._context.items if i.get("id") is not None]
        for event in builder.close_hosted(
                compaction_item(self._engine.sealer, summary, covers, item["id"])):
            yield event
        if usage is not None:
            builder.feed(usage)

    def _next_request(self, *, first: bool) -> ModelRequest:
        """The model request with the hosted tools' functions offered; a `tool_choice` that
        forces a tool applies to the first model call only, as the model must be free to answer
        once it has the result."""
        choice = self._request.tool_choice
        forced = self._hosted.forced_function(choice) if first else None
        if forced is not None:
            choice = {"type": "function", "name": forced}
        elif not first and choice != "none":
            choice = "auto"
        tools = [*self._client_tools, *self._hosted.functions()]
        return dataclasses.replace(self._request, tools=tools,
                                   tool_choice=choice if tools else "auto")

    async def _reopen_upstream(self) -> None:
        await self._exit_stack.aclose()
        self._exit_stack = contextlib.AsyncExitStack()
        self._deltas = None
        await self._open_upstream()

    async def _finish(self) -> None:
        save = self._save() if self.may_save is None or await self.may_save() else None
        # Shielded: a cancelled request must still close the upstream and finish its save.
        # (A shield is a task: none for hosted tools when there are none.)
        await asyncio.shield(self._exit_stack.aclose())
        if self._hosted:
            await asyncio.shield(self._hosted.aclose())
        if save is not None:
            await asyncio.shield(save)

    def _save(self) -> asyncio.Task[None] | None:
        # Only a response that completed (or ended incomplete) extends its conversation.
        conversation_id = (self._context.conversation_id
                           if self.response["status"] in _EXTENDS_CONVERSATION else None)
        record = StoredResponse(self.response, self._context.input_items, self._events)
        if self.response["store"]:
            return self._engine.save_in_background(record, conversation_id=conversation_id)
        if conversation_id is not None:
            return self._engine.extend_in_background(conversation_id, record.conversation_items)
        return None


ENCRYPTED_REASONING = "reasoning.encrypted_content"
_EXTENDS_CONVERSATION = frozenset({"completed", "incomplete"})
# What the model said in a turn that also called hosted tools: it reads it again next turn.
_MODEL_SPOKEN = frozenset({"message", "reasoning"})

# Hosted search tools a client may declare out of habit (Codex always does). With no search
# backend they are not offered to the model; every other tool kind must be usable or refused.
_NOT_OFFERED_TOOLS = frozenset(WEB_SEARCH_TYPES)


def _reject_unsupported(body: JSONDict) -> None:
    """Fail loudly on what this server cannot do yet, naming the parameter."""
    for index, tool in enumerate(body.get("tools") or ()):
        kind = tool["type"]
        if not is_client_tool(tool) and not is_hosted_type(kind):
            raise InvalidRequestError(f"Tools of type '{kind}' are not supported yet.",
                                      param=f"tools[{index}].type", code="unsupported_value")
    if isinstance(body.get("input"), list):
        check_loadable(body["input"])


def _not_offered(body: JSONDict, services: ToolServices) -> frozenset[str]:
    """The declared tool types left out of what the model is offered: web search with no
    search backend configured is accepted (and echoed) but not offered; the API layer says so
    in the `x-responsa-tools-unavailable` header. A `tool_choice` that would need it is
    refused rather than faked."""
    tools = list(body.get("tools") or ())
    declared = frozenset(tool["type"] for tool in tools) & _NOT_OFFERED_TOOLS
    if services.web_search is not None or not declared:
        return frozenset()
    kept = [tool for tool in tools if tool["type"] not in _NOT_OFFERED_TOOLS]
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        allowed = choice.get("tools") or ()
        forced = choice.get("mode") == "required" and all(
            tool.get("type") in _NOT_OFFERED_TOOLS for tool in allowed)
    elif isinstance(choice, dict):
        forced = choice.get("type") in _NOT_OFFERED_TOOLS
    else:
        forced = choice == "required" and not kept
    if forced:
        raise InvalidRequestError(
            "tool_choice requires web search, which is not available on this server: no "
            "search backend is configured ([web_search] in its config).", param="tool_choice")
    logger.info("web_search declared but not offered: no search backend is configured")
    return declared


# Accepted, echoed, and meaningful only to an upstream that speaks Responses itself.
_PASSTHROUGH = ("text", "service_tier", "prompt_cache_key", "prompt_cache_retention",
                "prompt_cache_options", "safety_identifier", "moderation", "image",
                "client_metadata")


def _model_request(
    body: JSONDict, upstream_model: str, context: ConversationContext, *,
    native_tool_search: bool = False,
) -> ModelRequest:
    include = body.get("include") or ()
    text = body.get("text") or {}
    # The client's own tools; each provider offers them as its dialect can (tool_surface.py).
    declared = body.get("tools") or []
    if native_tool_search:  # deferred ones and the search itself go up as they are
        tools = [tool for tool in declared if is_client_tool(tool) or tool["type"] == "tool_search"]
    else:  # deferred ones held back, loaded ones added (engine/deferred_tools.py)
        tools = offered_tools(declared, context.items)
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
        encrypted_reasoning=ENCRYPTED_REASONING in include,
        text_format=text.get("format"),
        reasoning=body.get("reasoning"),
        user=body.get("user"),
        passthrough={key: body[key] for key in _PASSTHROUGH if body.get(key) is not None},
    )
