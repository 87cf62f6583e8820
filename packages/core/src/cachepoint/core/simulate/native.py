"""Usage objects exactly as each provider's API writes them, from the simulator's counts.

Each provider counts the same three parts of a prompt (read from the cache, written to it, neither) in its own
way, and `cachepoint.core.usage.normalize_usage` reads every one of these shapes back into a `CacheUsage`:

- Anthropic Messages: ``input_tokens`` is the uncached part only; ``cache_creation`` splits writes by TTL.
- Bedrock Converse: ``inputTokens`` is the uncached part; ``cacheDetails`` lists writes per TTL, 1h before 5m;
  the cache fields are left out when the request had no ``cachePoint``. ``totalTokens`` adds every input part
  and the output.
- OpenAI Chat Completions: ``prompt_tokens`` is the whole prompt; ``cached_tokens`` is part of it;
  ``cache_write_tokens`` exists only for models with explicit breakpoints (GPT-5.6+).
- OpenAI Responses: ``input_tokens`` is the whole prompt; ``cached_tokens`` and ``cache_write_tokens`` are
  always present; writes split into ``ttl_30m_tokens`` / ``ttl_12h_tokens`` for explicit-breakpoint models.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["anthropic_usage", "bedrock_usage", "openai_chat_usage", "openai_responses_usage"]


def anthropic_usage(*, uncached: int, read: int, writes: Mapping[str, int], output: int) -> dict[str, Any]:
    """An Anthropic ``Usage`` object.

    >>> anthropic_usage(uncached=12, read=2000, writes={"5m": 300}, output=5)["cache_creation"]
    {'ephemeral_5m_input_tokens': 300, 'ephemeral_1h_input_tokens': 0}
    """
    five = writes.get("5m", 0)
    hour = writes.get("1h", 0)
    return {
        "input_tokens": uncached,
        "cache_creation_input_tokens": sum(writes.values()),
        "cache_read_input_tokens": read,
        "cache_creation": {"ephemeral_5m_input_tokens": five, "ephemeral_1h_input_tokens": hour},
        "output_tokens": output,
        "service_tier": "standard",
    }


def bedrock_usage(
    *, uncached: int, read: int, writes: Mapping[str, int], output: int, cache_fields: bool
) -> dict[str, Any]:
    """A Bedrock Converse ``TokenUsage`` object (cache fields only when the request used caching).

    >>> bedrock_usage(uncached=10, read=0, writes={"5m": 300, "1h": 2000}, output=4, cache_fields=True)["cacheDetails"]
    [{'ttl': '1h', 'inputTokens': 2000}, {'ttl': '5m', 'inputTokens': 300}]
    """
    written = sum(writes.values())
    usage: dict[str, Any] = {
        "inputTokens": uncached,
        "outputTokens": output,
        "totalTokens": uncached + read + written + output,
    }
    if cache_fields:
        usage["cacheReadInputTokens"] = read
        usage["cacheWriteInputTokens"] = written
        # "Sorted by TTL duration (1h before 5m)"; empty when nothing was written.
        details = [(ttl, n) for ttl, n in writes.items() if n]
        details.sort(key=lambda item: _seconds(item[0]), reverse=True)
        usage["cacheDetails"] = [{"ttl": ttl, "inputTokens": n} for ttl, n in details]
    return usage


def openai_chat_usage(*, total: int, read: int, write: int | None, output: int) -> dict[str, Any]:
    """A Chat Completions ``usage`` object (``write`` is ``None`` for models that report no cache writes).

    >>> openai_chat_usage(total=2100, read=1920, write=None, output=3)["prompt_tokens_details"]
    {'cached_tokens': 1920, 'audio_tokens': 0}
    """
    details: dict[str, Any] = {"cached_tokens": read, "audio_tokens": 0}
    if write is not None:
        details["cache_write_tokens"] = write
    return {
        "prompt_tokens": total,
        "completion_tokens": output,
        "total_tokens": total + output,
        "prompt_tokens_details": details,
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def openai_responses_usage(*, total: int, read: int, writes: Mapping[str, int] | None, output: int) -> dict[str, Any]:
    """A Responses API ``usage`` object (``writes`` by TTL for explicit-breakpoint models, else ``None``).

    >>> details = openai_responses_usage(total=3000, read=0, writes={"30m": 2900}, output=2)["input_tokens_details"]
    >>> details["cache_write_tokens"], details["cache_write_tokens_details"]
    (2900, {'ttl_30m_tokens': 2900, 'ttl_12h_tokens': 0})
    """
    details: dict[str, Any] = {"cached_tokens": read, "cache_write_tokens": sum((writes or {}).values())}
    if writes is not None:
        details["cache_write_tokens_details"] = {
            "ttl_30m_tokens": writes.get("30m", 0),
            "ttl_12h_tokens": writes.get("12h", 0),
        }
    return {
        "input_tokens": total,
        "input_tokens_details": details,
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": total + output,
    }


def _seconds(label: str) -> int:
    from cachepoint.core.prompt.ttl import ttl_seconds

    try:
        return ttl_seconds(label)
    except ValueError:
        return 0
