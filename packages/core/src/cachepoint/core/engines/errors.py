"""What can go wrong when cachepoint talks to an engine (vLLM, SGLang) or an LMCache controller.

One small hierarchy, shared by `LMCacheClient` and `scrape_engine_metrics`, so callers can catch
``EngineError`` for "the engine could not tell me" and the subclasses when the cause matters:

>>> from cachepoint.core.engines.errors import EngineError, EngineStatusError
>>> err = EngineStatusError("http://127.0.0.1:9000/lookup", 500, "no instance registered")
>>> isinstance(err, EngineError), err.status_code
(True, 500)
>>> str(err)
'http://127.0.0.1:9000/lookup: HTTP 500: no instance registered'
"""

from __future__ import annotations

__all__ = [
    "EngineConnectError",
    "EngineError",
    "EngineResponseError",
    "EngineStatusError",
    "EngineTimeoutError",
]


class EngineError(Exception):
    """Base class: a request to an engine endpoint failed. ``url`` is the endpoint that was asked.

    >>> try:
    ...     raise EngineTimeoutError("http://10.0.0.5:8000/metrics", "no answer within 2.0s")
    ... except EngineError as exc:
    ...     print(exc.url)
    http://10.0.0.5:8000/metrics
    """

    def __init__(self, url: str, message: str) -> None:
        super().__init__(f"{url}: {message}")
        self.url = url
        self.message = message


class EngineConnectError(EngineError):
    """No connection could be made (refused, unknown host, network unreachable).

    >>> str(EngineConnectError("http://127.0.0.1:1/metrics", "connection refused"))
    'http://127.0.0.1:1/metrics: connection refused'
    """


class EngineTimeoutError(EngineError):
    """The endpoint accepted the connection (or was being dialled) but did not answer in time.

    >>> EngineTimeoutError("http://h:9000/health", "no answer within 1.0s").message
    'no answer within 1.0s'
    """


class EngineStatusError(EngineError):
    """The endpoint answered with a non-2xx status; ``detail`` is the server's own message.

    >>> err = EngineStatusError("http://h:9000/pin", 422, "tokens: field required")
    >>> err.status_code, err.detail
    (422, 'tokens: field required')
    """

    def __init__(self, url: str, status_code: int, detail: str) -> None:
        super().__init__(url, f"HTTP {status_code}: {detail}" if detail else f"HTTP {status_code}")
        self.status_code = status_code
        self.detail = detail


class EngineResponseError(EngineError):
    """The endpoint answered 2xx, but the body is not what its API promises (bad JSON, wrong shape).

    >>> str(EngineResponseError("http://h:9000/lookup", "layout_info: expected an object, got list"))
    'http://h:9000/lookup: layout_info: expected an object, got list'
    """
