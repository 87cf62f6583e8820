"""Distributed single-flight: a lease lock in Redis so identical calls in *different processes* make one call.

The protocol is the classic one: ``SET key token NX PX lease`` to acquire (the token is random, so only its
holder can release), and a Lua compare-and-delete to release (a holder whose lease expired must not delete the
next holder's lock). Acquisition is a Lua script too, so a retried ``SET`` after a lost reply recognizes its own
token instead of waiting on itself. Waiting callers poll the *store* for the holder's result with backoff, and
call upstream themselves after a deadline; the lease bounds how long a crashed holder blocks anyone. See
`cachepoint.core.response_cache.ResponseCache` for how waiting works.
"""

from __future__ import annotations

import secrets
from typing import Any, Protocol, runtime_checkable

from cachepoint.core.stores.redis import RedisClient, RedisStore

__all__ = ["DistributedLock", "RedisLock"]

# Returns 1 if the caller holds the lock after the call (newly set, or already set with its own token).
_ACQUIRE = """
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('get', KEYS[1]) == ARGV[1] then return 1 end
return 0
"""
# Deletes the lock only if it still holds the caller's token.
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


@runtime_checkable
class DistributedLock(Protocol):
    """A lease lock shared by processes. ``acquire`` returns a token (held) or ``None`` (someone else holds it).

    Implementations may raise on backend failure; the response cache then goes ahead without the lock.

    >>> isinstance(RedisLock(RedisStore("redis://127.0.0.1:6379/0")), DistributedLock)
    True
    """

    async def acquire(self, key: str, lease: float) -> str | None:
        """Try once to take the lock on ``key`` for ``lease`` seconds; the holder's token, or ``None``.

        >>> # token = await lock.acquire("chat:shared:v1:ab12...", lease=60)
        """
        ...

    async def release(self, key: str, token: str) -> bool:
        """Release ``key`` if ``token`` still holds it; ``True`` if it did.

        >>> # await lock.release("chat:shared:v1:ab12...", token)
        """
        ...


class RedisLock:
    """`DistributedLock` on the Redis behind a `RedisStore` (same connections, same per-loop handling, same
    timeouts and retries, through `RedisStore.execute`). A lock lives in the store's reserved space,
    ``store.reserved_key("lock:" + cache key)`` = ``<prefix>`` + byte 0xFF + ``lock:<cache key>``: it can never
    collide with an entry key, and the store's ``size()`` and ``clear()`` neither count nor remove it (the lease
    expires it).

    >>> store = RedisStore("redis://127.0.0.1:6379/0", prefix="app:")
    >>> lock = RedisLock(store)
    >>> # ResponseCache(store, CachePolicy("chat"), lock=lock)
    """

    def __init__(self, store: RedisStore) -> None:
        if not isinstance(store, RedisStore):
            raise TypeError(f"store: expected a RedisStore, got {type(store).__name__}")
        self._store = store

    @property
    def timeout(self) -> float | None:
        """The time budget of each lock call: its store's (`RedisStore.timeout`), retries included.

        >>> RedisLock(RedisStore("redis://127.0.0.1:6379/0", timeout=0.5)).timeout
        0.5
        """
        return self._store.timeout

    async def acquire(self, key: str, lease: float) -> str | None:
        """Take the lock for ``lease`` seconds; a token, or ``None`` if another holder has it.

        ``redis_url`` is your server's URL, ``redis_prefix`` your key prefix (see `RedisStore`):

        >>> import asyncio
        >>> async def demo() -> tuple[bool, bool]:
        ...     async with RedisStore(redis_url, prefix=redis_prefix) as store:
        ...         lock = RedisLock(store)
        ...         token = await lock.acquire("chat:k", lease=5)
        ...         taken = await lock.acquire("chat:k", lease=5)  # held: no second holder
        ...         return token is not None and taken is None, await lock.release("chat:k", token)
        >>> asyncio.run(demo())
        (True, True)
        """
        token = secrets.token_hex(16)
        name = self.key_of(key)
        millis = max(1, int(lease * 1000))

        # Idempotent (a retried call finds its own token), as `RedisStore.execute` requires.
        async def go(client: RedisClient) -> Any:
            return await client.eval(_ACQUIRE, 1, name, token, millis)

        held = await self._store.execute(go, name="lock acquire")
        return token if int(held) == 1 else None

    async def release(self, key: str, token: str) -> bool:
        """Release the lock if ``token`` still holds it (a Lua compare-and-delete); see `acquire`.

        >>> # released = await RedisLock(store).release("chat:k", token)
        """
        name = self.key_of(key)

        async def go(client: RedisClient) -> Any:
            return await client.eval(_RELEASE, 1, name, token)

        return int(await self._store.execute(go, name="lock release")) == 1

    def key_of(self, key: str) -> bytes:
        """The Redis key of the lock on cache key ``key``.

        >>> RedisLock(RedisStore("redis://127.0.0.1:6379/0", prefix="app:")).key_of("chat:k")
        b'app:\\xfflock:chat:k'
        """
        return self._store.reserved_key("lock:" + key)

    def __repr__(self) -> str:
        return f"RedisLock({self._store!r})"
