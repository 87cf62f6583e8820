"""The usage of a LangChain model response, and the labels it is recorded under, handed to core's `CallRecorder`
(the one path every adapter records through: ledger, trace, OpenTelemetry).

ChatAnthropic's ``usage_metadata`` sets ``cache_creation`` to 0 when it also reports the per-TTL split of the
writes; core's LangChain reader adds the split back, and when the raw Anthropic usage is there (non-streamed
ChatAnthropic responses keep it in ``response_metadata["usage"]``) it is read instead, TTL split included.

>>> from langchain_core.messages import AIMessage
>>> from cachepoint.core.usage import normalize_usage
>>> message = AIMessage("ok", usage_metadata={"input_tokens": 310, "output_tokens": 5, "total_tokens": 315,
...     "input_token_details": {"cache_read": 200, "cache_creation": 0, "ephemeral_5m_input_tokens": 60,
...                             "ephemeral_1h_input_tokens": 40}})
>>> usage = normalize_usage(native_usage(message), provider="anthropic", model="claude-sonnet-4-5")
>>> usage.cache_read_tokens, usage.cache_write_tokens, dict(usage.cache_write_by_ttl)
(200, 100, {'1h': 40, '5m': 60})
"""

from __future__ import annotations

import threading
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar
from uuid import UUID

from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGeneration, LLMResult

from cachepoint.core.instrument import CallRecorder
from cachepoint.core.prompt import Request
from cachepoint.core.providers import normalize_provider
from cachepoint.core.usage import UsageLedger

__all__ = [
    "COUNTED_IN",
    "counted_in",
    "forget_run",
    "from_cache",
    "labels_of",
    "ledger_key",
    "mark_hit",
    "model_of",
    "native_usage",
    "note_replayed_run",
    "record",
    "record_hit",
    "recorded_here",
    "recording_in",
    "replayed_run",
    "response_message",
    "served_by_cachepoint",
]

_RAW_ANTHROPIC = ("cache_creation_input_tokens", "cache_read_input_tokens")

T_Message = TypeVar("T_Message", bound=BaseMessage)


def response_message(response: LLMResult) -> BaseMessage | None:
    """The message of a run's first generation (a chat model's answer), if any."""
    generations = response.generations
    if not generations or not generations[0]:
        return None
    generation = generations[0][0]
    return generation.message if isinstance(generation, ChatGeneration) else None


def from_cache(message: BaseMessage) -> bool:
    """Whether an LLM cache served ``message`` (LangChain marks its cache hits with ``total_cost: 0``): no
    provider call was made, so there is no provider usage to record."""
    usage = getattr(message, "usage_metadata", None)
    return isinstance(usage, Mapping) and usage.get("total_cost") == 0


#: The key, in a hit's ``response_metadata``, of the ledger (`ledger_key`) that already counted the call: each
#: ledger counts a call once, whichever of cachepoint's pieces sees it first.
COUNTED_IN = "cachepoint_ledger"

_LEDGER_KEYS: weakref.WeakKeyDictionary[UsageLedger, str] = weakref.WeakKeyDictionary()
# The ledger the model call being made in this context is recorded in, by the piece making it.
_RECORDING: ContextVar[str | None] = ContextVar("cachepoint_recording", default=None)


def ledger_key(ledger: UsageLedger) -> str:
    """A name for ``ledger`` that no other ledger of this process ever has (a plain string, so that it survives a
    message's copies and serialization)."""
    key = _LEDGER_KEYS.get(ledger)
    if key is None:
        key = _LEDGER_KEYS.setdefault(ledger, uuid.uuid4().hex)
    return key


@contextmanager
def recording_in(ledger: UsageLedger) -> Iterator[None]:
    """Around a model call that `CachepointMiddleware` or `with_cache_points` records in ``ledger`` itself: a
    callback handler recording into the same ledger sees the call start in this context (it runs inline) and
    leaves it alone (`recorded_here`)."""
    token = _RECORDING.set(ledger_key(ledger))
    try:
        yield
    finally:
        _RECORDING.reset(token)


def recorded_here(ledger: UsageLedger) -> bool:
    """Whether the model call starting in this context is recorded in ``ledger`` by whoever makes it."""
    key = _RECORDING.get()
    return key is not None and key == _LEDGER_KEYS.get(ledger)


def counted_in(found: Mapping[str, Any] | None, ledger: UsageLedger) -> bool:
    """Whether ``found`` (a hit's ``response_metadata``) says ``ledger`` already counted the call."""
    key = _LEDGER_KEYS.get(ledger)  # a ledger never named has counted nothing here
    return key is not None and found is not None and found.get(COUNTED_IN) == key


# Streams a cachepoint cache replayed, by run id: the key of the ledger that counted each. A replayed stream's chunks
# are the stored ones, unmarked (a replay yields the same chunks), so its run's callbacks learn it here. Bounded: an
# entry whose run nobody followed to its end is forgotten after this many newer ones.
_REPLAYED_RUNS: OrderedDict[UUID, str] = OrderedDict()
_REPLAYED_RUNS_KEPT = 1024
_REPLAYED_LOCK = threading.Lock()


def note_replayed_run(run_id: UUID, counted: UsageLedger) -> None:
    """Note that the response cache replayed the stream of run ``run_id``, counted in ``counted``."""
    with _REPLAYED_LOCK:
        _REPLAYED_RUNS[run_id] = ledger_key(counted)
        while len(_REPLAYED_RUNS) > _REPLAYED_RUNS_KEPT:
            _REPLAYED_RUNS.popitem(last=False)


def replayed_run(run_id: UUID) -> dict[str, Any] | None:
    """Marks like a hit's ``response_metadata`` (`mark_hit`) for run ``run_id`` if it was a replayed stream."""
    key = _REPLAYED_RUNS.get(run_id)
    return None if key is None else {"cachepoint_cache": "hit", COUNTED_IN: key}


def forget_run(run_id: UUID) -> None:
    """The run ``run_id`` ended (its callbacks were told): its note is no longer needed."""
    with _REPLAYED_LOCK:
        _REPLAYED_RUNS.pop(run_id, None)


def served_by_cachepoint(message: BaseMessage) -> bool:
    """Whether a cachepoint cache replayed ``message`` (`mark_hit`)."""
    metadata = getattr(message, "response_metadata", None) or {}
    return metadata.get("cachepoint_cache") == "hit"


def mark_hit(message: T_Message, counted: UsageLedger | None = None) -> T_Message:
    """A copy of ``message`` marked as replayed from a cache: ``response_metadata["cachepoint_cache"] == "hit"``
    (what `with_cache_points`'s response cache and `CachepointLLMCache` return), and, where it reports usage, with
    ``total_cost: 0`` as LangChain marks its own hits (the token counts are the first call's; no provider call
    was made for this one). ``counted``: the ledger the hit was counted in (named under `COUNTED_IN`), which a
    callback handler recording into the same ledger then leaves alone.

    >>> from langchain_core.messages import AIMessage
    >>> mark_hit(AIMessage("Paris")).response_metadata
    {'cachepoint_cache': 'hit'}
    """
    marks: dict[str, Any] = {"cachepoint_cache": "hit"}
    if counted is not None:
        marks[COUNTED_IN] = ledger_key(counted)
    update: dict[str, Any] = {"response_metadata": {**message.response_metadata, **marks}}
    usage = getattr(message, "usage_metadata", None)
    if usage is not None:
        update["usage_metadata"] = {**usage, "total_cost": 0}
    return message.model_copy(update=update)


def native_usage(message: BaseMessage) -> dict[str, Any] | None:
    """The usage as the message reports it, for core to read (and a trace line to keep): the raw Anthropic usage
    when present (it keeps the TTL split), else ``{"usage_metadata": ...}`` (LangChain's shape, named as such
    so it is never mistaken for another provider's). ``None`` when the message reports no usage."""
    metadata = getattr(message, "response_metadata", None) or {}
    raw = metadata.get("usage")
    if isinstance(raw, Mapping) and any(key in raw for key in _RAW_ANTHROPIC):
        return dict(raw)
    usage = getattr(message, "usage_metadata", None)
    return {"usage_metadata": dict(usage)} if usage else None


def model_of(message: BaseMessage, model: str | None) -> str | None:
    """The model that answered (the response's own name for it), else ``model``."""
    metadata = getattr(message, "response_metadata", None) or {}
    found = metadata.get("model_name") or metadata.get("model")
    return found if isinstance(found, str) and found else model


def labels_of(
    *,
    provider: str | None,
    model: str | None,
    metadata: Mapping[str, Any] | None,
    tags: Iterable[str] | None,
    static: Mapping[str, str],
) -> dict[str, str]:
    """The ledger labels of one call: ``model``, ``provider``, ``node`` (LangGraph's ``langgraph_node``),
    ``agent`` (``create_agent``'s name), ``tenant`` (run metadata ``tenant``), the handler's own labels, and
    tags written ``key=value``.

    >>> labels = labels_of(provider="anthropic", model="m", metadata={"langgraph_node": "model",
    ...     "lc_agent_name": "support", "tenant": "acme"}, tags=["team=search", "seq:step:1"], static={"env": "ci"})
    >>> sorted(labels.items())  # doctest: +NORMALIZE_WHITESPACE
    [('agent', 'support'), ('env', 'ci'), ('model', 'm'), ('node', 'model'), ('provider', 'anthropic'),
     ('team', 'search'), ('tenant', 'acme')]
    """
    metadata = metadata or {}
    labels = dict(static)
    for tag in tags or ():
        key, sep, value = tag.partition("=")
        if sep and key and value:
            labels[key] = value
    found = {
        "model": model,
        "provider": normalize_provider(provider) if provider else None,
        "node": metadata.get("langgraph_node"),
        "agent": metadata.get("lc_agent_name") or metadata.get("agent"),
        "tenant": metadata.get("tenant"),
    }
    labels.update({key: str(value) for key, value in found.items() if value})
    return labels


def record(
    calls: CallRecorder,
    message: BaseMessage,
    *,
    provider: str | None,
    model: str | None,
    metadata: Mapping[str, Any] | None = None,
    tags: Iterable[str] | None = None,
    static: Mapping[str, str],
    request: Mapping[str, Any] | Request | None = None,
    started: float | None = None,
    duration_s: float | None = None,
    ttft_s: float | None = None,
) -> None:
    """Record the call that produced ``message`` through ``calls`` (ledger, trace line for ``request``,
    OpenTelemetry), labelled from the run's ``metadata`` and ``tags``; core logs a failure once, never raises."""
    model = model_of(message, model)
    labels = labels_of(provider=provider, model=model, metadata=metadata, tags=tags, static=static)
    calls.record(
        request,
        native_usage(message),
        provider=provider,
        model=model,
        labels=labels,
        started=started,
        duration_s=duration_s,
        ttft_s=ttft_s,
        session=_session(metadata or {}),
    )


def record_hit(
    calls: CallRecorder,
    message: BaseMessage,
    *,
    provider: str | None,
    model: str | None,
    metadata: Mapping[str, Any] | None = None,
    tags: Iterable[str] | None = None,
    static: Mapping[str, str],
    duration_s: float | None = None,
) -> None:
    """Record a call a cache answered with ``message`` (a stored answer: its usage is the first call's) through
    ``calls``: a replayed hit labelled ``response_cache="hit"`` that cost nothing and saved what the first call
    cost. No trace line: nothing reached the provider."""
    model = model_of(message, model)
    labels = labels_of(provider=provider, model=model, metadata=metadata, tags=tags, static=static)
    calls.record_hit(provider=provider, model=model, labels=labels, duration_s=duration_s, usage=native_usage(message))


def _session(metadata: Mapping[str, Any]) -> str | None:
    for key in ("session_id", "thread_id", "conversation_id"):
        value = metadata.get(key)
        if value:
            return str(value)
    return None
