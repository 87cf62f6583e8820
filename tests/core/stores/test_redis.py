"""RedisStore against the real Redis: semantics, prefixes, namespaces, clients, loops and connection hygiene."""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import redis
import redis.asyncio as aioredis

from cachepoint.core.stores import CacheStore, RedisStore, StoreError, SyncStore

pytestmark = pytest.mark.redis


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` seconds pass (a generous deadline, not a speed check)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


async def test_roundtrip_under_the_prefix(redis_url, redis_prefix, raw) -> None:
    async with RedisStore(redis_url, prefix=redis_prefix) as store:
        assert isinstance(store, CacheStore)
        assert await store.get("k") is None
        await store.set("k", b"\x00\xffbinary")
        assert raw.get(f"{redis_prefix}k") == b"\x00\xffbinary"  # stored raw, under the prefix
        assert await store.get("k") == b"\x00\xffbinary"
        assert await store.exists("k")
        assert await store.delete("k") is True
        assert await store.delete("k") is False
        assert not await store.exists("k")


async def test_ttl_is_set_in_milliseconds_and_reported_in_seconds(redis_url, redis_prefix, raw) -> None:
    async with RedisStore(redis_url, prefix=redis_prefix) as store:
        await store.set("t", b"v", ttl=30.5)
        assert 29_000 < raw.pttl(f"{redis_prefix}t") <= 30_500
        left = await store.ttl("t")
        assert left is not None
        assert 29 < left <= 30.5
        value, left = await store.get_with_ttl("t")
        assert value == b"v"
        assert left is not None
        assert 29 < left <= 30.5
        await store.set("forever", b"v")
        assert await store.ttl("forever") is None
        assert await store.get_with_ttl("forever") == (b"v", None)
        assert await store.ttl("absent") is None
        assert await store.get_with_ttl("absent") == (None, None)
        await store.set("t", b"v", ttl=0)  # a non-positive ttl deletes
        assert raw.exists(f"{redis_prefix}t") == 0


async def test_short_ttl_expires_on_the_server(redis_url, redis_prefix) -> None:
    async with RedisStore(redis_url, prefix=redis_prefix) as store:
        await store.set("short", b"v", ttl=0.05)
        for _ in range(200):
            if await store.get("short") is None:
                break
            await asyncio.sleep(0.02)
        assert await store.get("short") is None


async def test_many_in_one_round_trip(redis_url, redis_prefix, raw) -> None:
    async with RedisStore(redis_url, prefix=redis_prefix) as store:
        await store.set_many({"a": b"1", "b": b"2", "c": b""}, ttl=60)
        assert await store.get_many(["a", "missing", "c", "b"]) == [b"1", None, b"", b"2"]
        assert await store.get_many([]) == []
        assert 0 < raw.pttl(f"{redis_prefix}a") <= 60_000
        await store.set_many({"a": b"x"}, ttl=-1)
        assert await store.get("a") is None


async def test_clear_and_size_stay_inside_prefix_and_namespace(redis_url, redis_prefix, raw) -> None:
    outside = f"{redis_prefix}outside:"  # a neighbour prefix that begins with the store's text
    raw.set(f"{outside}k", b"keep")
    async with RedisStore(redis_url, prefix=f"{redis_prefix}in:") as store:
        await store.set_many({f"chat:{i}": b"v" for i in range(1200)})  # several SCAN batches
        await store.set_many({"chatbot:1": b"v", "other:1": b"v"})
        assert await store.size() == 1202
        assert await store.clear("chat") == 1200
        assert await store.get_many(["chatbot:1", "other:1"]) == [b"v", b"v"]
        assert await store.clear() == 2
        assert await store.size() == 0
    assert raw.get(f"{outside}k") == b"keep"


async def test_reserved_keys_are_beside_the_entries_never_among_them(redis_url, redis_prefix, raw) -> None:
    async with RedisStore(redis_url, prefix=redis_prefix) as store:
        lock = store.reserved_key("lock:chat:1")
        assert lock == redis_prefix.encode() + b"\xff" + b"lock:chat:1"
        await store.set_many({"chat:1": b"v", "chat:2": b"v", "\xfflock:chat:1": b"entry"})
        assert await store.execute(lambda c: c.set(lock, b"token", px=60_000), name="lock") is True
        # The entry whose *text* looks like the reserved name is a different Redis key (0xFF is never UTF-8):
        assert raw.get(lock) == b"token"
        assert await store.get("\xfflock:chat:1") == b"entry"
        assert await store.size() == 3  # entries only
        assert await store.clear("chat") == 2
        assert await store.clear() == 1
        assert await store.size() == 0
        assert raw.get(lock) == b"token"  # clear() leaves a held lock to its lease
        assert 0 < raw.pttl(lock) <= 60_000


async def test_execute_runs_within_the_budget_and_wraps_errors(redis_url, redis_prefix, raw) -> None:
    async with RedisStore(redis_url, prefix=redis_prefix, timeout=0.5) as store:
        key = store.reserved_key("counter")
        assert await store.execute(lambda c: c.incr(key)) == 1
        assert raw.get(key) == b"1"
        with pytest.raises(StoreError, match=r"\.frobnicate: ResponseError") as info:
            await store.execute(lambda c: c.execute_command("NO-SUCH-COMMAND"), name="frobnicate")
        assert isinstance(info.value.__cause__, redis.exceptions.ResponseError)
        with pytest.raises(StoreError, match=r"\.slow: no answer within 0.5s"):
            await store.execute(lambda c: asyncio.sleep(5), name="slow")  # the budget covers whatever fn awaits
    with pytest.raises(TypeError, match="name: expected a non-empty str"):
        store.reserved_key("")


async def test_glob_characters_in_prefix_match_only_themselves(redis_url, redis_prefix, raw) -> None:
    raw.set(f"{redis_prefix}aXb:k", b"keep")  # would match an unescaped "a?b:*" or "a*b:*"
    async with (
        RedisStore(redis_url, prefix=f"{redis_prefix}a*b:") as star,
        RedisStore(redis_url, prefix=f"{redis_prefix}a?b:") as question,
    ):
        await star.set("k", b"v")
        await question.set("k", b"v")
        assert await star.size() == 1
        assert await star.clear() == 1
        assert await question.clear() == 1
    assert raw.get(f"{redis_prefix}aXb:k") == b"keep"


async def test_closed_store_raises_store_error(redis_url, redis_prefix) -> None:
    store = RedisStore(redis_url, prefix=redis_prefix)
    await store.set("k", b"v")
    await store.close()
    with pytest.raises(StoreError, match="closed"):
        await store.get("k")
    await store.close()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "give exactly one"),
        ({"url": "redis://x", "client_factory": lambda: None}, "give exactly one"),
        ({"url": "redis://x", "prefix": ""}, "prefix: expected a non-empty str"),
        ({"url": "redis://x", "timeout": 0}, "timeout: expected seconds > 0"),
        ({"url": "redis://x", "decode_responses": True}, "decode_responses"),
    ],
)
def test_bad_configuration_is_refused(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        RedisStore(**kwargs)


async def test_a_decoding_client_is_refused(redis_url) -> None:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    with pytest.raises(ValueError, match="decode_responses=False"):
        RedisStore(client=client)
    await client.aclose()


async def test_bad_input_names_the_field(redis_url, redis_prefix) -> None:
    async with RedisStore(redis_url, prefix=redis_prefix) as store:
        with pytest.raises(TypeError, match="value: expected bytes, got str"):
            await store.set("k", "text")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"keys\[1\]: expected str"):
            await store.get_many(["a", 2])  # type: ignore[list-item]


# -- clients, loops and threads ------------------------------------------------------------------------------


async def test_a_callers_client_is_used_as_is_and_left_open(redis_url, redis_prefix, client_name, count_connections):
    client = aioredis.Redis.from_url(redis_url, client_name=client_name)
    store = RedisStore(client=client, prefix=redis_prefix)
    await store.set("k", b"v")
    assert await store.get("k") == b"v"
    await store.close()
    assert await client.get(f"{redis_prefix}k") == b"v"  # still open: its lifetime is the caller's
    assert count_connections(client_name) == 1
    await client.aclose()
    assert wait_until(lambda: count_connections(client_name) == 0)


async def test_a_callers_client_is_reached_from_another_loop(redis_url, redis_prefix) -> None:
    client = aioredis.Redis.from_url(redis_url)
    store = RedisStore(client=client, prefix=redis_prefix)
    await store.set("k", b"from the owner loop")  # binds the client to this test's loop
    # Another thread runs its own loop; the call is forwarded to the owner loop (which is free: it awaits).
    got = await asyncio.to_thread(lambda: asyncio.run(store.get("k")))
    assert got == b"from the owner loop"
    # A sync call from this very loop would block the owner loop: refused at once instead of deadlocking.
    with pytest.raises(StoreError, match="would deadlock"):
        SyncStore(store).get("k")
    await store.close()
    await client.aclose()


async def test_client_factory_gets_one_client_per_loop(redis_url, redis_prefix) -> None:
    made: list[aioredis.Redis] = []

    def factory() -> aioredis.Redis:
        made.append(aioredis.Redis.from_url(redis_url))
        return made[-1]

    store = RedisStore(client_factory=factory, prefix=redis_prefix)
    await store.set("k", b"v")
    await store.get("k")
    assert len(made) == 1
    assert await asyncio.to_thread(lambda: asyncio.run(store.get("k"))) == b"v"
    assert len(made) == 2
    await store.close()


def test_sync_with_no_running_loop(redis_url, redis_prefix, client_name, count_connections) -> None:
    store = RedisStore(redis_url, prefix=redis_prefix, client_name=client_name)
    with SyncStore(store) as sync:
        sync.set("k", b"v", ttl=60)
        assert sync.get("k") == b"v"
        assert sync.get_many(["k", "x"]) == [b"v", None]
        assert sync.size() == 1
        assert count_connections(client_name) == 1
    assert count_connections(client_name) == 0


async def test_sync_inside_a_running_loop(redis_url, redis_prefix, client_name, count_connections) -> None:
    # What a Jupyter cell does: sync code while the notebook's loop is running. No deadlock, no nest_asyncio.
    store = RedisStore(redis_url, prefix=redis_prefix, client_name=client_name)
    sync = SyncStore(store)
    sync.set("k", b"sync")
    assert await store.get("k") == b"sync"  # the same store, async, on this loop: a second client
    assert sync.get("k") == b"sync"
    assert count_connections(client_name) == 2
    await store.close()  # closes this loop's client here and the bridge loop's client on the bridge
    assert count_connections(client_name) == 0


def test_sync_from_sixteen_threads(redis_url, redis_prefix, client_name, count_connections) -> None:
    store = RedisStore(redis_url, prefix=redis_prefix, client_name=client_name)
    sync = SyncStore(store)
    barrier = threading.Barrier(16)
    failures: list[BaseException] = []

    def work(n: int) -> None:
        try:
            barrier.wait()
            for i in range(50):
                sync.set(f"t{n}:{i}", f"{n}:{i}".encode())
                assert sync.get(f"t{n}:{i}") == f"{n}:{i}".encode()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert sync.size() == 16 * 50
    sync.close()
    assert count_connections(client_name) == 0


def test_several_event_loops_share_one_store(redis_url, redis_prefix, client_name, count_connections) -> None:
    """Threads with their own loops (some short-lived, some still running) use one store at the same time."""
    store = RedisStore(redis_url, prefix=redis_prefix, client_name=client_name)
    failures: list[BaseException] = []

    async def work(n: int) -> None:
        for i in range(30):
            await store.set(f"l{n}:{i}", b"v")
            assert await store.get_many([f"l{n}:{i}", f"l{(n + 1) % 6}:{i}"]) is not None
            await asyncio.sleep(0)

    def short_lived(n: int) -> None:
        try:
            asyncio.run(work(n))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=short_lived, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    # Each asyncio.run() closed its loop's client as the loop shut down.
    assert wait_until(lambda: count_connections(client_name) == 0)

    # Two loops that keep running in their threads; the store is closed from a third (this thread's) loop.
    loops = [asyncio.new_event_loop() for _ in range(2)]
    runners = [threading.Thread(target=loop.run_forever) for loop in loops]
    for t in runners:
        t.start()
    try:
        for n, loop in enumerate(loops):
            asyncio.run_coroutine_threadsafe(work(10 + n), loop).result(30)
        assert count_connections(client_name) == 2
        asyncio.run(store.close())
        assert count_connections(client_name) == 0
    finally:
        for loop in loops:
            loop.call_soon_threadsafe(loop.stop)
        for t in runners:
            t.join()
        for loop in loops:
            loop.close()
    assert asyncio.run(_size(redis_url, redis_prefix)) == 4 * 30 + 2 * 30


async def _size(url: str, prefix: str) -> int:
    async with RedisStore(url, prefix=prefix) as store:
        return await store.size()


# Python itself warns about the sockets of a loop closed without finalizing them; that warning is the point.
@pytest.mark.filterwarnings("ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning")
def test_loop_closed_without_finalizing_is_pruned(redis_url, redis_prefix, client_name, count_connections) -> None:
    """Old-style code: new_event_loop() ... loop.close() with no shutdown_asyncgens. The store recovers."""
    store = RedisStore(redis_url, prefix=redis_prefix, client_name=client_name)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(store.set("k", b"v"))
    loop.close()
    assert asyncio.run(store.get("k")) == b"v"  # a new loop gets a new client; the dead loop's is dropped
    assert wait_until(lambda: gc.collect() >= 0 and count_connections(client_name) == 0)
    asyncio.run(store.close())


# -- Redis Cluster -------------------------------------------------------------------------------------------


@pytest.mark.slow
async def test_cluster_clear_and_size_cover_every_primary(redis_cluster) -> None:
    url = redis_cluster[0].url
    store = RedisStore(client_factory=lambda: aioredis.RedisCluster.from_url(url), prefix="cp:")
    keys = {f"ns:{i}": str(i).encode() for i in range(400)}
    await store.set_many(keys)
    await store.set_many({f"keep:{i}": b"v" for i in range(10)})
    assert await store.get_many(list(keys)) == list(keys.values())
    per_node = []
    for node in redis_cluster:
        with redis.Redis(port=node.port) as client:
            per_node.append(client.dbsize())
    assert all(n > 0 for n in per_node)
    assert sum(per_node) == 410
    assert await store.size() == 410
    assert await store.clear("ns") == 400
    assert await store.size() == 10
    assert await store.get("keep:3") == b"v"
    assert await store.clear() == 10
    await store.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # 3.12+: "process is multi-threaded, fork()..."
def test_forked_child_gets_its_own_connection(redis_url, redis_prefix, client_name, count_connections) -> None:
    """A child must not speak on the parent's socket (replies would interleave); it opens its own."""

    def connection_ids() -> set[str]:
        with redis.Redis.from_url(redis_url) as admin:
            return {c["id"] for c in admin.client_list() if c.get("name") == client_name}

    store = RedisStore(redis_url, prefix=redis_prefix, client_name=client_name)
    sync = SyncStore(store, timeout=20)
    sync.set("parent", b"p")
    parent_ids = connection_ids()
    assert len(parent_ids) == 1
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            sync.set("child", b"c")
            code = 0 if sync.get("parent") == b"p" and connection_ids() - parent_ids else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    for _ in range(100):  # the parent's connection still speaks a clean protocol
        assert sync.get_many(["parent", "child"]) == [b"p", b"c"]
    sync.close()
    assert wait_until(lambda: count_connections(client_name) == 0)
