"""Anthropic Messages usage (also the body of Bedrock InvokeModel for Claude).

``usage.input_tokens`` counts only the tokens after the last cache breakpoint: the whole prompt is
``input_tokens + cache_creation_input_tokens + cache_read_input_tokens``. ``cache_creation`` splits the writes
by TTL (``ephemeral_5m_input_tokens`` / ``ephemeral_1h_input_tokens``). A stream reports the full usage, with
the TTL split, in ``message_start`` and cumulative counts without the split in ``message_delta``.

The cache fields are optional in the SDK; a response without them had no caching (the prompt total is defined
as their sum), so they read as zero here, unlike the OpenAI-compatible ``cached_tokens``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cachepoint.core.usage.cache_usage import CacheUsage
from cachepoint.core.usage.errors import UsageFormatError
from cachepoint.core.usage.payload import Fields, join

__all__ = ["AnthropicCounts", "parse_anthropic", "read_counts"]

_TTL_KEYS = {"ephemeral_5m_input_tokens": "5m", "ephemeral_1h_input_tokens": "1h"}


@dataclass
class AnthropicCounts:
    """The raw counts of one ``usage`` object, before they are put together."""

    path: str
    input: int | None = None
    read: int | None = None
    write: int | None = None
    split: dict[str, int] | None = None
    output: int | None = None
    reasoning: int | None = None
    model: str | None = None
    extra: dict[str, int] = field(default_factory=dict)


def read_counts(usage: Fields) -> AnthropicCounts:
    """Read the counts of an Anthropic ``Usage`` or ``MessageDeltaUsage`` object."""
    counts = AnthropicCounts(
        path=usage.path,
        input=usage.count("input_tokens"),
        read=usage.count("cache_read_input_tokens"),
        write=usage.count("cache_creation_input_tokens"),
        output=usage.count("output_tokens"),
    )
    breakdown = usage.child("cache_creation")
    if breakdown is not None:
        counts.split = {}
        for key, ttl in _TTL_KEYS.items():
            value = breakdown.count(key)
            if value is not None:
                counts.split[ttl] = value
    details = usage.child("output_tokens_details")
    if details is not None:
        counts.reasoning = details.count("thinking_tokens")
    return counts


def finish(counts: AnthropicCounts, *, provider: str, model: str | None, absent_is_zero: bool = True) -> CacheUsage:
    """Put raw counts together: add the cache counts back into the prompt total, check the TTL split.

    ``absent_is_zero=False`` is for a lone ``message_delta``, whose missing fields mean "not updated here".
    """
    split = counts.split or {}
    split_total = sum(split.values())
    read = counts.read if counts.read is not None or not absent_is_zero else 0
    write = counts.write
    if write is None and (split or absent_is_zero):
        write = split_total
    elif write is not None and split_total > write:
        raise UsageFormatError(
            join(counts.path, "cache_creation"),
            f"the TTL split adds up to {split_total}, more than cache_creation_input_tokens={write}",
        )
    total = None if counts.input is None or read is None or write is None else counts.input + read + write
    return CacheUsage(
        provider=provider,
        model=model or counts.model,
        input_tokens=total,
        cache_read_tokens=read,
        cache_write_tokens=write,
        cache_write_by_ttl=split,
        output_tokens=counts.output,
        reasoning_tokens=counts.reasoning,
    )


def merge_stream(start: AnthropicCounts | None, delta: AnthropicCounts | None) -> AnthropicCounts:
    """Combine ``message_start`` and the last ``message_delta``: the delta's counts are cumulative and win
    where present; the TTL split exists only in ``message_start``."""
    if start is None and delta is None:
        raise UsageFormatError("stream", "no message_start or message_delta event")
    if start is None:
        assert delta is not None
        return delta
    if delta is None:
        return start

    def pick(later: int | None, earlier: int | None) -> int | None:
        return later if later is not None else earlier

    return AnthropicCounts(
        path=delta.path,
        input=pick(delta.input, start.input),
        read=pick(delta.read, start.read),
        write=pick(delta.write, start.write),
        split=start.split,
        output=pick(delta.output, start.output),
        reasoning=pick(delta.reasoning, start.reasoning),
        model=start.model,
    )


def parse_anthropic(payload: Fields, *, provider: str, model: str | None) -> CacheUsage:
    """A Message, a ``message_start`` / ``message_delta`` event, or a bare ``usage`` object."""
    kind = payload.text("type")
    if kind == "message_start":
        message = payload.require_child("message")
        counts = read_counts(message.require_child("usage"))
        counts.model = message.text("model")
    elif kind == "message_delta" or "usage" in payload:
        counts = read_counts(payload.require_child("usage"))
        counts.model = payload.text("model")
    else:
        counts = read_counts(payload)
    if counts.input is None and kind != "message_delta":
        raise UsageFormatError(join(counts.path, "input_tokens"), "missing token count")
    if counts.output is None:
        raise UsageFormatError(join(counts.path, "output_tokens"), "missing token count")
    return finish(counts, provider=provider, model=model, absent_is_zero=kind != "message_delta")
