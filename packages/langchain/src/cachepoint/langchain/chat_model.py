"""`with_cache_points(model, ...)`: a chat model for LCEL chains that sends ``model``'s requests with prompt-cache
breakpoints (tool definitions included), records their usage, and optionally answers repeated identical calls
from a response cache, streams included.

It is a LangChain chat model itself, so it goes wherever ``model`` went: ``prompt | with_cache_points(model)``,
``with_cache_points(model).bind_tools(tools)``, ``create_agent(with_cache_points(model), tools)``. Each call
sends copies of the messages with the markers; the caller's objects are never changed.

With ``response_cache=ResponseCache(...)`` a call the cache's policy accepts is answered from the store when the
same request (markers aside) was answered before; LangChain's own LLM cache never serves ``stream()``, this one
does: a complete stream is recorded chunk by chunk and replayed as the same chunks, final usage included. A
replayed call or stream is counted in the ledger as a hit that cost nothing (``response_cache="hit"``, no
tokens), with what the first call cost as saved (``replay_savings_usd``).

>>> from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
>>> from langchain_core.messages import AIMessage
>>> model = with_cache_points(FakeMessagesListChatModel(responses=[AIMessage("Hi!")]))
>>> model.invoke("Hello").text
'Hi!'
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import suppress
from contextvars import ContextVar
from typing import Any, TypeVar, cast

from langchain_core.callbacks import (
    AsyncCallbackManager,
    AsyncCallbackManagerForLLMRun,
    CallbackManager,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel, LangSmithParams, LanguageModelInput
from langchain_core.language_models.model_profile import ModelProfile
from langchain_core.load import dumps
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult, Generation
from langchain_core.runnables import Runnable, RunnableBinding, RunnableConfig, ensure_config
from pydantic import BaseModel, ConfigDict, Field

from cachepoint.core.instrument import CallRecorder, place_safely
from cachepoint.core.keys import configuration_fields
from cachepoint.core.once import log_once
from cachepoint.core.prompt import Strategy, auto
from cachepoint.core.response_cache import ResponseCache, Source
from cachepoint.core.usage import UsageLedger
from cachepoint.langchain.callback import WRAPPER_TYPE
from cachepoint.langchain.llm_cache import parse_prompt
from cachepoint.langchain.placement import mark_tools, place
from cachepoint.langchain.structured_output import route_model_calls
from cachepoint.langchain.targets import Target, identify_model
from cachepoint.langchain.usage import (
    forget_run,
    mark_hit,
    note_replayed_run,
    record,
    record_hit,
    recording_in,
)

__all__ = ["CachePointsChatModel", "with_cache_points"]

logger = logging.getLogger("cachepoint.langchain")

# The sampling settings the response cache's policy reads at the top level of a request (the model's, or the call's).
_SAMPLING = ("temperature", "top_p", "top_k", "max_tokens", "stop_sequences", "seed")
# Call arguments that never reach the model as they are: cache markers (they steer the provider's cache), and the
# schema LangChain binds for its tracing with structured output (`generate` pops it; the tool or response format
# built from it is what is sent, and keyed).
_NOT_SENT = frozenset({"cache_control", "prompt_cache_key", "ls_structured_output_format", "structured_output_format"})
# Fields of a chat model that change how a call is made, never what it answers: left out of response cache keys.
_PLUMBING = frozenset(
    {
        "cache",
        "callbacks",
        "callback_manager",
        "verbose",
        "tags",
        "metadata",
        "rate_limiter",
        "custom_get_token_ids",
        "max_retries",
        "default_request_timeout",
        "request_timeout",
        "timeout",
    }
)


class CachePointsChatModel(BaseChatModel):
    """A chat model that sends another one's requests with prompt-cache breakpoints (build it with
    `with_cache_points`)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model: Runnable[Any, Any]
    """The wrapped chat model (or the binding ``bind_tools`` made of it)."""
    strategy: Any = Field(default_factory=auto)
    """Where breakpoints go (a `cachepoint.core.prompt` strategy)."""
    ledger: UsageLedger = Field(default_factory=UsageLedger)
    """Where the usage of every call goes."""
    response_cache: ResponseCache | None = None
    """Serves repeated identical calls and streams, under its policy (``None``: off)."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Labels added to every ledger entry."""
    cache: Any = False
    """LangChain's LLM cache stays with the wrapped model (checking it here too would look up twice)."""

    @property
    def _llm_type(self) -> str:
        return WRAPPER_TYPE

    @property
    def model_name(self) -> str | None:
        """The wrapped model's id (``"gpt-5"``, ``"claude-sonnet-4-5"``...): LangChain reads a chat model's name
        from ``model_name`` (or ``model``) to decide how to call it, e.g. ``create_agent`` choosing how to ask for
        a structured response; ``model`` here is the wrapped model itself.

        >>> from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
        >>> with_cache_points(FakeMessagesListChatModel(responses=[])).model_name is None
        True
        """
        model, _ = self._unwrapped()
        for name in ("model_name", "model", "model_id"):
            value = getattr(model, name, None)
            if isinstance(value, str):
                return value
        return None

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        # What LangChain reports to callbacks and tracers (the seam it asks chat models to override): the wrapped
        # model's provider and id, the labels its own calls are counted under, rather than this class's name.
        params = super()._get_ls_params(stop=stop, **kwargs)
        try:
            target = identify_model(self._unwrapped()[0])
        except TypeError:  # not a chat model: said when it is called
            return params
        if target is not None:
            params["ls_provider"] = target.provider
            if not isinstance(kwargs.get("model"), str):
                params["ls_model_name"] = target.model
        return params

    def _resolve_model_profile(self) -> ModelProfile | None:
        # LangChain's hook for a chat model's default profile (what it supports: structured output, context size...),
        # which create_agent and its middleware read: the wrapped model's.
        try:
            model, _ = self._unwrapped()
        except TypeError:  # not a chat model: said when it is called
            return None
        return getattr(model, "profile", None)

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools to the wrapped model; the result still places breakpoints (on the tools too)."""
        return self.model_copy(update={"model": self.model.bind_tools(tools, **kwargs)})  # type: ignore[attr-defined]

    def with_structured_output(
        self, schema: dict[str, Any] | type, *, include_raw: bool = False, **kwargs: Any
    ) -> Runnable[LanguageModelInput, dict[str, Any] | BaseModel]:
        """The wrapped model's own structured output (its ``method``, ``strict``, request and parser: ChatOpenAI's
        strict JSON schema by default, ChatAnthropic's ``json_schema``...), each of its calls still sent with
        breakpoints, counted and, with a response cache, cached here.

        >>> from pydantic import BaseModel
        >>> from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
        >>> class Answer(BaseModel):
        ...     text: str
        >>> fake = FakeMessagesListChatModel(responses=[])
        >>> with_cache_points(fake).with_structured_output(Answer)
        Traceback (most recent call last):
        ...
        NotImplementedError: with_structured_output is not implemented for this model.
        """
        model, bound = self._unwrapped()
        chain = model.with_structured_output(schema, include_raw=include_raw, **kwargs)

        def wrap(step: Runnable[Any, Any]) -> Runnable[Any, Any]:
            if not isinstance(step, RunnableBinding):  # the model itself
                return self
            if bound:  # what this wrapper's model was bound to first, under what the chain binds
                step = step.model_copy(update={"kwargs": {**bound, **step.kwargs}})
            return self.model_copy(update={"model": step})

        routed = route_model_calls(chain, model, wrap)
        if routed is None:
            # Not a chain whose model calls can be found: LangChain's generic tool-calling structured output, through
            # this wrapper (the model's own `method` is then not used).
            log_once(
                f"wrapper-structured:{type(model).__name__}",
                f"cachepoint: the structured output chain of {type(model).__name__} has no step calling the model "
                "that with_cache_points can route; using LangChain's generic tool-calling structured output",
                logger=logger,
            )
            return super().with_structured_output(schema, include_raw=include_raw)
        return routed

    # Token counts are the wrapped model's (ChatAnthropic asks Anthropic's count_tokens, ChatOpenAI uses tiktoken):
    # LangChain's generic count needs `transformers` and counts for GPT-2.

    def get_num_tokens_from_messages(self, messages: list[BaseMessage], tools: Sequence[Any] | None = None) -> int:
        """The wrapped model's count of the tokens in ``messages`` (and ``tools``)."""
        return self._unwrapped()[0].get_num_tokens_from_messages(messages, tools)

    def get_num_tokens(self, text: str) -> int:
        """The wrapped model's count of the tokens in ``text``."""
        return self._unwrapped()[0].get_num_tokens(text)

    def get_token_ids(self, text: str) -> list[int]:
        """The wrapped model's token ids of ``text``."""
        return self._unwrapped()[0].get_token_ids(text)

    # --- what goes out ---

    def _unwrapped(self) -> tuple[BaseChatModel, dict[str, Any]]:
        model: Any = self.model
        bound: dict[str, Any] = {}
        while isinstance(model, RunnableBinding):
            bound = {**model.kwargs, **bound}
            model = model.bound
        if not isinstance(model, BaseChatModel):
            raise TypeError(f"with_cache_points: expected a chat model, got {type(model).__name__}")
        return model, bound

    def _prepare(
        self, messages: list[BaseMessage], kwargs: Mapping[str, Any]
    ) -> tuple[BaseChatModel, Target | None, list[BaseMessage], dict[str, Any]]:
        model, bound = self._unwrapped()
        call = {**bound, **kwargs}
        target = identify_model(model)
        if target is None:
            log_once(
                f"wrapper-unknown:{type(model).__name__}",
                f"cachepoint: {type(model).__name__} is not a model with_cache_points places breakpoints for "
                "(ChatAnthropic and its Bedrock/Vertex variants, ChatBedrockConverse, ChatOpenAI): its requests go "
                "out unchanged",
                logger=logger,
            )
            return model, None, messages, call
        # Never fail the call over a placement problem: send it unmarked.
        marked = place_safely(lambda: _marked(model, target, messages, call, self.strategy), provider=target.provider)
        return (model, target, *marked) if marked is not None else (model, target, messages, call)

    def _cache_request(
        self, model: BaseChatModel, target: Target | None, messages: list[BaseMessage], call: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """What keys the response cache: the unmarked request and everything that changes the answer: the messages
        as LangChain keys its own cache (every field, e.g. a tool result's error status), the wrapped model's own
        settings (its system prompt, thinking, model kwargs...) and the call's. ``None`` (not cached) when the
        model's settings cannot be read: a key that missed them could replay another model's answer."""
        if self.response_cache is None:
            return None
        try:
            settings = _model_settings(model)
        except Exception as exc:
            log_once(
                f"wrapper-settings:{type(model).__name__}",
                f"cachepoint: the settings of {type(model).__name__} could not be read ({type(exc).__name__}: {exc}); "
                "its calls are not answered from the response cache",
                logger=logger,
            )
            return None
        request: dict[str, Any] = {
            # a call's own `model=` is sent over the model's
            "model": call.get("model") or (target.model if target else type(model).__name__),
            "messages": parse_prompt(dumps(messages)),
            "llm": settings,
        }
        for name in _SAMPLING:
            value = call.get(name, getattr(model, name, None))
            if value is not None:
                request[name] = value
        for name, value in call.items():
            if name not in request and name not in _NOT_SENT:
                request[name] = value
        return request

    # --- streams: the run ---

    def stream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> Iterator[AIMessageChunk]:
        """`BaseChatModel.stream`, with the run handed to ``_stream``: langchain-core runs ``_stream`` without the
        run's callback manager, so without it the wrapped model's call would reach none of the callbacks in
        ``config`` and the response cache would not see the run's tenant."""
        run = _stream_run(config)
        chunks = super().stream(input, run.config, stop=stop, **kwargs)
        try:
            while True:
                # set around each step only: a context variable set across a `yield` would leak into the caller's code
                token = _STREAM_RUN.set(run)
                try:
                    chunk = next(chunks)
                except StopIteration:
                    return
                finally:
                    _STREAM_RUN.reset(token)
                yield chunk
        finally:
            forget_run(run.id)  # its callbacks have been told how it ended

    async def astream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[AIMessageChunk]:
        """`BaseChatModel.astream`, with the run handed to ``_astream`` (see `stream`)."""
        run = _stream_run(config)
        chunks = super().astream(input, run.config, stop=stop, **kwargs)
        try:
            while True:
                token = _STREAM_RUN.set(run)
                try:
                    chunk = await chunks.__anext__()
                except StopAsyncIteration:
                    return
                finally:
                    _STREAM_RUN.reset(token)
                yield chunk
        finally:
            forget_run(run.id)

    # --- sync ---

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        tenant = _tenant(run_manager)
        model, target, marked, call = self._prepare(messages, kwargs)
        callbacks = _child(run_manager)

        def generate() -> ChatResult:
            # `generate` rather than `invoke`: the messages are already messages (no conversion, no config to
            # merge), and its generations are handed on as they are (one result object fewer to validate).
            with recording_in(self.ledger):  # set where the call runs: a response cache may run it elsewhere
                result = model.generate([marked], stop=stop, callbacks=callbacks, **call)
            return _own(result.generations[0], target, self._record)

        request = self._cache_request(model, target, messages, {**call, "stop": stop})
        if request is None:
            return generate()
        began = time.perf_counter()
        # the whole result is stored: every generation (`n` > 1), each with its generation info
        result = self._sync_cache().get_or_call(request, generate, **tenant, dump=_dump, load=_load)
        # a hit, or a call that shared another's (single-flight): either way this one sent nothing
        return cast("ChatResult", result.value) if result.called_upstream else self._hit(result.value, target, began)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        run = _STREAM_RUN.get() if run_manager is None else None
        tenant = _tenant(run_manager, run)
        model, target, marked, call = self._prepare(messages, kwargs)
        config = RunnableConfig(callbacks=_child(run_manager) if run is None else run.child(sync=True))

        def stream() -> Iterator[AIMessageChunk]:
            full: AIMessageChunk | None = None
            for chunk in _started_in(self.ledger, model.stream(marked, config=config, stop=stop, **call)):
                full = chunk if full is None else full + chunk
                yield chunk
            if full is not None:
                self._record(full, target)
            if self.response_cache is not None:
                _check_complete(full, target, usage_last=_usage_last(model, target, call))

        request = self._cache_request(model, target, messages, {**call, "stop": stop})
        if request is None:
            with suppress(_CutShortError):  # the caller's stream just ends there
                for chunk in stream():
                    yield ChatGenerationChunk(message=chunk)
            return
        began = time.perf_counter()
        served = self._sync_cache().stream(request, stream, **tenant, dump=_dump_chunk, load=_load_chunk)
        usage = _Usage()
        with suppress(_CutShortError):  # the caller's stream just ends there
            for chunk in served:
                usage.add(chunk)
                if usage.chunks == 1:
                    _note_replayed(served.source, run_manager, run, self.ledger)
                yield ChatGenerationChunk(message=chunk)
        if served.source in _REPLAYED:
            self._record_hit(usage.message(), target, began)

    # --- async ---

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        tenant = _tenant(run_manager)
        model, target, marked, call = self._prepare(messages, kwargs)
        callbacks = _child(run_manager)

        async def generate() -> ChatResult:
            with recording_in(self.ledger):
                result = await model.agenerate([marked], stop=stop, callbacks=callbacks, **call)
            return _own(result.generations[0], target, self._record)

        request = self._cache_request(model, target, messages, {**call, "stop": stop})
        if request is None or self.response_cache is None:
            return await generate()
        began = time.perf_counter()
        result = await self.response_cache.get_or_call(request, generate, **tenant, dump=_dump, load=_load)
        # a hit, or a call that shared another's (single-flight): either way this one sent nothing
        return result.value if result.called_upstream else self._hit(result.value, target, began)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        run = _STREAM_RUN.get() if run_manager is None else None
        tenant = _tenant(run_manager, run)
        model, target, marked, call = self._prepare(messages, kwargs)
        config = RunnableConfig(callbacks=_child(run_manager) if run is None else run.child(sync=False))

        async def stream() -> AsyncIterator[AIMessageChunk]:
            full: AIMessageChunk | None = None
            async for chunk in _astarted_in(self.ledger, model.astream(marked, config=config, stop=stop, **call)):
                full = chunk if full is None else full + chunk
                yield chunk
            if full is not None:
                self._record(full, target)
            if self.response_cache is not None:
                _check_complete(full, target, usage_last=_usage_last(model, target, call))

        request = self._cache_request(model, target, messages, {**call, "stop": stop})
        if request is None or self.response_cache is None:
            with suppress(_CutShortError):  # the caller's stream just ends there
                async for chunk in stream():
                    yield ChatGenerationChunk(message=chunk)
            return
        began = time.perf_counter()
        served = self.response_cache.stream(request, stream, **tenant, dump=_dump_chunk, load=_load_chunk)
        usage = _Usage()
        with suppress(_CutShortError):  # the caller's stream just ends there
            async for chunk in served:
                usage.add(chunk)
                if usage.chunks == 1:
                    _note_replayed(served.source, run_manager, run, self.ledger)
                yield ChatGenerationChunk(message=chunk)
        if served.source in _REPLAYED:
            self._record_hit(usage.message(), target, began)

    # --- bookkeeping ---

    def _sync_cache(self) -> Any:
        assert self.response_cache is not None
        return self.response_cache.sync

    def _record(self, message: BaseMessage, target: Target | None) -> None:
        provider, model = (target.provider, target.model) if target else (None, None)
        record(CallRecorder(ledger=self.ledger), message, provider=provider, model=model, static=self.labels)

    def _hit(self, result: ChatResult, target: Target | None, began: float) -> ChatResult:
        """A replayed answer, recorded as one hit and each of its generations marked as one (and as counted in this
        ledger)."""
        self._record_hit(result.generations[0].message, target, began)
        return ChatResult(
            generations=[
                ChatGeneration(message=mark_hit(g.message, self.ledger), generation_info=g.generation_info)
                for g in result.generations
            ]
        )

    def _record_hit(self, message: BaseMessage, target: Target | None, began: float) -> None:
        """Count a call the response cache answered: no provider call; ``message`` carries the stored usage (what
        the first call cost, now saved). No trace line: nothing was sent."""
        provider, model = (target.provider, target.model) if target else (None, None)
        record_hit(
            CallRecorder(ledger=self.ledger),
            message,
            provider=provider,
            model=model,
            static=self.labels,
            duration_s=time.perf_counter() - began,
        )


def with_cache_points(
    model: Runnable[Any, Any],
    strategy: Strategy | None = None,
    ledger: UsageLedger | None = None,
    response_cache: ResponseCache | None = None,
    *,
    labels: Mapping[str, str] | None = None,
) -> CachePointsChatModel:
    """``model`` (a chat model, or one with tools bound) with prompt-cache breakpoints on every request.

    Args:
        model: ChatAnthropic (and its Bedrock / Mantle subclasses), ChatBedrockConverse or ChatOpenAI (which
            gets a ``prompt_cache_key`` from the static layers); other models are called unchanged.
        strategy: where breakpoints go (default `auto()`).
        ledger: the `UsageLedger` for the usage (default: a new one, as ``.ledger``).
        response_cache: a `ResponseCache` answering repeated identical calls and streams (under its policy:
            by default only calls with ``temperature=0``; ``CachePolicy(cache_nondeterministic=True)`` replays
            sampled calls too).
        labels: labels added to every ledger entry.
    """
    return CachePointsChatModel(
        model=model,
        strategy=strategy if strategy is not None else auto(),
        ledger=ledger if ledger is not None else UsageLedger(),
        response_cache=response_cache,
        labels=dict(labels or {}),
    )


def _marked(
    model: BaseChatModel, target: Target, messages: list[BaseMessage], call: dict[str, Any], strategy: Strategy
) -> tuple[tuple[list[BaseMessage], dict[str, Any]], Any]:
    """Copies of ``messages`` with markers and the call kwargs with marked tools or a prompt_cache_key; and the
    plan (for `place_safely` to report)."""
    tools = call.get("tools") or []
    if target.kind == "openai":
        keyed = place(target, messages, strategy, tools=tools)
        key = keyed.cache_key
        if key and not call.get("prompt_cache_key"):
            return (messages, {**call, "prompt_cache_key": key}), keyed.plan
        return (messages, call), keyed.plan
    system = (getattr(model, "system", None) or ()) if target.kind == "bedrock" else ()
    placement = place(target, messages, strategy, tools=tools, kwargs=call, tools_writable=True, system=system)
    marked = [
        m.model_copy(update={"content": placement.contents[i]}) if i in placement.contents else m
        for i, m in enumerate(messages)
    ]
    if placement.tool_markers:
        call = {**call, "tools": mark_tools(target, tools, placement.tool_markers)}
    return (marked, call), placement.plan


def _model_settings(model: BaseChatModel) -> dict[str, Any]:
    """The wrapped model's own settings, as LangChain's LLM cache keys a model: its serialized form (``dumps``:
    constructor arguments, secrets named but not given) when it is serializable, else its parameters
    (``asdict``, written as LangChain writes them), without the `_PLUMBING` fields."""
    if model.is_lc_serializable():
        serialized = json.loads(dumps(model))
        kwargs = serialized.get("kwargs") if isinstance(serialized, dict) else None
        if isinstance(kwargs, dict):
            serialized = {**serialized, "kwargs": {k: v for k, v in kwargs.items() if k not in _PLUMBING}}
        return {"model": serialized}
    # `asdict` since langchain-core 1.4.2 (`dict` is deprecated there); parameters that are objects are keyed by
    # their repr, as LangChain's own cache keys them.
    described = getattr(model, "asdict", None) or model.dict
    params = str(sorted((k, v) for k, v in described().items() if k not in _PLUMBING))
    # Those parameters (the model's `_identifying_params`) leave out settings that change the answer: stop
    # sequences, betas, thinking budgets of ChatAnthropicVertex and ChatAnthropicMantle. So its fields are keyed too.
    return {"params": params, "fields": configuration_fields(model, ignore=_PLUMBING)}


class _StreamRun:
    """The run a `stream` / `astream` call opens (its id fixed in advance), for ``_stream`` / ``_astream``."""

    def __init__(self, config: RunnableConfig) -> None:
        self.id: uuid.UUID = config.get("run_id") or uuid.uuid4()
        self.config = RunnableConfig(**{**config, "run_id": self.id})

    def child(self, *, sync: bool) -> CallbackManager | AsyncCallbackManager:
        """Callbacks that make the wrapped model's call a child of this run, as `_child` does for a run manager: the
        config's callbacks, tags and metadata, inherited."""
        config = self.config
        kind = CallbackManager if sync else AsyncCallbackManager
        manager = kind.configure(config.get("callbacks"), None, False, config.get("tags"), None, config.get("metadata"))
        manager.parent_run_id = self.id
        return manager


#: The run of the `stream` / `astream` call whose ``_stream`` / ``_astream`` is running (see `stream`).
_STREAM_RUN: ContextVar[_StreamRun | None] = ContextVar("cachepoint_stream_run", default=None)


def _stream_run(config: RunnableConfig | None) -> _StreamRun:
    return _StreamRun(ensure_config(config))


def _note_replayed(
    source: Source | None,
    run_manager: CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun | None,
    run: _StreamRun | None,
    ledger: UsageLedger,
) -> None:
    """Tell the run's callbacks that its stream is replayed and counted in ``ledger`` (`note_replayed_run`): its
    chunks are the stored ones, so a callback handler recording into another ledger learns it there."""
    run_id = run_manager.run_id if run_manager is not None else (run.id if run is not None else None)
    if source in _REPLAYED and run_id is not None:
        note_replayed_run(run_id, ledger)


def _tenant(
    run_manager: CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun | None, run: _StreamRun | None = None
) -> dict[str, Any]:
    """The run's tenant for the response cache (run metadata ``tenant``, the label the callback handler reads);
    none given: the policy's."""
    if run_manager is not None:
        tenant = (run_manager.metadata or {}).get("tenant")
    else:
        tenant = ((run.config.get("metadata") if run is not None else None) or {}).get("tenant")
    return {} if tenant is None else {"tenant": tenant}


T = TypeVar("T")


def _started_in(ledger: UsageLedger, chunks: Iterator[T]) -> Iterator[T]:
    """``chunks``, the first pulled as a call recorded in ``ledger`` (`recording_in`): the wrapped model's run
    starts with it, and a callback handler recording into the same ledger then leaves the call to us."""
    with recording_in(ledger):
        first = next(chunks, _END)
    if first is _END:
        return
    yield cast("T", first)
    yield from chunks


async def _astarted_in(ledger: UsageLedger, chunks: AsyncIterator[T]) -> AsyncIterator[T]:
    """`_started_in` for an async stream."""
    with recording_in(ledger):
        try:
            first = await chunks.__anext__()
        except StopAsyncIteration:
            return
    yield first
    async for chunk in chunks:
        yield chunk


_END = object()


def _child(
    run_manager: CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun | None,
) -> CallbackManager | AsyncCallbackManager | None:
    """Callbacks that make the wrapped model's run a child of this one (what a chain's run manager ``get_child``
    does; an LLM run manager has none)."""
    if run_manager is None:
        return None
    sync = isinstance(run_manager, CallbackManagerForLLMRun)
    manager = (CallbackManager if sync else AsyncCallbackManager)(handlers=[], parent_run_id=run_manager.run_id)
    manager.set_handlers(run_manager.inheritable_handlers)
    manager.add_tags(run_manager.inheritable_tags)
    manager.add_metadata(run_manager.inheritable_metadata)
    return manager


def _own(generations: Sequence[Generation], target: Target | None, record: Any) -> ChatResult:
    """The wrapped model's generations as this model's result, its answer's usage recorded."""
    chat = [g for g in generations if isinstance(g, ChatGeneration)]
    if not chat:  # what `invoke` would have failed on: the wrapped model gave no chat message
        raise TypeError(f"with_cache_points: the wrapped model returned no chat generation, got {generations!r}")
    record(chat[0].message, target)
    return ChatResult(generations=chat)


# Streams this call did not pay for: replayed from the store, or shared with an identical one in flight.
_REPLAYED = (Source.HIT, Source.JOINED)
# How each kind of model's complete answer says it ended (OpenAI's Responses API: the response's status); a stream
# cut short (a proxy or a connection that ends the body early) just ends, without it, and with no error from the
# SDK or LangChain.
_STOP_FIELDS = {"anthropic": ("stop_reason",), "bedrock": ("stopReason",), "openai": ("finish_reason", "status")}
_UNFINISHED = frozenset({"in_progress", "queued", "failed", "cancelled"})


class _CutShortError(Exception):
    """A stream that ended before its model said why it stopped (or before the usage its provider sends after
    that): raised at its end, after every chunk, so the response cache does not store it; the caller's stream just
    ends there."""


def _usage_last(model: BaseChatModel, target: Target | None, call: Mapping[str, Any]) -> bool:
    """Whether ``model``'s streams send their usage after the stop reason, in a last event of its own: Bedrock
    ConverseStream always (``metadata`` after ``messageStop``); OpenAI Chat Completions when the request asks for
    it (``stream_options.include_usage``, which ChatOpenAI sends from these settings, first given first)."""
    if target is None or target.kind == "anthropic":  # Anthropic: `message_delta` has both
        return False
    if target.kind == "bedrock":
        return True
    options = call.get("stream_options")
    model_kwargs = getattr(model, "model_kwargs", None)
    asked = (
        call.get("stream_usage"),
        options.get("include_usage") if isinstance(options, Mapping) else None,
        (model_kwargs.get("stream_options") or {}).get("include_usage") if isinstance(model_kwargs, Mapping) else None,
        getattr(model, "stream_usage", None),
    )
    return next((value for value in asked if isinstance(value, bool)), False)


def _check_complete(full: AIMessageChunk | None, target: Target | None, *, usage_last: bool = False) -> None:
    """Raise `_CutShortError` if ``full`` (a stream's chunks, merged) lacks the stop reason ``target`` reports at
    the end of every complete answer, or (``usage_last``: see `_usage_last`) the usage its provider sends after
    it (a replay without it would report no usage); a model of unknown kind is not judged."""
    fields = _STOP_FIELDS.get(target.kind) if target is not None else None
    if fields is None:
        return
    metadata = {} if full is None else full.response_metadata
    ended = [metadata.get(field) for field in fields]
    # OpenAI's Responses API reports its usage with its status: only a Chat Completions stop reason comes before it
    usage_missing = usage_last and full is not None and full.usage_metadata is None and "status" not in metadata
    if usage_missing or not any(isinstance(value, str) and value and value not in _UNFINISHED for value in ended):
        log_once(
            f"stream-cut-short:{target.provider if target else None}",
            "cachepoint: a stream ended before its model said why it stopped, or before the usage its provider "
            "sends last (the connection was cut? an OpenAI-compatible server that ignores stream_options?); it was "
            "handed on as it came and not stored in the response cache",
            logger=logger,
        )
        raise _CutShortError


class _Usage:
    """The usage a stream's chunks report, merged (only the chunks that carry usage are kept: a replay's usage is
    the stored stream's, what the first call cost)."""

    def __init__(self) -> None:
        self._merged: AIMessageChunk | None = None
        self.chunks = 0

    def add(self, chunk: AIMessageChunk) -> None:
        self.chunks += 1
        if chunk.usage_metadata is not None:
            self._merged = chunk if self._merged is None else self._merged + chunk

    def message(self) -> AIMessageChunk:
        return self._merged if self._merged is not None else AIMessageChunk(content="")


def _dump(result: ChatResult) -> dict[str, Any]:
    return {
        "generations": [
            {"message": g.message.model_dump(mode="json"), "generation_info": g.generation_info}
            for g in result.generations
        ]
    }


def _load(data: Any) -> ChatResult:
    if isinstance(data, dict) and "generations" in data:
        return ChatResult(
            generations=[
                ChatGeneration(message=AIMessage.model_validate(g["message"]), generation_info=g["generation_info"])
                for g in data["generations"]
            ]
        )
    # stored by an earlier version: the first generation's message alone
    return ChatResult(generations=[ChatGeneration(message=AIMessage.model_validate(data))])


def _dump_chunk(message: BaseMessage) -> dict[str, Any]:
    return message.model_dump(mode="json")


def _load_chunk(data: Any) -> AIMessageChunk:
    return AIMessageChunk.model_validate(data)
