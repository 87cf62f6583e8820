"""The usage of a LangChain model response as a core `CacheUsage`, and the labels it is recorded under.

ChatAnthropic's ``usage_metadata`` sets ``cache_creation`` to 0 when it also reports the per-TTL split of the
writes; core's `from_langchain` adds the split back, and when the raw Anthropic usage is there (non-streamed
ChatAnthropic responses keep it in ``response_metadata["usage"]``) it is read instead, TTL split included.

>>> from langchain_core.messages import AIMessage
>>> message = AIMessage("ok", usage_metadata={"input_tokens": 310, "output_tokens": 5, "total_tokens": 315,
...     "input_token_details": {"cache_read": 200, "cache_creation": 0, "ephemeral_5m_input_tokens": 60,
...                             "ephemeral_1h_input_tokens": 40}})
>>> usage = usage_of(message, provider="anthropic", model="claude-sonnet-4-5")
>>> usage.cache_read_tokens, usage.cache_write_tokens, dict(usage.cache_write_by_ttl)
(200, 100, {'1h': 40, '5m': 60})
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGeneration, LLMResult

from cachepoint.core.once import log_once
from cachepoint.core.providers import normalize_provider
from cachepoint.core.usage import CacheUsage, UsageLedger, from_anthropic, from_langchain

__all__ = ["from_cache", "labels_of", "native_usage", "record", "response_message", "usage_of"]

_RAW_ANTHROPIC = ("cache_creation_input_tokens", "cache_read_input_tokens")


def response_message(response: LLMResult) -> BaseMessage | None:
    """The message of a run's first generation (a chat model's answer), if any."""
    generations = response.generations
    if not generations or not generations[0]:
        return None
    generation = generations[0][0]
    return generation.message if isinstance(generation, ChatGeneration) else None


def from_cache(message: BaseMessage) -> bool:
    """Whether LangChain served ``message`` from its LLM cache (it marks cache hits with ``total_cost: 0``):
    no provider call was made, so there is no provider usage to record."""
    usage = getattr(message, "usage_metadata", None)
    return isinstance(usage, Mapping) and usage.get("total_cost") == 0


def usage_of(message: BaseMessage, *, provider: str | None, model: str | None) -> CacheUsage | None:
    """``message``'s usage (``None`` when it reports none), the raw Anthropic usage preferred when present."""
    metadata = getattr(message, "response_metadata", None) or {}
    model = metadata.get("model_name") or metadata.get("model") or model
    raw = metadata.get("usage")
    if isinstance(raw, Mapping) and any(key in raw for key in _RAW_ANTHROPIC):
        return from_anthropic(raw, model=model, provider=provider or "anthropic")
    usage = getattr(message, "usage_metadata", None)
    if not usage:
        return None
    return from_langchain(dict(usage), provider=provider, model=model)


def native_usage(message: BaseMessage) -> dict[str, Any] | None:
    """The usage as the message reports it, for a trace line: the raw Anthropic usage when present (it keeps
    the TTL split), else LangChain's ``usage_metadata`` (both are shapes `normalize_usage` reads)."""
    metadata = getattr(message, "response_metadata", None) or {}
    raw = metadata.get("usage")
    if isinstance(raw, Mapping) and any(key in raw for key in _RAW_ANTHROPIC):
        return dict(raw)
    usage = getattr(message, "usage_metadata", None)
    return dict(usage) if usage else None


def labels_of(
    *,
    usage: CacheUsage | None,
    provider: str | None,
    model: str | None,
    metadata: Mapping[str, Any] | None,
    tags: Iterable[str] | None,
    static: Mapping[str, str],
) -> dict[str, str]:
    """The ledger labels of one call: ``model``, ``provider``, ``node`` (LangGraph's ``langgraph_node``),
    ``agent`` (``create_agent``'s name), ``tenant`` (run metadata ``tenant``), the handler's own labels, and
    tags written ``key=value``.

    >>> labels = labels_of(usage=None, provider="anthropic", model="m", metadata={"langgraph_node": "model",
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
        "model": (usage.model if usage is not None else None) or model,
        "provider": (usage.provider if usage is not None else None) or provider,
        "node": metadata.get("langgraph_node"),
        "agent": metadata.get("lc_agent_name") or metadata.get("agent"),
        "tenant": metadata.get("tenant"),
    }
    if isinstance(found["provider"], str):
        found["provider"] = normalize_provider(found["provider"])
    labels.update({key: str(value) for key, value in found.items() if value})
    return labels


def record(
    ledger: UsageLedger,
    message: BaseMessage,
    *,
    provider: str | None,
    model: str | None,
    metadata: Mapping[str, Any],
    static: Mapping[str, str],
    who: str,
) -> None:
    """Record ``message``'s usage in ``ledger`` under the call's labels; a failure is logged once, never raised
    (``who`` names the caller in the log)."""
    try:
        usage = usage_of(message, provider=provider, model=model)
        if usage is not None:
            labels = labels_of(usage=usage, provider=provider, model=model, metadata=metadata, tags=(), static=static)
            ledger.record(usage, labels)
    except Exception as exc:
        log_once(
            f"{who}-record:{type(exc).__name__}",
            f"cachepoint: {who} could not record usage ({type(exc).__name__}: {exc})",
            logger=logging.getLogger("cachepoint.langchain"),
        )
