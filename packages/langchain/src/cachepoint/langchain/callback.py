"""`CachepointCallbackHandler`: prompt-cache breakpoints, usage, telemetry and traces for any LangChain run.

Add it to ``callbacks=`` of a chat model or to ``config={"callbacks": [...]}`` of any run (chain, agent, graph):

- requests from ChatAnthropic (and its Bedrock / Mantle subclasses) and ChatBedrockConverse carry the
  strategy's breakpoints, placed by core under the provider's rules (at most 4, counting markers already there
  and a ``cache_control=`` kwarg). A callback can only change message objects, so the handler marks system and
  conversation blocks, never tool definitions (use `CachepointMiddleware` or `with_cache_points` for those);
  the caller's message objects are exactly as before once the call is over (see `cachepoint.langchain.patches`);
- every call's usage (invoke, batch, stream, and their async twins) goes into the `UsageLedger`, on the current
  OpenTelemetry span with ``otel=True``, and with ``recorder=`` into a trace ``cachepoint analyze`` reads; a
  call an LLM cache (``set_llm_cache``, ``cache=``: LangChain's or `CachepointLLMCache`) or a `with_cache_points`
  response cache answers is counted as a replayed hit (``response_cache="hit"``, no tokens, no cost, what the
  first call cost as saved) and writes no trace line (a trace records provider traffic only). Each call counts
  once per ledger: what `CachepointLLMCache` or `with_cache_points` already recorded in this handler's ledger
  is left alone;
- ChatOpenAI gets no markers (OpenAI caches automatically); its cached tokens are recorded. Models cachepoint
  does not know (fake models, ChatOllama...) get no markers and a single warning; their usage is recorded.

A failure inside the handler never fails the call: it is logged once per reason, and the call goes on.

>>> from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
>>> from langchain_core.messages import AIMessage
>>> from cachepoint.core.usage import UsageLedger
>>> ledger = UsageLedger()
>>> model = FakeMessagesListChatModel(responses=[AIMessage("Hi!", usage_metadata={
...     "input_tokens": 12, "output_tokens": 3, "total_tokens": 15, "input_token_details": {"cache_read": 8}})])
>>> model.invoke("Hello", config={"callbacks": [CachepointCallbackHandler(ledger=ledger, labels={"app": "demo"})]}).text
'Hi!'
>>> ledger.stats().cached_token_ratio
0.6666666666666666
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.outputs import LLMResult

from cachepoint.core.instrument import CallRecorder, place_safely
from cachepoint.core.once import log_once
from cachepoint.core.prompt import Strategy, auto
from cachepoint.core.traces import TraceWriter
from cachepoint.core.usage import OtelUsageRecorder, UsageLedger
from cachepoint.langchain.patches import loans
from cachepoint.langchain.payload import build, traced_copies
from cachepoint.langchain.placement import Placement, place
from cachepoint.langchain.targets import Target, identify_run
from cachepoint.langchain.usage import (
    counted_in,
    from_cache,
    record,
    record_hit,
    recorded_here,
    replayed_run,
    response_message,
    served_by_cachepoint,
)

__all__ = ["WRAPPER_TYPE", "CachepointCallbackHandler"]

logger = logging.getLogger("cachepoint.langchain")

#: The ``_llm_type`` of `with_cache_points` models: the handler leaves their calls to the run of the model they
#: wrap, which reports the same call (recording both would count it twice), and counts only their replayed hits.
WRAPPER_TYPE = "cachepoint-cache-points"


@dataclass
class _Run:
    target: Target | None
    started: float
    clock: float
    metadata: Mapping[str, Any]
    tags: Sequence[str]
    provider: str | None
    model: str | None
    placement: Placement | None = None
    body: Any = None
    first_token: float | None = None
    wrapper: bool = False
    recorded_by_caller: bool = False


class CachepointCallbackHandler(BaseCallbackHandler):
    """Places prompt-cache breakpoints in chat model requests and records their cache usage.

    Args:
        strategy: where breakpoints go (default `auto()`; any `cachepoint.core.prompt` strategy).
        ledger: the `UsageLedger` usage goes into (default: a new one, as ``handler.ledger``).
        recorder: a `TraceWriter` or a path: each request (as cachepoint rebuilt it, markers included) and its
            usage becomes one trace line for ``cachepoint analyze``.
        otel: ``True`` (or an `OtelUsageRecorder`): GenAI usage attributes on the current span, and metrics.
        labels: labels added to every ledger entry (tags ``"key=value"`` of a run are added too).
    """

    # Run in the caller's thread and task, before the request is built: the markers must be in place by then,
    # and the handler needs the caller's task to know when an abandoned async call is over.
    run_inline = True
    raise_error = False

    def __init__(
        self,
        strategy: Strategy | None = None,
        *,
        ledger: UsageLedger | None = None,
        recorder: TraceWriter | str | os.PathLike[str] | None = None,
        otel: bool | OtelUsageRecorder = False,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        self.strategy: Strategy = strategy if strategy is not None else auto()
        self.ledger = ledger if ledger is not None else UsageLedger()
        self.recorder = recorder if recorder is None or isinstance(recorder, TraceWriter) else TraceWriter(recorder)
        self.otel: OtelUsageRecorder | None = OtelUsageRecorder() if otel is True else (otel or None)
        self.labels = {str(k): str(v) for k, v in (labels or {}).items()}
        self._runs: dict[UUID, _Run] = {}
        self._lock = threading.Lock()

    # --- the call starts: place breakpoints ---

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Place the strategy's breakpoints in the messages about to be sent (LangChain calls this)."""
        try:
            self._start(
                messages,
                run_id=run_id,
                parent=parent_run_id,
                tags=tags,
                metadata=metadata,
                kwargs=kwargs,
                serialized=serialized,
            )
        except Exception as exc:
            loans.give_back(run_id, self)
            log_once(
                f"start:{type(exc).__name__}",
                f"cachepoint: the callback handler placed no breakpoints ({type(exc).__name__}: {exc})",
                logger=logger,
            )

    def _start(
        self,
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        parent: UUID | None,
        tags: list[str] | None,
        metadata: dict[str, Any] | None,
        kwargs: Mapping[str, Any],
        serialized: Mapping[str, Any] | None = None,
    ) -> None:
        params = kwargs.get("invocation_params") or {}
        # A `with_cache_points` model places and records its calls itself, through the run of the model it wraps;
        # its own run is followed only for the hits it answers (see `_record`).
        wrapper = params.get("_type") == WRAPPER_TYPE
        target = None if wrapper else identify_run(params, metadata, serialized)
        metadata = dict(metadata or {})
        run = _Run(
            target=target,
            started=time.time(),
            clock=time.perf_counter(),
            metadata=metadata,
            tags=list(tags or ()),
            provider=target.provider if target else metadata.get("ls_provider"),
            model=target.model if target else metadata.get("ls_model_name"),
            wrapper=wrapper,
            recorded_by_caller=recorded_here(self.ledger),
        )
        with self._lock:
            self._runs[run_id] = run
        sent = messages[0] if messages else []
        single = int(kwargs.get("batch_size") or 1) == 1

        def forget() -> None:  # however the call ends, also when LangChain abandons it (see `patches`)
            self._runs.pop(run_id, None)

        if target is None or target.kind == "openai":  # nothing to lend: the call is only followed to its end
            loans.lend(run_id, (), lambda frozen: None, parent=parent, single=single, lender=self, on_end=forget)
            self._share(run_id, run)
        if wrapper:
            return
        if target is None:
            kind = params.get("_type") or metadata.get("ls_provider") or "an unknown chat model"
            log_once(
                f"unknown:{kind}",
                f"cachepoint: {kind} is not a model cachepoint places breakpoints for (ChatAnthropic and its "
                "Bedrock/Vertex variants, ChatBedrockConverse; ChatOpenAI caches on its own): its usage is recorded, "
                "nothing is inserted",
                logger=logger,
            )
            return
        tools = params.get("tools") or ()
        if target.kind == "openai":
            if self.recorder is not None:
                run.body = build(target, sent, tools).payload
            return

        copies = traced_copies(sent)

        def plan(frozen: Mapping[int, str]) -> Placement | None:
            def placed() -> tuple[Placement, Any]:
                held = {**copies, **frozen} if copies else frozen
                placement = place(target, sent, self.strategy, tools=tools, kwargs=params, frozen=held)
                return placement, placement.plan

            return place_safely(placed, provider=target.provider)

        run.placement = loans.lend(run_id, sent, plan, parent=parent, single=single, lender=self, on_end=forget)
        self._share(run_id, run)

    def _share(self, run_id: UUID, run: _Run) -> None:
        """Another handler that follows the same call into the same ledger records it: this one does not."""
        if any(other is not self and getattr(other, "ledger", None) is self.ledger for other in loans.lenders(run_id)):
            run.recorded_by_caller = True

    # --- the call ends: give the messages back, record usage ---

    def on_llm_new_token(self, token: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Note the time of the first streamed token (LangChain calls this)."""
        run = self._runs.get(run_id)
        if run is not None and run.first_token is None:
            run.first_token = time.perf_counter()

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        """Give the messages back and record the call's usage (LangChain calls this)."""
        with self._lock:
            run = self._runs.pop(run_id, None)  # before the loan ends: its end forgets the run
        loans.give_back(run_id, self)
        if run is None:
            return
        try:
            self._record(run, response, replayed_run(run_id) if run.wrapper else None)
        except Exception as exc:
            log_once(
                f"record:{type(exc).__name__}",
                f"cachepoint: the callback handler could not record usage ({type(exc).__name__}: {exc})",
                logger=logger,
            )

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """Give the messages back (LangChain calls this when the call fails or is cancelled)."""
        loans.give_back(run_id, self)
        with self._lock:
            self._runs.pop(run_id, None)

    def _record(self, run: _Run, response: LLMResult, replayed: Mapping[str, Any] | None = None) -> None:
        """``replayed``: the marks of a stream `with_cache_points` replayed (its chunks carry none)."""
        message = response_message(response)
        if message is None:
            return
        # Each call once in this ledger: a hit CachepointLLMCache or with_cache_points answered and counted in
        # this same ledger is theirs, as is a call CachepointMiddleware or with_cache_points made and recorded here.
        marks = replayed if replayed is not None else message.response_metadata
        served = replayed is not None or served_by_cachepoint(message)
        if counted_in(marks, self.ledger) if served else run.recorded_by_caller:
            return
        if run.wrapper and not served:
            return  # the run of the model it wraps records the call
        calls = CallRecorder(ledger=self.ledger, recorder=self.recorder, otel=self.otel or False)
        if served or from_cache(message):  # an LLM or response cache answered: a hit, no provider call, no trace line
            record_hit(
                calls,
                message,
                provider=run.provider,
                model=run.model,
                metadata=run.metadata,
                tags=run.tags,
                static=self.labels,
                duration_s=time.perf_counter() - run.clock,
            )
            return
        body = None
        if run.target is not None and self.recorder is not None:  # the request is rebuilt only for a trace line
            body = run.body if run.placement is None else run.placement.request()
        record(
            calls,
            message,
            provider=run.provider,
            model=run.model,
            metadata=run.metadata,
            tags=run.tags,
            static=self.labels,
            request=body,
            started=run.started,
            duration_s=time.perf_counter() - run.clock,
            ttft_s=run.first_token - run.clock if run.first_token is not None else None,
        )

    def __repr__(self) -> str:
        return f"CachepointCallbackHandler(strategy={self.strategy!r}, ledger={self.ledger!r})"
