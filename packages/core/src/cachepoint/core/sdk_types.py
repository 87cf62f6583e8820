"""The object types a cache entry may hold besides plain data: provider SDK models, and pydantic models you register.

The provider SDKs answer with pydantic objects — ``anthropic.types.Message`` and every stream event
(``RawMessageStartEvent``...), ``openai.types.chat.ChatCompletion`` and ``ChatCompletionChunk``, Responses API
objects and events. The codec (`cachepoint.core.codec`) stores such an object as its data plus a **type name**,
and rebuilds it on a hit, so a replay is typed exactly as the SDK returned it. A name in an entry is never
imported as found: it is resolved against a fixed allowlist, and anything else is refused (the entry is a
counted ``unknown_type`` miss).

**Provider SDK types** need no registration. A type is allowed when it is a model class of the SDK (a subclass of
``anthropic.BaseModel`` / ``openai.BaseModel``) exported by one of the public modules in `SDK_MODULES`; its name
is that module and the class name (``"anthropic.types.Message"``, ``"openai.types.chat.ChatCompletionChunk"``).
Nothing here imports an SDK until an SDK object is stored or such a name is read. An SDK object is stored as the
API's JSON (``model_dump(mode="json", by_alias=True, exclude_unset=True)``, what the SDK's ``to_dict`` gives)
and rebuilt the way the SDK builds a response from the API's JSON (its ``model_construct``): fields the SDK
version does not know, and union members it cannot name, come back as the SDK itself would have returned them.
The request id the SDK keeps on a response (``_request_id``) is not stored: a replay made no request.

**Your own pydantic models**: `register_model`. They are stored as their JSON form (``model_dump(mode="json")``)
and rebuilt by pydantic's JSON validation (``model_validate_json``), so dates, enums, sets... come back as they
went in, and a stored entry that no longer validates (you changed the model) is a counted miss; bump the cache
policy's ``version`` when you change a model. A ``bytes`` field is written as UTF-8 text by default; for binary
data give the model ``ser_json_bytes="base64"`` and ``val_json_bytes="base64"``.

>>> from pydantic import BaseModel
>>> class Answer(BaseModel):
...     text: str
...     sources: list[str] = []
>>> register_model(Answer, name="docs.Answer")  # doctest: +ELLIPSIS
<class '...Answer'>
>>> from cachepoint.core.codec import Codec
>>> codec = Codec()
>>> codec.decode(codec.encode({"answer": Answer(text="Paris")}))
{'answer': Answer(text='Paris', sources=[])}
"""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import orjson

__all__ = ["SDK_MODULES", "ModelType", "UnknownTypeError", "model_type", "register_model", "type_of"]

SDK_MODULES: Mapping[str, tuple[str, ...]] = {
    "anthropic": ("anthropic.types", "anthropic.types.beta", "anthropic.lib.streaming"),
    "openai": (
        "openai.types",
        "openai.types.chat",
        "openai.types.responses",
        "openai.lib.streaming.chat",
        "openai.lib.streaming.responses",
        # `responses.stream(...)` yields its own ResponseCompletedEvent, which its package does not re-export.
        "openai.lib.streaming.responses._events",
    ),
}
"""The modules whose exported model classes the codec stores and rebuilds without registration, by SDK (top-level
package): the SDKs' public type modules and their stream helpers' events. Messages, completions, chunks, Responses
objects and every stream event are exported there; a nested part that is not (an OpenAI ``Choice``) is stored
inside its parent, or by its ``model_dump`` yourself."""

_ALLOWED = frozenset(module for modules in SDK_MODULES.values() for module in modules)

M = TypeVar("M", bound=type)


class UnknownTypeError(ValueError):
    """A stored entry names a type that is neither an allowed SDK type nor registered: it is not rebuilt.

    >>> try:
    ...     model_type("os.system")
    ... except UnknownTypeError as exc:
    ...     print(exc)
    'os.system' is not a registered model type nor a provider SDK type on the allowlist
    """


@dataclass(frozen=True)
class ModelType:
    """How objects of one type are stored and rebuilt: ``name`` (what the entry records), ``dump`` (object to
    plain data) and ``load`` (plain data to object).

    >>> from pydantic import BaseModel
    >>> class Point(BaseModel):
    ...     x: int
    >>> kind = type_of(register_model(Point, name="docs.Point"))
    >>> kind.name, kind.load(kind.dump(Point(x=1)))
    ('docs.Point', Point(x=1))
    """

    name: str
    cls: type
    dump: Callable[[Any], Any]
    load: Callable[[Any], Any]


_lock = threading.Lock()
_by_name: dict[str, ModelType] = {}
_by_class: dict[type, ModelType | None] = {}


def register_model(cls: M, *, name: str | None = None) -> M:
    """Let the response cache store objects of ``cls``, a pydantic (v2) model class of yours, and rebuild them on
    a hit (as their JSON form, validated with ``cls.model_validate_json``). Returns ``cls``, so it works as a
    decorator too.

    ``name`` is what entries record to say which type they hold (default: ``"<module>.<qualname>"``): keep it
    stable, so that entries written before a refactor still read, and unique (registering another class under a
    taken name is a ``ValueError``; the same class defined again, by a re-run notebook cell or a reloaded module,
    takes its name over). Names under a provider SDK's package (``anthropic.``, ``openai.``) are
    reserved for the SDK types, which need no registration.

    >>> from pydantic import BaseModel
    >>> @register_model
    ... class Verdict(BaseModel):
    ...     label: str
    >>> type_of(Verdict).name.endswith("Verdict")
    True
    """
    if not isinstance(cls, type) or not callable(getattr(cls, "model_validate_json", None)):
        raise TypeError(f"register_model: expected a pydantic model class, got {cls!r}")
    if getattr(cls, "__pydantic_generic_metadata__", {}).get("parameters"):
        raise TypeError(f"register_model: {cls.__qualname__} is generic; register a parametrized subclass of it")
    if name is None:
        name = f"{cls.__module__}.{cls.__qualname__}"
    if not isinstance(name, str) or not name:
        raise ValueError(f"register_model: name: expected a non-empty str, got {name!r}")
    if name.partition(".")[0] in SDK_MODULES:
        raise ValueError(f"register_model: name {name!r} is reserved for the {name.partition('.')[0]} SDK's types")
    validate_json: Callable[[bytes], Any] = cast(Any, cls).model_validate_json

    def dump(obj: Any) -> Any:
        return obj.model_dump(mode="json")

    def load(data: Any) -> Any:
        # pydantic's own JSON round trip: whatever the model's config says about dates, bytes, enums...
        return validate_json(orjson.dumps(data))

    kind = ModelType(name, cls, dump, load)
    with _lock:
        taken = _by_name.get(name)
        # The same class defined again (a re-run notebook cell, a reloaded module) takes over its name.
        if taken is not None and _origin(taken.cls) != _origin(cls):
            raise ValueError(f"register_model: name {name!r} is already registered for {taken.cls.__qualname__}")
        if taken is not None:
            _by_class.pop(taken.cls, None)
        previous = _by_class.get(cls)
        if previous is not None and previous.name != name:
            del _by_name[previous.name]
        _by_name[name] = kind
        _by_class[cls] = kind
    return cls


def _origin(cls: type) -> tuple[str, str]:
    return cls.__module__, cls.__qualname__


def type_of(cls: type) -> ModelType | None:
    """How objects of ``cls`` are stored: its `ModelType` if it is registered or an allowed SDK type, else
    ``None`` (the codec then refuses such an object, naming its type).

    >>> type_of(dict) is None
    True
    """
    try:
        return _by_class[cls]
    except KeyError:
        pass
    kind = _sdk_type_of(cls)
    with _lock:
        return _by_class.setdefault(cls, kind)


def model_type(name: str) -> ModelType:
    """The `ModelType` recorded as ``name``: a registered one, or an allowed SDK type (its module imported from
    the allowlist, never from the name alone). `UnknownTypeError` for anything else.

    >>> model_type("builtins.dict")
    Traceback (most recent call last):
    ...
    cachepoint.core.sdk_types.UnknownTypeError: 'builtins.dict' is not a registered model type nor...
    """
    kind = _by_name.get(name)
    if kind is not None:
        return kind
    kind = _sdk_type_named(name)
    if kind is None:
        raise UnknownTypeError(f"{name!r} is not a registered model type nor a provider SDK type on the allowlist")
    with _lock:
        return _by_name.setdefault(name, kind)


def _sdk_base(package: str) -> type | None:
    module = sys.modules.get(package)
    base = getattr(module, "BaseModel", None)
    return base if isinstance(base, type) else None


def _sdk_model(cls: Any, package: str) -> bool:
    base = _sdk_base(package)
    return (
        isinstance(cls, type)
        and base is not None
        and issubclass(cls, base)
        and cls is not base
        and callable(getattr(cls, "model_construct", None))
    )


def _sdk_kind(name: str, cls: Any) -> ModelType:
    construct = cls.model_construct  # the SDK's own: builds nested models as it does for an API response

    def dump(obj: Any) -> Any:
        return obj.model_dump(mode="json", by_alias=True, exclude_unset=True, warnings=False)

    def load(data: Any) -> Any:
        if not isinstance(data, dict):
            raise TypeError(f"{name}: expected an object, got {type(data).__name__}")
        return construct(**data)

    return ModelType(name, cls, dump, load)


def _sdk_type_of(cls: type) -> ModelType | None:
    """The allowed SDK type ``cls`` is, found by the public module exporting it under its own name.

    A generic SDK class parametrized only by type variables (``ResponseTextDoneEvent[~TextFormatT]``, which the
    openai 2.x Responses stream helper yields) holds nothing its generic class does not: it is stored as that
    class, and rebuilt as it (equal to the original: pydantic compares generic classes by their origin)."""
    generic = getattr(cls, "__pydantic_generic_metadata__", None) or {}
    origin = generic.get("origin")
    if origin is not None:
        if not all(isinstance(arg, TypeVar) for arg in generic.get("args", ())):
            return None  # parametrized by real types (a parsed structured output): no name says which
        return type_of(origin)
    package = cls.__module__.partition(".")[0]
    modules = SDK_MODULES.get(package)
    if modules is None or not _sdk_model(cls, package):
        return None
    for module_name in modules:
        try:
            module = sys.modules.get(module_name) or importlib.import_module(module_name)
        except ImportError:
            continue
        if getattr(module, cls.__name__, None) is cls:
            return _sdk_kind(f"{module_name}.{cls.__name__}", cls)
    return None


def _sdk_type_named(name: str) -> ModelType | None:
    """The SDK type ``name`` ("<allowed module>.<class>") stands for, if it is one."""
    module_name, _, attr = name.rpartition(".")
    if module_name not in _ALLOWED or not attr.isidentifier() or attr.startswith("_"):
        return None
    try:
        module = importlib.import_module(module_name)  # a module of the fixed allowlist, never the entry's choice
    except ImportError:
        return None
    cls = getattr(module, attr, None)
    if not _sdk_model(cls, module_name.partition(".")[0]):
        return None
    return _sdk_kind(name, cls)
