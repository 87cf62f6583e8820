"""Bedrock Converse / ConverseStream usage (``TokenUsage``).

``inputTokens`` counts only the non-cached input: the whole prompt is
``inputTokens + cacheReadInputTokens + cacheWriteInputTokens``. ``cacheDetails`` lists the writes per TTL
(``[{"ttl": "1h", "inputTokens": ...}, {"ttl": "5m", ...}]``, empty when nothing was written). The stream
carries the same object in its ``metadata`` event. Bedrock leaves the cache fields out when the request used no
caching, so an absent cache field reads as zero. (InvokeModel with an Anthropic body is Anthropic's format: see
`cachepoint.core.usage.formats.anthropic`.)
"""

from __future__ import annotations

from cachepoint.core.usage.cache_usage import CacheUsage
from cachepoint.core.usage.errors import UsageFormatError
from cachepoint.core.usage.payload import Fields

__all__ = ["parse_converse", "token_usage_of"]


def token_usage_of(payload: Fields) -> Fields:
    """The ``TokenUsage`` object inside a Converse response, a stream ``metadata`` event, or itself."""
    metadata = payload.child("metadata")
    if metadata is not None and "usage" in metadata:
        return metadata.require_child("usage")
    if "usage" in payload:
        return payload.require_child("usage")
    return payload


def parse_converse(payload: Fields, *, model: str | None) -> CacheUsage:
    """A Converse response, a ConverseStream ``metadata`` event, or a bare ``usage`` object."""
    usage = token_usage_of(payload)
    uncached = usage.require_count("inputTokens")
    output = usage.require_count("outputTokens")
    read = usage.count("cacheReadInputTokens")
    write = usage.count("cacheWriteInputTokens")
    split: dict[str, int] = {}
    for detail in usage.items("cacheDetails"):
        ttl = detail.text("ttl")
        if ttl is None:
            raise UsageFormatError(detail.at("ttl"), "missing (expected '5m' or '1h')")
        split[ttl] = split.get(ttl, 0) + detail.require_count("inputTokens")
    if write is None:
        write = sum(split.values())
    elif sum(split.values()) > write:
        raise UsageFormatError(
            usage.at("cacheDetails"),
            f"the TTL split adds up to {sum(split.values())}, more than cacheWriteInputTokens={write}",
        )
    read = read or 0
    return CacheUsage(
        provider="bedrock",
        model=model,
        input_tokens=uncached + read + write,
        cache_read_tokens=read,
        cache_write_tokens=write,
        cache_write_by_ttl=split,
        output_tokens=output,
        # Bedrock does not break reasoning out of outputTokens.
        reasoning_tokens=None,
    )
