"""The HTTP plumbing shared by the LMCache client and the metrics scraper (internal).

Both talk to engine endpoints with httpx and must turn every way a request can fail into one
`EngineError` subclass with a message a person can act on. Keeping that here means the sync and async
paths of both callers translate errors identically.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import httpx

from cachepoint.core.engines.errors import (
    EngineConnectError,
    EngineError,
    EngineResponseError,
    EngineStatusError,
    EngineTimeoutError,
)

_DETAIL_LIMIT = 300


def check_base_url(url: object, *, field: str) -> httpx.URL:
    """Parse ``url`` as an absolute http(s) URL, or raise ``ValueError`` naming ``field``."""
    example = "http://127.0.0.1:9000"
    if not isinstance(url, str) or not url.strip():
        raise ValueError(f"{field}: expected an http(s) URL like {example}, got {url!r}")
    try:
        parsed = httpx.URL(url.strip())
    except (httpx.InvalidURL, ValueError) as exc:
        raise ValueError(f"{field}: {url!r} is not a valid URL ({exc})") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"{field}: expected an http(s) URL like {example}, got {url!r}")
    if parsed.port is not None and not 1 <= parsed.port <= 65535:
        raise ValueError(f"{field}: {url!r} is not a valid URL (port {parsed.port} is outside 1-65535)")
    return parsed


def check_timeout(timeout: object, *, field: str = "timeout") -> float:
    """A positive, finite number of seconds, or ``ValueError`` naming ``field``."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not math.isfinite(timeout):
        raise ValueError(f"{field}: expected a positive number of seconds, got {timeout!r}")
    if timeout <= 0:
        raise ValueError(f"{field}: expected a positive number of seconds, got {timeout!r}")
    return float(timeout)


def transport_error(url: str, exc: httpx.HTTPError, timeout: float) -> EngineError:
    """Translate an httpx exception raised before a response arrived into an `EngineError`."""
    if isinstance(exc, httpx.ConnectTimeout):
        return EngineTimeoutError(url, f"could not connect within {timeout:g}s")
    if isinstance(exc, httpx.TimeoutException):
        return EngineTimeoutError(url, f"no answer within {timeout:g}s")
    if isinstance(exc, httpx.ConnectError):
        reason = str(exc) or type(exc).__name__
        return EngineConnectError(url, f"cannot connect ({reason}); is the server running at this address?")
    reason = str(exc) or type(exc).__name__
    return EngineConnectError(url, f"connection failed ({reason})")


def check_status(url: str, response: httpx.Response) -> None:
    """Raise `EngineStatusError` with the server's own message unless the status is 2xx."""
    if response.is_success:
        return
    raise EngineStatusError(url, response.status_code, error_detail(response.content))


def error_detail(body: bytes) -> str:
    """The human part of an error body: FastAPI ``detail``, OpenAI-style ``error.message``, or the text."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        payload = json.loads(text)
    except ValueError:
        return _clip(text)
    if isinstance(payload, Mapping):
        detail = payload.get("detail")
        if isinstance(detail, str):
            return _clip(detail)
        if isinstance(detail, list):  # FastAPI validation errors: [{"loc": [...], "msg": ...}, ...]
            return _clip("; ".join(_validation_item(item) for item in detail))
        error = payload.get("error")
        if isinstance(error, Mapping) and isinstance(error.get("message"), str):
            return _clip(str(error["message"]))
        if isinstance(payload.get("message"), str):
            return _clip(str(payload["message"]))
    return _clip(text)


def _validation_item(item: object) -> str:
    if not isinstance(item, Mapping):
        return str(item)
    loc = item.get("loc")
    where = ".".join(str(part) for part in loc if part != "body") if isinstance(loc, list) else ""
    message = str(item.get("msg", item))
    return f"{where}: {message}" if where else message


def _clip(text: str) -> str:
    return text if len(text) <= _DETAIL_LIMIT else text[: _DETAIL_LIMIT - 3] + "..."


def decode_json(url: str, response: httpx.Response) -> Any:
    """The JSON body of a 2xx response, or `EngineResponseError` saying why it is not JSON."""
    try:
        return json.loads(response.content)
    except ValueError as exc:
        preview = _clip(response.content.decode("utf-8", errors="replace").strip()) or "<empty body>"
        raise EngineResponseError(url, f"expected a JSON body, got {preview!r} ({exc})") from None
