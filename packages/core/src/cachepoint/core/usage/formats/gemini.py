"""Gemini ``usage_metadata`` (google-genai SDK, snake_case) and REST ``usageMetadata`` (camelCase).

``prompt_token_count`` is the whole prompt, cached content included; ``cached_content_token_count`` is the part
read from the (implicit or explicit) cache. Tool-use prompt tokens (``tool_use_prompt_token_count``, e.g.
grounding results) are input too and are counted outside ``prompt_token_count``, so they are added to the
prompt total. Thinking tokens (``thoughts_token_count``) are billed as output but are not in
``candidates_token_count``: output = candidates + thoughts. Gemini never reports a cache write (explicit caches
are created by a separate ``cachedContents`` call), so writes are unknown. The REST API writes protobuf JSON,
which leaves zero counters out, so an absent counter is zero.
"""

from __future__ import annotations

from cachepoint.core.usage.cache_usage import CacheUsage
from cachepoint.core.usage.errors import UsageFormatError
from cachepoint.core.usage.payload import Fields

__all__ = ["parse_gemini", "usage_metadata_of"]

_KEYS = {
    "prompt": ("prompt_token_count", "promptTokenCount"),
    "cached": ("cached_content_token_count", "cachedContentTokenCount"),
    "candidates": ("candidates_token_count", "candidatesTokenCount"),
    "thoughts": ("thoughts_token_count", "thoughtsTokenCount"),
    "tool_use": ("tool_use_prompt_token_count", "toolUsePromptTokenCount"),
    "total": ("total_token_count", "totalTokenCount"),
}


def usage_metadata_of(payload: Fields) -> Fields | None:
    """The usage object of a GenerateContentResponse (or the object itself when it is one)."""
    for key in ("usage_metadata", "usageMetadata"):
        found = payload.child(key)
        if found is not None:
            return found
    if any(key in payload for pair in _KEYS.values() for key in pair):
        return payload
    return None


def _count(usage: Fields, name: str) -> int | None:
    snake, camel = _KEYS[name]
    value = usage.count(snake)
    return value if value is not None else usage.count(camel)


def parse_gemini(payload: Fields, *, model: str | None) -> CacheUsage:
    """A GenerateContentResponse (or a stream chunk) or its usage metadata."""
    usage = usage_metadata_of(payload)
    if usage is None:
        raise UsageFormatError(payload.at("usage_metadata"), "missing (no Gemini usage metadata in the payload)")
    counts = {name: _count(usage, name) for name in _KEYS}
    if counts["prompt"] is None and counts["total"] is None:
        raise UsageFormatError(usage.at("prompt_token_count"), "missing token count (and no total_token_count)")
    prompt = (counts["prompt"] or 0) + (counts["tool_use"] or 0)
    cached = counts["cached"] or 0
    if cached > prompt:
        raise UsageFormatError(
            usage.at("cached_content_token_count"), f"is {cached}, more than the prompt's {prompt} tokens"
        )
    thoughts = counts["thoughts"] or 0
    return CacheUsage(
        provider="gemini",
        model=model or payload.text("model_version") or payload.text("modelVersion"),
        input_tokens=prompt,
        cache_read_tokens=cached,
        cache_write_tokens=None,
        output_tokens=(counts["candidates"] or 0) + thoughts,
        reasoning_tokens=thoughts,
    )
