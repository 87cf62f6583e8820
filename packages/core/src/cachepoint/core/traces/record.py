"""`TraceRecord`: one request of a trace, read from its envelope (or from a bare request body).

A line is either an **envelope** (a JSON object with the provider request body under ``request``, plus optional
``timestamp``, ``provider``, ``model``, ``tenant``, ``session``, ``usage``, ``ttft_s``, ``id``, ``metadata``,
``v``) or a **bare body** (the request body itself, as sent to the provider). `parse_record` checks the envelope
fields and leaves the body to `cachepoint.core.prompt` (`TraceRecord.parse_request`), so every error names the
line and the field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from cachepoint.core.providers import normalize_provider
from cachepoint.core.traces.errors import TraceFormatError

if TYPE_CHECKING:
    from cachepoint.core.prompt import Request

__all__ = ["ENVELOPE_FIELDS", "FORMAT_VERSION", "TraceRecord", "infer_provider", "parse_record", "parse_timestamp"]

#: The envelope version this reader writes and understands.
FORMAT_VERSION = 1
#: Fields of the envelope and what each holds (the JSON schema says the same, see `cachepoint.core.traces`).
ENVELOPE_FIELDS: Mapping[str, str] = MappingProxyType(
    {
        "request": "the provider request body (Anthropic Messages, Bedrock Converse, OpenAI Chat or Responses)",
        "timestamp": "when the request started: seconds since the Unix epoch, or an ISO 8601 string",
        "provider": "anthropic, bedrock, openai, vllm, sglang... (default: from the body's shape)",
        "model": "the model id (default: the body's model / modelId)",
        "tenant": "the cache partition: API key, workspace or AWS account (caches never cross tenants)",
        "session": "the conversation or agent run the request belongs to",
        "usage": "what the provider reported: its usage object or whole response (any shape normalize_usage reads)",
        "ttft_s": "seconds from the start to the first response byte (cache writes become readable then)",
        "id": "your id for the request",
        "metadata": "anything else, as an object (carried, not analyzed)",
        "v": f"envelope version ({FORMAT_VERSION})",
    }
)
_EMPTY: Mapping[str, Any] = MappingProxyType({})
#: Envelope fields no provider request body has: a line with one of them and no ``request`` is an envelope that
#: lost its body, not a bare body.
_ENVELOPE_ONLY = ("v", "timestamp", "session", "tenant", "usage", "ttft_s")
#: The last second a timestamp may name (9999-12-31T23:59:59Z): dates after it have no calendar form.
_LAST_SECOND = 253_402_300_799


@dataclass(frozen=True)
class TraceRecord:
    """One request of a trace: the body and what the envelope says about it.

    ``line`` / ``offset`` locate it in its file (1-based line, byte offset); ``bare`` says the line was a bare
    request body with no envelope; ``ignored`` lists envelope keys this version does not know (reported, not
    fatal, so newer writers stay readable).

    >>> rec = parse_record({"request": {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]},
    ...                     "timestamp": "2026-11-23T10:15:00Z", "session": "s-1"}, line=3)
    >>> rec.timestamp, rec.session, rec.parse_request().format
    (1795428900.0, 's-1', 'openai-chat')
    """

    request: Mapping[str, Any]
    line: int | None = None
    offset: int | None = None
    timestamp: float | None = None
    provider: str | None = None
    model: str | None = None
    tenant: str | None = None
    session: str | None = None
    usage: Any = None
    ttft_s: float | None = None
    id: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    bare: bool = False
    ignored: tuple[str, ...] = ()

    @property
    def body_path(self) -> str:
        """Where the body sits in the line: ``"request"``, or ``""`` for a bare body."""
        return "" if self.bare else "request"

    def field_path(self, inner: str) -> str:
        """``inner`` (a path inside the body) as a path inside the line (``request.messages[2]``)."""
        if not inner:
            return self.body_path
        return f"{self.body_path}.{inner}" if self.body_path else inner

    def parse_request(self, *, provider: str | None = None, lenient: bool = False) -> Request:
        """The body as a `Request`; a malformed body raises `TraceFormatError` naming this line and the field.

        >>> bad = parse_record({"request": {"model": "m", "max_tokens": 5, "messages": [
        ...     {"role": "user", "content": [{"type": "foo"}]}]}}, line=17)
        >>> try:
        ...     bad.parse_request()
        ... except TraceFormatError as exc:
        ...     print(exc)
        line 17: request.messages[0].content[0]: unknown block type 'foo'
        """
        from cachepoint.core.prompt import Request, RequestFormatError

        # The body's own model id settles shapes several formats accept (see `detect_format`).
        try:
            return Request.parse(self.request, provider=provider or self.provider, lenient=lenient)
        except RequestFormatError as exc:
            raise TraceFormatError(self.line, self.field_path(exc.path), exc.detail) from None

    def to_dict(self) -> dict[str, Any]:
        """The record as an envelope (what `TraceWriter` writes); ``None`` fields left out."""
        out: dict[str, Any] = {"v": FORMAT_VERSION, "request": self.request}
        for name in ("timestamp", "provider", "model", "tenant", "session", "usage", "ttft_s", "id"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.metadata:
            out["metadata"] = dict(self.metadata)
        return out


@lru_cache(maxsize=1024)
def infer_provider(model: str | None) -> str | None:
    """The provider whose table knows ``model`` (``None`` when none or several do): which cache serves a trace
    line that names no provider (an Anthropic-shaped body for ``us.anthropic.claude-...`` is Bedrock's).

    >>> infer_provider("gpt-4o"), infer_provider("claude-sonnet-4-5")
    ('openai', 'anthropic')
    >>> infer_provider("us.anthropic.claude-opus-4-5-20251101-v1:0")
    'bedrock'
    >>> infer_provider("my-finetune") is None
    True
    """
    if not model:
        return None
    from cachepoint.core.providers import DEFAULT_TABLE

    found = [p for p in ("anthropic", "bedrock", "openai", "gemini") if DEFAULT_TABLE.find(p, model) is not None]
    return found[0] if len(found) == 1 else None


def parse_timestamp(value: Any, path: str = "timestamp", line: int | None = None) -> float:
    """Seconds since the epoch from a number or an ISO 8601 string (no zone: UTC).

    >>> parse_timestamp(1795428900), parse_timestamp("2026-11-23T10:15:00Z")
    (1795428900.0, 1795428900.0)
    >>> parse_timestamp("2026-11-23 11:15:00+01:00")
    1795428900.0
    """
    if isinstance(value, bool):
        raise TraceFormatError(line, path, "expected seconds since the epoch or an ISO 8601 string, got a boolean")
    if isinstance(value, (int, float)):
        seconds = float(value)
        if not math.isfinite(seconds) or not 0 <= seconds <= _LAST_SECOND:
            raise TraceFormatError(
                line, path, f"expected seconds since the epoch, from 0 to {_LAST_SECOND} (year 9999), got {value!r}"
            )
        return seconds
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"  # fromisoformat takes "Z" only from Python 3.11
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise TraceFormatError(line, path, f"expected an ISO 8601 date and time, got {value!r}") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.timestamp()
    raise TraceFormatError(line, path, f"expected seconds since the epoch or an ISO 8601 string, got {_kind(value)}")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _text(data: Mapping[str, Any], key: str, line: int | None) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TraceFormatError(line, key, f"expected a string, got {_kind(value)}")
    text = str(value)
    if not text:
        raise TraceFormatError(line, key, "expected a non-empty string")
    return text


def parse_record(data: Any, *, line: int | None = None, offset: int | None = None) -> TraceRecord:
    """Check one decoded trace line and return its `TraceRecord` (errors name the line and the field).

    >>> parse_record({"messages": [{"role": "user", "content": "Hi"}], "model": "gpt-4o"}).bare
    True
    >>> parse_record({"request": {"messages": []}, "ttft_s": -1}, line=4)
    Traceback (most recent call last):
    ...
    cachepoint.core.traces.errors.TraceFormatError: line 4: ttft_s: expected a non-negative number of seconds, got -1
    """
    if not isinstance(data, Mapping):
        raise TraceFormatError(line, "", f"expected a JSON object (an envelope or a request body), got {_kind(data)}")
    if "request" not in data:
        envelope = [key for key in _ENVELOPE_ONLY if key in data]
        if envelope:
            raise TraceFormatError(
                line,
                "request",
                f"missing: an envelope (this line has {', '.join(map(repr, envelope))}) carries the provider "
                "request body under 'request'",
            )
        return TraceRecord(request=data, line=line, offset=offset, bare=True)
    body = data["request"]
    if not isinstance(body, Mapping):
        raise TraceFormatError(line, "request", f"expected the provider request body (an object), got {_kind(body)}")
    version = data.get("v", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise TraceFormatError(line, "v", f"this reader understands envelope version {FORMAT_VERSION}, got {version!r}")
    timestamp = data.get("timestamp")
    ttft = data.get("ttft_s")
    if ttft is not None and (
        isinstance(ttft, bool) or not isinstance(ttft, (int, float)) or not math.isfinite(ttft) or ttft < 0
    ):
        raise TraceFormatError(line, "ttft_s", f"expected a non-negative number of seconds, got {ttft!r}")
    provider = _text(data, "provider", line)
    metadata = data.get("metadata")
    if metadata is not None and not isinstance(metadata, Mapping):
        raise TraceFormatError(line, "metadata", f"expected an object, got {_kind(metadata)}")
    usage = data.get("usage")
    if usage is not None and not isinstance(usage, (Mapping, list)):
        raise TraceFormatError(line, "usage", f"expected the provider's usage object, got {_kind(usage)}")
    return TraceRecord(
        request=body,
        line=line,
        offset=offset,
        timestamp=None if timestamp is None else parse_timestamp(timestamp, "timestamp", line),
        provider=normalize_provider(provider) if provider else None,
        model=_text(data, "model", line),
        tenant=_text(data, "tenant", line),
        session=_text(data, "session", line),
        usage=usage,
        ttft_s=None if ttft is None else float(ttft),
        id=_text(data, "id", line),
        metadata=metadata or _EMPTY,
        ignored=tuple(k for k in data if k not in ENVELOPE_FIELDS),
    )
