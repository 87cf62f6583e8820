"""RedisStore with the `valkey` client (valkey.asyncio), against our real Redis server and cluster.

Debian bookworm ships no valkey-server, so the *server* here is redis-server; what is proven is that the valkey
PyPI client works as RedisStore's client (single node and cluster), not that a Valkey server does.
"""

from __future__ import annotations

import pytest
import redis
import valkey.asyncio as aiovalkey

from cachepoint.core.breaker import GuardedStore
from cachepoint.core.stores import RedisStore, StoreError, SyncStore

pytestmark = pytest.mark.redis


async def test_a_valkey_client_is_accepted_and_works(redis_url, redis_prefix) -> None:
    client = aiovalkey.Valkey.from_url(redis_url)
    async with RedisStore(client=client, prefix=redis_prefix) as store:
        await store.set("chat:1", b"\x00\xffbinary", ttl=30)
        assert await store.get("chat:1") == b"\x00\xffbinary"
        left = await store.ttl("chat:1")
        assert left is not None
        assert 29 < left <= 30
        await store.set_many({"chat:2": b"2", "chatbot:1": b"3"})
        assert await store.get_many(["chat:1", "chat:2", "none"]) == [b"\x00\xffbinary", b"2", None]
        assert await store.get_with_ttl("chat:2") == (b"2", None)
        assert await store.size() == 3
        assert await store.clear("chat") == 2
        assert await store.get("chatbot:1") == b"3"
        assert await store.delete("chatbot:1")
    await client.aclose()


def test_a_valkey_client_factory_serves_every_event_loop(redis_url, redis_prefix) -> None:
    store = RedisStore(client_factory=lambda: aiovalkey.Valkey.from_url(redis_url), prefix=redis_prefix)
    with SyncStore(store) as sync:  # the bridge's loop
        sync.set("k", b"v")
        assert sync.get("k") == b"v"
    raw = redis.Redis.from_url(redis_url)
    assert raw.get(f"{redis_prefix}k") == b"v"
    raw.close()


def test_a_decoding_valkey_client_is_refused(redis_url) -> None:
    with pytest.raises(ValueError, match="decode_responses=False"):
        RedisStore(client=aiovalkey.Valkey.from_url(redis_url, decode_responses=True), prefix="x:")


async def test_valkey_connection_errors_are_retried_and_become_store_errors() -> None:
    client = aiovalkey.Valkey(host="127.0.0.1", port=1, socket_connect_timeout=1)  # nothing listens on port 1
    store = RedisStore(client=client, prefix="cptest:", retries=2, backoff=0.001)
    with pytest.raises(StoreError, match=r"ConnectionError.*after 3 attempts"):
        await store.get("k")
    assert await GuardedStore(store).get("k") is None


async def test_a_valkey_cluster_client_clears_every_primary(redis_cluster) -> None:
    client = aiovalkey.ValkeyCluster(host="127.0.0.1", port=redis_cluster[0].port)
    async with RedisStore(client=client, prefix="vk:") as store:
        items = {f"ns:{i}": str(i).encode() for i in range(60)}  # spread over every node's slots
        await store.set_many(items)
        assert await store.get_many(list(items)) == list(items.values())
        assert await store.size() == 60
        assert await store.clear("ns") == 60
        assert await store.size() == 0
    await client.aclose()


def test_a_non_client_is_still_refused() -> None:
    with pytest.raises(TypeError, match=r"client: expected a redis\.asyncio or valkey\.asyncio client"):
        RedisStore(client=object(), prefix="x:")
