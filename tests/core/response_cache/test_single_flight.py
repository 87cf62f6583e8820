"""Single-flight: N concurrent identical calls make one upstream call — across tasks, threads and event loops."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from cachepoint.core.response_cache import Source


async def test_100_concurrent_calls_in_one_loop_make_one_upstream_call(
    make_cache: Any, upstream: Any, helpers: Any
) -> None:
    cache = make_cache()
    upstream.hold()
    tasks = [asyncio.create_task(cache.get_or_call(helpers.request(), upstream)) for _ in range(100)]
    await helpers.wait_until(lambda: cache.stats().joins == 99)  # everyone is waiting on the one call
    upstream.open()
    results = await asyncio.gather(*tasks)
    assert upstream.calls == 1
    assert sorted(r.source.value for r in results) == ["joined"] * 99 + ["miss"]
    assert all(r.value == upstream.answer for r in results)
    assert (await cache.get_or_call(helpers.request(), upstream)).hit


def test_100_concurrent_sync_calls_from_threads_make_one_upstream_call(
    make_cache: Any, upstream: Any, helpers: Any
) -> None:
    cache = make_cache()
    upstream.hold()
    with ThreadPoolExecutor(max_workers=100) as pool:
        futures = [pool.submit(cache.sync.get_or_call, helpers.request(), upstream.sync) for _ in range(100)]
        helpers.wait_until_sync(lambda: cache.stats().joins == 99)
        upstream.open()
        results = [f.result(timeout=60) for f in futures]
    assert upstream.calls == 1
    assert sum(r.source is Source.MISS for r in results) == 1
    assert all(r.value == upstream.answer for r in results)


def test_calls_on_many_event_loops_in_many_threads_share_one_flight(
    make_cache: Any, upstream: Any, helpers: Any
) -> None:
    cache = make_cache()
    upstream.hold()
    results: list[Any] = []
    lock = threading.Lock()

    def loop_thread() -> None:
        async def main() -> None:
            out = await asyncio.gather(*(cache.get_or_call(helpers.request(), upstream) for _ in range(10)))
            with lock:
                results.extend(out)

        asyncio.run(main())

    threads = [threading.Thread(target=loop_thread) for _ in range(10)]
    for thread in threads:
        thread.start()
    helpers.wait_until_sync(lambda: cache.stats().joins == 99)
    upstream.open()
    for thread in threads:
        thread.join(60)
    assert upstream.calls == 1
    assert len(results) == 100
    assert all(r.value == upstream.answer for r in results)


async def test_sync_and_async_callers_share_one_flight(make_cache: Any, upstream: Any, helpers: Any) -> None:
    cache = make_cache()
    upstream.hold()
    leader = asyncio.create_task(cache.get_or_call(helpers.request(), upstream))
    await helpers.wait_until(lambda: upstream.calls == 1)
    loop = asyncio.get_running_loop()
    sync_followers = [
        loop.run_in_executor(None, cache.sync.get_or_call, helpers.request(), upstream.sync) for _ in range(3)
    ]
    await helpers.wait_until(lambda: cache.stats().joins == 3)
    upstream.open()
    results = [await leader, *(await asyncio.gather(*sync_followers))]
    assert upstream.calls == 1
    assert [r.source for r in results] == [Source.MISS] + [Source.JOINED] * 3


async def test_an_error_reaches_every_waiter_and_is_not_cached(make_cache: Any, upstream: Any, helpers: Any) -> None:
    cache = make_cache()
    upstream.hold()
    upstream.fail_with = RuntimeError("529 overloaded")
    tasks = [asyncio.create_task(cache.get_or_call(helpers.request(), upstream)) for _ in range(20)]
    await helpers.wait_until(lambda: cache.stats().joins == 19)
    upstream.open()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert upstream.calls == 1
    assert all(isinstance(o, RuntimeError) and str(o) == "529 overloaded" for o in outcomes)
    upstream.fail_with = None
    assert (await cache.get_or_call(helpers.request(), upstream)).source is Source.MISS
    assert upstream.calls == 2


async def test_a_cancelled_leader_hands_over_to_a_waiter(make_cache: Any, upstream: Any, helpers: Any) -> None:
    cache = make_cache()
    upstream.hold()
    leader = asyncio.create_task(cache.get_or_call(helpers.request(), upstream))
    await helpers.wait_until(lambda: upstream.calls == 1)
    followers = [asyncio.create_task(cache.get_or_call(helpers.request(), upstream)) for _ in range(5)]
    await helpers.wait_until(lambda: cache.stats().joins == 5)
    leader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leader
    await helpers.wait_until(lambda: upstream.calls == 2)  # one follower took over
    upstream.open()
    results = await asyncio.gather(*followers)
    assert upstream.calls == 2
    assert all(r.value == upstream.answer for r in results)


async def test_a_cancelled_waiter_does_not_cancel_the_flight(make_cache: Any, upstream: Any, helpers: Any) -> None:
    cache = make_cache()
    upstream.hold()
    leader = asyncio.create_task(cache.get_or_call(helpers.request(), upstream))
    quitter = asyncio.create_task(cache.get_or_call(helpers.request(), upstream))
    stayer = asyncio.create_task(cache.get_or_call(helpers.request(), upstream))
    await helpers.wait_until(lambda: cache.stats().joins == 2)
    quitter.cancel()
    upstream.open()
    assert (await leader).source is Source.MISS
    assert (await stayer).source is Source.JOINED
    assert quitter.cancelled()
    assert upstream.calls == 1


async def test_different_keys_do_not_wait_for_each_other(make_cache: Any, helpers: Any) -> None:
    cache = make_cache()
    slow, fast = helpers.Upstream({"content": "slow"}), helpers.Upstream({"content": "fast"})
    slow.hold()
    slow_task = asyncio.create_task(cache.get_or_call(helpers.request("slow question"), slow))
    await helpers.wait_until(lambda: slow.calls == 1)
    assert (await cache.get_or_call(helpers.request("fast question"), fast)).value == {"content": "fast"}
    slow.open()
    await slow_task


async def test_single_flight_can_be_turned_off(make_cache: Any, upstream: Any, helpers: Any) -> None:
    cache = make_cache(single_flight=False)
    upstream.hold()
    tasks = [asyncio.create_task(cache.get_or_call(helpers.request(), upstream)) for _ in range(5)]
    await helpers.wait_until(lambda: upstream.calls == 5)
    upstream.open()
    await asyncio.gather(*tasks)
    assert cache.stats().joins == 0


async def test_a_sync_call_on_the_leaders_own_loop_thread_does_not_deadlock(
    make_cache: Any, upstream: Any, helpers: Any
) -> None:
    # An async leader is suspended on this loop; sync code running on the same loop (a Jupyter cell, a sync
    # library called from a coroutine) asks for the same key. Blocking on the flight would freeze the loop the
    # leader needs, so the sync caller calls upstream itself.
    cache = make_cache()
    upstream.hold()
    leader = asyncio.create_task(cache.get_or_call(helpers.request(), upstream))
    await helpers.wait_until(lambda: upstream.calls == 1)
    upstream.open()
    result = cache.sync.get_or_call(helpers.request(), lambda: {"content": "own call"})
    assert result.source is Source.MISS
    assert (await leader).source is Source.MISS


async def three_at_once(cache: Any, upstream: Any, helpers: Any) -> list[Any]:
    """Three identical calls at once: one leads, two join; their results once the upstream answers."""
    upstream.hold()
    tasks = [asyncio.create_task(cache.get_or_call(helpers.request(), upstream)) for _ in range(3)]
    await helpers.wait_until(lambda: cache.stats().joins == 2)
    upstream.open()
    return list(await asyncio.gather(*tasks))


async def test_joined_callers_each_get_their_own_value(make_cache: Any, upstream: Any, helpers: Any) -> None:
    # As a hit does: a caller that changes what it got changes nobody else's answer.
    upstream.answer = {"role": "assistant", "content": [{"type": "text", "text": "Paris"}]}
    results = await three_at_once(make_cache(), upstream, helpers)
    assert sorted(r.source.value for r in results) == ["joined", "joined", "miss"]
    joined = [r for r in results if r.source is Source.JOINED]
    joined[0].value["content"][0]["text"] = "changed by one caller"
    for result in results:
        if result is not joined[0]:
            assert result.value == {"role": "assistant", "content": [{"type": "text", "text": "Paris"}]}
    assert upstream.answer["content"][0]["text"] == "Paris"  # the leader's (upstream's) object is its own too


def test_joined_sync_callers_each_get_their_own_loaded_value(make_cache: Any, helpers: Any) -> None:
    class Reply:
        def __init__(self, text: str) -> None:
            self.text = text

    upstream = helpers.Upstream(Reply("Paris"))
    cache = make_cache(dump=lambda r: {"text": r.text}, load=lambda d: Reply(d["text"]))
    upstream.hold()
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = [pool.submit(cache.sync.get_or_call, helpers.request(), upstream.sync) for _ in range(3)]
        helpers.wait_until_sync(lambda: cache.stats().joins == 2)
        upstream.open()
        results = [f.result(timeout=60) for f in futures]
    values = [r.value for r in results]
    assert len({id(v) for v in values}) == 3  # three objects, each loaded for its caller
    assert all(isinstance(v, Reply) and v.text == "Paris" for v in values)


async def test_joined_callers_of_an_unstorable_result_each_get_a_copy(make_cache: Any, helpers: Any) -> None:
    class Opaque:  # nothing the codec carries: the result is returned, not stored
        def __init__(self) -> None:
            self.items = ["a"]

    upstream = helpers.Upstream({"opaque": Opaque()})
    cache = make_cache()
    results = await three_at_once(cache, upstream, helpers)
    assert cache.stats().unstorable == 1
    results[1].value["opaque"].items.append("b")
    assert results[0].value["opaque"].items == ["a"]
    assert results[2].value["opaque"].items == ["a"]
