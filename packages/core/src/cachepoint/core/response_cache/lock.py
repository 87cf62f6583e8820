"""Distributed single-flight: a lease lock in Redis so identical calls in *different processes* make one call.

The protocol is the classic one: ``SET key token NX PX lease`` to acquire (the token is random, so only its
holder can renew or release), a Lua compare-and-pexpire to renew, and a Lua compare-and-delete to release (a
holder whose lease expired must not touch the next holder's lock). Acquisition is a Lua script too, so a retried
``SET`` after a lost reply recognizes its own token instead of waiting on itself. The holder renews its lease
while its call runs (`Lease`), so a call longer than the lease is still made once; a holder that dies stops
renewing, and its lease expires. Waiting callers poll the *store* for the holder's result with backoff. See
`cachepoint.core.response_cache.ResponseCache` for how waiting works.

redis-py's own ``Lock`` renews and releases with these same scripts (``Lock.LUA_REACQUIRE_SCRIPT`` and
``Lock.LUA_RELEASE_SCRIPT``, used here as they are), but its objects are not: a ``Lock`` is bound to one client,
while a `RedisStore` keeps one client per event loop and retries idempotent calls within its time budget
(`RedisStore.execute`); its ``acquire`` is a plain ``SET NX``, which such a retry after a lost reply would turn
into waiting on ourselves; and it runs scripts by ``EVALSHA``, recovering only from redis-py's own
``NoScriptError`` (a Valkey client raises its own).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, runtime_checkable

from redis.asyncio.lock import Lock

from cachepoint.core.stores.redis import RedisClient, RedisStore

__all__ = ["DistributedLock", "Lease", "RedisLock"]

log = logging.getLogger(__name__)

# Returns 1 if the caller holds the lock after the call (newly set, or already set with its own token).
_ACQUIRE = """
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('get', KEYS[1]) == ARGV[1] then return 1 end
return 0
"""
# Sets the lease to ARGV[2] milliseconds if KEYS[1] still holds the caller's token ARGV[1]; 1 if it did.
_RENEW = Lock.LUA_REACQUIRE_SCRIPT
# Deletes the lock only if it still holds the caller's token; 1 if it did.
_RELEASE = Lock.LUA_RELEASE_SCRIPT


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

    async def renew(self, key: str, token: str, lease: float) -> bool:
        """Make ``token``'s lock on ``key`` last ``lease`` more seconds from now; ``False`` if ``token`` no longer
        holds it (its lease ran out and someone else may hold it now).

        >>> # still_held = await lock.renew("chat:shared:v1:ab12...", token, lease=15)
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

    async def renew(self, key: str, token: str, lease: float) -> bool:
        """Set the lease of ``token``'s lock to ``lease`` seconds from now, if ``token`` still holds it (a Lua
        compare-and-pexpire); ``False`` if it does not.

        >>> import asyncio
        >>> async def demo() -> tuple[bool, bool]:
        ...     async with RedisStore(redis_url, prefix=redis_prefix) as store:
        ...         lock = RedisLock(store)
        ...         token = await lock.acquire("chat:k", lease=5)
        ...         assert token is not None
        ...         renewed = await lock.renew("chat:k", token, lease=5)
        ...         await lock.release("chat:k", token)
        ...         return renewed, await lock.renew("chat:k", token, lease=5)
        >>> asyncio.run(demo())
        (True, False)
        """
        name = self.key_of(key)
        millis = max(1, int(lease * 1000))

        async def go(client: RedisClient) -> Any:
            return await client.eval(_RENEW, 1, name, token, millis)

        return int(await self._store.execute(go, name="lock renew")) == 1

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


class Lease:
    """A held lock kept alive while its holder works: ``renew()`` every third of the lease, from `start` until
    `stop`, on the loop that started it. A renewal that fails is tried again at the next period (the lease has
    two more periods to run); a renewal that finds the lock held by someone else ends the renewals (logged).

    >>> import asyncio
    >>> async def demo() -> int:
    ...     renewals = []
    ...     async def renew() -> bool:
    ...         renewals.append(1)
    ...         return True
    ...     lease = Lease("chat:k", "token", 0.03, renew)
    ...     lease.start()
    ...     await asyncio.sleep(0.1)
    ...     await lease.stop()
    ...     return len(renewals)
    >>> asyncio.run(demo()) >= 2
    True
    """

    __slots__ = ("_period", "_renew", "_task", "key", "token")

    def __init__(self, key: str, token: str, lease: float, renew: Callable[[], Awaitable[bool]]) -> None:
        self.key = key
        self.token = token
        self._period = lease / 3
        self._renew = renew
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start renewing, on the running loop."""
        self._task = asyncio.get_running_loop().create_task(self._keep())

    async def stop(self) -> None:
        """Stop renewing (call it on the loop that started it, before releasing the lock)."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            # `wait`, not `await task`: a cancellation of the caller itself must still reach the caller.
            await asyncio.wait({task})

    async def _keep(self) -> None:
        while True:
            await asyncio.sleep(self._period)
            try:
                held = await self._renew()
            except Exception:
                log.debug("response cache: renewing the lock on %s failed; trying again", self.key, exc_info=True)
                continue
            if not held:
                log.warning(
                    "response cache: the lock on %s was lost before its call finished (its lease ran out): another "
                    "process may be making the same call",
                    self.key,
                )
                return
