"""get_or_call: hits are hits, errors and sampled calls are never stored, bad entries are counted misses."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import pytest

from cachepoint.core.codec import Codec
from cachepoint.core.keys import FingerprintError
from cachepoint.core.response_cache import CachePolicy, ResponseCache, Source
from cachepoint.core.stores import MemoryStore


async def test_first_call_misses_and_the_second_replays(make_cache: Any, upstream: Any, helpers: Any) -> None:
    cache = make_cache()
    first = await cache.get_or_call(helpers.request(), upstream)
    second = await cache.get_or_call(helpers.request(), upstream)
    assert (first.source, second.source) == (Source.MISS, Source.HIT)
    assert (first.hit, second.hit) == (False, True)
    assert second.value == {"role": "assistant", "content": "Paris"}
    assert upstream.calls == 1
    assert first.key == second.key
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.stored, stats.upstream_calls) == (1, 1, 1, 1)


async def test_bytes_counters_match_the_stored_entry(
    make_cache: Any, store: MemoryStore, upstream: Any, helpers: Any
) -> None:
    cache = make_cache()
    result = await cache.get_or_call(helpers.request(), upstream)
    raw = await store.get(result.key)
    assert raw is not None
    await cache.get_or_call(helpers.request(), upstream)
    await cache.get_or_call(helpers.request(), upstream)
    stats = cache.stats()
    assert stats.bytes_written == len(raw)
    assert stats.bytes_read == 2 * len(raw)


async def test_equal_requests_share_an_entry_whatever_their_noise(make_cache: Any, upstream: Any) -> None:
    cache = make_cache()
    hi = [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    plain = {"model": "m", "messages": hi, "temperature": 0}
    noisy = {
        "messages": [
            {
                "role": "user",
                "id": "run-7",
                "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}],
            }
        ],
        "model": "m",
        "temperature": 0.0,
        "stream": False,
        "timeout": 10,
        "metadata": {"user_id": "x"},
    }
    await cache.get_or_call(plain, upstream)
    assert (await cache.get_or_call(noisy, upstream)).hit


async def test_errors_are_never_cached(make_cache: Any, upstream: Any, helpers: Any) -> None:
    cache = make_cache()
    upstream.fail_with = TimeoutError("provider timed out")
    with pytest.raises(TimeoutError, match="provider timed out"):
        await cache.get_or_call(helpers.request(), upstream)
    upstream.fail_with = None
    result = await cache.get_or_call(helpers.request(), upstream)
    assert result.source is Source.MISS
    assert upstream.calls == 2
    assert cache.stats().errors == 1


async def test_sampled_calls_are_not_cached_by_default(
    make_cache: Any, store: MemoryStore, upstream: Any, helpers: Any
) -> None:
    cache = make_cache()
    for _ in range(3):
        result = await cache.get_or_call(helpers.request(temperature=0.7), upstream)
        assert result.source is Source.BYPASS
        assert result.key is None
        assert result.reason == "sampled: temperature > 0"
    assert upstream.calls == 3
    assert await store.size() == 0
    stats = cache.stats()
    assert (stats.bypassed, stats.misses, stats.hits, stats.upstream_calls) == (3, 0, 0, 3)
    # n > 1 without temperature 0 samples several answers: not cached either ...
    several = await cache.get_or_call(helpers.request(n=3, temperature=0.5), upstream)
    assert (several.source, several.reason) == (Source.BYPASS, "sampled: temperature > 0")
    # ... but n > 1 at temperature 0 is repeatable.
    assert (await cache.get_or_call(helpers.request(n=3, temperature=0), upstream)).source is Source.MISS
    assert cache.stats().bypass_reasons == {"sampled: temperature > 0": 4}


async def test_an_llm_request_without_temperature_is_sampled_and_the_log_says_how_to_cache_it(
    make_cache: Any, store: MemoryStore, upstream: Any, helpers: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # Anthropic, OpenAI, Bedrock and Gemini all sample at temperature 1.0 when a request does not set it.
    cache = make_cache()
    with caplog.at_level(logging.INFO, logger="cachepoint.core.response_cache"):
        for _ in range(3):
            result = await cache.get_or_call(helpers.request(temperature=None), upstream)
            assert (result.source, result.reason, result.key) == (Source.BYPASS, "sampled: temperature unset", None)
        await cache.get_or_call(helpers.request(temperature=0.9), upstream)
    assert upstream.calls == 4
    assert await store.size() == 0
    stats = cache.stats()
    assert stats.bypass_reasons == {"sampled: temperature unset": 3, "sampled: temperature > 0": 1}
    assert (stats.bypassed, stats.upstream_calls, stats.misses) == (4, 4, 0)
    unset = [r for r in caplog.records if "leave temperature unset" in r.getMessage()]
    assert len(unset) == 1  # once per cache and reason, not once per call
    assert unset[0].levelno == logging.INFO
    assert "'chat'" in unset[0].getMessage()
    assert "unset_temperature='deterministic'" in unset[0].getMessage()
    assert "temperature=0" in unset[0].getMessage()
    sampled = [r for r in caplog.records if "cache_nondeterministic=True" in r.getMessage()]
    assert len(sampled) == 1


async def test_the_policy_can_read_an_unset_temperature_as_deterministic(
    make_cache: Any, upstream: Any, helpers: Any
) -> None:
    cache = make_cache(unset_temperature="deterministic")
    assert (await cache.get_or_call(helpers.request(temperature=None), upstream)).source is Source.MISS
    assert (await cache.get_or_call(helpers.request(temperature=None), upstream)).hit
    # An explicit temperature still counts, and n > 1 without temperature 0 still samples.
    assert (await cache.get_or_call(helpers.request(temperature=0.3), upstream)).source is Source.BYPASS
    several = await cache.get_or_call(helpers.request(temperature=None, n=2), upstream)
    assert several.reason == "sampled: several candidates"
    assert upstream.calls == 3


async def test_policy_can_allow_sampled_calls(make_cache: Any, upstream: Any, helpers: Any) -> None:
    cache = make_cache(cache_nondeterministic=True)
    await cache.get_or_call(helpers.request(temperature=1.0), upstream)
    assert (await cache.get_or_call(helpers.request(temperature=1.0), upstream)).hit
    await cache.get_or_call(helpers.request("unset", temperature=None), upstream)
    assert (await cache.get_or_call(helpers.request("unset", temperature=None), upstream)).hit
    assert upstream.calls == 2
    assert cache.stats().bypassed == 0


async def test_requests_that_are_not_llm_calls_have_no_temperature_to_leave_unset(
    make_cache: Any, upstream: Any
) -> None:
    cache = make_cache()
    embedding = {"model": "text-embedding-3-small", "input": ["a", "b"]}
    search = {"index": "docs", "query": "paris", "k": 5}
    for request in (embedding, search):
        await cache.get_or_call(request, upstream)
        assert (await cache.get_or_call(request, upstream)).hit
    assert upstream.calls == 2


async def test_tenants_never_see_each_others_entries(make_cache: Any, helpers: Any) -> None:
    cache = make_cache()
    acme, globex = helpers.Upstream({"content": "acme's answer"}), helpers.Upstream({"content": "globex's answer"})
    await cache.get_or_call(helpers.request(), acme, tenant="acme")
    result = await cache.get_or_call(helpers.request(), globex, tenant="globex")
    assert result.source is Source.MISS
    assert result.value == {"content": "globex's answer"}
    shared = await cache.get_or_call(helpers.request(), helpers.Upstream({"content": "shared"}))
    assert shared.source is Source.MISS
    assert (await cache.get_or_call(helpers.request(), acme, tenant="acme")).value == {"content": "acme's answer"}
    assert await cache.lookup(helpers.request(), tenant="initech") is None


async def test_a_policy_tenant_is_the_default_and_require_tenant_refuses_calls_without_one(
    store: MemoryStore, upstream: Any, helpers: Any
) -> None:
    scoped = ResponseCache(store, CachePolicy("chat", tenant="acme"))
    await scoped.get_or_call(helpers.request(), upstream)
    other = ResponseCache(store, CachePolicy("chat"))
    assert (await other.get_or_call(helpers.request(), upstream, tenant="acme")).hit
    strict = ResponseCache(store, CachePolicy("chat", require_tenant=True))
    with pytest.raises(ValueError, match=r"requires a tenant .*pass tenant="):
        await strict.get_or_call(helpers.request(), upstream)
    assert upstream.calls == 1


async def test_a_signed_entry_moved_to_another_tenant_is_refused(
    store: MemoryStore, upstream: Any, helpers: Any
) -> None:
    codec = Codec(signing_keys=[b"k" * 32])
    cache = ResponseCache(store, CachePolicy("chat"), codec=codec)
    acme_key = (await cache.get_or_call(helpers.request(), upstream, tenant="acme")).key
    globex_key = cache.key_for(helpers.request(), tenant="globex")
    raw = await store.get(acme_key)
    assert raw is not None
    await store.set(globex_key, raw)  # someone with write access to the store copies the entry
    result = await cache.get_or_call(helpers.request(), helpers.Upstream({"content": "fresh"}), tenant="globex")
    assert result.source is Source.MISS
    assert result.value == {"content": "fresh"}
    assert cache.stats().bad_entries == {"bad_signature": 1}
    assert cache.stats().tampered == 1


@pytest.mark.parametrize(
    ("raw", "outcome"),
    [
        (b"\x80\x04\x95\x0b\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94K\x01s.", "pickle"),
        (b"garbage from another program", "not_envelope"),
        (b"CPE\x01\x02", "truncated"),
        (b"CPE\x09" + b"\x00" * 20, "unknown_version"),
    ],
)
async def test_bad_entries_are_counted_misses_and_get_replaced(
    make_cache: Any, store: MemoryStore, helpers: Any, raw: bytes, outcome: str
) -> None:
    cache = make_cache()
    upstream = helpers.Upstream()
    key = cache.key_for(helpers.request())
    await store.set(key, raw)
    result = await cache.get_or_call(helpers.request(), upstream)
    assert result.source is Source.MISS
    assert cache.stats().bad_entries == {outcome: 1}
    assert cache.stats().corrupt == 1
    assert (await cache.get_or_call(helpers.request(), upstream)).hit  # the bad entry was overwritten


async def test_an_entry_of_the_wrong_shape_is_corrupt(
    make_cache: Any, store: MemoryStore, upstream: Any, helpers: Any
) -> None:
    cache = make_cache()
    key = cache.key_for(helpers.request())
    await store.set(key, Codec().encode(["not", "an", "entry"], context=key.encode()))
    assert (await cache.get_or_call(helpers.request(), upstream)).source is Source.MISS
    assert cache.stats().bad_entries == {"corrupt": 1}


async def test_results_the_codec_cannot_carry_are_returned_but_not_stored(
    make_cache: Any, store: MemoryStore, helpers: Any
) -> None:
    cache = make_cache()
    answer = {"when": object()}

    async def call() -> Any:
        return answer

    result = await cache.get_or_call(helpers.request(), call)
    assert result.value is answer
    assert await store.size() == 0
    assert cache.stats().unstorable == 1


@dataclasses.dataclass
class Completion:
    text: str
    tokens: int


async def test_dump_and_load_carry_rich_results(store: MemoryStore, helpers: Any) -> None:
    cache = ResponseCache(store, CachePolicy("chat"), dump=dataclasses.asdict, load=lambda d: Completion(**d))

    async def call() -> Completion:
        return Completion("Paris", 3)

    await cache.get_or_call(helpers.request(), call)
    hit = await cache.get_or_call(helpers.request(), call)
    assert hit.hit
    assert hit.value == Completion("Paris", 3)
    # A load that rejects the stored shape (a schema change) is a counted miss, not an error.
    strict = ResponseCache(store, CachePolicy("chat"), load=lambda d: Completion(**d, extra=1))  # type: ignore[call-arg]
    assert (await strict.get_or_call(helpers.request(), call)).source is Source.MISS
    assert strict.stats().load_errors == 1


async def test_tuples_come_back_as_lists_without_a_load(make_cache: Any, helpers: Any) -> None:
    cache = make_cache()

    async def call() -> Any:
        return {"pair": (1, 2), "raw": b"\x00"}

    await cache.get_or_call(helpers.request(), call)
    assert (await cache.get_or_call(helpers.request(), call)).value == {"pair": [1, 2], "raw": b"\x00"}


async def test_entries_above_the_size_limit_are_not_stored(make_cache: Any, store: MemoryStore, helpers: Any) -> None:
    cache = make_cache(max_entry_bytes=100)

    async def big() -> str:
        return "x" * 1000

    await cache.get_or_call(helpers.request(), big)
    assert await store.size() == 0
    assert cache.stats().too_large == 1


async def test_lookup_reports_hits_without_calling(make_cache: Any, upstream: Any, helpers: Any) -> None:
    cache = make_cache()
    assert await cache.lookup(helpers.request()) is None
    await cache.get_or_call(helpers.request(), upstream)
    found = await cache.lookup(helpers.request())
    assert found is not None
    assert found.hit
    assert found.value == upstream.answer
    assert await cache.lookup(helpers.request(temperature=0.5)) is None


async def test_lookup_key_finds_what_lookup_finds_and_counts_alike(
    make_cache: Any, store: MemoryStore, upstream: Any, helpers: Any
) -> None:
    cache = make_cache(ttl=60)
    key = cache.key_for(helpers.request())
    assert await cache.lookup_key(key) is None
    assert cache.sync.lookup_key(key) is None
    await cache.get_or_call(helpers.request(), upstream)
    found, found_sync = await cache.lookup_key(key), cache.sync.lookup_key(key)
    assert found is not None
    assert found_sync is not None
    assert (found.source, found.value, found.key) == (Source.HIT, upstream.answer, key)
    assert found_sync.value == upstream.answer
    assert found.value is not found_sync.value  # each hit its own copy
    assert await cache.lookup_key(cache.key_for(helpers.request(), tenant="acme")) is None
    await store.delete(key)
    assert await cache.lookup_key(key) is None
    stats = cache.stats()
    assert (stats.hits, stats.misses) == (2, 5)


async def test_hits_of_a_text_entry_follow_the_bytes_stored_now(
    make_cache: Any, store: MemoryStore, helpers: Any
) -> None:
    # An in-process entry's parsed body may be kept for later hits; new bytes under the key are read afresh.
    cache = make_cache()

    async def old() -> str:
        return "old"

    async def new() -> str:
        return "new"

    first = await cache.get_or_call(helpers.request(), old)
    assert first.key is not None
    assert [(await cache.lookup_key(first.key)).value for _ in range(2)] == ["old", "old"]  # type: ignore[union-attr]
    other = await cache.get_or_call(helpers.request("other"), new)
    assert other.key is not None
    raw = await store.get(other.key)
    assert raw is not None
    await store.set(first.key, raw)  # an unsigned entry moved under another key is still a valid entry
    assert [(await cache.lookup_key(first.key)).value for _ in range(2)] == ["new", "new"]  # type: ignore[union-attr]
    await cache.invalidate(request=helpers.request())
    assert await cache.lookup_key(first.key) is None


async def test_ttl_applies_per_policy_and_per_call(
    make_cache: Any, store: MemoryStore, upstream: Any, helpers: Any
) -> None:
    cache = make_cache(ttl=120)
    key = (await cache.get_or_call(helpers.request(), upstream)).key
    left = await store.ttl(key)
    assert left is not None
    assert 110 < left <= 120
    key2 = (await cache.get_or_call(helpers.request("other"), upstream, ttl=5)).key
    left2 = await store.ttl(key2)
    assert left2 is not None
    assert left2 <= 5
    with pytest.raises(ValueError, match="ttl: expected a positive number"):
        await cache.get_or_call(helpers.request(), upstream, ttl=-3)


async def test_unkeyable_requests_raise_before_calling(make_cache: Any, upstream: Any) -> None:
    cache = make_cache()
    request = {"model": "m", "messages": [{"role": "user", "content": object()}], "temperature": 0}
    with pytest.raises(FingerprintError, match=r"request\['messages'\]\[0\]\['content'\]"):
        await cache.get_or_call(request, upstream)
    assert upstream.calls == 0


async def test_a_failing_custom_store_is_a_miss_even_unguarded(upstream: Any, helpers: Any) -> None:
    class Broken(MemoryStore):
        async def get(self, key: str) -> bytes | None:
            raise OSError("disk on fire")

        async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
            raise OSError("disk on fire")

    cache = ResponseCache(Broken(max_entries=10), CachePolicy("chat"), guard=False)
    for _ in range(2):
        assert (await cache.get_or_call(helpers.request(), upstream)).value == upstream.answer
    assert upstream.calls == 2
    assert cache.stats().store_errors == 4


def test_constructor_validates_its_arguments(store: MemoryStore) -> None:
    with pytest.raises(TypeError, match="policy: expected a CachePolicy"):
        ResponseCache(store, "chat")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="store: expected a CacheStore"):
        ResponseCache({}, CachePolicy("chat"))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="lock: expected a DistributedLock"):
        ResponseCache(store, CachePolicy("chat"), lock=object())  # type: ignore[arg-type]


async def test_a_failing_load_is_warned_about_once_per_cache(
    store: MemoryStore, helpers: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # A schema change breaks every load of the old entries: each cache says so once, then keeps it to debug.
    async def call() -> Completion:
        return Completion("Paris", 3)

    def stale_schema(data: Any) -> Completion:
        return Completion(**data, extra=1)  # type: ignore[call-arg]

    await ResponseCache(store, CachePolicy("chat"), dump=dataclasses.asdict).get_or_call(helpers.request(), call)
    first, second = (ResponseCache(store, CachePolicy("chat"), load=stale_schema) for _ in range(2))
    with caplog.at_level(logging.DEBUG, logger="cachepoint.core.response_cache"):
        for cache in (first, first, first, second, second):
            assert (await cache.get_or_call(helpers.request(), call)).source is Source.MISS
    said = [(r.levelno, r.getMessage()) for r in caplog.records if "load() failed" in r.getMessage()]
    warned, quiet = logging.WARNING, logging.DEBUG
    assert [level for level, _ in said] == [warned, quiet, quiet, warned, quiet]
    assert all("'chat'" in message for _, message in said)  # names the cache's namespace
    assert (first.stats().load_errors, second.stats().load_errors) == (3, 2)


async def test_every_lookup_by_key_of_a_text_entry_reads_loads_and_counts(store: MemoryStore, helpers: Any) -> None:
    # From the second read on, an in-process text entry is looked up by key without judging its body again
    # (`_Opened.plain`): the store read (deletes), `load` (its failures) and the counting stay on every hit.
    cache = ResponseCache(store, CachePolicy("chat"))

    async def call() -> str:
        return "Paris"

    await cache.get_or_call(helpers.request(), call)
    key = cache.key_for(helpers.request())
    for _ in range(3):
        found = cache.sync.lookup_key(key, load=str.upper)
        assert found is not None
        assert (found.value, found.source) == ("PARIS", Source.HIT)
        assert (await cache.lookup_key(key)) is not None

    def broken(data: Any) -> Any:
        raise ValueError(data)

    assert cache.sync.lookup_key(key, load=broken) is None
    assert await cache.lookup_key(key, load=broken) is None
    signed = ResponseCache(store, CachePolicy("chat"), codec=Codec(signing_keys=b"k" * 32))
    assert signed.sync.lookup_key(key) is None  # the unsigned entry another codec opened is not trusted
    await store.delete(key)
    assert cache.sync.lookup_key(key) is None
    stats = cache.stats()
    assert (stats.hits, stats.load_errors, stats.misses) == (6, 2, 4)
