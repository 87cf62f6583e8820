"""OpenAI-compatible usage: Chat Completions and Responses, and the servers that copy their shape.

Both APIs count the **whole** prompt in ``prompt_tokens`` / ``input_tokens``; ``cached_tokens`` (reads) and
``cache_write_tokens`` (writes, GPT-5.6 and later) are parts of it, and every input token is billed as exactly
one of uncached, cached or written. Responses also splits writes by retention
(``cache_write_tokens_details.ttl_30m_tokens`` / ``ttl_12h_tokens``).

The same shape comes from OpenRouter (reads and writes in ``prompt_tokens_details``), vLLM and SGLang (which
leave ``cached_tokens`` out unless prefix-cache reporting is on: unknown, not zero), DeepSeek
(``prompt_cache_hit_tokens``) and LiteLLM (which also copies Anthropic's ``cache_read_input_tokens`` /
``cache_creation_input_tokens`` to the top level). Two fields that count the same tokens must agree.
"""

from __future__ import annotations

from cachepoint.core.usage.cache_usage import CacheUsage
from cachepoint.core.usage.errors import UsageFormatError
from cachepoint.core.usage.payload import Fields, one_of

__all__ = ["parse_chat", "parse_responses"]

_RESPONSES_TTLS = {"ttl_30m_tokens": "30m", "ttl_12h_tokens": "12h"}


def parse_chat(usage: Fields, *, provider: str, model: str | None) -> CacheUsage:
    """A Chat Completions ``usage`` object (``prompt_tokens`` / ``completion_tokens`` / details)."""
    prompt = usage.require_count("prompt_tokens")
    output = usage.require_count("completion_tokens")
    details = usage.child("prompt_tokens_details") or Fields({}, usage.at("prompt_tokens_details"))
    read = one_of(
        (details.at("cached_tokens"), details.count("cached_tokens")),
        (usage.at("cache_read_input_tokens"), usage.count("cache_read_input_tokens")),  # LiteLLM
        (usage.at("prompt_cache_hit_tokens"), usage.count("prompt_cache_hit_tokens")),  # DeepSeek
    )
    write = one_of(
        (details.at("cache_write_tokens"), details.count("cache_write_tokens")),
        (details.at("cache_creation_tokens"), details.count("cache_creation_tokens")),  # LiteLLM
        (usage.at("cache_creation_input_tokens"), usage.count("cache_creation_input_tokens")),  # LiteLLM
    )
    completion_details = usage.child("completion_tokens_details")
    reasoning = completion_details.count("reasoning_tokens") if completion_details else None
    _check_parts(usage, "prompt_tokens", prompt, read, write)
    return CacheUsage(
        provider=provider,
        model=model,
        input_tokens=prompt,
        cache_read_tokens=read,
        cache_write_tokens=write,
        output_tokens=output,
        reasoning_tokens=reasoning,
    )


def parse_responses(usage: Fields, *, provider: str, model: str | None) -> CacheUsage:
    """A Responses API ``usage`` object (``input_tokens`` / ``input_tokens_details`` / ``output_tokens``)."""
    total = usage.require_count("input_tokens")
    output = usage.require_count("output_tokens")
    details = usage.child("input_tokens_details")
    read = details.count("cached_tokens") if details else None
    write = details.count("cache_write_tokens") if details else None
    split: dict[str, int] = {}
    ttl_details = details.child("cache_write_tokens_details") if details else None
    if ttl_details is not None:
        for key, ttl in _RESPONSES_TTLS.items():
            value = ttl_details.count(key)
            if value is not None:
                split[ttl] = value
        if write is None:
            write = sum(split.values())
        elif sum(split.values()) > write:
            raise UsageFormatError(
                ttl_details.path,
                f"the TTL split adds up to {sum(split.values())}, more than cache_write_tokens={write}",
            )
    output_details = usage.child("output_tokens_details")
    reasoning = output_details.count("reasoning_tokens") if output_details else None
    _check_parts(usage, "input_tokens", total, read, write)
    return CacheUsage(
        provider=provider,
        model=model,
        input_tokens=total,
        cache_read_tokens=read,
        cache_write_tokens=write,
        cache_write_by_ttl=split,
        output_tokens=output,
        reasoning_tokens=reasoning,
    )


def _check_parts(usage: Fields, key: str, total: int, read: int | None, write: int | None) -> None:
    parts = (read or 0) + (write or 0)
    if parts > total:
        raise UsageFormatError(
            usage.at(key),
            f"is {total}, fewer than the cached ({read}) plus written ({write}) tokens it must include",
        )
