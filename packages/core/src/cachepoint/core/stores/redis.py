"""`RedisStore`: a `CacheStore` on ``redis.asyncio`` that works from any event loop and any thread.

redis.asyncio clients (and their pools) belong to the event loop that first used them: a connection opened on loop
A and used on loop B fails with "Future attached to a different loop", and one whose loop has closed fails with
"Event loop is closed". A store built from a URL (or a client factory) therefore keeps **one client per event
loop**, created on first use in that loop. Each client is tied to its loop's lifetime through an async generator
the loop finalizes at shutdown (``asyncio.run`` and ``asyncio.Runner`` call ``shutdown_asyncgens``), so a loop
that ends closes its connections even if nobody calls `RedisStore.close`; `close` closes the rest.

A ready client passed as ``client=`` (Redis, Cluster, Sentinel ``master_for``, a valkey client) is used as it is:
it stays bound to the loop that first uses it through this store, calls from other running loops are forwarded to
that loop, and its lifetime stays with the caller (``close`` does not close it).

Every point operation runs within ``timeout`` seconds in total, retries included: transient connection errors are
retried with exponential backoff and jitter only while the budget allows. Bulk maintenance (``clear``, ``size``)
applies the budget to each SCAN / UNLINK round trip instead, since their length depends on the data.
`RedisStore.execute` runs any other command (a lock script, say) the same way.

Keys: an entry ``key`` lives at ``prefix + key`` (UTF-8). Data that belongs *beside* the entries but is not one
(the response cache's lease locks) lives at `RedisStore.reserved_key`, ``prefix`` + byte ``0xFF`` + name: no
UTF-8 string ever contains that byte, so no entry key can ever be a reserved key, and ``size`` / ``clear`` can
tell them apart exactly.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import random
import re
import sys
import threading
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar, cast

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError, AuthorizationError, ClusterDownError, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from cachepoint.core.bridge import _thread_is_blocked
from cachepoint.core.stores._checks import check_items, check_key, check_keys, check_namespace, check_ttl, check_value
from cachepoint.core.stores._deadline import within
from cachepoint.core.stores._loop_end import Sentinel, detach, start, until_loop_end
from cachepoint.core.stores.base import ClosesOnExit, StoreError

__all__ = ["RedisClient", "RedisStore"]

log = logging.getLogger(__name__)

T = TypeVar("T")

RedisClient = Redis | RedisCluster
"""A redis.asyncio client: ``Redis`` (also what Sentinel's ``master_for`` returns) or ``RedisCluster``. The store
also takes a valkey.asyncio client (``Valkey``, ``ValkeyCluster``: the valkey package is a fork of redis-py with
the same interface), checked by what it can do rather than by its class."""

# Worth another attempt: the server may be restarting, failing over or briefly overloaded. Builtin OSError covers
# refused/reset sockets that redis-py lets through. TimeoutError (also an OSError) is handled before these: it
# means the operation's budget is spent.
_TRANSIENT: tuple[type[BaseException], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    ClusterDownError,
    TryAgainError,
    ConnectionError,
    OSError,
)
_WRONG_CREDENTIALS: tuple[type[BaseException], ...] = (AuthenticationError, AuthorizationError)
try:  # the valkey client raises its own copies of redis-py's exceptions
    from valkey import exceptions as _valkey
except ImportError:  # pragma: no cover - valkey is optional
    pass
else:
    _TRANSIENT += (_valkey.ConnectionError, _valkey.TimeoutError, _valkey.ClusterDownError, _valkey.TryAgainError)
    _WRONG_CREDENTIALS += (_valkey.AuthenticationError, _valkey.AuthorizationError)

# What a client must offer to be used here (redis.asyncio and valkey.asyncio clients both do).
_CLIENT_METHODS = ("get", "set", "mget", "pttl", "unlink", "scan", "pipeline", "get_connection_kwargs", "aclose")

# How long `close()` waits for clients that live on *other* running loops to close on those loops.
_CLOSE_GRACE = 2.0

_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")

# The byte between the prefix and a reserved key's name. 0xFF never occurs in UTF-8, and every entry key is the
# UTF-8 encoding of a str, so `prefix + key` can never equal `prefix + 0xFF + name`.
_RESERVED_MARK = b"\xff"


def _glob_escape(text: str) -> str:
    """Escape ``text`` for a Redis ``MATCH`` pattern, so a prefix like ``a*`` matches itself only."""
    return _GLOB_SPECIAL.sub(r"\\\1", text)


@dataclass
class _LoopClient:
    client: RedisClient
    # None for a caller's client (not ours to close); else the async generator that closes `client` when its
    # loop finalizes async generators at shutdown.
    sentinel: Sentinel | None
    thread: int  # the thread the loop runs in


async def _closed_with_loop(
    store_ref: weakref.ref[RedisStore], loop: asyncio.AbstractEventLoop, client: RedisClient
) -> None:
    """What a client's sentinel does as its loop shuts down: the store forgets the client, which is closed."""
    store = store_ref()
    if store is not None:
        store._forget(loop, client)
    await client.aclose()


_STORES: weakref.WeakSet[RedisStore] = weakref.WeakSet()
# In a forked child: the parent's clients, kept from ever being closed or collected (see `_after_fork`).
_INHERITED: list[object] = []


def _after_fork_in_child() -> None:
    for store in list(_STORES):
        store._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class RedisStore(ClosesOnExit):
    """A `CacheStore` on Redis (``redis.asyncio``): keys live under ``prefix``, values are raw bytes.

    Give exactly one of:

    - ``url``: ``redis://``, ``rediss://`` or ``unix://``. The store creates one client per event loop with
      ``decode_responses=False``, no client-side retries (the store retries within its budget), socket
      timeouts (reads: ``socket_timeout``; connects: the smaller of ``timeout`` and ``socket_timeout``),
      ``client_name`` if given, and any extra ``redis_kwargs``.
    - ``client_factory``: a zero-argument callable returning a new redis.asyncio client, called once per event
      loop (the way to use Redis Cluster, Sentinel or Valkey from several loops), e.g.
      ``lambda: RedisCluster.from_url(url)`` or ``lambda: Sentinel(hosts).master_for("mymaster")``.
    - ``client``: one ready client (see the module docstring for how loops and lifetime work then).

    ``timeout`` bounds each operation, retries included (``None``: no budget). The store enforces it by
    cancelling the call; the socket timeouts are what still ends a read from a server that has gone silent when
    there is no budget (``timeout=None``) or when the caller's loop cannot cancel in time. With ``client=`` or
    ``client_factory=`` the socket timeouts are the client's own (redis-py 8 defaults to 5 s, older versions to
    none): with ``timeout=None`` and a client without ``socket_timeout``, a silent server blocks the call until
    the connection breaks, so the store logs a WARNING when it sees such a client. ``retries`` transient failures
    are retried after ``backoff * 2**n`` seconds (capped at ``max_backoff``, with jitter). ``clear(namespace)``
    uses SCAN + UNLINK under ``prefix`` (never FLUSHDB or KEYS); on a Cluster it scans every primary.
    ``size()`` counts entries under ``prefix`` the same way. Neither counts nor removes `reserved_key` keys
    (locks). A ttl ``<= 0`` deletes the key.

    In the examples, ``redis_url`` is your server's URL (e.g. ``"redis://127.0.0.1:6379/0"``) and
    ``redis_prefix`` your application's key prefix (e.g. ``"myapp:"``).

    >>> import asyncio
    >>> async def demo() -> bytes | None:
    ...     async with RedisStore(redis_url, prefix=redis_prefix) as store:
    ...         await store.set("chat:1", b"hello", ttl=60)
    ...         return await store.get("chat:1")
    >>> asyncio.run(demo())
    b'hello'
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: RedisClient | Any = None,
        client_factory: Callable[[], RedisClient | Any] | None = None,
        prefix: str = "cachepoint:",
        timeout: float | None = 1.0,
        socket_timeout: float | None = 5.0,
        retries: int = 2,
        backoff: float = 0.02,
        max_backoff: float = 0.25,
        client_name: str | None = None,
        scan_count: int = 500,
        **redis_kwargs: Any,
    ) -> None:
        given = [name for name, v in (("url", url), ("client", client), ("client_factory", client_factory)) if v]
        if len(given) != 1:
            raise ValueError(f"url, client, client_factory: give exactly one, got {given or 'none'}")
        if not isinstance(prefix, str) or not prefix:
            raise ValueError(
                "prefix: expected a non-empty str (without one, clear() and size() would cover the whole database)"
            )
        if timeout is not None and not timeout > 0:
            raise ValueError(f"timeout: expected seconds > 0 or None, got {timeout!r}")
        if socket_timeout is not None and not socket_timeout > 0:
            raise ValueError(f"socket_timeout: expected seconds > 0 or None, got {socket_timeout!r}")
        if retries < 0 or backoff < 0 or max_backoff < 0:
            raise ValueError("retries, backoff, max_backoff: expected values >= 0")
        if scan_count < 1:
            raise ValueError(f"scan_count: expected a positive int, got {scan_count!r}")
        if (client is not None or client_factory is not None) and (
            redis_kwargs or client_name or socket_timeout != 5.0
        ):
            raise ValueError(
                "client_name, socket_timeout and extra redis options apply to url= only; configure your client instead"
            )
        self._prefix = prefix
        self._reserved = prefix.encode("utf-8") + _RESERVED_MARK
        self._timeout = timeout
        self._retries = retries
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._scan_count = scan_count
        self._lock = threading.Lock()
        self._clients: dict[asyncio.AbstractEventLoop, _LoopClient] = {}
        self._closed = False
        self._warned_unbounded = False
        self._factory: Callable[[], RedisClient] | None
        self._user_client = client
        if client is not None:
            _require_bytes(client)
            self._factory = None
            self._description = f"client={type(client).__name__}"
            self._check_socket_timeout(client)
        elif client_factory is not None:
            self._factory = client_factory
            self._description = "client_factory"
        else:
            assert url is not None
            self._factory = _url_factory(
                url, timeout=timeout, socket_timeout=socket_timeout, client_name=client_name, options=redis_kwargs
            )
            self._description = f"url={_redact(url)!r}"
        _STORES.add(self)

    @property
    def prefix(self) -> str:
        """The prefix in front of every key this store writes."""
        return self._prefix

    @property
    def timeout(self) -> float | None:
        """Seconds each operation may take, retries included (``None``: unbounded)."""
        return self._timeout

    def reserved_key(self, name: str) -> bytes:
        """The Redis key for ``name`` in this store's *reserved* space: beside the entries, never one of them.

        It is ``prefix`` + byte ``0xFF`` + ``name`` (UTF-8). No entry key can equal it (an entry key is UTF-8, and
        UTF-8 never contains 0xFF), `size` does not count it and `clear` does not remove it, so give what you
        keep there an expiry (a lock's lease). Use it with `execute`. `RedisLock
        <cachepoint.core.response_cache.RedisLock>` keeps its locks at ``reserved_key("lock:" + cache key)``.

        >>> RedisStore("redis://127.0.0.1:6379/0", prefix="app:").reserved_key("lock:chat:1")
        b'app:\\xfflock:chat:1'
        """
        if not isinstance(name, str) or not name:
            raise TypeError(f"name: expected a non-empty str, got {name!r}")
        return self._reserved + name.encode("utf-8")

    async def execute(self, fn: Callable[[RedisClient], Awaitable[T]], *, name: str = "execute") -> T:
        """``await fn(client)`` on this store's client for the running event loop, like the store's own commands.

        The same rules as every store operation apply: it runs within ``timeout`` seconds in total; transient
        connection errors are retried with backoff while that budget allows (so ``fn`` may run more than once:
        make it idempotent, e.g. a Lua script that recognizes its own earlier effect); every failure, including a
        Redis error reply, raises `StoreError` naming ``name``, with the original exception as ``__cause__``. From
        another event loop, a store built on one ready ``client=`` forwards the call to that client's loop.
        Use your own keys under `reserved_key` or ``prefix``, never another application's.

        >>> import asyncio
        >>> async def demo() -> int:
        ...     async with RedisStore(redis_url, prefix=redis_prefix) as store:
        ...         key = store.reserved_key("counter")
        ...         return await store.execute(lambda client: client.incr(key), name="counter")
        >>> asyncio.run(demo()), asyncio.run(demo())
        (1, 2)
        """
        return await self._run(name, fn)

    # -- CacheStore ------------------------------------------------------------------------------------------

    async def get(self, key: str) -> bytes | None:
        """The value under ``key``, or ``None``."""
        name = self._prefix + check_key(key)
        return _bytes_or_none(await self._run("get", lambda c: c.get(name)))

    async def get_with_ttl(self, key: str) -> tuple[bytes | None, float | None]:
        """``(value, seconds left)`` in one round trip; ``(None, None)`` on a miss (used by `TieredStore`)."""
        name = self._prefix + check_key(key)

        async def go(client: RedisClient) -> list[Any]:
            async with client.pipeline(transaction=False) as pipe:
                pipe.get(name)
                pipe.pttl(name)
                return await pipe.execute()

        value, pttl = await self._run("get", go)
        value = _bytes_or_none(value)
        if value is None:
            return None, None
        return value, _seconds_left(pttl)

    async def get_many_with_ttl(self, keys: Sequence[str]) -> list[tuple[bytes | None, float | None]]:
        """``(value, seconds left)`` for each key, in one pipelined round trip (used by `TieredStore`)."""
        names = [self._prefix + k for k in check_keys(keys)]
        if not names:
            return []

        async def go(client: RedisClient) -> list[Any]:
            async with client.pipeline(transaction=False) as pipe:
                for name in names:
                    pipe.get(name)
                    pipe.pttl(name)
                return await pipe.execute()

        replies = await self._run("get_many", go)
        out: list[tuple[bytes | None, float | None]] = []
        for value, pttl in zip(replies[::2], replies[1::2], strict=True):
            data = _bytes_or_none(value)
            out.append((None, None) if data is None else (data, _seconds_left(pttl)))
        return out

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds (``None``: no expiry)."""
        name = self._prefix + check_key(key)
        data = check_value(value)
        seconds = check_ttl(ttl)
        if seconds is not None and seconds <= 0:
            await self._run("set", lambda c: c.unlink(name))
            return
        px = None if seconds is None else _millis(seconds)
        await self._run("set", lambda c: c.set(name, data, px=px))

    async def delete(self, key: str) -> bool:
        """Remove ``key``; ``True`` if it was present."""
        name = self._prefix + check_key(key)
        return bool(await self._run("delete", lambda c: c.unlink(name)))

    async def exists(self, key: str) -> bool:
        """Whether ``key`` holds a value."""
        name = self._prefix + check_key(key)
        return bool(await self._run("exists", lambda c: c.exists(name)))

    async def ttl(self, key: str) -> float | None:
        """Seconds left before ``key`` expires; ``None`` if it has no expiry or is absent."""
        name = self._prefix + check_key(key)
        millis = await self._run("ttl", lambda c: c.pttl(name))
        return millis / 1000 if millis >= 0 else None

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """Values for ``keys`` in order, in one round trip (MGET; a pipeline of GETs on a Cluster)."""
        names = [self._prefix + k for k in check_keys(keys)]
        if not names:
            return []

        async def go(client: RedisClient) -> list[Any]:
            if _is_cluster(client):  # MGET needs one hash slot; a cluster pipeline splits by node
                async with client.pipeline(transaction=False) as pipe:
                    for name in names:
                        pipe.get(name)
                    return await pipe.execute()
            return await client.mget(names)

        return [_bytes_or_none(v) for v in await self._run("get_many", go)]

    async def set_many(self, items: Mapping[str, bytes], ttl: float | None = None) -> None:
        """Store every item with the same ``ttl``, in one pipelined round trip (no transaction)."""
        checked = check_items(items)
        seconds = check_ttl(ttl)
        if not checked:
            return
        names = {self._prefix + k: v for k, v in checked.items()}
        expired = seconds is not None and seconds <= 0
        px = None if seconds is None or expired else _millis(seconds)

        async def go(client: RedisClient) -> None:
            async with client.pipeline(transaction=False) as pipe:
                for name, data in names.items():
                    if expired:
                        pipe.unlink(name)
                    else:
                        pipe.set(name, data, px=px)
                await pipe.execute()

        await self._run("set_many", go)

    async def clear(self, namespace: str | None = None) -> int:
        """Delete every entry under ``prefix`` (+ ``"<namespace>:"``) by SCAN + UNLINK; returns how many.

        Keys in the reserved space (`reserved_key`: locks) stay: they expire on their own, and removing a lock
        that is held would let a second process start the call it guards.
        """
        namespace = check_namespace(namespace)
        pattern = _glob_escape(self._prefix + (f"{namespace}:" if namespace else "")) + "*"

        async def go(client: RedisClient) -> int:
            removed = 0
            async for batch in self._scan(client, pattern):

                async def unlink(c: RedisClient, keys: list[bytes] = batch) -> int:
                    return int(await c.unlink(*keys))

                removed += await self._attempt(client, "clear", unlink)
            return removed

        return await self._on_client("clear", go)

    async def size(self) -> int:
        """How many entries exist under ``prefix`` (SCAN; every primary on a Cluster); `reserved_key` keys are not
        entries and are not counted."""
        pattern = _glob_escape(self._prefix) + "*"

        async def go(client: RedisClient) -> int:
            seen: set[bytes] = set()  # SCAN may return a key twice while the keyspace is rehashed
            async for batch in self._scan(client, pattern):
                seen.update(batch)
            return len(seen)

        return await self._on_client("size", go)

    async def close(self) -> None:
        """Close every client this store created, on the loop each belongs to. Idempotent.

        Clients on other loops that are running are closed there (waiting up to a couple of seconds); a client on
        a loop that is idle is closed when that loop next runs or shuts down. A caller's ``client=`` stays open.
        Later calls raise `StoreError`.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            entries = list(self._clients.items())
            self._clients.clear()
        current = asyncio.get_running_loop()
        waiting: list[asyncio.Future[None]] = []
        for loop, entry in entries:
            if entry.sentinel is None:
                continue
            if loop is current:
                await _close_entry(entry)
            elif loop.is_closed():
                detach(entry.sentinel)  # nothing can run there any more; the sockets go with the objects
            else:
                try:
                    future = asyncio.run_coroutine_threadsafe(_close_entry(entry), loop)
                except RuntimeError:  # closed in the meantime
                    detach(entry.sentinel)
                    continue
                # Wait for running loops whose thread is free; a thread blocked in run_sync (waiting, perhaps, for
                # this very call) or an idle loop closes the client when it next runs.
                if loop.is_running() and not _thread_is_blocked(entry.thread):
                    waiting.append(asyncio.wrap_future(future))
        if waiting:
            await asyncio.wait(waiting, timeout=_CLOSE_GRACE)

    def __repr__(self) -> str:
        return f"RedisStore({self._description}, prefix={self._prefix!r}, timeout={self._timeout})"

    # -- clients per loop ------------------------------------------------------------------------------------

    async def _run(self, what: str, fn: Callable[[RedisClient], Awaitable[T]]) -> T:
        """Run one command (or pipeline) ``fn(client)`` on this loop's client within the time budget."""
        loop = asyncio.get_running_loop()
        entry = self._clients.get(loop)
        if entry is not None and not self._closed:  # the hot path: one dict lookup
            return await self._attempt(entry.client, what, fn)
        return await self._on_client(what, lambda client: self._attempt(client, what, fn))

    async def _on_client(self, what: str, body: Callable[[RedisClient], Awaitable[T]]) -> T:
        """Run ``body`` with the client for the running loop, creating it (or forwarding to its loop) as needed."""
        loop = asyncio.get_running_loop()
        entry = self._clients.get(loop)
        if entry is None:
            entry, owner, created = self._resolve(loop)
            if owner is not None:
                return await self._forward(owner, entry, what, body)
            if created and entry.sentinel is not None:
                await start(entry.sentinel)
        return await body(entry.client)

    def _resolve(self, loop: asyncio.AbstractEventLoop) -> tuple[_LoopClient, asyncio.AbstractEventLoop | None, bool]:
        """This loop's client entry, the loop to forward to when a caller's client lives elsewhere, and whether
        the entry was created by this call (its sentinel must then be started)."""
        with self._lock:
            if self._closed:
                raise StoreError(f"{self!r} is closed")
            entry = self._clients.get(loop)
            if entry is not None:
                return entry, None, False
            if self._user_client is not None:
                for owner, owned in self._clients.items():
                    return owned, owner, False  # the caller's client is bound to another loop
                entry = _LoopClient(self._user_client, None, threading.get_ident())
                self._clients[loop] = entry
                return entry, None, True
            self._prune_closed_loops()
            assert self._factory is not None
            try:
                client = self._factory()
                _require_bytes(client)
            except Exception as exc:
                raise StoreError(f"{self!r}: cannot create a client: {exc}") from exc
            self._check_socket_timeout(client)
            sentinel = until_loop_end(partial(_closed_with_loop, weakref.ref(self), loop, client), "a Redis client")
            entry = _LoopClient(client, sentinel, threading.get_ident())
            self._clients[loop] = entry
            return entry, None, True

    async def _forward(
        self,
        owner: asyncio.AbstractEventLoop,
        entry: _LoopClient,
        what: str,
        body: Callable[[RedisClient], Awaitable[T]],
    ) -> T:
        """Run ``body`` on the loop that owns the caller's client, from another loop."""
        hint = "pass url= or client_factory= to use the store from several event loops"
        if owner.is_closed() or not owner.is_running():
            raise StoreError(f"{self!r}.{what}: the client is bound to an event loop that is not running; {hint}")
        if _thread_is_blocked(entry.thread):
            raise StoreError(
                f"{self!r}.{what}: the client's event loop is blocked in run_sync (it would deadlock); {hint}"
            )

        async def on_owner() -> T:
            return await body(entry.client)

        future = asyncio.run_coroutine_threadsafe(on_owner(), owner)
        try:
            return await within(self._timeout, lambda: asyncio.wrap_future(future))
        except TimeoutError as exc:
            raise StoreError(
                f"{self!r}.{what}: no answer from the client's event loop within {self._timeout}s"
            ) from exc

    def _check_socket_timeout(self, client: RedisClient) -> None:
        """Warn (once per store) when nothing bounds a read from a silent server: no budget, no socket timeout."""
        if self._timeout is not None or self._warned_unbounded:
            return
        options = client.get_connection_kwargs()
        if "socket_timeout" in options and options["socket_timeout"] is None:
            unbounded = True
        else:  # not given: the client library's default applies (redis-py 8: 5 s; before: none)
            unbounded = "socket_timeout" not in options and _library_socket_timeout(client) is None
        if unbounded:
            self._warned_unbounded = True
            log.warning(
                "cachepoint: %r has timeout=None and its client has no socket_timeout: a Redis server that stops "
                "answering will block calls until the connection breaks; give the client a socket_timeout",
                self,
            )

    def _prune_closed_loops(self) -> None:
        """Drop clients of loops closed without finalizing async generators (lock held)."""
        for loop in [lp for lp in self._clients if lp.is_closed()]:
            sentinel = self._clients.pop(loop).sentinel
            if sentinel is not None:
                detach(sentinel)

    def _forget(self, loop: asyncio.AbstractEventLoop, client: RedisClient) -> None:
        """Called by a loop's sentinel as that loop shuts down."""
        with self._lock:
            entry = self._clients.get(loop)
            if entry is not None and entry.client is client:
                del self._clients[loop]

    def _after_fork(self) -> None:
        """In a forked child: the parent's connections are not ours to use; start over on first use.

        The parent's clients are kept alive, never closed: closing (or collecting) one would unregister its socket
        from the event loop's epoll instance, which the child shares with the parent, and the parent would never
        hear from that connection again.
        """
        self._lock = threading.Lock()
        for entry in self._clients.values():
            if entry.sentinel is not None:
                detach(entry.sentinel)
        _INHERITED.append(self._clients)
        self._clients = {}

    # -- retries and budget ----------------------------------------------------------------------------------

    async def _attempt(self, client: RedisClient, what: str, fn: Callable[[RedisClient], Awaitable[T]]) -> T:
        timeout = self._timeout
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        attempt = 0
        while True:
            try:
                if deadline is None:
                    return await fn(client)
                if sys.version_info >= (3, 11):  # inline: this is the hot path of every command
                    if deadline <= loop.time():
                        raise TimeoutError("time budget exhausted")
                    async with asyncio.timeout_at(deadline):
                        return await fn(client)
                else:  # pragma: no cover - 3.10
                    return await within(deadline - loop.time(), lambda: fn(client))
            except TimeoutError as exc:  # the budget is spent (before the generic OSError below)
                raise StoreError(f"{self!r}.{what}: no answer within {timeout}s ({attempt + 1} attempts)") from exc
            except _TRANSIENT as exc:
                if isinstance(exc, _WRONG_CREDENTIALS):  # wrong credentials stay wrong
                    raise StoreError(f"{self!r}.{what}: {_describe(exc)}") from exc
                attempt += 1
                cap = min(self._max_backoff, self._backoff * 2 ** (attempt - 1))
                delay = cap / 2 + random.uniform(0, cap / 2)  # noqa: S311 - jitter, not crypto
                if attempt > self._retries or (deadline is not None and loop.time() + delay >= deadline):
                    raise StoreError(f"{self!r}.{what}: {_describe(exc)} (after {attempt} attempts)") from exc
                await asyncio.sleep(delay)
            except StoreError:
                raise
            except Exception as exc:
                raise StoreError(f"{self!r}.{what}: {_describe(exc)}") from exc

    async def _scan(self, client: RedisClient, pattern: str) -> AsyncGenerator[list[bytes], None]:
        """Batches of entry keys matching ``pattern``, one SCAN round trip each (per primary on a Cluster).

        Reserved keys are left out here, so every bulk operation skips them alike.
        """
        async for batch in self._scan_all(client, pattern):
            reserved = self._reserved
            entries = [key for key in batch if not key.startswith(reserved)]
            if entries:
                yield entries

    async def _scan_all(self, client: RedisClient, pattern: str) -> AsyncGenerator[list[bytes], None]:
        count = self._scan_count
        if _is_cluster(client):
            await self._attempt(client, "scan", lambda c: c.initialize())
            for node in cast(RedisCluster, client).get_primaries():
                cursor = 0
                while True:

                    async def step(c: RedisClient, cursor: int = cursor, node: Any = node) -> Any:
                        return await c.scan(cursor=cursor, match=pattern, count=count, target_nodes=node)

                    cursors, keys = await self._attempt(client, "scan", step)
                    if keys:
                        yield list(keys)
                    cursor = cursors[node.name]
                    if cursor == 0:
                        break
            return
        cursor = 0
        while True:

            async def plain_step(c: RedisClient, cursor: int = cursor) -> Any:
                return await c.scan(cursor=cursor, match=pattern, count=count)

            cursor, keys = await self._attempt(client, "scan", plain_step)
            if keys:
                yield list(keys)
            if cursor == 0:
                break


async def _close_entry(entry: _LoopClient) -> None:
    """Close a store-owned client on its own loop (and stop its sentinel from closing it again)."""
    if entry.sentinel is not None:
        detach(entry.sentinel)
    try:
        await entry.client.aclose()
    except Exception:
        log.debug("RedisStore: error closing a client", exc_info=True)


def _url_factory(
    url: str,
    *,
    timeout: float | None,
    socket_timeout: float | None,
    client_name: str | None,
    options: Mapping[str, Any],
) -> Callable[[], RedisClient]:
    connect = [t for t in (timeout, socket_timeout) if t is not None]
    kwargs: dict[str, Any] = {
        "decode_responses": False,
        # The store retries within its own time budget; redis-py's default retry (with a 1 s base backoff) would
        # spend that budget sleeping.
        "retry": Retry(NoBackoff(), 0),
        # Set here, not left to redis-py: its default read timeout is 5 s from 8.0 on and none before, and without
        # one a silent server holds a call forever when nothing cancels it (timeout=None).
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": min(connect) if connect else None,
    }
    if client_name:
        kwargs["client_name"] = client_name
    kwargs.update(options)
    if kwargs.get("decode_responses"):
        raise ValueError("decode_responses: RedisStore stores bytes and needs decode_responses=False")

    def make() -> RedisClient:
        return Redis.from_url(url, **kwargs)

    return make


def _library_socket_timeout(client: RedisClient) -> float | None:
    """The read timeout a connection of ``client`` gets when none was given (its library's default)."""
    connection_class = getattr(getattr(client, "connection_pool", None), "connection_class", None)
    try:
        default = inspect.signature(connection_class).parameters.get("socket_timeout")  # type: ignore[arg-type]
    except (TypeError, ValueError):  # no class, or one without a signature: assume the worst
        return None
    if default is None or default.default is inspect.Parameter.empty:
        return None
    value = default.default
    return float(value) if isinstance(value, (int, float)) else None


def _is_cluster(client: object) -> bool:
    """A cluster client (redis-py's ``RedisCluster``, valkey's ``ValkeyCluster``): it knows its primaries."""
    return isinstance(client, RedisCluster) or callable(getattr(client, "get_primaries", None))


def _require_bytes(client: object) -> None:
    missing = [m for m in _CLIENT_METHODS if not callable(getattr(client, m, None))]
    if missing:
        raise TypeError(
            "client: expected a redis.asyncio or valkey.asyncio client (Redis, RedisCluster, Valkey, ValkeyCluster), "
            f"got {type(client).__name__} (no {', '.join(missing)})"
        )
    if cast(RedisClient, client).get_connection_kwargs().get("decode_responses"):
        raise ValueError("client: RedisStore stores bytes; create the client with decode_responses=False")


def _bytes_or_none(value: object) -> bytes | None:
    if value is None or type(value) is bytes:
        return value
    raise StoreError(f"Redis returned {type(value).__name__}, not bytes: the client must use decode_responses=False")


def _describe(exc: BaseException) -> str:
    # Not repr(): redis-py 8 reprs its errors as "network:ConnectionError", without the message.
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _seconds_left(pttl: int) -> float | None:
    """PTTL after a GET in the same pipeline: -1 no expiry; -2 the key expired in between (0 s left)."""
    if pttl == -1:
        return None
    return max(pttl, 0) / 1000


def _millis(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _redact(url: str) -> str:
    """``url`` without a password, for messages and reprs."""
    return re.sub(r"//([^:/@]*):[^@/]*@", r"//\1:***@", url)
