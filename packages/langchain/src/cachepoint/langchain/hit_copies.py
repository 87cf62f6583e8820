"""Fresh copies of a cached answer, one per hit: `copier` builds, once per stored object, a function that returns
a deep copy of it.

A cache hit hands LangChain objects it and the caller go on to change: LangChain replaces a hit's message and
writes into ``usage_metadata``, callers write ``response_metadata`` and ids, agents append to content lists. If
two hits shared any dict or list, a change made to one answer would show in every later hit (LangChain's own
``InMemoryCache`` has that flaw). So every hit gets its own deep copy of what was stored.

Why not ``model_copy(deep=True)`` on every hit: it runs ``copy.deepcopy`` over every value (memo dict, dispatch
per object, strings included), several times the cost of the rest of a memory hit. A stored answer is parsed once
and never handed out, so its shape is known and fixed: `copier` looks at it once and builds a copy function for
exactly that shape. Immutable leaves (strings, numbers, ``None``) are shared, a dict or list of leaves is one C
``copy()``, and only the containers holding containers recurse.

Pydantic models are copied the way pydantic's own ``__copy__`` and ``__setstate__`` do it: a new instance through
``cls.__new__`` whose four state parts (``__dict__``, ``__pydantic_fields_set__``, ``__pydantic_extra__``,
``__pydantic_private__``) are set with ``object.__setattr__`` (no validation runs, as with ``model_copy``). Setting
them directly rather than calling ``__setstate__`` with a state dict saves about a third of a model's copy. Those
names are pydantic's pickle state: they are checked against the model's ``__getstate__()`` when the copier is
built, and a pydantic whose state has other parts gets ``model_copy(deep=True)`` instead: slower, never wrong.

>>> from langchain_core.messages import AIMessage
>>> stored = AIMessage([{"type": "text", "text": "Paris."}], response_metadata={"usage": {"input_tokens": 3}})
>>> fresh = copier(stored)
>>> one, two = fresh(), fresh()
>>> one == two == stored
True
>>> one.content.append("mine")
>>> one.response_metadata["usage"]["input_tokens"] = 0
>>> two == stored and fresh() == stored
True
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from pydantic import BaseModel

__all__ = ["copier"]

T = TypeVar("T")

#: What `copier` shares between copies: values that cannot be changed in place.
_ATOMS = frozenset({str, int, float, bool, type(None), bytes})
_ATOM_BASES = (str, int, float, bytes)
#: The parts of a pydantic model's state (`BaseModel.__getstate__`) that `copier` copies.
_STATE_ORDER = ("__dict__", "__pydantic_fields_set__", "__pydantic_extra__", "__pydantic_private__")
_MODEL_STATE = frozenset(_STATE_ORDER)

Make = Callable[[], Any]


def copier(template: T) -> Callable[[], T]:
    """A function returning a new deep copy of ``template`` on each call. ``template`` must not change afterwards:
    the function is built for its shape (and shares its immutable leaves).

    >>> fresh = copier({"a": [1, 2], "b": "text"})
    >>> first = fresh()
    >>> first["a"].append(3)
    >>> fresh()
    {'a': [1, 2], 'b': 'text'}
    """
    make = _make(template)
    return (lambda: template) if make is None else make


def _make(value: Any) -> Make | None:
    """A function making a deep copy of ``value``, or ``None`` when ``value`` is immutable (shared as it is)."""
    kind = type(value)
    if _immutable(value) or (kind is tuple and all(_immutable(item) for item in value)):
        return None
    if kind is dict:
        return _dict_maker(value)
    if kind is list:
        return _list_maker(value)
    if kind is set and all(_immutable(item) for item in value):
        return value.copy  # type: ignore[no-any-return]
    if isinstance(value, BaseModel):
        return _model_maker(value)
    return partial(copy.deepcopy, value)  # anything else (not seen in LangChain's answers): the general way


def _immutable(value: Any) -> bool:
    """Whether ``value`` cannot be changed in place: a string, number, bytes or ``None``, or a subclass of one
    whose instances hold no other state (no ``__dict__``), like LangChain's ``TextAccessor`` (a ``str`` with
    ``__slots__ = ()``, the ``text`` of every generation)."""
    return type(value) in _ATOMS or (isinstance(value, _ATOM_BASES) and not hasattr(value, "__dict__"))


def _dict_maker(value: dict[Any, Any]) -> Make:
    inner = [(key, make) for key, item in value.items() if (make := _make(item)) is not None]
    if not inner:
        return value.copy  # only leaves: one C copy
    parts = tuple(inner)

    def make_dict() -> dict[Any, Any]:
        out = value.copy()
        for key, make in parts:
            out[key] = make()
        return out

    return make_dict


def _list_maker(value: list[Any]) -> Make:
    inner = [(index, make) for index, item in enumerate(value) if (make := _make(item)) is not None]
    if not inner:
        return value.copy
    parts = tuple(inner)

    def make_list() -> list[Any]:
        out = value.copy()
        for index, make in parts:
            out[index] = make()
        return out

    return make_list


def _model_maker(model: BaseModel) -> Make:
    state = model.__getstate__()
    if set(state) != _MODEL_STATE or state["__dict__"] is not model.__dict__:
        return partial(model.model_copy, deep=True)  # a pydantic whose state is not what this copies
    cls = type(model)
    setters = [setter for name in _STATE_ORDER if (setter := _setter(cls, name)) is not None]
    if len(setters) != len(_STATE_ORDER):
        return partial(model.model_copy, deep=True)  # state not held in data descriptors: the general way
    set_dict, set_fields_set, set_extra, set_private = setters
    new = cls.__new__
    fields = model.__dict__
    # The fields holding containers, copied into the copy of the fields dict here rather than by a `_dict_maker`
    # of their own: one call less per model on every hit.
    inner = tuple((key, make) for key, item in fields.items() if (make := _make(item)) is not None)
    fields_set = model.__pydantic_fields_set__
    extra, extra_make = model.__pydantic_extra__, _make(model.__pydantic_extra__)
    private, private_make = state["__pydantic_private__"], _make(state["__pydantic_private__"])

    def make_model() -> Any:
        # What `BaseModel.__setstate__` (and `__copy__`) does, without building its state dict on every hit, and
        # through the state's own descriptors rather than `object.__setattr__` (which looks each of them up).
        out = new(cls)
        copied = fields.copy()
        for key, make in inner:
            copied[key] = make()
        set_dict(out, copied)
        set_fields_set(out, fields_set.copy())
        set_extra(out, extra if extra_make is None else extra_make())
        set_private(out, private if private_make is None else private_make())
        return out

    return make_model


def _setter(cls: type, name: str) -> Callable[[Any, Any], None] | None:
    """The ``__set__`` of the data descriptor ``object.__setattr__`` would use for ``name`` on instances of
    ``cls`` (the first class in its MRO defining ``name``): ``__dict__``'s getset and the slots of pydantic's
    state. ``None`` when that is not a data descriptor."""
    for klass in cls.__mro__:
        if name in vars(klass):
            setter = getattr(vars(klass)[name], "__set__", None)
            return setter if callable(setter) else None
    return None
