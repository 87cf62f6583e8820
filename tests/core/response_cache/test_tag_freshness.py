"""Tag invalidation is judged from the tags an entry *recorded*, on every read path, whatever tags the reader
names: an entry written under tags that were invalidated since is never served, on a MemoryStore or on Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from cachepoint.core.response_cache import CachePolicy, ResponseCache, Source, cached
from cachepoint.core.stores import MemoryStore, RedisStore


# The caches below get all the time Redis needs (`helpers.PATIENT`): these tests prove freshness, not budgets.
@pytest.fixture(params=["memory", "redis"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    if request.param == "memory":
        yield MemoryStore(max_entries=1000)
        return
    redis_url = request.getfixturevalue("redis_url")
    prefix = request.getfixturevalue("redis_prefix")
    store = RedisStore(redis_url, prefix=prefix)
    yield store
    await store.close()


async def read_get_or_call(cache: ResponseCache, request: dict[str, Any], upstream: Any) -> tuple[Any, Any]:
    result = await cache.get_or_call(request, upstream)
    return result.source, result.value


async def read_lookup(cache: ResponseCache, request: dict[str, Any], upstream: Any) -> tuple[Any, Any]:
    found = await cache.lookup(request)
    return (None, None) if found is None else (found.source, found.value)


def read_sync(cache: ResponseCache, request: dict[str, Any], upstream: Any) -> tuple[Any, Any]:
    result = cache.sync.get_or_call(request, lambda: {"content": "fresh"})
    return result.source, result.value


def read_sync_lookup(cache: ResponseCache, request: dict[str, Any], upstream: Any) -> tuple[Any, Any]:
    found = cache.sync.lookup(request)
    return (None, None) if found is None else (found.source, found.value)


@pytest.mark.parametrize(
    "read", ["get_or_call", "lookup", "sync.get_or_call", "sync.lookup", "lookup_key", "sync.lookup_key"]
)
async def test_an_invalidated_tag_retires_the_entry_for_a_reader_that_names_no_tags(
    backend: Any, read: str, helpers: Any
) -> None:
    cache = ResponseCache(backend, CachePolicy("docs"), timeout=helpers.PATIENT)
    await cache.get_or_call(helpers.request(), helpers.Upstream({"content": "old"}), tags=["doc42"])
    assert (await cache.get_or_call(helpers.request(), helpers.Upstream())).hit  # fresh: served to anyone
    await cache.invalidate(tag="doc42")
    source, value = await call_read(read, cache, helpers.request(), helpers.Upstream({"content": "fresh"}))
    assert value != {"content": "old"}
    assert source is not Source.HIT
    assert cache.stats().stale >= 1


@pytest.mark.parametrize("read", ["get_or_call", "lookup", "sync.get_or_call", "sync.lookup"])
async def test_a_reader_naming_some_of_the_entrys_tags_still_sees_the_others_invalidated(
    backend: Any, read: str, helpers: Any
) -> None:
    cache = ResponseCache(backend, CachePolicy("docs"), timeout=helpers.PATIENT)
    await cache.get_or_call(helpers.request(), helpers.Upstream({"content": "old"}), tags=["A", "B"])
    await cache.invalidate(tag="B")
    if read == "get_or_call":
        result = await cache.get_or_call(helpers.request(), helpers.Upstream({"content": "fresh"}), tags=["A"])
        source, value = result.source, result.value
    elif read == "lookup":
        found = await cache.lookup(helpers.request(), tags=["A"])
        source, value = (None, None) if found is None else (found.source, found.value)
    elif read == "sync.get_or_call":
        result = cache.sync.get_or_call(helpers.request(), lambda: {"content": "fresh"}, tags=["A"])
        source, value = result.source, result.value
    else:
        found = cache.sync.lookup(helpers.request(), tags=["A"])
        source, value = (None, None) if found is None else (found.source, found.value)
    assert value != {"content": "old"}
    assert source is not Source.HIT


async def call_read(read: str, cache: ResponseCache, request: dict[str, Any], upstream: Any) -> tuple[Any, Any]:
    if read == "get_or_call":
        return await read_get_or_call(cache, request, upstream)
    if read == "lookup":
        return await read_lookup(cache, request, upstream)
    if read == "sync.get_or_call":
        return read_sync(cache, request, upstream)
    if read == "lookup_key":
        found = await cache.lookup_key(cache.key_for(request))
        return (None, None) if found is None else (found.source, found.value)
    if read == "sync.lookup_key":
        found = cache.sync.lookup_key(cache.key_for(request))
        return (None, None) if found is None else (found.source, found.value)
    return read_sync_lookup(cache, request, upstream)


async def test_an_entry_fresh_under_all_its_tags_is_served_to_any_reader(backend: Any, helpers: Any) -> None:
    cache = ResponseCache(backend, CachePolicy("docs"), timeout=helpers.PATIENT)
    upstream = helpers.Upstream({"content": "kept"})
    await cache.get_or_call(helpers.request(), upstream, tags=["A", "B"])
    await cache.invalidate(tag="C")  # a tag the entry does not carry
    for tags in ((), ("A",), ("B", "A"), ("A", "B")):
        result = await cache.get_or_call(helpers.request(), upstream, tags=tags)
        assert (result.source, result.value) == (Source.HIT, {"content": "kept"})
    assert upstream.calls == 1


async def test_replayed_streams_check_the_tags_their_entry_recorded(backend: Any, helpers: Any) -> None:
    cache = ResponseCache(backend, CachePolicy("docs"), timeout=helpers.PATIENT)
    old = helpers.StreamUpstream(["old ", "answer"])
    assert [c async for c in cache.stream(helpers.request(), old, tags=["doc42"])] == ["old ", "answer"]
    await helpers.wait_until(lambda: cache.stats().stored == 1)
    await cache.invalidate(tag="doc42")
    fresh = helpers.StreamUpstream(["fresh"])
    async_stream = cache.stream(helpers.request(), fresh)
    assert [c async for c in async_stream] == ["fresh"]
    assert async_stream.source is Source.MISS
    await helpers.wait_until(lambda: cache.stats().stored == 2)
    # The sync face replays through the same judgement.
    await cache.invalidate(request=helpers.request())
    assert [c async for c in cache.stream(helpers.request(), old, tags=["doc42"])] == ["old ", "answer"]
    await helpers.wait_until(lambda: cache.stats().stored == 3)
    await cache.invalidate(tag="doc42")
    with cache.sync.stream(helpers.request(), lambda: iter(["fresh"])) as sync_stream:
        assert list(sync_stream) == ["fresh"]
    assert sync_stream.source is Source.MISS


async def test_decorated_functions_check_the_tags_their_entry_recorded(backend: Any, helpers: Any) -> None:
    cache = ResponseCache(backend, CachePolicy("fn"), timeout=helpers.PATIENT)
    answers = {"value": "old"}

    @cached(cache, name="answer", tags=["kb"])
    async def tagged(question: str) -> str:
        return answers["value"]

    @cached(cache, name="answer")
    async def untagged(question: str) -> str:
        return answers["value"]

    @cached(cache, name="answer")
    def untagged_sync(question: str) -> str:
        return answers["value"]

    assert await tagged("q") == "old"
    assert await untagged("q") == "old"  # same name, same arguments: the same entry
    await cache.invalidate(tag="kb")
    answers["value"] = "fresh"
    assert await untagged("q") == "fresh"

    await cache.clear()
    answers["value"] = "old"
    assert await tagged("q") == "old"
    await cache.invalidate(tag="kb")
    answers["value"] = "fresh"
    assert untagged_sync("q") == "fresh"


async def test_warming_refreshes_an_entry_whose_tag_was_invalidated(backend: Any, helpers: Any) -> None:
    cache = ResponseCache(backend, CachePolicy("docs"), timeout=helpers.PATIENT)
    await cache.get_or_call(helpers.request(), helpers.Upstream({"content": "old"}), tags=["doc42"])
    await cache.invalidate(tag="doc42")

    async def answer(request: Any) -> Any:
        return {"content": "fresh"}

    report = await cache.warm([helpers.request()], answer)
    assert (report.stored, report.present) == (1, 0)
    assert (await cache.get_or_call(helpers.request(), helpers.Upstream())).value == {"content": "fresh"}
