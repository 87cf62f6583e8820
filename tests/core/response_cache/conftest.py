"""Helpers for response-cache tests: a counting upstream, caches over a memory store, real Redis stores."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from cachepoint.core.breaker import GuardedStore
from cachepoint.core.response_cache import CachePolicy, RedisLock, ResponseCache
from cachepoint.core.stores import MemoryStore, RedisStore

# Time budget of the Redis stores in tests that prove the lock protocol. With the production default (1 s), a
# loaded machine (2 cores, several test suites at once, 100 cold connections opened in one burst) made some store
# and lock calls overrun their budget: by design they became misses and lock errors, a caller went ahead without
# the lock, made a second upstream call, and the test's wait for `lock_waits == 1` never came true. Budgets and
# faults are proved elsewhere (tests/core/faults, test_a_server_that_never_answers_is_a_miss); these tests need
# every call to be answered, so they give Redis all the time it needs.
PATIENT = 60.0


class Upstream:
    """A fake model endpoint that counts its calls (thread-safe) and can be held open until released."""

    def __init__(self, answer: Any = None) -> None:
        self.answer = answer if answer is not None else {"role": "assistant", "content": "Paris"}
        self._lock = threading.Lock()
        self.calls = 0
        self.release = threading.Event()
        self.release.set()
        self.fail_with: BaseException | None = None

    def hold(self) -> None:
        """Make calls wait until `open()`."""
        self.release.clear()

    def open(self) -> None:
        self.release.set()

    async def __call__(self) -> Any:
        with self._lock:
            self.calls += 1
        # A threading.Event, not an asyncio one: callers run on many loops and threads at once.
        while not self.release.is_set():  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        if self.fail_with is not None:
            raise self.fail_with
        return self.answer

    def sync(self) -> Any:
        with self._lock:
            self.calls += 1
        self.release.wait(30)
        if self.fail_with is not None:
            raise self.fail_with
        return self.answer


class StreamUpstream:
    """An upstream token stream: counts opens, records whether each stream was closed or finished, and can
    pause after a given chunk until released (like a real network stream between tokens)."""

    def __init__(self, chunks: list[Any], *, pause_after: int | None = None, fail_after: int | None = None) -> None:
        self.chunks = chunks
        self.pause_after = pause_after
        self.fail_after = fail_after
        self.opened = 0
        self.finished = 0
        self.closed_early = 0
        self.release = asyncio.Event()
        self.paused = asyncio.Event()

    def __call__(self) -> AsyncIterator[Any]:
        return self._gen()

    async def _gen(self) -> AsyncIterator[Any]:
        self.opened += 1
        done = False
        try:
            for index, chunk in enumerate(self.chunks):
                if self.fail_after is not None and index == self.fail_after:
                    raise ConnectionResetError("upstream dropped the stream")
                yield chunk
                if self.pause_after is not None and index + 1 == self.pause_after:
                    self.paused.set()
                    await self.release.wait()
                await asyncio.sleep(0)
            done = True
            self.finished += 1
        finally:
            if not done:
                self.closed_early += 1


def request(content: str = "Capital of France?", **params: Any) -> dict[str, Any]:
    """An LLM request asking for a repeatable answer (temperature 0) unless ``params`` say otherwise; pass
    ``temperature=None`` for a request that leaves it unset."""
    out = {"model": "claude-sonnet-5", "messages": [{"role": "user", "content": content}], "temperature": 0, **params}
    return {k: v for k, v in out.items() if v is not None}


def _timed_out(timeout: float, describe: Callable[[], str] | None) -> AssertionError:
    state = f": {describe()}" if describe is not None else ""
    return AssertionError(f"condition not reached in {timeout}s{state}")


async def wait_until(
    condition: Callable[[], bool], timeout: float = 30.0, describe: Callable[[], str] | None = None
) -> None:
    """Wait for ``condition`` (a generous deadline, not a speed check); on failure say what the state was."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise _timed_out(timeout, describe)
        await asyncio.sleep(0.002)


def wait_until_sync(
    condition: Callable[[], bool], timeout: float = 30.0, describe: Callable[[], str] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise _timed_out(timeout, describe)
        time.sleep(0.002)


def describe_caches(**caches: ResponseCache) -> Callable[[], str]:
    """For `wait_until(describe=...)`: each cache's non-zero counters and its guard's, to tell why it stalled."""

    def describe() -> str:
        parts = []
        for name, cache in caches.items():
            counters = {k: v for k, v in cache.stats().as_dict().items() if v and k != "namespace"}
            guard = cache.store.stats if isinstance(cache.store, GuardedStore) else None
            parts.append(f"{name}: {counters} guard={guard}")
        return "; ".join(parts)

    return describe


@pytest.fixture
def upstream() -> Upstream:
    return Upstream()


@pytest.fixture
def helpers() -> Any:
    """Namespace of helper classes and functions (test modules cannot import each other)."""

    class H:
        Upstream = Upstream
        StreamUpstream = StreamUpstream
        request = staticmethod(request)
        wait_until = staticmethod(wait_until)
        wait_until_sync = staticmethod(wait_until_sync)
        describe_caches = staticmethod(describe_caches)
        PATIENT = PATIENT

    return H


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore(max_entries=10_000)


@pytest.fixture
def make_cache(store: MemoryStore) -> Callable[..., ResponseCache]:
    def make(namespace: str = "chat", *, store_: Any = None, **kwargs: Any) -> ResponseCache:
        cache_kwargs = {k: kwargs.pop(k) for k in ("codec", "guard", "lock", "dump", "load", "timeout") if k in kwargs}
        return ResponseCache(store_ if store_ is not None else store, CachePolicy(namespace, **kwargs), **cache_kwargs)

    return make


@pytest.fixture
async def redis_store(redis_url: str, redis_prefix: str) -> AsyncIterator[RedisStore]:
    store = RedisStore(redis_url, prefix=redis_prefix)
    yield store
    await store.close()


@pytest.fixture
async def worker_cache(redis_url: str, redis_prefix: str) -> AsyncIterator[Callable[..., ResponseCache]]:
    """``make(**policy)``: a cache with a `RedisLock`, on its own `RedisStore` (own connections, own in-process
    single-flight, like another worker process), sharing this test's prefix, with the patient time budget."""
    stores: list[RedisStore] = []

    def make(namespace: str = "chat", **policy: Any) -> ResponseCache:
        store = RedisStore(redis_url, prefix=redis_prefix, timeout=PATIENT)
        stores.append(store)
        guarded = GuardedStore(store, timeout=PATIENT)
        return ResponseCache(guarded, CachePolicy(namespace, **policy), lock=RedisLock(store), timeout=PATIENT)

    yield make
    for store in stores:
        await store.close()


@pytest.fixture
def closed_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port
