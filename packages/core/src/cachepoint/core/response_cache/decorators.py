"""`cached` for functions and `CachedModel` for duck-typed model objects: the response cache without plumbing.

Both decide per call, from the call's own arguments: the key (the arguments' canonical JSON, see
`cachepoint.core.keys`), whether it is cacheable (by `CachePolicy.bypass_reason
<cachepoint.core.response_cache.CachePolicy.bypass_reason>`: a ``temperature > 0`` argument is not, nor are
LLM-shaped arguments — a model and messages — without a temperature; plain arguments are), and which face of the
cache serves it — async function, sync function, async generator (a stream) or sync
generator (a stream). Arguments that cannot be keyed raise a `FingerprintError
<cachepoint.core.keys.FingerprintError>` naming the argument before anything is called.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, TypeVar, cast

from cachepoint.core.keys import FingerprintError, canonical_json, configuration_fields, fingerprint
from cachepoint.core.response_cache.cache import UNSET, Dump, Load, Plan, ResponseCache
from cachepoint.core.response_cache.entry import KIND_STREAM, KIND_VALUE
from cachepoint.core.response_cache.stream import CachedStream

__all__ = ["CachedModel", "cached"]

F = TypeVar("F", bound=Callable[..., Any])
M = TypeVar("M")

_ASYNC, _SYNC, _ASYNC_GEN, _SYNC_GEN = "async", "sync", "async-gen", "sync-gen"
_DEFAULT_METHODS = ("invoke", "ainvoke", "generate", "agenerate", "stream", "astream")


def _flavor(fn: Callable[..., Any]) -> str:
    if inspect.isasyncgenfunction(fn):
        return _ASYNC_GEN
    if inspect.iscoroutinefunction(fn):
        return _ASYNC
    if inspect.isgeneratorfunction(fn):
        return _SYNC_GEN
    return _SYNC


class _Keyer:
    """Turns one call's arguments into a `Plan`, or the reason the policy does not cache the call."""

    def __init__(
        self,
        cache: ResponseCache,
        fn: Callable[..., Any],
        name: str,
        *,
        ignore: Iterable[str],
        tags: Iterable[str],
        ttl: Any,
        tenant: Any,
        dump: Dump | None,
        load: Load | None,
        as_request: Callable[[dict[str, Any]], Mapping[str, Any]] | None = None,
    ) -> None:
        self.cache = cache
        self.name = name
        self.signature = inspect.signature(fn)
        self.ignore = frozenset((ignore,) if isinstance(ignore, str) else ignore)
        params = self.signature.parameters
        takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        unknown = sorted(n for n in self.ignore if n not in params and not takes_kwargs)
        if unknown:
            raise ValueError(f"ignore: {name}() has no parameter {', '.join(map(repr, unknown))}")
        self.tags = tuple((tags,) if isinstance(tags, str) else tags)
        self.ttl = ttl
        self.tenant = tenant
        self.dump = dump
        self.load = load
        self.as_request = as_request

    def arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{self.name}(): {exc}") from None
        bound.apply_defaults()
        out: dict[str, Any] = {}
        for pname, value in bound.arguments.items():
            if pname in self.ignore:
                continue
            if self.signature.parameters[pname].kind is inspect.Parameter.VAR_KEYWORD:
                out.update((k, v) for k, v in value.items() if k not in self.ignore)
            else:
                out[pname] = value
        return out

    def plan(self, args: tuple[Any, ...], kwargs: dict[str, Any], kind: str) -> Plan | str:
        cache = self.cache
        arguments = self.arguments(args, kwargs)
        tenant = self.tenant() if callable(self.tenant) else self.tenant
        if self.as_request is not None:
            request = self.as_request(arguments)
            # The model's settings and the call's arguments together are the LLM request; an argument the call
            # actually passes (not None) overrides the model's setting (``invoke(..., temperature=0.7)``).
            config = request["$model"]["config"]
            settings = dict(config) if isinstance(config, Mapping) else {}
            settings.update((k, v) for k, v in arguments.items() if v is not None)
            reason = cache._bypass_reason(settings)
            if reason is not None:
                return reason
            try:
                digest = fingerprint(request, ignore=cache.policy.ignore_params)
            except FingerprintError as exc:
                raise FingerprintError(
                    f"{self.name}(): {exc.path.replace('request', 'arguments', 1)}",
                    f"{exc.problem}; pass ignore=(...) to leave an argument out of the key",
                ) from None
        else:
            reason = cache._bypass_reason(arguments)
            if reason is not None:
                return reason
            try:
                text = canonical_json(arguments, path="arguments")
            except FingerprintError as exc:
                raise FingerprintError(
                    f"{self.name}(): {exc.path}",
                    f"{exc.problem}; pass ignore=(...) to leave an argument out of the key",
                ) from None
            # JSON text never holds a raw NUL, so header and arguments cannot run into each other; the header is an
            # array, so no function key can equal a request key (whose canonical JSON is an object).
            digest = hashlib.sha256(canonical_json(["call", kind, self.name]) + b"\0" + text).hexdigest()
        key = cache.scoped_key(digest, tenant=tenant)
        return cache._make_plan(key, kind, tags=self.tags, ttl=self.ttl, dump=self.dump, load=self.load)


def _default_name(fn: Callable[..., Any]) -> str:
    """``module.qualname`` of ``fn``, where that names what it computes; else a `TypeError` saying what to pass.

    A function defined inside another one is rebuilt on each call of its parent under the same qualified name;
    when it closes over the parent's variables, two of them compute different things that no argument shows, and
    keyed by name alone one would replay the other's answers. One that closes over nothing is the same function
    each time, so its name serves. Every lambda is called ``<lambda>``, and some callables have no name at all.
    """
    qualname = getattr(fn, "__qualname__", None)
    module = getattr(fn, "__module__", None)
    if not isinstance(qualname, str) or not isinstance(module, str):
        raise TypeError(
            f"cached: {fn!r} has no module and qualified name to key its entries by; pass name='...', a name "
            "unique to what it computes"
        )
    label = f"{module}.{qualname}"
    if "<lambda>" in qualname:
        raise TypeError(
            f"cached: {label} is a lambda, and every lambda has that name, so two of them would share entries and "
            "replay each other's answers; pass name='...', a name unique to what it computes"
        )
    free = getattr(getattr(fn, "__code__", None), "co_freevars", ())
    if "<locals>" in qualname and free:
        names = ", ".join(free)
        parent, short = qualname.rsplit(".<locals>.", 1)
        raise TypeError(
            f"cached: {label} closes over {names} from {parent}(): every call of {parent}() makes another {short} "
            f"under this one name, and keyed by it they would replay each other's answers; pass name='...' unique "
            f'to what this one computes (e.g. name=f"{short}-{{{free[0]}}}"), or take {names} as '
            + ("a parameter" if len(free) == 1 else "parameters")
        )
    return label


def _wrap(keyer: _Keyer, fn: Callable[..., Any]) -> Callable[..., Any]:
    cache = keyer.cache
    flavor = _flavor(fn)

    if flavor == _ASYNC:

        async def call_async(*args: Any, **kwargs: Any) -> Any:
            plan = keyer.plan(args, kwargs, KIND_VALUE)
            if isinstance(plan, str):
                return (await cache._bypass(lambda: fn(*args, **kwargs), plan)).value
            return (await cache._get_or_call(plan, lambda: fn(*args, **kwargs))).value

        wrapper: Callable[..., Any] = call_async
    elif flavor == _ASYNC_GEN:

        def call_stream(*args: Any, **kwargs: Any) -> CachedStream[Any]:
            plan = keyer.plan(args, kwargs, KIND_STREAM)
            if isinstance(plan, str):
                return CachedStream(cache, None, lambda: fn(*args, **kwargs), reason=plan)
            return CachedStream(cache, plan, lambda: fn(*args, **kwargs))

        wrapper = call_stream
    elif flavor == _SYNC_GEN:

        def call_sync_stream(*args: Any, **kwargs: Any) -> Any:
            plan = keyer.plan(args, kwargs, KIND_STREAM)
            return cache.sync._stream_plan(plan, lambda: fn(*args, **kwargs))

        wrapper = call_sync_stream
    else:

        def call_sync(*args: Any, **kwargs: Any) -> Any:
            plan = keyer.plan(args, kwargs, KIND_VALUE)
            if isinstance(plan, str):
                return cache.sync._bypass(lambda: fn(*args, **kwargs), plan)
            return cache.sync._get_or_call_plan(plan, lambda: fn(*args, **kwargs)).value

        wrapper = call_sync

    functools.update_wrapper(wrapper, fn)

    def cache_key(*args: Any, **kwargs: Any) -> str | None:
        """The store key this call would use (``None`` if it is not cacheable)."""
        kind = KIND_STREAM if flavor in (_ASYNC_GEN, _SYNC_GEN) else KIND_VALUE
        plan = keyer.plan(args, kwargs, kind)
        return None if isinstance(plan, str) else plan.key

    wrapper.cache = cache  # type: ignore[attr-defined]
    wrapper.cache_key = cache_key  # type: ignore[attr-defined]
    return wrapper


def cached(
    cache: ResponseCache,
    *,
    name: str | None = None,
    ignore: Iterable[str] = (),
    tags: Iterable[str] = (),
    ttl: Any = UNSET,
    tenant: Any = UNSET,
    dump: Dump | None = None,
    load: Load | None = None,
) -> Callable[[F], F]:
    """Decorate a function so its results are cached in ``cache``, keyed by its arguments.

    Works on ``async def`` (single-flight across tasks, threads and loops), plain ``def`` (through
    ``cache.sync``), async generators and generators (their streams are recorded and replayed; a decorated
    async generator function returns a `CachedStream`). The decorated function returns plain values; a hit is
    visible in ``cache.stats()``.

    - ``name``: part of the key (default ``module.qualname``); set it to keep entries across a rename. A lambda,
      a callable without a qualified name, or a function defined inside another function that closes over its
      variables (``make(n)`` returning a cached ``add(x)`` that adds ``n``) needs one, unique to what it computes
      (``name=f"add-{n}"``): keyed by the same name, they would replay each other's answers, so `cached` raises a
      `TypeError` saying so. A nested function that closes over nothing is the same on every call: its name serves.
    - ``ignore``: parameters left out of the key (clients, loggers, ``self``). Unkeyable arguments raise a
      `FingerprintError <cachepoint.core.keys.FingerprintError>` naming the argument and suggesting this.
    - ``tenant``: a tenant, or a zero-argument callable returning one per call (e.g. from a contextvar).
    - ``tags``, ``ttl``, ``dump``, ``load``: as in `ResponseCache.get_or_call`.

    The wrapper has ``.cache`` and ``.cache_key(*args, **kwargs)``.

    >>> from cachepoint.core.stores import MemoryStore
    >>> from cachepoint.core.response_cache import CachePolicy
    >>> cache = ResponseCache(MemoryStore(max_entries=100), CachePolicy("fn"))
    >>> calls = []
    >>> @cached(cache)
    ... def square(x: int) -> int:
    ...     calls.append(x)
    ...     return x * x
    >>> square(4), square(4), calls
    (16, 16, [4])
    """
    if not isinstance(cache, ResponseCache):
        raise TypeError(f"cached: expected a ResponseCache, got {type(cache).__name__} (did you write @cached?)")

    def decorate(fn: F) -> F:
        label = name or _default_name(fn)
        keyer = _Keyer(cache, fn, label, ignore=ignore, tags=tags, ttl=ttl, tenant=tenant, dump=dump, load=load)
        return cast(F, _wrap(keyer, fn))

    return decorate


def _identity_of(model: Any, identity: Mapping[str, Any] | Callable[[Any], Mapping[str, Any]] | None) -> Any:
    kind = f"{type(model).__module__}.{type(model).__qualname__}"
    if identity is not None:
        return {"type": kind, "config": identity(model) if callable(identity) else identity}
    params = getattr(model, "_identifying_params", None)  # LangChain models describe themselves this way
    if isinstance(params, Mapping):
        # ...but partly: many leave settings out (ChatBedrockConverse names none at all: not its model id, nor its
        # system prompt), so the settings LangChain's own cache keys a chat model by are added to them; for a model
        # LangChain cannot serialize (ChatAnthropicVertex: no stop sequences, no thinking budget) its own fields.
        settings = _langchain_settings(model)
        if not settings and callable(getattr(model, "model_dump", None)):
            settings = {"$fields": configuration_fields(model)}
        return {"type": kind, "config": {**params, **settings}}
    dump = getattr(model, "model_dump", None)
    if callable(dump):
        try:
            return {"type": kind, "config": dump(mode="json")}
        except Exception as exc:
            raise TypeError(f"CachedModel: {kind}.model_dump() failed ({exc}); pass identity=...") from exc
    raise TypeError(
        f"CachedModel: cannot tell what configures a {kind} (no _identifying_params, no model_dump): pass "
        "identity={...} or identity=lambda model: {...} with everything that changes its answers"
    )


def _langchain_settings(model: Any) -> dict[str, Any]:
    """The settings of a serializable LangChain chat model as its LLM cache keys them (``_get_llm_string``: the
    model's serialized constructor arguments, as JSON, secrets named not given); ``{}`` for any other model."""
    llm_string = getattr(model, "_get_llm_string", None)
    text = llm_string() if callable(llm_string) else None
    if not isinstance(text, str) or not text.startswith("{"):
        return {}
    try:
        serialized, _ = json.JSONDecoder().raw_decode(text)
    except ValueError:
        return {}
    kwargs = serialized.get("kwargs") if isinstance(serialized, dict) else None
    return dict(kwargs) if isinstance(kwargs, dict) else {}


class CachedModel(Generic[M]):
    """A duck-typed model object whose chosen methods are served through a `ResponseCache`.

    ``methods`` names the methods to cache (default: whichever of ``invoke``, ``ainvoke``, ``generate``,
    ``agenerate``, ``stream``, ``astream`` the object has); each may be sync, async, a generator or an async
    generator. Every other attribute is the model's own.
    The key is made of the model's *identity* — ``identity`` (a mapping, or a function of the model), else
    LangChain's ``_identifying_params`` with the settings LangChain's LLM cache keys the model by (for a model
    LangChain cannot serialize, its fields: `configuration_fields <cachepoint.core.keys.configuration_fields>`), else
    pydantic's ``model_dump`` — taken at each call, so changing the
    model's settings changes the key, plus the call's arguments as an LLM request: an argument named
    ``messages`` or ``input`` loses message ids and provider cache markers, and arguments that never change
    the answer (``config``, ``callbacks``, ``stream``, ``timeout``...) are left out. Results must be what the codec
    carries (plain data, provider SDK objects, registered pydantic models), or pass ``dump``/``load`` (for
    LangChain messages: ``langchain_core.load.dumpd`` / ``load``).

    Whether a call is cached is judged on the identity's settings with the call's arguments on top: a model that
    samples (``temperature > 0``) is not cached, and neither is a model with a ``model`` setting called with
    ``messages``/``input`` and no temperature anywhere (providers sample at 1.0 then) unless the policy says
    ``unset_temperature="deterministic"``.

    >>> from cachepoint.core.stores import MemoryStore
    >>> from cachepoint.core.response_cache import CachePolicy
    >>> class Echo:
    ...     model = "echo-1"
    ...     def invoke(self, input, config=None):
    ...         return {"content": input[-1]["content"]}
    >>> cache = ResponseCache(MemoryStore(max_entries=100), CachePolicy("llm"))
    >>> llm = CachedModel(Echo(), cache, methods=["invoke"], identity={"model": "echo-1", "temperature": 0})
    >>> llm.invoke([{"role": "user", "content": "hi", "id": "run-1"}])
    {'content': 'hi'}
    >>> llm.invoke([{"role": "user", "content": "hi", "id": "run-2"}], config={"callbacks": []})
    {'content': 'hi'}
    >>> cache.stats().hits
    1
    """

    def __init__(
        self,
        model: M,
        cache: ResponseCache,
        *,
        methods: Iterable[str] | None = None,
        identity: Mapping[str, Any] | Callable[[Any], Mapping[str, Any]] | None = None,
        ignore: Iterable[str] = (),
        tags: Iterable[str] = (),
        ttl: Any = UNSET,
        tenant: Any = UNSET,
        dump: Dump | None = None,
        load: Load | None = None,
    ) -> None:
        if not isinstance(cache, ResponseCache):
            raise TypeError(f"cache: expected a ResponseCache, got {type(cache).__name__}")
        if methods is None:
            names = tuple(m for m in _DEFAULT_METHODS if callable(getattr(model, m, None)))
            if not names:
                usual = ", ".join(_DEFAULT_METHODS)
                raise ValueError(f"methods: {type(model).__name__} has none of {usual}; name the methods to cache")
        else:
            names = (methods,) if isinstance(methods, str) else tuple(methods)
        if not names:
            raise ValueError("methods: name at least one method to cache")
        _identity_of(model, identity)  # fail now, not at the first call
        wrapped: dict[str, Callable[..., Any]] = {}
        for method_name in names:
            method = getattr(model, method_name, None)
            if not callable(method):
                raise AttributeError(f"methods: {type(model).__name__} has no method {method_name!r}")

            def as_request(arguments: dict[str, Any], method_name: str = method_name) -> Mapping[str, Any]:
                return {**arguments, "$model": _identity_of(model, identity), "$method": method_name}

            keyer = _Keyer(
                cache,
                method,
                f"{type(model).__qualname__}.{method_name}",
                ignore=ignore,
                tags=tags,
                ttl=ttl,
                tenant=tenant,
                dump=dump,
                load=load,
                as_request=as_request,
            )
            wrapped[method_name] = _wrap(keyer, method)
        self._model = model
        self._wrapped = wrapped
        self.cache = cache

    @property
    def model(self) -> M:
        """The wrapped model object.

        >>> from cachepoint.core.stores import MemoryStore
        >>> from cachepoint.core.response_cache import CachePolicy, ResponseCache
        >>> class M:
        ...     def invoke(self, x):
        ...         return x
        >>> m = M()
        >>> CachedModel(m, ResponseCache(MemoryStore(max_entries=1), CachePolicy("m")), identity={}).model is m
        True
        """
        return self._model

    def __getattr__(self, name: str) -> Any:
        wrapped = self.__dict__.get("_wrapped", {})
        if name in wrapped:
            return wrapped[name]
        return getattr(self.__dict__["_model"], name)

    def __repr__(self) -> str:
        return f"CachedModel({self._model!r}, methods={sorted(self._wrapped)})"
