"""Fixtures for breaker tests: a hand-driven clock and a store whose backend can be made to fail or hang.

`FaultyStore` is a real `MemoryStore` with a switch in front of it (a fault injector, not a mock): the code under
test, `GuardedStore`, sees exactly what it would see from a backend that starts failing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

import pytest

from cachepoint.core.stores import MemoryStore, StoreError


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FaultyStore:
    """A MemoryStore whose every call fails (``mode="fail"``), hangs (``"hang"``), is interrupted as by Ctrl-C
    (``"interrupt"``) or works (``"ok"``)."""

    def __init__(self) -> None:
        self.inner = MemoryStore(max_entries=1000)
        self.mode = "ok"
        self.calls = 0
        self.closed = False
        self.fail_on_close = False

    async def _gate(self) -> None:
        self.calls += 1
        if self.mode == "fail":
            raise StoreError("backend down (injected)")
        if self.mode == "hang":
            await asyncio.Event().wait()
        if self.mode == "interrupt":
            raise KeyboardInterrupt

    async def get(self, key: str) -> bytes | None:
        await self._gate()
        return await self.inner.get(key)

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        await self._gate()
        await self.inner.set(key, value, ttl)

    async def delete(self, key: str) -> bool:
        await self._gate()
        return await self.inner.delete(key)

    async def exists(self, key: str) -> bool:
        await self._gate()
        return await self.inner.exists(key)

    async def ttl(self, key: str) -> float | None:
        await self._gate()
        return await self.inner.ttl(key)

    async def size(self) -> int:
        await self._gate()
        return await self.inner.size()

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        await self._gate()
        return await self.inner.get_many(keys)

    async def set_many(self, items: Mapping[str, bytes], ttl: float | None = None) -> None:
        await self._gate()
        await self.inner.set_many(items, ttl)

    async def clear(self, namespace: str | None = None) -> int:
        await self._gate()
        return await self.inner.clear(namespace)

    async def close(self) -> None:
        self.closed = True
        if self.fail_on_close:
            raise StoreError("close failed (injected)")
        await self.inner.close()

    async def __aenter__(self) -> FaultyStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def faulty() -> FaultyStore:
    return FaultyStore()
