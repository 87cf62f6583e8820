"""What one simulated request did to the cache: `SimResult`, its `BreakpointOutcome`s, and `CacheEntry`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, Literal

from cachepoint.core.simulate import native
from cachepoint.core.usage import CacheUsage

__all__ = ["BreakpointOutcome", "CacheEntry", "Mode", "SimResult", "new_outcome", "new_result"]

#: How a provider caches: ``breakpoints`` (Anthropic, Bedrock, OpenAI GPT-5.6+), ``automatic`` (OpenAI's
#: prefix caching), ``engine`` (vLLM / SGLang block prefix cache).
Mode = Literal["breakpoints", "automatic", "engine"]

_EMPTY: Mapping[str, int] = MappingProxyType({})


@dataclass(frozen=True)
class BreakpointOutcome:
    """What one breakpoint did.

    Attributes:
        position: the breakpoint's position; ``tokens`` the prefix tokens through it; ``ttl`` its TTL label.
        found: the position of the live entry its lookback found (``None``: none within reach).
        found_beyond: when ``found`` is ``None``, a live entry further back than the lookback window reaches
            (the "add an earlier breakpoint" diagnosis); ``None`` otherwise.
        wrote: whether this breakpoint writes an entry.
        note: why it does not write: ``below_minimum`` (prefix shorter than the model's minimum),
            ``covered`` (at or before the read position), ``not_written`` (an OpenAI explicit breakpoint
            beyond the latest three/four), ``caching_off`` (OpenAI explicit mode without markers); ``""``
            when it writes.

    >>> BreakpointOutcome(position=4, ttl="5m", tokens=2100, found=1, wrote=True).note
    ''
    """

    position: int
    ttl: str
    tokens: int
    found: int | None = None
    wrote: bool = False
    note: str = ""
    found_beyond: int | None = None


@dataclass(frozen=True)
class SimResult:
    """One request's cache usage, as the provider would report it.

    ``read_tokens`` + ``write_tokens`` + ``uncached_tokens`` == ``total_tokens``. ``write_tokens`` counts
    only writes the provider bills (OpenAI's automatic caching stores prefixes for free: 0 there).
    ``usage`` is the `CacheUsage` and `native` the provider's own usage object; ``normalize_usage(native)``
    gives back ``usage``.

    >>> from cachepoint.core.simulate import SimPrompt, SimBreakpoint, Simulator
    >>> sim = Simulator("anthropic")
    >>> p = SimPrompt(("sys", "q"), (2000, 2040), breakpoints=(SimBreakpoint(1),), model="claude-sonnet-4-5")
    >>> first, second = sim.request(p, at=0), sim.request(p, at=10)
    >>> (first.write_tokens, first.read_tokens), (second.write_tokens, second.read_tokens)
    ((2040, 0), (0, 2040))
    >>> second.native()["cache_read_input_tokens"]
    2040
    """

    provider: str
    model: str
    tenant: str
    format: str
    mode: Mode
    started_at: float
    total_tokens: int
    read_tokens: int
    write_tokens: int
    write_by_ttl: Mapping[str, int] = field(default_factory=lambda: _EMPTY)
    output_tokens: int = 0
    hit_position: int | None = None
    breakpoints: tuple[BreakpointOutcome, ...] = ()
    cache_fields: bool = True
    reports_writes: bool = True

    @property
    def uncached_tokens(self) -> int:
        """Prompt tokens neither read from nor written to the cache."""
        return self.total_tokens - self.read_tokens - self.write_tokens

    @property
    def hit(self) -> bool:
        """Whether anything was read from the cache."""
        return self.read_tokens > 0

    @property
    def usage(self) -> CacheUsage:
        """This request's usage as a `CacheUsage` (the same numbers `normalize_usage` reads from `native`)."""
        by_ttl: Mapping[str, int] = {}
        write: int | None = self.write_tokens
        if self.format in ("anthropic", "bedrock"):
            by_ttl = self.write_by_ttl
        elif self.format == "openai-responses":
            by_ttl = self.write_by_ttl if self.reports_writes else {}
        elif not self.reports_writes:
            write = None  # Chat Completions has no write counter for automatic caching
        reasoning: int | None = 0 if self.format.startswith("openai") else None
        return CacheUsage(
            provider=self.provider,
            model=self.model,
            input_tokens=self.total_tokens,
            cache_read_tokens=self.read_tokens,
            cache_write_tokens=write,
            cache_write_by_ttl=by_ttl,
            output_tokens=self.output_tokens,
            reasoning_tokens=reasoning,
        )

    def native(self) -> dict[str, Any]:
        """The usage object as the provider's API writes it for this request's payload format."""
        if self.format == "anthropic":
            return native.anthropic_usage(
                uncached=self.uncached_tokens,
                read=self.read_tokens,
                writes=self.write_by_ttl,
                output=self.output_tokens,
            )
        if self.format == "bedrock":
            return native.bedrock_usage(
                uncached=self.uncached_tokens,
                read=self.read_tokens,
                writes=self.write_by_ttl,
                output=self.output_tokens,
                cache_fields=self.cache_fields,
            )
        if self.format == "openai-responses":
            return native.openai_responses_usage(
                total=self.total_tokens,
                read=self.read_tokens,
                writes=self.write_by_ttl if self.reports_writes else None,
                output=self.output_tokens,
            )
        return native.openai_chat_usage(
            total=self.total_tokens,
            read=self.read_tokens,
            write=self.write_tokens if self.reports_writes else None,
            output=self.output_tokens,
        )


# The replay makes a `SimResult` per request and scenario, and a `BreakpointOutcome` per breakpoint of each: a
# frozen dataclass's ``__init__`` stores each field with its own ``object.__setattr__`` (15 for a result), about
# five times what filling the instance's ``__dict__`` in one step costs. `new_result` and `new_outcome` do that
# instead and make the same objects; their field lists are checked against the classes at import, and
# `tests/core/simulate/test_fast_results.py` compares them with the constructors.
_RESULT_FIELDS = (
    "provider",
    "model",
    "tenant",
    "format",
    "mode",
    "started_at",
    "total_tokens",
    "read_tokens",
    "write_tokens",
    "write_by_ttl",
    "output_tokens",
    "hit_position",
    "breakpoints",
    "cache_fields",
    "reports_writes",
)
_OUTCOME_FIELDS = ("position", "ttl", "tokens", "found", "wrote", "note", "found_beyond")
if tuple(f.name for f in fields(SimResult)) != _RESULT_FIELDS:  # pragma: no cover - a guard for whoever edits it
    raise RuntimeError("SimResult's fields changed: update _RESULT_FIELDS and new_result")
if tuple(f.name for f in fields(BreakpointOutcome)) != _OUTCOME_FIELDS:  # pragma: no cover
    raise RuntimeError("BreakpointOutcome's fields changed: update _OUTCOME_FIELDS and new_outcome")
_new = object.__new__
_set = object.__setattr__


def new_result(  # noqa: PLR0917 - one argument per field, in the constructor's order
    provider: str,
    model: str,
    tenant: str,
    format: str,
    mode: Mode,
    started_at: float,
    total_tokens: int,
    read_tokens: int,
    write_tokens: int,
    write_by_ttl: Mapping[str, int],
    output_tokens: int,
    hit_position: int | None,
    breakpoints: tuple[BreakpointOutcome, ...],
    cache_fields: bool,
    reports_writes: bool,
) -> SimResult:
    """``SimResult(...)`` of these fields, in this order, built without the dataclass ``__init__``.

    >>> new_result("anthropic", "m", "t", "anthropic", "breakpoints", 0.0, 10, 4, 6, {"5m": 6}, 2, 3, (), True,
    ...            True) == SimResult("anthropic", "m", "t", "anthropic", "breakpoints", 0.0, 10, 4, 6, {"5m": 6},
    ...                               2, 3, (), True, True)
    True
    """
    result: SimResult = _new(SimResult)
    _set(
        result,
        "__dict__",
        {
            "provider": provider,
            "model": model,
            "tenant": tenant,
            "format": format,
            "mode": mode,
            "started_at": started_at,
            "total_tokens": total_tokens,
            "read_tokens": read_tokens,
            "write_tokens": write_tokens,
            "write_by_ttl": write_by_ttl,
            "output_tokens": output_tokens,
            "hit_position": hit_position,
            "breakpoints": breakpoints,
            "cache_fields": cache_fields,
            "reports_writes": reports_writes,
        },
    )
    return result


def new_outcome(  # noqa: PLR0917 - one argument per field, in the constructor's order
    position: int, ttl: str, tokens: int, found: int | None, wrote: bool, note: str, found_beyond: int | None
) -> BreakpointOutcome:
    """``BreakpointOutcome(...)`` of these fields, in this order, built without the dataclass ``__init__``.

    >>> new_outcome(4, "5m", 2100, 1, True, "", None) == BreakpointOutcome(4, "5m", 2100, 1, True, "", None)
    True
    """
    outcome: BreakpointOutcome = _new(BreakpointOutcome)
    _set(
        outcome,
        "__dict__",
        {
            "position": position,
            "ttl": ttl,
            "tokens": tokens,
            "found": found,
            "wrote": wrote,
            "note": note,
            "found_beyond": found_beyond,
        },
    )
    return outcome


@dataclass(frozen=True)
class CacheEntry:
    """A cache entry as it stands (for assertions and for ``cachepoint emulate``'s state endpoint).

    ``key`` is the prefix hash it is stored under; ``tokens`` the prefix tokens it holds; ``path`` the payload
    path of the block it ends at (when known); ``ttl`` its lifetime label; times are on the simulator's clock.

    >>> CacheEntry("anthropic", "t", "m", "ab", 2048, "5m", 0.0, 1.0, 300.0, 0).live(299.0)
    True
    """

    provider: str
    tenant: str
    model: str
    key: str
    tokens: int
    ttl: str
    created_at: float
    readable_at: float
    expires_at: float
    hits: int
    path: str | None = None
    bucket: str | None = None

    def live(self, at: float) -> bool:
        """Readable at time ``at``: written (first byte sent) and not expired."""
        return self.readable_at <= at < self.expires_at

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "provider": self.provider,
            "tenant": self.tenant,
            "model": self.model,
            "key": self.key,
            "tokens": self.tokens,
            "ttl": self.ttl,
            "created_at": self.created_at,
            "readable_at": self.readable_at,
            "expires_at": self.expires_at,
            "hits": self.hits,
            "path": self.path,
            "bucket": self.bucket,
        }
