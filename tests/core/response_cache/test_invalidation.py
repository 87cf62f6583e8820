"""Invalidation beyond TTL: tags (no scan, any store), version bumps, single requests, whole namespaces; warm()."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cachepoint.core.response_cache import CachePolicy, ResponseCache, Source
from cachepoint.core.response_cache.entry import tag_key
from cachepoint.core.stores import MemoryStore, RedisStore, StoreError, TieredStore


async def test_invalidating_a_tag_retires_its_entries_only(store: MemoryStore, helpers: Any) -> None:
    cache = ResponseCache(store, CachePolicy("docs"))
    kb, other = helpers.Upstream({"v": 1}), helpers.Upstream({"v": 2})
    await cache.get_or_call(helpers.request("refund policy?"), kb, tags=["kb"])
    await cache.get_or_call(helpers.request("opening hours?"), other, tags=["hours"])
    assert await cache.invalidate(tag="kb") == 1
    kb.answer = {"v": "updated"}
    after = await cache.get_or_call(helpers.request("refund policy?"), kb, tags=["kb"])
    assert after.source is Source.MISS
    assert after.value == {"v": "updated"}
    assert (await cache.get_or_call(helpers.request("opening hours?"), other, tags=["hours"])).hit
    assert (await cache.get_or_call(helpers.request("refund policy?"), kb, tags=["kb"])).hit
    assert cache.stats().stale == 1


async def test_policy_tags_apply_to_every_entry_and_invalidation_needs_no_scan(
    store: MemoryStore, helpers: Any
) -> None:
    cache = ResponseCache(store, CachePolicy("docs", tags=["kb-v1"]))
    upstream = helpers.Upstream()
    for i in range(50):
        await cache.get_or_call(helpers.request(f"q{i}"), upstream)
    size_before = await store.size()
    await cache.invalidate(tag="kb-v1")
    # One token rewritten, no entry touched: the store holds exactly as many keys as before.
    assert await store.size() == size_before
    for i in range(50):
        assert (await cache.get_or_call(helpers.request(f"q{i}"), upstream)).source is Source.MISS
    assert upstream.calls == 100


async def test_an_evicted_tag_token_never_resurrects_old_entries(store: MemoryStore, helpers: Any) -> None:
    cache = ResponseCache(store, CachePolicy("docs", tags=["kb"]))
    upstream = helpers.Upstream()
    await cache.get_or_call(helpers.request(), upstream)
    await store.delete(tag_key("docs", "kb"))  # as if the store had evicted the token
    assert (await cache.get_or_call(helpers.request(), upstream)).source is Source.MISS
    assert (await cache.get_or_call(helpers.request(), upstream)).hit


async def test_concurrent_invalidations_each_take_effect(store: MemoryStore, helpers: Any) -> None:
    cache = ResponseCache(store, CachePolicy("docs", tags=["kb"]))
    upstream = helpers.Upstream()
    await cache.get_or_call(helpers.request(), upstream)
    tokens = set()
    for _ in range(20):
        await cache.invalidate(tag="kb")
        tokens.add(await store.get(tag_key("docs", "kb")))
    assert len(tokens) == 20  # random tokens: no two invalidations can write the same generation


async def test_bumping_the_version_retires_every_older_entry(store: MemoryStore, helpers: Any) -> None:
    v1 = ResponseCache(store, CachePolicy("chat", version=1))
    upstream = helpers.Upstream()
    await v1.get_or_call(helpers.request(), upstream)
    v2 = ResponseCache(store, CachePolicy("chat", version=2))
    assert (await v2.get_or_call(helpers.request(), upstream)).source is Source.MISS
    assert (await v2.get_or_call(helpers.request(), upstream)).hit
    assert (await v1.get_or_call(helpers.request(), upstream)).hit  # older code still sees its own entries
    assert upstream.calls == 2


async def test_invalidating_a_request_deletes_its_entries(make_cache: Any, helpers: Any) -> None:
    cache = make_cache()
    upstream = helpers.Upstream()
    await cache.get_or_call(helpers.request(), upstream, tenant="acme")
    [c async for c in cache.stream(helpers.request(), helpers.StreamUpstream(["a"]), tenant="acme")]
    assert await cache.invalidate(request=helpers.request(), tenant="globex") == 0
    assert await cache.invalidate(request=helpers.request(), tenant="acme") == 2
    assert (await cache.get_or_call(helpers.request(), upstream, tenant="acme")).source is Source.MISS


async def test_clear_removes_one_namespace(store: MemoryStore, helpers: Any) -> None:
    chat = ResponseCache(store, CachePolicy("chat", tags=["t"]))
    chatbot = ResponseCache(store, CachePolicy("chatbot"))
    upstream = helpers.Upstream()
    await chat.get_or_call(helpers.request(), upstream, tenant="a")
    await chat.get_or_call(helpers.request(), upstream, tenant="b")
    await chatbot.get_or_call(helpers.request(), upstream)
    assert await chat.clear() == 3  # two entries and the tag token
    assert (await chatbot.get_or_call(helpers.request(), upstream)).hit
    assert (await chat.get_or_call(helpers.request(), upstream, tenant="a")).source is Source.MISS


async def test_invalidation_failures_are_raised_not_swallowed(helpers: Any) -> None:
    class Down(MemoryStore):
        async def set_many(self, items: Any, ttl: float | None = None) -> None:
            raise StoreError("redis is down")

    cache = ResponseCache(Down(max_entries=10), CachePolicy("docs"))
    with pytest.raises(StoreError, match="redis is down"):
        await cache.invalidate(tag="kb")
    with pytest.raises(ValueError, match="give tag=, tags= or request="):
        await cache.invalidate()
    with pytest.raises(ValueError, match=r"tags\[0\]: expected a non-empty str"):
        await cache.invalidate(tags=[""])


async def test_warm_prefills_and_reports(make_cache: Any, helpers: Any) -> None:
    cache = make_cache()
    seen: list[str] = []

    async def answer(request: Any) -> Any:
        question = request["messages"][0]["content"]
        seen.append(question)
        if question == "boom":
            raise RuntimeError("upstream failed")
        await asyncio.sleep(0)
        return {"answer": question.upper()}

    await cache.get_or_call(helpers.request("a"), helpers.Upstream({"answer": "A"}))
    requests = [helpers.request(q) for q in ("a", "b", "c", "boom")] + [helpers.request("d", temperature=0.9)]
    report = await cache.warm(requests, answer, concurrency=2)
    assert (report.stored, report.present, report.failed, report.bypassed) == (2, 1, 1, 1)
    assert report.errors[0][0] == 3
    assert sorted(seen) == ["b", "boom", "c"]
    stats = cache.stats()
    assert (stats.hits, stats.misses) == (0, 1)  # warming does not count as traffic
    hit = await cache.get_or_call(helpers.request("b"), helpers.Upstream())
    assert hit.hit
    assert hit.value == {"answer": "B"}


def test_sync_invalidate_warm_and_clear(make_cache: Any, helpers: Any) -> None:
    cache = make_cache(tags=["kb"])
    report = cache.sync.warm([helpers.request("a"), helpers.request("b")], lambda r: {"q": r["messages"][0]["content"]})
    assert report.stored == 2
    assert cache.sync.get_or_call(helpers.request("a"), lambda: None).hit
    assert cache.sync.invalidate(tag="kb") == 1
    assert cache.sync.get_or_call(helpers.request("a"), lambda: {"q": "new"}).value == {"q": "new"}
    assert cache.sync.clear() >= 2


async def test_invalidation_is_not_swallowed_by_a_guard_and_reaches_both_tiers(helpers: Any) -> None:
    from cachepoint.core.breaker import GuardedStore
    from cachepoint.core.stores import TieredStore

    class Down(MemoryStore):
        async def set_many(self, items: Any, ttl: float | None = None) -> None:
            raise StoreError("redis is down")

    guarded = ResponseCache(GuardedStore(Down(max_entries=10)), CachePolicy("docs"))
    with pytest.raises(StoreError, match="redis is down"):
        await guarded.invalidate(tag="kb")

    l1, l2 = MemoryStore(max_entries=100), MemoryStore(max_entries=100)
    tiered = ResponseCache(TieredStore(l1, GuardedStore(l2), l1_ttl=300), CachePolicy("docs", tags=["kb"]))
    assert tiered.store is tiered.backend  # L2 is guarded already: L1 hits stay unguarded and cheap
    upstream = helpers.Upstream()
    await tiered.get_or_call(helpers.request(), upstream)
    assert (await tiered.get_or_call(helpers.request(), upstream)).hit
    await tiered.invalidate(tag="kb")
    assert await l1.get(tag_key("docs", "kb")) == await l2.get(tag_key("docs", "kb"))
    assert (await tiered.get_or_call(helpers.request(), upstream)).source is Source.MISS
    assert await tiered.invalidate(request=helpers.request()) == 1
    assert await tiered.clear() == 1  # the tag token left in L2


class _DeletePausingRedisStore(RedisStore):
    """The real RedisStore whose deletes wait for the test before they reach Redis: this holds
    `ResponseCache.invalidate` open between its writes to the two tiers of a TieredStore."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reached = asyncio.Event()
        self.resume = asyncio.Event()

    async def delete(self, key: str) -> bool:
        self.reached.set()
        await self.resume.wait()
        return await super().delete(key)


@pytest.mark.redis
async def test_a_read_between_the_tiers_of_an_invalidation_cannot_bring_the_old_answer_back(
    redis_url: str, redis_prefix: str
) -> None:
    # Invalidation writes each tier of a TieredStore. If it deleted L1 first, a read landing before the L2 delete
    # would miss L1, read the old answer from L2 and copy it into L1, where it would outlive the invalidation by
    # up to l1_ttl. L2 goes first, so whatever a read copies meanwhile is deleted from L1 afterwards.
    l1 = MemoryStore(max_entries=100)
    l2 = _DeletePausingRedisStore(redis_url, prefix=redis_prefix)
    cache = ResponseCache(TieredStore(l1, l2, l1_ttl=300), CachePolicy("pricing"))
    request = {"model": "m", "messages": [{"role": "user", "content": "Price of the pro plan?"}], "temperature": 0}
    answers = iter(["$10", "$12"])

    async def call() -> dict[str, str]:
        return {"text": next(answers)}

    try:
        assert (await cache.get_or_call(request, call)).value == {"text": "$10"}
        await l1.clear()  # this process's L1 copy has gone (expired, evicted): the next read goes to L2
        invalidation = asyncio.ensure_future(cache.invalidate(request=request))
        await l2.reached.wait()  # the invalidation now waits to delete from L2
        during = await cache.get_or_call(request, call)
        assert during.value == {"text": "$10"}  # a read concurrent with the invalidation may see the old answer
        l2.resume.set()
        assert await invalidation == 1
        after = await cache.get_or_call(request, call)
        assert after.source is Source.MISS
        assert after.value == {"text": "$12"}
    finally:
        l2.resume.set()
        await l2.close()


@pytest.mark.redis
async def test_clear_counts_what_the_shared_tier_held(redis_url: str, redis_prefix: str, helpers: Any) -> None:
    l1 = MemoryStore(max_entries=100)
    l2 = RedisStore(redis_url, prefix=redis_prefix)
    cache = ResponseCache(TieredStore(l1, l2, l1_ttl=300), CachePolicy("faq"))
    try:
        for question in ("a?", "b?", "c?"):
            await cache.get_or_call(helpers.request(question), helpers.Upstream())
        await l1.clear()  # L1 holds copies of some entries only (here: none)
        await cache.get_or_call(helpers.request("a?"), helpers.Upstream())  # one copied back into L1
        assert await cache.clear() == 3  # the entries there were, as the shared tier (L2) counts them
        assert await l2.size() == 0
        assert await l1.size() == 0
    finally:
        await l2.close()
