"""`CachePolicy`: what a response cache stores, for whom, for how long; and which calls may be replayed at all."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from cachepoint.core.keys import check_namespace, key_prefix

__all__ = ["CachePolicy", "UnsetTemperature", "is_deterministic", "sampling_reason"]

UnsetTemperature = Literal["sampled", "deterministic"]
"""How to read an LLM request that leaves ``temperature`` unset: as sampled (the providers' default) or not."""

SAMPLED_TEMPERATURE = "sampled: temperature > 0"
SAMPLED_UNSET = "sampled: temperature unset"
SAMPLED_CANDIDATES = "sampled: several candidates"
_REASONS = (SAMPLED_TEMPERATURE, SAMPLED_UNSET, SAMPLED_CANDIDATES)

# Where providers put sampling settings besides the top level: Bedrock Converse ``inferenceConfig``, Gemini REST
# ``generationConfig``, google-genai ``config``, Ollama ``options``.
_NESTED_CONFIGS = ("inferenceConfig", "generationConfig", "generation_config", "config", "options")
_COUNT_PARAMS = ("n", "candidate_count", "candidateCount", "num_generations", "best_of")
_NESTED_COUNT_PARAMS = ("candidate_count", "candidateCount")  # Gemini's, inside its config
# The SDKs' request option ``extra_body`` is merged over the request's top level when it is sent (anthropic 1.0+
# takes sampling parameters only there), so what it sets wins.
_EXTRA_BODY = "extra_body"
_RARE_KEYS = frozenset(_NESTED_CONFIGS) | frozenset(_COUNT_PARAMS[1:]) | {_EXTRA_BODY}
# An LLM request: something to answer and a model to answer it. Only those have a temperature to leave unset.
_PROMPT_FIELDS = ("messages", "input", "prompt", "contents")
_MODEL_FIELDS = ("model", "modelId", "model_id", "model_name")
# Bedrock InvokeModel bodies name no model (it is in the URL) but say whose format they are: Anthropic's
# (``anthropic_version``) and Amazon Nova's (``schemaVersion``) sample at temperature 1.0 by default too.
_BODY_VERSION_FIELDS = ("anthropic_version", "schemaVersion")
# Embedding requests share that shape (OpenAI and Voyage: ``model`` + ``input``) but never sample.
_EMBEDDING_PARAMS = frozenset({"encoding_format", "dimensions", "input_type", "output_dimension", "embedding_types"})


def _nested(request: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [c for c in (request.get(name) for name in _NESTED_CONFIGS) if isinstance(c, Mapping)]


def _setting(sources: Iterable[Mapping[str, Any]], names: tuple[str, ...]) -> Any:
    for source in sources:
        for name in names:
            value = source.get(name)
            if value is not None:
                return value
    return None


def _is_llm_request(request: Mapping[str, Any]) -> bool:
    """A model plus something to answer (messages, input, prompt or contents), and not an embedding request."""
    model = next((request[name] for name in _MODEL_FIELDS if name in request), None)
    if model is None and not any(name in request for name in _BODY_VERSION_FIELDS):
        return False
    if not any(name in request for name in _PROMPT_FIELDS):
        return False
    if isinstance(model, str) and "embed" in model.lower():
        return False
    return _EMBEDDING_PARAMS.isdisjoint(request.keys())


def sampling_reason(request: Mapping[str, Any], *, unset_temperature: UnsetTemperature = "sampled") -> str | None:
    """Why ``request`` samples (a short, stable reason), or ``None`` when it asks for a repeatable answer.

    - ``"sampled: temperature > 0"``: the SDKs' ``extra_body`` (sent over the top level, so it wins; anthropic
      1.0+ takes ``temperature`` only there), top level, Bedrock ``inferenceConfig``, Gemini
      ``generationConfig``, google-genai ``config`` or Ollama ``options`` (the top level wins over those).
    - ``"sampled: temperature unset"``: an LLM request — a model (``model``/``modelId``/``model_id``/
      ``model_name``, or a Bedrock InvokeModel body's ``anthropic_version``/``schemaVersion``) and
      ``messages``/``input``/``prompt``/``contents`` — that does not set ``temperature``.
      Every major provider samples at temperature 1.0 then. Embedding requests (a model named ``*embed*``, or
      ``encoding_format``/``dimensions``/``input_type``...) never sample, and neither does anything that is not
      LLM-shaped (a plain function's arguments). ``unset_temperature="deterministic"`` reads unset as greedy.
    - ``"sampled: several candidates"``: ``n``/``candidate_count``/... > 1 without ``temperature=0``.

    >>> sampling_reason({"model": "m", "messages": [], "temperature": 0}) is None
    True
    >>> sampling_reason({"model": "m", "messages": []})
    'sampled: temperature unset'
    >>> sampling_reason({"model": "m", "messages": []}, unset_temperature="deterministic") is None
    True
    >>> sampling_reason({"modelId": "m", "messages": [], "inferenceConfig": {"temperature": 0.2}})
    'sampled: temperature > 0'
    >>> sampling_reason({"model": "text-embedding-3-small", "input": "hello"}) is None
    True
    >>> sampling_reason({"model": "claude-sonnet-5", "messages": [], "extra_body": {"temperature": 0}}) is None
    True
    """
    return _sampling_reason(request, unset_temperature)


def _sampling_reason(request: Mapping[str, Any], unset_temperature: str) -> str | None:
    """`sampling_reason` with positional arguments: the response cache calls it on every call. Internal."""
    temperature = request.get("temperature")
    # Hot path (every cached call): an explicit temperature of 0 is greedy whatever else is set (but extra_body).
    if temperature == 0 and (type(temperature) is int or type(temperature) is float) and "extra_body" not in request:
        return None
    if _RARE_KEYS.isdisjoint(request.keys()):
        count = request.get("n")
    else:
        extra = request.get(_EXTRA_BODY)
        top: tuple[Mapping[str, Any], ...] = (extra, request) if isinstance(extra, Mapping) else (request,)
        temperature = _setting(top, ("temperature",))
        nested = _nested(request)
        if temperature is None and nested:
            temperature = _setting(nested, ("temperature",))
        count = _setting(top, _COUNT_PARAMS)
        if count is None and nested:
            count = _setting(nested, _NESTED_COUNT_PARAMS)
    if isinstance(temperature, (int, float)) and not isinstance(temperature, bool):
        if temperature > 0:
            return SAMPLED_TEMPERATURE
        if temperature == 0:
            return None
    if temperature is None and unset_temperature == "sampled" and _is_llm_request(request):
        return SAMPLED_UNSET
    if isinstance(count, int) and not isinstance(count, bool) and count > 1:
        return SAMPLED_CANDIDATES
    return None


def is_deterministic(request: Mapping[str, Any], *, unset_temperature: UnsetTemperature = "sampled") -> bool:
    """Whether a request asks for a repeatable answer: `sampling_reason` finds no reason it samples.

    Not deterministic: ``temperature > 0`` (top level or in a provider's nested config), an LLM request that
    leaves temperature unset (providers sample at 1.0 then; pass ``unset_temperature="deterministic"`` to read
    unset as greedy), or several candidates (``n`` > 1) without ``temperature=0``.

    >>> is_deterministic({"model": "m", "messages": [], "temperature": 0})
    True
    >>> is_deterministic({"model": "m", "messages": [], "temperature": 0.7})
    False
    >>> is_deterministic({"model": "m", "messages": []})
    False
    >>> is_deterministic({"query": "paris", "k": 5})  # not an LLM request: nothing samples
    True
    """
    return sampling_reason(request, unset_temperature=unset_temperature) is None


def _tuple_of_str(name: str, values: Iterable[str] | str) -> tuple[str, ...]:
    if isinstance(values, str):
        values = (values,)
    out = tuple(values)
    for index, value in enumerate(out):
        if not isinstance(value, str) or not value:
            raise ValueError(f"CachePolicy.{name}[{index}]: expected a non-empty str, got {value!r}")
    return out


@dataclass(frozen=True)
class CachePolicy:
    """How a `ResponseCache` treats calls. Every field is validated; an error names the field.

    - ``namespace``: first segment of every key (letters, digits, ``._-/``); ``store.clear(namespace)`` drops it.
    - ``tenant``: default tenant for calls that do not pass one; entries of different tenants never mix.
      ``None`` means entries are shared by all callers of this cache.
    - ``require_tenant``: refuse calls without a tenant (``ValueError``) — for multi-tenant servers, so a
      forgotten ``tenant=`` can never put one customer's answer in the shared scope.
    - ``ttl``: seconds an entry lives (``None``: until evicted).
    - ``version``: part of every key; bump it to retire every older entry at once, without a scan.
    - ``tags``: recorded in every entry; ``ResponseCache.invalidate(tag=...)`` retires all entries with a tag.
    - ``cache_nondeterministic``: also cache sampled calls (``temperature > 0``, temperature unset, ``n > 1``).
      Off by default: replaying a sample is a product decision, not a cache default.
    - ``unset_temperature``: ``"sampled"`` (default) or ``"deterministic"``. An LLM request that does not set
      ``temperature`` is sampled at the provider's default (1.0 at Anthropic, OpenAI, Bedrock, Gemini), so it is
      not cached by default; say ``"deterministic"`` if your requests leave it unset and you want them replayed
      (e.g. a model you configured greedy on the server side, or reasoning models you are content to replay).
    - ``ignore_params``: more top-level request parameters that do not change the answer (left out of keys).
    - ``single_flight``: concurrent identical calls in this process share one upstream call.
    - ``lock_ttl``: with a distributed lock, the holder's lease in seconds. The holder renews it every third of
      it while its call runs, so it only bounds how long a holder that died blocks the others.
    - ``lock_wait``: how long other processes wait for the holder's result before calling upstream themselves;
      ``None`` (the default): as long as the holder holds the lock, however long its call takes.
    - ``max_entry_bytes``: do not store larger entries (counted as ``too_large``).

    >>> policy = CachePolicy("chat", tenant="acme", ttl=600, tags=["faq"])
    >>> policy.ttl, policy.tags
    (600, ('faq',))
    >>> CachePolicy("chat", ttl=-1)
    Traceback (most recent call last):
    ...
    ValueError: CachePolicy.ttl: expected a positive number of seconds or None, got -1
    """

    namespace: str
    tenant: str | None = None
    ttl: float | None = 3600.0
    cache_nondeterministic: bool = False
    version: int | str = 1
    tags: tuple[str, ...] = ()
    require_tenant: bool = False
    ignore_params: frozenset[str] = field(default_factory=frozenset)
    single_flight: bool = True
    lock_ttl: float = 15.0
    lock_wait: float | None = None
    max_entry_bytes: int | None = None
    unset_temperature: UnsetTemperature = "sampled"  # last: positional construction of older fields is unchanged

    def __post_init__(self) -> None:
        try:
            check_namespace(self.namespace)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"CachePolicy.{exc}") from None
        try:
            key_prefix(namespace=self.namespace, tenant=self.tenant, version=self.version)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"CachePolicy.{exc}") from None
        _positive("ttl", self.ttl, allow_none=True)
        _positive("lock_ttl", self.lock_ttl)
        _positive("lock_wait", self.lock_wait, allow_none=True)
        if self.max_entry_bytes is not None and (
            not isinstance(self.max_entry_bytes, int) or isinstance(self.max_entry_bytes, bool)
        ):
            raise TypeError(f"CachePolicy.max_entry_bytes: expected int or None, got {self.max_entry_bytes!r}")
        if self.max_entry_bytes is not None and self.max_entry_bytes <= 0:
            raise ValueError(f"CachePolicy.max_entry_bytes: expected a positive int, got {self.max_entry_bytes}")
        for name in ("cache_nondeterministic", "require_tenant", "single_flight"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"CachePolicy.{name}: expected bool, got {getattr(self, name)!r}")
        if self.unset_temperature not in ("sampled", "deterministic"):
            raise ValueError(
                f"CachePolicy.unset_temperature: expected 'sampled' or 'deterministic', got {self.unset_temperature!r}"
            )
        object.__setattr__(self, "tags", _tuple_of_str("tags", self.tags))
        object.__setattr__(self, "ignore_params", frozenset(_tuple_of_str("ignore_params", self.ignore_params)))

    def bypass_reason(self, request: Mapping[str, Any]) -> str | None:
        """Why this policy would not cache ``request`` (see `sampling_reason`), or ``None`` if it caches it.

        >>> policy = CachePolicy("chat")
        >>> policy.bypass_reason({"model": "m", "messages": [], "temperature": 0.7})
        'sampled: temperature > 0'
        >>> CachePolicy("chat", cache_nondeterministic=True).bypass_reason({"model": "m", "messages": []}) is None
        True
        """
        if self.cache_nondeterministic:
            return None
        return sampling_reason(request, unset_temperature=self.unset_temperature)


def _positive(name: str, value: Any, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    if not ok:
        expected = "a positive number of seconds" + (" or None" if allow_none else "")
        raise ValueError(f"CachePolicy.{name}: expected {expected}, got {value!r}")
