"""LangChain ``AIMessage.usage_metadata`` (read without importing LangChain).

``input_tokens`` is the whole prompt, cache included. ``input_token_details`` holds ``cache_read`` and
``cache_creation``. ChatAnthropic and ChatBedrockConverse also copy the TTL split into
``ephemeral_5m_input_tokens`` / ``ephemeral_1h_input_tokens`` and, when that split is non-zero, set
``cache_creation`` to 0 so the writes are not counted twice. The writes are therefore
``cache_creation + ephemeral_5m + ephemeral_1h``; reading ``cache_creation`` alone undercounts them to zero.
A streamed ChatAnthropic message has no split (``message_delta`` has none), only ``cache_creation``.
"""

from __future__ import annotations

from cachepoint.core.providers import normalize_provider
from cachepoint.core.usage.cache_usage import CacheUsage
from cachepoint.core.usage.errors import UsageFormatError
from cachepoint.core.usage.payload import Fields

__all__ = ["parse_langchain"]

_TTL_KEYS = {"ephemeral_5m_input_tokens": "5m", "ephemeral_1h_input_tokens": "1h"}
_WRITE_KEYS = ("cache_creation", *_TTL_KEYS)


def parse_langchain(payload: Fields, *, provider: str | None, model: str | None) -> CacheUsage:
    """An AIMessage (dumped) or its ``usage_metadata`` dict."""
    metadata = payload.child("response_metadata")
    if "usage_metadata" in payload or payload.get("type") in {"ai", "AIMessageChunk"}:
        usage = payload.child("usage_metadata")
        if usage is None:
            raise UsageFormatError(
                payload.at("usage_metadata"), "missing: the message carries no usage (a cache hit or a fake model?)"
            )
    else:
        usage = payload
    if metadata is not None:
        provider = provider or metadata.text("model_provider") or metadata.text("ls_provider")
        model = model or metadata.text("model_name") or metadata.text("model") or metadata.text("model_id")
    total = usage.require_count("input_tokens")
    output = usage.require_count("output_tokens")
    details = usage.child("input_token_details") or Fields({}, usage.at("input_token_details"))
    read = details.count("cache_read")
    write: int | None = None
    if any(key in details for key in _WRITE_KEYS):
        write = sum(details.count(key) or 0 for key in _WRITE_KEYS)
    split = {ttl: details.count(key) or 0 for key, ttl in _TTL_KEYS.items()}
    if (read or 0) + (write or 0) > total:
        raise UsageFormatError(
            usage.at("input_tokens"),
            f"is {total}, fewer than cache_read ({read}) plus the cache writes ({write}) it must include",
        )
    out_details = usage.child("output_token_details")
    return CacheUsage(
        provider=normalize_provider(provider) if provider else None,
        model=model,
        input_tokens=total,
        cache_read_tokens=read,
        cache_write_tokens=write,
        cache_write_by_ttl=split if write is not None else {},
        output_tokens=output,
        reasoning_tokens=out_details.count("reasoning") if out_details else None,
    )
