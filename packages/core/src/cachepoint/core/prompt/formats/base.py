"""What a provider format (a *dialect*) implements, and the small helpers every dialect shares.

A dialect parses a payload into a `Request`, renders a `Request` back (writing cache markers in its own
syntax), and answers the questions cachepoint asks about a block: what text and media the model reads from it,
whether it may carry a breakpoint, and what its path in the payload is. Add a format (a LangChain message list,
say) by subclassing `Dialect` and calling `register_format`.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeGuard

import orjson

from cachepoint.core.prompt.errors import RequestFormatError

if TYPE_CHECKING:
    from cachepoint.core.prompt.model import Block, Locator, Message, Request, Tool
    from cachepoint.core.providers import ModelInfo

__all__ = [
    "DETECT_MESSAGES",
    "Content",
    "Dialect",
    "Media",
    "dumps",
    "expect_list",
    "expect_mapping",
    "expect_str",
    "is_mapping",
    "reorder",
]

#: How many leading messages format detection looks at.
DETECT_MESSAGES = 50


@dataclass(frozen=True)
class Media:
    """A non-text part the model reads: an image, a document, or other media (audio, video)."""

    kind: Literal["image", "document", "other"]
    data: str | bytes | None = None
    media_type: str | None = None


@dataclass(frozen=True)
class Content:
    """What the model reads from a block: text (tool inputs as JSON...), media, and tokens known some other way."""

    text: str = ""
    media: tuple[Media, ...] = ()
    extra_tokens: int = 0


def _default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def dumps(value: Any) -> bytes:
    """Compact JSON in the payload's own key order (bytes as base64), the canonical bytes cachepoint hashes.

    >>> dumps({"b": 1, "a": b"\\x00"})
    b'{"b":1,"a":"AA=="}'
    """
    try:
        # Decoded JSON (str keys, JSON values) needs neither the option nor the hook, and orjson writes it about
        # three times faster without OPT_NON_STR_KEYS; anything else raises, and is written the general way
        # (the same bytes wherever the plain call succeeds).
        return orjson.dumps(value)
    except TypeError:
        return orjson.dumps(value, default=_default, option=orjson.OPT_NON_STR_KEYS)


def dumps_sorted(value: Any) -> bytes:
    """`dumps` with every object's keys sorted: equal for payloads that differ only in key order.

    >>> dumps_sorted({"b": 1, "a": {"d": 2, "c": 3}})
    b'{"a":{"c":3,"d":2},"b":1}'
    """
    return orjson.dumps(value, default=_default, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SORT_KEYS)


def is_mapping(value: Any) -> TypeGuard[Mapping[str, Any]]:
    """``isinstance(value, Mapping)``, answered without the ABC check for a plain dict (what decoded JSON holds;
    the ABC check costs several times more, and parsing asks it of every message and block).

    >>> is_mapping({"a": 1}), is_mapping([("a", 1)])
    (True, False)
    """
    return type(value) is dict or isinstance(value, Mapping)


def expect_mapping(value: Any, path: str, what: str = "an object") -> Mapping[str, Any]:
    """``value`` if it is a mapping, else a `RequestFormatError` at ``path``."""
    if type(value) is not dict and not isinstance(value, Mapping):
        raise RequestFormatError(path, f"expected {what}, got {_describe(value)}")
    return value


def expect_list(value: Any, path: str, what: str = "a list") -> Sequence[Any]:
    """``value`` if it is a list or tuple, else a `RequestFormatError` at ``path``."""
    if not isinstance(value, (list, tuple)):
        raise RequestFormatError(path, f"expected {what}, got {_describe(value)}")
    return value


def expect_str(value: Any, path: str, what: str = "a string") -> str:
    """``value`` if it is a string, else a `RequestFormatError` at ``path``."""
    if not isinstance(value, str):
        raise RequestFormatError(path, f"expected {what}, got {_describe(value)}")
    return value


def _describe(value: Any) -> str:  # noqa: PLR0911 - one return per type
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"a number ({value!r})"
    if isinstance(value, str):
        shown = value if len(value) <= 20 else value[:17] + "..."
        return f"a string ({shown!r})"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def reorder(out: dict[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    """``out`` with the keys that appear in ``keys`` first, in that order (payloads render in their own order)."""
    if not keys:
        return out
    if tuple(out)[: len(keys)] == tuple(keys):
        return out  # already in that order (the usual case: a payload renders as it was written), no new dict
    ordered = {key: out[key] for key in keys if key in out}
    for key, value in out.items():
        if key not in ordered:
            ordered[key] = value
    return ordered


def check_role(role: Any, path: str, allowed: Sequence[str]) -> str:
    """``role`` if it is one of ``allowed``, else ``<path>: role must be one of 'user', 'assistant'``."""
    if role not in allowed:
        choices = ", ".join(repr(r) for r in allowed)
        raise RequestFormatError(path, f"role must be one of {choices}, got {role!r}")
    return str(role)


def data_url_media(url: str) -> tuple[str | None, str | None]:
    """(media type, base64 data) of a ``data:`` URL; (None, None) for any other URL."""
    if not url.startswith("data:") or "," not in url:
        return None, None
    header, data = url[5:].split(",", 1)
    media_type = header.split(";", 1)[0] or None
    return media_type, data if ";base64" in header else None


class Dialect:
    """Base class of a provider format. Subclasses set ``name`` and implement the parse/render/describe hooks.

    The defaults here describe a block by its JSON (so token counts stay sensible for block types a dialect
    does not special-case) and give no block a breakpoint.
    """

    name: ClassVar[str] = ""
    #: Whether leading system/developer messages form the system layer (OpenAI), or system is top-level only.
    system_messages_are_system_layer: ClassVar[bool] = False
    #: Whether a run of consecutive tool_use (or tool_result) blocks counts as one lookback position.
    collapses_tool_runs: ClassVar[bool] = False
    #: The payload key holding the conversation as a list (``messages``, ``input``), if the dialect parses each
    #: entry with `parse_message` alone. `ViewBuilder` then parses and positions each distinct message once; a
    #: dialect that leaves this empty is always parsed whole.
    messages_key: ClassVar[str] = ""

    def detect(self, payload: Mapping[str, Any]) -> int:
        """How strongly ``payload`` looks like this format: 0 (not at all) .. 100 (certainly).

        By default the sum of `detect_payload` and `detect_message` over the first `DETECT_MESSAGES` entries
        of ``payload["messages"]``; a dialect that overrides this instead is detected on the whole payload.
        """
        score = self.detect_payload(payload)
        messages = payload.get("messages")
        if isinstance(messages, list):
            for message in messages[:DETECT_MESSAGES]:
                score += self.detect_message(message)
        return score

    def detect_payload(self, payload: Mapping[str, Any]) -> int:
        """The part of `detect`'s score that does not come from the messages."""
        return 0

    def detect_message(self, message: Any) -> int:
        """The part of `detect`'s score one entry of ``payload["messages"]`` adds (it sees nothing else)."""
        return 0

    def parse(self, payload: Mapping[str, Any], *, lenient: bool = False) -> Request:
        """Parse ``payload`` (raise `RequestFormatError` naming the path on bad input)."""
        raise NotImplementedError

    def parse_message(self, raw: Any, path: str, *, lenient: bool = False) -> Message:
        """Parse one entry of ``payload[messages_key]`` found at ``path`` (only when `messages_key` is set).

        The contract `ViewBuilder` relies on: `parse` of a payload equals the parse of the same payload with an
        empty ``messages_key`` list, with ``messages`` set to these per-entry results; and a message's paths and
        eligibility depend only on the message, its index, the format and the model.
        """
        raise NotImplementedError

    def render(self, request: Request) -> dict[str, Any]:
        """Write ``request`` (in this format) as a payload, with its cache markers."""
        raise NotImplementedError

    def block_type(self, block: Block) -> str:
        """The provider's name for the block's type."""
        value = block.data.get("type")
        return value if isinstance(value, str) else block.kind

    def describe(self, block: Block) -> Content:
        """What the model reads from ``block``."""
        body = {k: v for k, v in block.data.items() if k != "type"}
        return Content(text=dumps(body).decode())

    def tool_name(self, tool: Tool) -> str:
        """The tool's name."""
        name = tool.data.get("name")
        return name if isinstance(name, str) else ""

    def describe_tool(self, tool: Tool) -> Content:
        """What the model reads from a tool definition (its JSON)."""
        return Content(text=dumps(tool.data).decode())

    def ineligible(self, request: Request, locator: Locator, info: ModelInfo | None) -> str | None:
        """Why the block at ``locator`` cannot carry a breakpoint in this format, or ``None`` if it can."""
        return f"{self.name} takes no cache markers"

    def path(self, request: Request, locator: Locator) -> str:
        """The block's path in the rendered payload (``messages[3].content[1]``)."""
        if locator.section == "tools":
            return f"tools[{locator.index}]"
        if locator.section == "system":
            return f"system[{locator.index}]"
        return f"messages[{locator.message}].content[{locator.index}]"

    def effective_info(self, info: ModelInfo) -> ModelInfo:
        """The model's rules as this format can express them (a format may accept fewer TTLs)."""
        return info

    def level_salt(self, request: Request) -> Mapping[str, Any]:
        """Request fields that invalidate the messages level of the cache when they change (hashed in)."""
        return {}

    def marker_count(self, request: Request) -> int:
        """Cache markers the request carries that are not block markers (nested ones, automatic)."""
        return 0
