"""Turning SDK objects into plain data, and reading token counts out of it with exact field paths.

Normalizers accept provider SDK objects (anthropic / openai pydantic models, LangChain messages, CrewAI
metrics) as well as plain dicts, without importing any SDK: an object is read through ``model_dump()`` (pydantic
v2), ``dict()`` (pydantic v1) or `dataclasses.asdict`, which is all those objects have in common.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from cachepoint.core.usage.errors import UsageFormatError

__all__ = ["Fields", "join", "one_of", "to_data", "token_count"]


def to_data(obj: Any, path: str = "") -> Any:
    """``obj`` as plain dicts, lists and scalars; JSON text or bytes (an InvokeModel body) are parsed.

    >>> to_data(b'{"usage": {"input_tokens": 3}}')
    {'usage': {'input_tokens': 3}}
    """
    if isinstance(obj, (bytes, bytearray, memoryview)):
        try:
            return orjson.loads(bytes(obj))
        except orjson.JSONDecodeError as exc:
            raise UsageFormatError(path, f"bytes that are not JSON ({exc})") from None
    if isinstance(obj, str):
        try:
            return orjson.loads(obj)
        except orjson.JSONDecodeError as exc:
            raise UsageFormatError(path, f"a string that is not JSON ({exc})") from None
    return _plain(obj, path)


def _plain(obj: Any, path: str) -> Any:  # noqa: PLR0911 (one return per kind of object)
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, Mapping):
        return {str(k): _plain(v, join(path, str(k))) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v, f"{path}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, (bytes, bytearray)):
        return bytes(obj)
    dump = getattr(obj, "model_dump", None)
    if callable(dump):  # pydantic v2: anthropic, openai, google-genai, LangChain, CrewAI objects
        return _plain(dump(), path)
    if callable(getattr(obj, "dict", None)) and hasattr(obj, "__fields__"):  # pydantic v1
        return _plain(obj.dict(), path)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _plain(dataclasses.asdict(obj), path)
    if callable(getattr(obj, "read", None)):
        raise UsageFormatError(
            path,
            "a stream (e.g. botocore's StreamingBody of an InvokeModel response); read it first: "
            "normalize_usage(response['body'].read(), provider='bedrock')",
        )
    if callable(getattr(obj, "__iter__", None)):
        raise UsageFormatError(
            path,
            f"a stream of events ({type(obj).__name__}); pass its events to normalize_stream(...) or feed them "
            "to a StreamUsage",
        )
    raise UsageFormatError(path, f"expected a dict or an SDK response object, got {type(obj).__name__}")


class Fields:
    """A mapping read at a known path, so every error names the exact field.

    >>> Fields({"usage": {"input_tokens": 4}}, "response").child("usage").count("input_tokens")
    4
    """

    __slots__ = ("data", "path")

    def __init__(self, data: Any, path: str) -> None:
        if not isinstance(data, Mapping):
            raise UsageFormatError(path, f"expected an object, got {type(data).__name__} {_short(data)}")
        self.data: Mapping[str, Any] = data
        self.path = path

    def __contains__(self, key: str) -> bool:
        return self.data.get(key) is not None

    def at(self, key: str) -> str:
        """The path of ``key`` inside this object."""
        return join(self.path, key)

    def get(self, key: str) -> Any:
        """The raw value at ``key`` (``None`` when absent)."""
        return self.data.get(key)

    def child(self, key: str) -> Fields | None:
        """The object at ``key``, or ``None`` when it is absent or null."""
        value = self.data.get(key)
        return None if value is None else Fields(value, self.at(key))

    def require_child(self, key: str) -> Fields:
        """The object at ``key``; an error naming it when it is missing."""
        found = self.child(key)
        if found is None:
            raise UsageFormatError(self.at(key), f"missing (found keys: {_keys(self.data)})")
        return found

    def items(self, key: str) -> list[Fields]:
        """The list of objects at ``key`` (empty when absent)."""
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
            raise UsageFormatError(self.at(key), f"expected a list, got {type(value).__name__}")
        return [Fields(item, f"{self.at(key)}[{i}]") for i, item in enumerate(value)]

    def text(self, key: str) -> str | None:
        """The string at ``key``, or ``None``."""
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise UsageFormatError(self.at(key), f"expected a string, got {type(value).__name__} {_short(value)}")
        return value

    def count(self, key: str) -> int | None:
        """The token count at ``key``: a non-negative integer, or ``None`` when absent or null."""
        return token_count(self.data.get(key), self.at(key))

    def require_count(self, key: str) -> int:
        """The token count at ``key``; an error naming it when it is missing."""
        value = self.count(key)
        if value is None:
            raise UsageFormatError(self.at(key), f"missing token count (found keys: {_keys(self.data)})")
        return value


def join(path: str, key: str) -> str:
    """``path.key``, or just ``key`` at the top level."""
    return f"{path}.{key}" if path else key


def token_count(value: Any, path: str) -> int | None:
    """``value`` as a token count: ints, and floats with no fraction (some JSON encoders write ``12.0``)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise UsageFormatError(path, f"expected a token count, got the boolean {value!r}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        raise UsageFormatError(path, f"expected a non-negative integer token count, got {_short(value)}")
    if value < 0:
        raise UsageFormatError(path, f"expected a non-negative token count, got {value}")
    return value


def one_of(*candidates: tuple[str, int | None]) -> int | None:
    """The value several fields that count the same tokens report; an error naming two that disagree.

    >>> one_of(("a.cached_tokens", 5), ("a.cache_read_input_tokens", None))
    5
    """
    found = [(path, value) for path, value in candidates if value is not None]
    if not found:
        return None
    first_path, first = found[0]
    for path, value in found[1:]:
        if value != first:
            raise UsageFormatError(first_path, f"is {first} but {path} is {value}; both count the same tokens")
    return first


def _keys(data: Mapping[str, Any]) -> str:
    keys = sorted(str(k) for k in data)
    return "[" + ", ".join(keys[:12]) + (", ..." if len(keys) > 12 else "") + "]"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
