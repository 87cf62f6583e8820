"""`CacheUsage`: one call's token counts in one shape, whatever the provider.

Conventions (the ones OpenTelemetry's GenAI conventions use, and the ones every provider's bill adds up to):

- ``input_tokens`` is the **whole** prompt: uncached tokens plus tokens read from the cache plus tokens written
  to it. Anthropic and Bedrock report the uncached part only; their normalizers add the cache counts back.
- ``cache_read_tokens`` and ``cache_write_tokens`` are parts of ``input_tokens``, and so is the derived
  ``uncached_input_tokens``: ``input = uncached + read + write``, exactly.
- ``output_tokens`` includes ``reasoning_tokens`` (thinking tokens are billed as output everywhere).
- ``None`` means *the provider did not say*. It is never a stand-in for zero: vLLM leaves ``cached_tokens`` out
  when prefix-cache reporting is off, OpenAI's Chat API has no write counter before GPT-5.6, Gemini has none at
  all. A count derived from an unknown count is unknown too.
- ``cache_write_by_ttl`` holds the part of the writes whose TTL the provider reported (``"5m"``, ``"1h"``,
  ``"30m"``, ``"12h"``); the rest (``cache_write_unknown_ttl_tokens``) was written with a TTL nobody told us,
  as when an Anthropic stream's final counts grow past the breakdown of its first event.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from cachepoint.core.providers import normalize_provider

if TYPE_CHECKING:
    from cachepoint.core.usage.semconv import OtelValue

__all__ = ["CacheUsage"]

_COUNT_FIELDS = ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens")


def _check_count(name: str, value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"CacheUsage.{name}: expected an int or None, got {type(value).__name__} {value!r}")
    if value < 0:
        raise ValueError(f"CacheUsage.{name}: expected a non-negative token count, got {value}")


def _add(a: int | None, b: int | None) -> int | None:
    # Unknown is contagious: the sum of a known and an unknown count is unknown.
    return None if a is None or b is None else a + b


def _same(a: str | None, b: str | None) -> str | None:
    # Mixed providers or models add up to "not one provider": None.
    return a if a == b else None


@dataclass(frozen=True, kw_only=True, repr=False)
class CacheUsage:
    """Token usage of one call (or a sum of calls), with cache reads and writes in one convention.

    Build one with `normalize_usage` from any provider's response, or directly:

    >>> u = CacheUsage(provider="anthropic", model="claude-sonnet-4-5", input_tokens=1510,
    ...                cache_read_tokens=1200, cache_write_tokens=300, output_tokens=5,
    ...                cache_write_by_ttl={"5m": 300})
    >>> u.uncached_input_tokens
    10
    >>> u.cache_hit
    True

    Adding usages sums every count; a count unknown on either side is unknown in the sum:

    >>> (u + CacheUsage(provider="anthropic", model="claude-sonnet-4-5", input_tokens=10,
    ...                 cache_read_tokens=0, cache_write_tokens=None, output_tokens=1)).cache_write_tokens is None
    True
    """

    provider: str | None = None
    model: str | None = None
    input_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    cache_write_by_ttl: Mapping[str, int] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        for name in _COUNT_FIELDS:
            _check_count(name, getattr(self, name))
        if self.provider is not None:
            object.__setattr__(self, "provider", normalize_provider(self.provider))
        split: dict[str, int] = {}
        for ttl, count in self.cache_write_by_ttl.items():
            if not isinstance(ttl, str) or not ttl:
                raise TypeError(f"CacheUsage.cache_write_by_ttl: expected TTL labels like '5m', got {ttl!r}")
            _check_count(f"cache_write_by_ttl[{ttl!r}]", count)
            if count:
                split[ttl] = count
        object.__setattr__(self, "cache_write_by_ttl", MappingProxyType(dict(sorted(split.items()))))
        if split:
            if self.cache_write_tokens is None:
                raise ValueError("CacheUsage.cache_write_by_ttl: a TTL split needs cache_write_tokens to be known")
            if sum(split.values()) > self.cache_write_tokens:
                raise ValueError(
                    f"CacheUsage.cache_write_by_ttl: the split adds up to {sum(split.values())}, more than "
                    f"cache_write_tokens={self.cache_write_tokens}"
                )
        cached = [v for v in (self.cache_read_tokens, self.cache_write_tokens) if v is not None]
        if self.input_tokens is not None and sum(cached) > self.input_tokens:
            raise ValueError(
                f"CacheUsage: cache_read_tokens ({self.cache_read_tokens}) + cache_write_tokens "
                f"({self.cache_write_tokens}) exceed input_tokens ({self.input_tokens}); input_tokens must be the "
                "whole prompt, cache tokens included"
            )
        reasoning, output = self.reasoning_tokens, self.output_tokens
        if reasoning is not None and output is not None and reasoning > output:
            raise ValueError(
                f"CacheUsage.reasoning_tokens ({reasoning}) exceed output_tokens ({output}); output_tokens must "
                "include reasoning"
            )

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in ("provider", "model", *_COUNT_FIELDS))
        return f"CacheUsage({fields}, cache_write_by_ttl={dict(self.cache_write_by_ttl)!r})"

    @property
    def uncached_input_tokens(self) -> int | None:
        """Prompt tokens neither read from nor written to the cache (``None`` if any part is unknown).

        >>> CacheUsage(input_tokens=100, cache_read_tokens=60, cache_write_tokens=30).uncached_input_tokens
        10
        """
        if self.input_tokens is None or self.cache_read_tokens is None or self.cache_write_tokens is None:
            return None
        return self.input_tokens - self.cache_read_tokens - self.cache_write_tokens

    @property
    def total_tokens(self) -> int | None:
        """Input plus output tokens.

        >>> CacheUsage(input_tokens=100, output_tokens=7).total_tokens
        107
        """
        return _add(self.input_tokens, self.output_tokens)

    @property
    def cache_hit(self) -> bool | None:
        """Whether the call read anything from the cache (``None`` when reads were not reported).

        >>> CacheUsage(cache_read_tokens=0).cache_hit, CacheUsage().cache_hit
        (False, None)
        """
        return None if self.cache_read_tokens is None else self.cache_read_tokens > 0

    @property
    def cache_read_ratio(self) -> float | None:
        """Share of the prompt served from the cache, 0.0 to 1.0 (``None`` if unknown or the prompt is empty).

        >>> CacheUsage(input_tokens=1000, cache_read_tokens=900).cache_read_ratio
        0.9
        """
        if not self.input_tokens or self.cache_read_tokens is None:
            return None
        return self.cache_read_tokens / self.input_tokens

    @property
    def cache_write_unknown_ttl_tokens(self) -> int | None:
        """Written tokens whose TTL was not reported (``cache_write_tokens`` minus the TTL split).

        >>> CacheUsage(input_tokens=500, cache_write_tokens=400, cache_write_by_ttl={"1h": 100}
        ...            ).cache_write_unknown_ttl_tokens
        300
        """
        if self.cache_write_tokens is None:
            return None
        return self.cache_write_tokens - sum(self.cache_write_by_ttl.values())

    def __add__(self, other: object) -> CacheUsage:
        if not isinstance(other, CacheUsage):
            return NotImplemented
        write = _add(self.cache_write_tokens, other.cache_write_tokens)
        split: dict[str, int] = {}
        if write is not None:
            for source in (self.cache_write_by_ttl, other.cache_write_by_ttl):
                for ttl, count in source.items():
                    split[ttl] = split.get(ttl, 0) + count
        return CacheUsage(
            provider=_same(self.provider, other.provider),
            model=_same(self.model, other.model),
            input_tokens=_add(self.input_tokens, other.input_tokens),
            cache_read_tokens=_add(self.cache_read_tokens, other.cache_read_tokens),
            cache_write_tokens=write,
            output_tokens=_add(self.output_tokens, other.output_tokens),
            reasoning_tokens=_add(self.reasoning_tokens, other.reasoning_tokens),
            cache_write_by_ttl=split,
        )

    def __radd__(self, other: object) -> CacheUsage:
        # Lets sum(usages) start from its default 0.
        if isinstance(other, int) and not isinstance(other, bool) and other == 0:
            return self
        return NotImplemented

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; unknown counts stay ``None``. `from_dict` reads it back.

        >>> CacheUsage(provider="openai", input_tokens=10).to_dict()["cache_read_tokens"] is None
        True
        """
        return {
            "provider": self.provider,
            "model": self.model,
            "input_tokens": self.input_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "cache_write_by_ttl": dict(self.cache_write_by_ttl),
            "output_tokens": self.output_tokens,
            "reasoning_tokens": self.reasoning_tokens,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CacheUsage:
        """Rebuild a usage written by `to_dict` (unknown keys are an error, missing ones unknown).

        >>> u = CacheUsage(provider="bedrock", input_tokens=5, cache_write_tokens=5, cache_write_by_ttl={"1h": 5})
        >>> CacheUsage.from_dict(u.to_dict()) == u
        True
        """
        allowed = {"provider", "model", "cache_write_by_ttl", *_COUNT_FIELDS}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ValueError(f"CacheUsage.from_dict: unknown field {unknown[0]!r} (expected some of {sorted(allowed)})")
        kwargs = dict(data)
        kwargs["cache_write_by_ttl"] = dict(kwargs.get("cache_write_by_ttl") or {})
        return cls(**kwargs)

    def to_otel_attributes(
        self,
        *,
        cache_write_attribute: bool = False,
        legacy_system: bool = False,
        ttl_split: bool = True,
    ) -> dict[str, OtelValue]:
        """OpenTelemetry GenAI span attributes for this usage (unknown counts are left out, never sent as 0).

        ``gen_ai.usage.input_tokens`` includes cache reads and writes, as the convention asks. Cache writes go
        to ``gen_ai.usage.cache_creation.input_tokens``; ``cache_write_attribute=True`` also sets the newer
        ``gen_ai.usage.cache_write.input_tokens``. ``legacy_system=True`` adds the deprecated ``gen_ai.system``.

        >>> attrs = CacheUsage(provider="bedrock", model="anthropic.claude-sonnet-4-5", input_tokens=1510,
        ...                    cache_read_tokens=1200, cache_write_tokens=300, output_tokens=5).to_otel_attributes()
        >>> attrs["gen_ai.provider.name"], attrs["gen_ai.usage.input_tokens"]
        ('aws.bedrock', 1510)
        """
        from cachepoint.core.usage.semconv import usage_attributes

        return usage_attributes(
            self, cache_write_attribute=cache_write_attribute, legacy_system=legacy_system, ttl_split=ttl_split
        )
