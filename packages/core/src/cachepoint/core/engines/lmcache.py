"""A client for the LMCache controller's HTTP API: which instance holds a prefix, clear, pin, health.

The LMCache controller (``lmcache_controller --host ... --port 9000 --monitor-ports '{"pull": 8300,
"reply": 8400}'``, i.e. ``python -m lmcache.v1.api_server``) tracks the KV chunks of every LMCache
worker that registered with it (``enable_controller: True`` in the worker's YAML). Its endpoints, as
in ``lmcache/v1/api_server/__main__.py`` (LMCache 0.3.x, checked 2026):

- ``POST /lookup {"tokens": [...]}`` -> ``{"event_id", "layout_info": {instance_id: [location, n_tokens]}}``
- ``POST /clear {"instance_id", "location"}`` -> ``{"event_id", "num_tokens"}``
- ``POST /pin {"instance_id", "location", "tokens"}`` -> ``{"event_id", "num_tokens"}``
- ``POST /health {"instance_id"}`` -> ``{"event_id", "error_codes": {worker_id: code}}``
  (releases before 0.3.2 answered one ``"error_code"``; both are understood)
- errors: HTTP 500 ``{"detail": "..."}``; HTTP 422 for a malformed request.

`LMCacheClient` (sync) and `AsyncLMCacheClient` share one request builder and one response parser per
endpoint, so they cannot drift apart; only the line that sends the request differs. Every failure is an
`cachepoint.core.engines.errors.EngineError` subclass: connection refused, timeout, non-2xx (with the
controller's ``detail``), malformed JSON or an unexpected shape.

>>> from cachepoint.core.engines.lmcache import LMCacheClient
>>> with LMCacheClient("http://127.0.0.1:9000", timeout=5) as lmcache:  # doctest: +SKIP
...     hit = lmcache.lookup([128000, 849, 21435, 279])
...     print(hit.best)
InstanceHit(instance_id='lmcache_default_instance', location='LocalCPUBackend', tokens=4)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType, TracebackType
from typing import Any, Generic, TypeVar

import httpx
from typing_extensions import Self

from cachepoint.core.engines._http import check_base_url, check_status, check_timeout, decode_json, transport_error
from cachepoint.core.engines.errors import EngineResponseError

__all__ = [
    "DEFAULT_LOCATION",
    "AsyncLMCacheClient",
    "HealthResult",
    "InstanceHit",
    "LMCacheClient",
    "LookupResult",
    "OperationResult",
]

#: The storage backend LMCache workers use for CPU memory, and the location its examples clear and pin.
DEFAULT_LOCATION = "LocalCPUBackend"

T = TypeVar("T")


# -- results -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InstanceHit:
    """One LMCache instance's match for a looked-up prefix: where it lives and how many tokens matched.

    >>> InstanceHit("vllm-0", "LocalCPUBackend", 512).tokens
    512
    """

    instance_id: str
    location: str
    tokens: int


@dataclass(frozen=True)
class LookupResult:
    """What ``/lookup`` found: one `InstanceHit` per instance that holds part of the prefix, longest first.

    >>> r = LookupResult("Lookup-1", (InstanceHit("a", "LocalCPUBackend", 256), InstanceHit("b", "LocalDisk", 64)))
    >>> r.matched_tokens, r.best.instance_id
    (256, 'a')
    >>> LookupResult("Lookup-2", ()).best is None
    True
    """

    event_id: str
    hits: tuple[InstanceHit, ...]

    @property
    def best(self) -> InstanceHit | None:
        """The instance with the longest cached prefix, or ``None`` when nothing is cached."""
        return self.hits[0] if self.hits else None

    @property
    def matched_tokens(self) -> int:
        """Length of the longest cached prefix across instances (0 when nothing is cached)."""
        return self.hits[0].tokens if self.hits else 0


@dataclass(frozen=True)
class OperationResult:
    """The controller's answer to ``/clear`` or ``/pin``: its event id and how many tokens were affected.

    >>> OperationResult("Clear-7", 4096).num_tokens
    4096
    """

    event_id: str
    num_tokens: int


@dataclass(frozen=True)
class HealthResult:
    """The controller's answer to ``/health``: an error code per worker of the instance (0 = healthy).

    Worker ids are strings because JSON object keys are; a controller from before LMCache 0.3.2 reports a
    single code, kept under the key ``"*"``.

    >>> HealthResult("health-1", {"0": 0, "1": 0}).healthy
    True
    >>> HealthResult("health-2", {"0": 0, "1": 3}).failing_workers
    {'1': 3}
    """

    event_id: str
    error_codes: Mapping[str, int] = field(hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "error_codes", MappingProxyType(dict(self.error_codes)))

    @property
    def healthy(self) -> bool:
        """True when every worker reported code 0 (and at least one worker reported)."""
        return bool(self.error_codes) and all(code == 0 for code in self.error_codes.values())

    @property
    def failing_workers(self) -> dict[str, int]:
        """Workers whose code is not 0, with their codes."""
        return {worker: code for worker, code in self.error_codes.items() if code != 0}


# -- one request builder and parser per endpoint, shared by both clients ---------------------------------


@dataclass(frozen=True)
class _Call(Generic[T]):
    path: str
    body: dict[str, Any]
    parse: Callable[[str, Any], T]


def _check_tokens(tokens: object) -> list[int]:
    if isinstance(tokens, (str, bytes)) or not isinstance(tokens, Sequence):
        raise ValueError(f"tokens: expected a sequence of token ids, got {type(tokens).__name__}")
    if not tokens:
        raise ValueError("tokens: expected at least one token id, got an empty sequence")
    checked: list[int] = []
    for i, token in enumerate(tokens):
        if isinstance(token, bool) or not isinstance(token, int) or token < 0:
            raise ValueError(f"tokens[{i}]: expected a non-negative integer token id, got {token!r}")
        checked.append(token)
    return checked


def _check_name(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name}: expected a non-empty string, got {value!r}")
    return value


def _object(url: str, payload: object, what: str) -> Mapping[str, Any]:
    if not isinstance(payload, Mapping):
        raise EngineResponseError(url, f"{what}: expected a JSON object, got {type(payload).__name__}")
    return payload


_KINDS = {Mapping: "a JSON object", str: "a string", int: "an integer"}


def _field(url: str, payload: Mapping[str, Any], key: str, kind: type, what: str) -> Any:
    if key not in payload:
        raise EngineResponseError(url, f"{what}.{key}: missing from the response")
    value = payload[key]
    if isinstance(value, bool) or not isinstance(value, kind):
        raise EngineResponseError(url, f"{what}.{key}: expected {_KINDS.get(kind, kind.__name__)}, got {value!r}")
    return value


def _parse_lookup(url: str, payload: object) -> LookupResult:
    body = _object(url, payload, "lookup")
    layout = _field(url, body, "layout_info", Mapping, "lookup")
    hits = []
    for instance_id, entry in layout.items():
        where = f"lookup.layout_info[{instance_id!r}]"
        if (
            not isinstance(entry, list)
            or len(entry) != 2
            or not isinstance(entry[0], str)
            or isinstance(entry[1], bool)
            or not isinstance(entry[1], int)
        ):
            raise EngineResponseError(url, f"{where}: expected [location, token_count], got {entry!r}")
        hits.append(InstanceHit(str(instance_id), entry[0], entry[1]))
    hits.sort(key=lambda hit: (-hit.tokens, hit.instance_id))
    return LookupResult(_field(url, body, "event_id", str, "lookup"), tuple(hits))


def _operation_parser(what: str) -> Callable[[str, Any], OperationResult]:
    def parse(url: str, payload: object) -> OperationResult:
        body = _object(url, payload, what)
        return OperationResult(_field(url, body, "event_id", str, what), _field(url, body, "num_tokens", int, what))

    return parse


def _parse_health(url: str, payload: object) -> HealthResult:
    body = _object(url, payload, "health")
    event_id = _field(url, body, "event_id", str, "health")
    if "error_codes" in body:
        raw = _field(url, body, "error_codes", Mapping, "health")
        codes: dict[str, int] = {}
        for worker, code in raw.items():
            if isinstance(code, bool) or not isinstance(code, int):
                raise EngineResponseError(url, f"health.error_codes[{worker!r}]: expected an int, got {code!r}")
            codes[str(worker)] = code
        return HealthResult(event_id, codes)
    if "error_code" in body:
        return HealthResult(event_id, {"*": _field(url, body, "error_code", int, "health")})
    raise EngineResponseError(url, "health: expected 'error_codes' (or 'error_code') in the response")


def _lookup_call(tokens: Sequence[int]) -> _Call[LookupResult]:
    return _Call("/lookup", {"tokens": _check_tokens(tokens)}, _parse_lookup)


def _clear_call(instance_id: str, location: str) -> _Call[OperationResult]:
    body = {"instance_id": _check_name("instance_id", instance_id), "location": _check_name("location", location)}
    return _Call("/clear", body, _operation_parser("clear"))


def _pin_call(instance_id: str, tokens: Sequence[int], location: str) -> _Call[OperationResult]:
    body = {
        "instance_id": _check_name("instance_id", instance_id),
        "location": _check_name("location", location),
        "tokens": _check_tokens(tokens),
    }
    return _Call("/pin", body, _operation_parser("pin"))


def _health_call(instance_id: str) -> _Call[HealthResult]:
    return _Call("/health", {"instance_id": _check_name("instance_id", instance_id)}, _parse_health)


class _Endpoint:
    """Base URL and timeout handling common to both clients."""

    def __init__(self, base_url: str, timeout: float) -> None:
        parsed = check_base_url(base_url, field="base_url")
        self._base_url = str(parsed).rstrip("/")
        self._timeout = check_timeout(timeout)

    @property
    def base_url(self) -> str:
        """The controller's base URL, without a trailing slash."""
        return self._base_url

    def _url(self, call: _Call[Any]) -> str:
        return self._base_url + call.path


# -- the two clients ------------------------------------------------------------------------------------


class LMCacheClient(_Endpoint):
    """Blocking client for the LMCache controller; use it as a context manager or call ``close()``.

    ``timeout`` (seconds) bounds connecting and each read. Pass ``client`` to reuse your own
    ``httpx.Client`` (it is then yours to close).

    >>> client = LMCacheClient("http://127.0.0.1:9000", timeout=2.0)
    >>> client.base_url
    'http://127.0.0.1:9000'
    >>> client.close()
    """

    def __init__(self, base_url: str, *, timeout: float = 10.0, client: httpx.Client | None = None) -> None:
        super().__init__(base_url, timeout)
        self._owns_client = client is None
        self._http = client if client is not None else httpx.Client(timeout=self._timeout)

    def _run(self, call: _Call[T]) -> T:
        url = self._url(call)
        try:
            response = self._http.post(url, json=call.body, timeout=self._timeout)
        except httpx.HTTPError as exc:
            raise transport_error(url, exc, self._timeout) from None
        check_status(url, response)
        return call.parse(url, decode_json(url, response))

    def lookup(self, tokens: Sequence[int]) -> LookupResult:
        """Which instances hold a prefix of ``tokens`` (token ids from the engine's tokenizer), and how much.

        >>> LMCacheClient("http://127.0.0.1:9000").lookup([])
        Traceback (most recent call last):
        ...
        ValueError: tokens: expected at least one token id, got an empty sequence
        """
        return self._run(_lookup_call(tokens))

    def clear(self, instance_id: str, location: str = DEFAULT_LOCATION) -> OperationResult:
        """Drop every KV chunk of ``instance_id`` stored at ``location``; returns the tokens freed."""
        return self._run(_clear_call(instance_id, location))

    def pin(self, instance_id: str, tokens: Sequence[int], location: str = DEFAULT_LOCATION) -> OperationResult:
        """Protect the KV chunks of ``tokens`` on ``instance_id`` from eviction; returns the tokens pinned."""
        return self._run(_pin_call(instance_id, tokens, location))

    def health(self, instance_id: str) -> HealthResult:
        """Ask the workers of ``instance_id`` for their health (error code 0 = healthy)."""
        return self._run(_health_call(instance_id))

    def close(self) -> None:
        """Close the connection pool (unless the ``httpx.Client`` was passed in)."""
        if self._owns_client:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncLMCacheClient(_Endpoint):
    """Asyncio client for the LMCache controller, with the same methods as `LMCacheClient`, awaited.

    >>> import asyncio
    >>> async def main() -> None:
    ...     async with AsyncLMCacheClient("http://127.0.0.1:9000", timeout=2.0) as client:
    ...         print(client.base_url)
    >>> asyncio.run(main())
    http://127.0.0.1:9000
    """

    def __init__(self, base_url: str, *, timeout: float = 10.0, client: httpx.AsyncClient | None = None) -> None:
        super().__init__(base_url, timeout)
        self._owns_client = client is None
        self._http = client if client is not None else httpx.AsyncClient(timeout=self._timeout)

    async def _run(self, call: _Call[T]) -> T:
        url = self._url(call)
        try:
            response = await self._http.post(url, json=call.body, timeout=self._timeout)
        except httpx.HTTPError as exc:
            raise transport_error(url, exc, self._timeout) from None
        check_status(url, response)
        return call.parse(url, decode_json(url, response))

    async def lookup(self, tokens: Sequence[int]) -> LookupResult:
        """Which instances hold a prefix of ``tokens``, and how much (see `LMCacheClient.lookup`)."""
        return await self._run(_lookup_call(tokens))

    async def clear(self, instance_id: str, location: str = DEFAULT_LOCATION) -> OperationResult:
        """Drop every KV chunk of ``instance_id`` stored at ``location``; returns the tokens freed."""
        return await self._run(_clear_call(instance_id, location))

    async def pin(self, instance_id: str, tokens: Sequence[int], location: str = DEFAULT_LOCATION) -> OperationResult:
        """Protect the KV chunks of ``tokens`` on ``instance_id`` from eviction; returns the tokens pinned."""
        return await self._run(_pin_call(instance_id, tokens, location))

    async def health(self, instance_id: str) -> HealthResult:
        """Ask the workers of ``instance_id`` for their health (error code 0 = healthy)."""
        return await self._run(_health_call(instance_id))

    async def aclose(self) -> None:
        """Close the connection pool (unless the ``httpx.AsyncClient`` was passed in)."""
        if self._owns_client:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
