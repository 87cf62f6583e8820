"""What each provider and model allows for prompt caching, and what its tokens cost.

A dated data table, not code: providers change minimums and prices with every model. Look a model up with
`model_info`; teach the table a model it does not know (or correct one) at run time with `register_model`.
An unknown model gets conservative defaults and one `UnknownModelWarning`, never a silent guess.

>>> from cachepoint.core.providers import model_info
>>> info = model_info("anthropic", "claude-sonnet-4-5-20250929")
>>> info.min_cache_tokens, info.max_breakpoints, info.ttls
(1024, 4, ('5m', '1h'))
>>> info.pricing.cache_read
0.3
"""

from __future__ import annotations

import re
import sys
import threading
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from types import MappingProxyType

__all__ = [
    "AS_OF",
    "DEFAULT_TABLE",
    "ModelInfo",
    "Pricing",
    "ProviderTable",
    "UnknownModelWarning",
    "model_info",
    "normalize_provider",
    "register_model",
]

#: The day the built-in table was last checked against the providers' documentation.
AS_OF = date(2026, 11, 23)


class UnknownModelWarning(UserWarning):
    """The provider table has no entry for a model; conservative defaults are used instead."""


@dataclass(frozen=True)
class Pricing:
    """Prices in USD per million tokens.

    ``input`` is the price of an uncached input token; ``cache_read`` of a token read from the cache;
    ``cache_write`` maps a TTL label (``"5m"``, ``"1h"``, ``"30m"``...) to the price of a token written with
    that TTL. A provider that does not charge for writes (OpenAI's automatic caching) has an empty mapping:
    written tokens then cost ``input``.

    >>> p = Pricing(input=3.0, output=15.0, cache_read=0.3, cache_write={"5m": 3.75, "1h": 6.0})
    >>> p.write_price("1h")
    6.0
    """

    input: float
    output: float
    cache_read: float
    cache_write: Mapping[str, float] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        for name in ("input", "output", "cache_read"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"Pricing.{name}: expected a non-negative number, got {value!r}")
        for ttl, price in self.cache_write.items():
            if not isinstance(price, (int, float)) or price < 0:
                raise ValueError(f"Pricing.cache_write[{ttl!r}]: expected a non-negative number, got {price!r}")
        object.__setattr__(self, "cache_write", MappingProxyType(dict(self.cache_write)))

    def write_price(self, ttl: str | None) -> float:
        """Price of one million tokens written with ``ttl`` (the cheapest write TTL when ``None``)."""
        if not self.cache_write:
            return self.input
        if ttl is None:
            return min(self.cache_write.values())
        try:
            return self.cache_write[ttl]
        except KeyError:
            raise ValueError(f"ttl: expected one of {sorted(self.cache_write)} for this model, got {ttl!r}") from None


@dataclass(frozen=True)
class ModelInfo:
    """Prompt-caching rules and prices for one model (or a family matched by prefix).

    Attributes:
        provider: canonical provider name (``anthropic``, ``bedrock``, ``openai``, ``gemini``...).
        model: the table key that matched (a model id prefix), or the id asked for when ``known`` is false.
        min_cache_tokens: shortest prefix the provider caches; below it, markers are silently ignored upstream.
        max_breakpoints: most cache markers one request may carry (explicit plus automatic).
        ttls: TTL labels the model accepts, shortest first.
        lookback_blocks: how many block positions a breakpoint checks for an earlier entry (``None``: no limit).
        explicit: whether the model takes explicit block markers (``cache_control``, ``cachePoint``,
            ``prompt_cache_breakpoint``).
        automatic: whether the provider caches prefixes without markers (OpenAI, Gemini implicit caching).
        increment: automatic hits are counted in multiples of this many tokens (OpenAI: 128).
        pricing: prices, or ``None`` when not known (costs are then reported as unknown, never as zero).
        cacheable: the request sections a breakpoint may close (Amazon Nova does not cache ``tools``).
        known: ``False`` for the conservative defaults used for an unknown model.
        note: where the numbers come from, or what is uncertain about them.
    """

    provider: str
    model: str
    min_cache_tokens: int
    max_breakpoints: int = 4
    ttls: tuple[str, ...] = ("5m",)
    lookback_blocks: int | None = 20
    explicit: bool = True
    automatic: bool = False
    increment: int | None = None
    pricing: Pricing | None = None
    known: bool = True
    note: str = ""
    cacheable: tuple[str, ...] = ("tools", "system", "messages")

    def __post_init__(self) -> None:
        if self.min_cache_tokens < 0:
            raise ValueError(f"ModelInfo.min_cache_tokens: expected >= 0, got {self.min_cache_tokens}")
        if self.max_breakpoints < 0:
            raise ValueError(f"ModelInfo.max_breakpoints: expected >= 0, got {self.max_breakpoints}")
        if not self.ttls:
            raise ValueError("ModelInfo.ttls: expected at least one TTL label")
        if self.pricing is not None:
            unpriced = [t for t in self.ttls if self.pricing.cache_write and t not in self.pricing.cache_write]
            if unpriced:
                raise ValueError(f"ModelInfo.pricing.cache_write: no price for TTL {unpriced[0]!r}")

    @property
    def default_ttl(self) -> str:
        """The TTL a marker gets when it names none (the shortest)."""
        return self.ttls[0]


_PROVIDER_ALIASES = {
    "anthropic": "anthropic",
    "claude": "anthropic",
    "bedrock": "bedrock",
    "aws.bedrock": "bedrock",
    "amazon_bedrock": "bedrock",
    "aws_bedrock": "bedrock",
    "bedrock_converse": "bedrock",
    "openai": "openai",
    "azure.ai.openai": "openai",
    "azure_openai": "openai",
    "gemini": "gemini",
    "google": "gemini",
    "gcp.gemini": "gemini",
    "google_genai": "gemini",
    # Vertex AI serves both Gemini and Claude; lookups route by model id (see `_routed_provider`).
    "vertex_ai": "vertex_ai",
    "vertex": "vertex_ai",
    "gcp.vertex_ai": "vertex_ai",
    "google_vertexai": "vertex_ai",
    "google_anthropic_vertex": "vertex_ai",
    "openrouter": "openrouter",
    "vllm": "vllm",
    "sglang": "sglang",
}


def normalize_provider(provider: str) -> str:
    """Canonical provider name for the spellings frameworks use (``aws.bedrock``, ``amazon_bedrock``...).

    >>> normalize_provider("amazon_bedrock")
    'bedrock'
    """
    key = provider.strip().lower()
    return _PROVIDER_ALIASES.get(key, key)


# A table key matches a model id when the id is the key itself, or the key followed by what providers append
# to name a snapshot of the same model: a date, "-latest", "-v1:0", "@20250929", ":0", "[1m]". Anything else
# ("claude-opus-4" vs "claude-opus-4-9") is a different model and must not inherit another model's rules.
_SNAPSHOT_SUFFIX = re.compile(r"(?:[-@](?:\d{8}|\d{4}-\d{2}-\d{2}|latest|v\d+)(?=$|[-:@.\[])|:|\[)")
# Bedrock cross-region inference profiles prefix the model id with a geography.
_BEDROCK_GEO = re.compile(r"^(?:us|eu|apac|ap|jp|au|ca|us-gov|global)\.")


# Bedrock takes cache points only on Claude (3.5 and later) and Nova models and rejects a request carrying one for
# any other model ("You invoked an unsupported model, or your request did not allow prompt caching"): an unknown
# Bedrock id gets markers only when it names one of those families (an opaque application inference profile ARN
# does not: `register_model` teaches it). A marker that fails every call is worse than no cache.
_BEDROCK_CACHING = re.compile(r"claude|nova", re.IGNORECASE)
_CLAUDE_3_BASE = re.compile(r"claude-3-(?:haiku|sonnet|opus)", re.IGNORECASE)
_NO_BEDROCK_CACHING = "Bedrock takes cache points only on Claude 3.5+ and Nova models; no markers for this one"


def _bedrock_caches(model: str) -> bool:
    """Whether an unknown Bedrock model id names a family that takes cache points."""
    return bool(_BEDROCK_CACHING.search(model)) and not _CLAUDE_3_BASE.search(model)


def _routed_provider(provider: str, model: str) -> str:
    """The provider whose rules apply: Vertex AI's Claude models cache like Anthropic's, its Gemini like Gemini."""
    if provider == "vertex_ai":
        return "anthropic" if model.strip().lower().startswith("claude") else "gemini"
    return provider


def _canonical_model(provider: str, model: str) -> str:
    model = model.strip().lower()
    if provider == "bedrock":
        model = _BEDROCK_GEO.sub("", model)
    if provider == "openrouter" and "/" in model:
        model = model.split("/", 1)[1]
    return model


def _matches(key: str, model: str) -> bool:
    if model == key:
        return True
    return model.startswith(key) and _SNAPSHOT_SUFFIX.match(model, len(key)) is not None


class ProviderTable:
    """A lookup table of `ModelInfo` by provider and model id, with longest-prefix matching.

    The built-in table is `DEFAULT_TABLE`; build your own from entries, or copy and extend one:

    >>> table = DEFAULT_TABLE.copy()
    >>> table.register(ModelInfo("anthropic", "claude-internal-1", min_cache_tokens=2048))
    >>> table.lookup("anthropic", "claude-internal-1-20261101").min_cache_tokens
    2048
    """

    def __init__(
        self,
        entries: Iterable[ModelInfo] = (),
        *,
        defaults: Mapping[str, ModelInfo] | None = None,
        as_of: date = AS_OF,
    ) -> None:
        self.as_of = as_of
        self._lock = threading.Lock()
        self._entries: dict[str, dict[str, ModelInfo]] = {}
        self._defaults: dict[str, ModelInfo] = dict(defaults or {})
        self._warned: set[tuple[str, str]] = set()
        for info in entries:
            self._put(info)

    def _put(self, info: ModelInfo) -> None:
        provider = normalize_provider(info.provider)
        key = _canonical_model(provider, info.model)
        self._entries.setdefault(provider, {})[key] = replace(info, provider=provider, model=key)

    def register(self, info: ModelInfo) -> None:
        """Add or replace the entry for ``info.provider`` / ``info.model`` (thread-safe)."""
        with self._lock:
            self._put(info)

    def copy(self) -> ProviderTable:
        """An independent table with the same entries and defaults."""
        with self._lock:
            entries = [info for models in self._entries.values() for info in models.values()]
            return ProviderTable(entries, defaults=self._defaults, as_of=self.as_of)

    def entries(self, provider: str | None = None) -> list[ModelInfo]:
        """Every entry (of ``provider`` if given), sorted by provider and model."""
        with self._lock:
            providers = [normalize_provider(provider)] if provider else sorted(self._entries)
            return [info for name in providers for _, info in sorted(self._entries.get(name, {}).items())]

    def find(self, provider: str, model: str) -> ModelInfo | None:
        """The entry for ``model`` (longest matching key), or ``None``; never warns."""
        provider = _routed_provider(normalize_provider(provider), model)
        canonical = _canonical_model(provider, model)
        with self._lock:
            models = self._entries.get(provider, {})
            best = models.get(canonical)  # the id itself: no other matching key is longer
            if best is not None:
                return best
            for key, info in models.items():
                if _matches(key, canonical) and (best is None or len(key) > len(best.model)):
                    best = info
            return best

    def lookup(self, provider: str, model: str) -> ModelInfo:
        """The entry for ``model``; for an unknown model, conservative defaults and one warning.

        The defaults assume the largest minimum any model of that provider has, no 1h TTL and unknown
        pricing, so cachepoint never promises a saving it cannot back up.
        """
        found = self.find(provider, model)
        if found is not None:
            return found
        provider = normalize_provider(provider)
        routed = _routed_provider(provider, model)
        base = self._defaults.get(routed) or self._defaults.get("*") or _FALLBACK
        if routed == "bedrock" and not _bedrock_caches(model):
            base = replace(base, max_breakpoints=0, explicit=False, automatic=False, note=_NO_BEDROCK_CACHING)
        key = (provider, model)
        with self._lock:
            first = key not in self._warned
            self._warned.add(key)
        if first:
            warnings.warn(
                f"model {model!r} of provider {provider!r} is not in cachepoint's provider table "
                f"(as of {self.as_of.isoformat()}): assuming min_cache_tokens={base.min_cache_tokens}, "
                f"max_breakpoints={base.max_breakpoints}, ttls={base.ttls} and unknown prices"
                f"{f' ({base.note})' if base.note == _NO_BEDROCK_CACHING else ''}; "
                "teach it with cachepoint.core.providers.register_model(...)",
                UnknownModelWarning,
                stacklevel=_caller_stacklevel(),
            )
        return replace(base, provider=provider, model=model, known=False)


def _caller_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside cachepoint (the user's call)."""
    # warnings.warn(skip_file_prefixes=...) would do this, but only from Python 3.12.
    frame = sys._getframe(2)  # the frame that called `lookup`
    level = 2
    while frame is not None and str(frame.f_globals.get("__name__", "")).startswith("cachepoint."):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


def _anthropic_pricing(base_in: float, base_out: float, read_multiplier: float = 0.1) -> Pricing:
    # Anthropic's published multipliers: 5m write 1.25x, 1h write 2x, read 0.1x (less on some 5.x models).
    return Pricing(
        input=base_in,
        output=base_out,
        cache_read=round(base_in * read_multiplier, 6),
        cache_write={"5m": round(base_in * 1.25, 6), "1h": round(base_in * 2.0, 6)},
    )


def _openai_pricing(base_in: float, cached: float, base_out: float, *, explicit: bool = False) -> Pricing:
    # Automatic caching has no write fee; GPT-5.6+ explicit breakpoints bill writes at 1.25x.
    writes = {"30m": round(base_in * 1.25, 6), "12h": round(base_in * 1.25, 6)} if explicit else {}
    return Pricing(input=base_in, output=base_out, cache_read=cached, cache_write=writes)


_CLAUDE_MODELS: list[tuple[str, int, Pricing | None, str]] = [
    # (Claude API model id prefix, minimum cacheable tokens, pricing, note)
    ("claude-fable-5-1", 512, _anthropic_pricing(10.0, 50.0, 0.025), ""),
    ("claude-mythos-5-1", 512, _anthropic_pricing(10.0, 50.0, 0.025), ""),
    ("claude-fable-5", 512, _anthropic_pricing(10.0, 50.0), ""),
    ("claude-mythos-5", 512, _anthropic_pricing(10.0, 50.0), ""),
    ("claude-mythos-preview", 2048, None, "price not published in a source we could verify"),
    ("claude-opus-5-5", 512, _anthropic_pricing(4.0, 20.0, 0.05), ""),
    ("claude-opus-5", 512, _anthropic_pricing(5.0, 25.0), ""),
    ("claude-opus-4-8", 1024, _anthropic_pricing(5.0, 25.0), ""),
    ("claude-opus-4-7", 2048, _anthropic_pricing(5.0, 25.0), ""),
    ("claude-opus-4-6", 4096, _anthropic_pricing(5.0, 25.0), ""),
    ("claude-opus-4-5", 4096, _anthropic_pricing(5.0, 25.0), ""),
    ("claude-opus-4-1", 1024, _anthropic_pricing(15.0, 75.0), ""),
    ("claude-opus-4-0", 1024, _anthropic_pricing(15.0, 75.0), ""),
    ("claude-opus-4", 1024, _anthropic_pricing(15.0, 75.0), ""),
    ("claude-sonnet-5-5", 512, _anthropic_pricing(2.0, 10.0, 0.05), ""),
    ("claude-sonnet-5", 1024, _anthropic_pricing(2.0, 10.0), "introductory price; check after 2026-08-31"),
    (
        "claude-sonnet-4-6",
        1024,
        _anthropic_pricing(3.0, 15.0),
        "earlier docs listed a 2048 minimum (anthropic-sdk-python#1194)",
    ),
    ("claude-sonnet-4-5", 1024, _anthropic_pricing(3.0, 15.0), ""),
    ("claude-sonnet-4-0", 1024, _anthropic_pricing(3.0, 15.0), ""),
    ("claude-sonnet-4", 1024, _anthropic_pricing(3.0, 15.0), ""),
    ("claude-3-7-sonnet", 1024, _anthropic_pricing(3.0, 15.0), ""),
    ("claude-3-5-sonnet", 1024, _anthropic_pricing(3.0, 15.0), ""),
    ("claude-3-opus", 1024, _anthropic_pricing(15.0, 75.0), ""),
    ("claude-haiku-5-5", 512, _anthropic_pricing(0.10, 0.50), "prompts up to 100k tokens"),
    ("claude-haiku-4-5", 4096, _anthropic_pricing(1.0, 5.0), ""),
    ("claude-3-5-haiku", 2048, _anthropic_pricing(0.80, 4.0), ""),
    ("claude-3-haiku", 2048, _anthropic_pricing(0.25, 1.25), ""),
]

# Bedrock publishes its own minimums per checkpoint; where they differ from the Claude API, Bedrock's win.
_BEDROCK_MIN_OVERRIDES = {
    "claude-mythos-preview": 4096,
    "claude-opus-4-7": 4096,
    "claude-sonnet-5-5": 512,
}
_BEDROCK_5M_ONLY = {"claude-3-7-sonnet", "claude-3-5-sonnet"}
# Claude models Bedrock does not serve with explicit prompt caching (per its prompt-caching page).
_NOT_ON_BEDROCK = {"claude-3-opus", "claude-3-haiku", "claude-3-5-haiku", "claude-opus-4-0", "claude-sonnet-4-0"}


def _claude_entries() -> list[ModelInfo]:
    entries: list[ModelInfo] = []
    for model, minimum, pricing, note in _CLAUDE_MODELS:
        entries.append(
            ModelInfo("anthropic", model, min_cache_tokens=minimum, ttls=("5m", "1h"), pricing=pricing, note=note)
        )
        if model in _NOT_ON_BEDROCK:
            continue
        ttls = ("5m",) if model in _BEDROCK_5M_ONLY else ("5m", "1h")
        bedrock_pricing = pricing
        if pricing is not None and ttls == ("5m",):
            bedrock_pricing = replace(pricing, cache_write={"5m": pricing.cache_write["5m"]})
        entries.append(
            ModelInfo(
                "bedrock",
                f"anthropic.{model}",
                min_cache_tokens=_BEDROCK_MIN_OVERRIDES.get(model, minimum),
                ttls=ttls,
                pricing=bedrock_pricing,
                note="Claude API list prices; regional endpoints may add 10%",
            )
        )
    return entries


def _openai_entries() -> list[ModelInfo]:
    automatic = {
        # model prefix: (input, cached input, output) USD per million tokens
        "gpt-5.5": (5.0, 0.50, 30.0),
        "gpt-5.4": (2.50, 0.25, 15.0),
        "gpt-5.4-mini": (0.75, 0.075, 4.50),
        "gpt-5.4-nano": (0.20, 0.02, 1.25),
        "gpt-5": (1.25, 0.125, 10.0),
        "gpt-5-mini": (0.25, 0.025, 2.0),
        "gpt-5-nano": (0.05, 0.005, 0.40),
        "gpt-4.1": (2.0, 0.50, 8.0),
        "gpt-4.1-mini": (0.40, 0.10, 1.60),
        "gpt-4o": (2.50, 1.25, 10.0),
        "gpt-4o-mini": (0.15, 0.075, 0.60),
    }
    entries = [
        ModelInfo(
            "openai",
            model,
            min_cache_tokens=1024,
            max_breakpoints=0,
            ttls=("in_memory", "24h"),
            lookback_blocks=None,
            explicit=False,
            automatic=True,
            increment=128,
            pricing=_openai_pricing(*prices),
        )
        for model, prices in automatic.items()
    ]
    explicit_note = (
        "explicit prompt_cache_breakpoint markers; writes 1.25x input, reads 0.1x (OpenAI's GPT-5.6 preview "
        "announcement, 2026); Chat Completions takes only the 30m TTL"
    )
    for model, prices in {
        "gpt-5.6-sol": (5.0, 0.50, 30.0),
        "gpt-5.6-terra": (2.50, 0.25, 15.0),
        "gpt-5.6-luna": (1.0, 0.10, 6.0),
        "gpt-5.6": None,
    }.items():
        entries.append(
            ModelInfo(
                "openai",
                model,
                min_cache_tokens=1024,
                max_breakpoints=4,
                ttls=("30m", "12h"),
                lookback_blocks=None,
                explicit=True,
                automatic=True,
                increment=None,
                pricing=_openai_pricing(*prices, explicit=True) if prices else None,
                note=explicit_note if prices else explicit_note + "; price of the bare 'gpt-5.6' alias not published",
            )
        )
    return entries


def _other_entries() -> list[ModelInfo]:
    nova = [
        ModelInfo(
            "bedrock",
            f"amazon.nova-{size}",
            min_cache_tokens=1024,
            ttls=("5m",),
            cacheable=("system", "messages"),
            note="tool definitions are not cacheable on Nova; prices not in the table",
        )
        for size in ("micro", "lite", "pro", "premier")
    ]
    gemini = [
        ModelInfo(
            "gemini",
            model,
            min_cache_tokens=minimum,
            max_breakpoints=0,
            ttls=("implicit",),
            lookback_blocks=None,
            explicit=False,
            automatic=True,
            note="implicit caching; explicit cachedContents are resources, not markers",
        )
        for model, minimum in (
            ("gemini-3.5-flash", 4096),
            ("gemini-3.1-pro-preview", 4096),
            ("gemini-2.5-flash", 2048),
            ("gemini-2.5-pro", 2048),
        )
    ]
    return nova + gemini


_FALLBACK = ModelInfo(
    "*",
    "*",
    min_cache_tokens=4096,
    max_breakpoints=4,
    ttls=("5m",),
    known=False,
    note="conservative defaults for a model the table does not know",
)

_DEFAULTS = {
    "anthropic": replace(_FALLBACK, provider="anthropic"),
    "bedrock": replace(_FALLBACK, provider="bedrock"),
    "openai": replace(
        _FALLBACK,
        provider="openai",
        min_cache_tokens=1024,
        max_breakpoints=0,
        ttls=("in_memory",),
        lookback_blocks=None,
        explicit=False,
        automatic=True,
        increment=128,
    ),
    "gemini": replace(
        _FALLBACK,
        provider="gemini",
        max_breakpoints=0,
        ttls=("implicit",),
        lookback_blocks=None,
        explicit=False,
        automatic=True,
    ),
    "*": _FALLBACK,
}

#: The built-in table. `register_model` changes it for the whole process; use `DEFAULT_TABLE.copy()` to keep
#: changes local.
DEFAULT_TABLE = ProviderTable(_claude_entries() + _openai_entries() + _other_entries(), defaults=_DEFAULTS)


def model_info(provider: str, model: str, *, table: ProviderTable | None = None) -> ModelInfo:
    """Caching rules and prices for ``model`` of ``provider`` (defaults plus one warning when unknown).

    >>> model_info("bedrock", "us.anthropic.claude-opus-4-5-20251101-v1:0").min_cache_tokens
    4096
    """
    return (table or DEFAULT_TABLE).lookup(provider, model)


def register_model(info: ModelInfo, *, table: ProviderTable | None = None) -> None:
    """Teach the table a model, or correct an entry, for the rest of the process.

    Without ``table`` this changes `DEFAULT_TABLE` for everyone in the process; pass a copy to keep it local:

    >>> mine = DEFAULT_TABLE.copy()
    >>> register_model(ModelInfo("openai", "my-finetune", min_cache_tokens=1024, max_breakpoints=0,
    ...                          explicit=False, automatic=True, increment=128, lookback_blocks=None), table=mine)
    >>> model_info("openai", "my-finetune", table=mine).known
    True
    """
    (table or DEFAULT_TABLE).register(info)
