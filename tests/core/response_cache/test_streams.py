"""Streams: complete streams are recorded and replayed chunk by chunk; interrupted ones are never stored;
concurrent identical streams share one live upstream stream."""

from __future__ import annotations

import asyncio
import gc
import threading
from typing import Any

import pytest

from cachepoint.core.response_cache import CachePolicy, ResponseCache, Source
from cachepoint.core.stores import MemoryStore

CHUNKS = [
    {"type": "message_start", "message": {"id": "msg_1", "usage": {"input_tokens": 12}}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Par"}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "is"}},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "thinking_delta", "thinking": "capital..."}},
    {"type": "message_delta", "usage": {"output_tokens": 2}},
    {"type": "message_stop"},
]


async def test_a_complete_stream_is_replayed_chunk_by_chunk(make_cache: Any, helpers: Any) -> None:
    cache = make_cache()
    upstream = helpers.StreamUpstream(CHUNKS)
    first = cache.stream(helpers.request(), upstream)
    assert first.source is None
    recorded = [chunk async for chunk in first]
    replay = cache.stream(helpers.request(), upstream)
    replayed = [chunk async for chunk in replay]
    assert recorded == CHUNKS
    assert replayed == CHUNKS
    assert (first.source, replay.source) == (Source.MISS, Source.HIT)
    assert replay.hit
    assert upstream.opened == 1


async def test_stream_and_plain_entries_of_one_request_are_kept_apart(
    make_cache: Any, upstream: Any, helpers: Any
) -> None:
    cache = make_cache()
    [c async for c in cache.stream(helpers.request(), helpers.StreamUpstream(["a", "b"]))]
    assert (await cache.get_or_call(helpers.request(), upstream)).source is Source.MISS
    assert cache.key_for(helpers.request()) != cache.key_for(helpers.request(), stream=True)


async def test_an_upstream_error_mid_stream_reaches_the_consumer_and_nothing_is_stored(
    make_cache: Any, store: MemoryStore, helpers: Any
) -> None:
    cache = make_cache()
    upstream = helpers.StreamUpstream(CHUNKS, fail_after=3)
    received: list[Any] = []

    async def consume() -> None:
        async for chunk in cache.stream(helpers.request(), upstream):
            received.append(chunk)

    with pytest.raises(ConnectionResetError):
        await consume()
    assert received == CHUNKS[:3]
    assert await store.size() == 0
    again = helpers.StreamUpstream(CHUNKS)
    stream = cache.stream(helpers.request(), again)
    assert [c async for c in stream] == CHUNKS
    assert stream.source is Source.MISS
    stats = cache.stats()
    assert (stats.errors, stats.interrupted_streams, stats.stored) == (1, 1, 1)


async def test_a_consumer_that_closes_early_closes_the_upstream_and_stores_nothing(
    make_cache: Any, store: MemoryStore, helpers: Any
) -> None:
    cache = make_cache()
    upstream = helpers.StreamUpstream(CHUNKS, pause_after=2)
    stream = cache.stream(helpers.request(), upstream)
    got = [await stream.__anext__(), await stream.__anext__()]
    await stream.aclose()
    assert got == CHUNKS[:2]
    await helpers.wait_until(lambda: upstream.closed_early == 1)
    assert upstream.finished == 0
    assert await store.size() == 0
    assert cache.stats().interrupted_streams == 1


async def test_leaving_an_async_with_block_early_stores_nothing(
    make_cache: Any, store: MemoryStore, helpers: Any
) -> None:
    cache = make_cache()
    upstream = helpers.StreamUpstream(CHUNKS, pause_after=1)
    async with cache.stream(helpers.request(), upstream) as stream:
        async for _ in stream:
            break
    await helpers.wait_until(lambda: upstream.closed_early == 1)
    assert await store.size() == 0


async def test_break_without_close_is_cleaned_up_when_the_stream_is_dropped(
    make_cache: Any, store: MemoryStore, helpers: Any
) -> None:
    cache = make_cache()
    upstream = helpers.StreamUpstream(CHUNKS, pause_after=1)
    stream = cache.stream(helpers.request(), upstream)
    async for _ in stream:
        break
    del stream
    gc.collect()  # the loop finalizes the abandoned async generator
    await helpers.wait_until(lambda: upstream.closed_early == 1)
    assert await store.size() == 0


async def test_concurrent_identical_streams_share_one_live_upstream(make_cache: Any, helpers: Any) -> None:
    cache = make_cache()
    upstream = helpers.StreamUpstream(CHUNKS, pause_after=2)
    first = cache.stream(helpers.request(), upstream)
    head = [await first.__anext__(), await first.__anext__()]
    await upstream.paused.wait()
    # The upstream is paused after two chunks; a second consumer catches up on them *now*, before the rest of the
    # stream exists: it follows live rather than waiting for the whole answer.
    second = cache.stream(helpers.request(), upstream)
    caught_up = [await second.__anext__(), await second.__anext__()]
    assert caught_up == head == CHUNKS[:2]
    assert second.source is Source.JOINED
    upstream.release.set()
    rest_first = [c async for c in first]
    rest_second = [c async for c in second]
    assert head + rest_first == CHUNKS
    assert caught_up + rest_second == CHUNKS
    assert upstream.opened == 1
    assert cache.stats().joins == 1


async def test_a_joined_stream_consumer_gets_chunks_of_its_own(make_cache: Any, helpers: Any) -> None:
    # As a replay does: a consumer that changes a chunk it got changes no other consumer's chunk.
    cache = make_cache()
    chunks = [{"delta": {"text": "Pa"}}, {"delta": {"text": "ris"}}]
    upstream = helpers.StreamUpstream(chunks, pause_after=1)
    first = cache.stream(helpers.request(), upstream)
    head = await first.__anext__()
    await upstream.paused.wait()
    second = cache.stream(helpers.request(), upstream)
    mine = await second.__anext__()
    assert second.source is Source.JOINED
    mine["delta"]["text"] = "changed by the joined consumer"
    upstream.release.set()
    rest_first = [c async for c in first]
    rest_second = [c async for c in second]
    rest_second[0]["delta"]["text"] = "changed again"
    assert [head, *rest_first] == [{"delta": {"text": "Pa"}}, {"delta": {"text": "ris"}}]
    assert chunks == [{"delta": {"text": "Pa"}}, {"delta": {"text": "ris"}}]
    await helpers.wait_until(lambda: cache.stats().stored == 1)
    assert [c async for c in cache.stream(helpers.request(), upstream)] == chunks


async def test_a_consumer_changing_its_chunks_does_not_change_what_is_stored(make_cache: Any, helpers: Any) -> None:
    cache = make_cache()
    upstream = helpers.StreamUpstream([{"delta": "Pa"}, {"delta": "ris"}])
    async for chunk in cache.stream(helpers.request(), upstream):
        chunk["delta"] = chunk["delta"].upper()  # a consumer post-processing what it reads
    await helpers.wait_until(lambda: cache.stats().stored == 1)
    assert [c async for c in cache.stream(helpers.request(), upstream)] == [{"delta": "Pa"}, {"delta": "ris"}]
    with cache.sync.stream(helpers.request("sync"), lambda: iter([{"delta": "Pa"}])) as stream:
        for chunk in stream:
            chunk["delta"] = "changed"
    assert list(cache.sync.stream(helpers.request("sync"), lambda: iter([]))) == [{"delta": "Pa"}]


async def test_the_first_consumer_may_leave_while_others_read_on(
    make_cache: Any, store: MemoryStore, helpers: Any
) -> None:
    cache = make_cache()
    upstream = helpers.StreamUpstream(CHUNKS, pause_after=1)
    first = cache.stream(helpers.request(), upstream)
    await first.__anext__()
    second = cache.stream(helpers.request(), upstream)
    await second.__anext__()
    await first.aclose()
    upstream.release.set()
    assert [c async for c in second] == CHUNKS[1:]
    assert upstream.finished == 1
    await helpers.wait_until(lambda: cache.stats().stored == 1)
    assert [c async for c in cache.stream(helpers.request(), upstream)] == CHUNKS


async def test_a_follower_on_another_event_loop_gets_the_live_stream(make_cache: Any, helpers: Any) -> None:
    cache = make_cache()
    upstream = helpers.StreamUpstream(CHUNKS, pause_after=3)
    first = cache.stream(helpers.request(), upstream)
    head = [await first.__anext__() for _ in range(3)]
    await upstream.paused.wait()
    got: list[Any] = []
    sources: list[Any] = []
    have_three = threading.Event()

    def other_thread() -> None:
        async def main() -> None:
            stream = cache.stream(helpers.request(), upstream)
            async for chunk in stream:
                got.append(chunk)
                if len(got) == 3:
                    have_three.set()
            sources.append(stream.source)

        asyncio.run(main())

    thread = threading.Thread(target=other_thread)
    thread.start()
    await helpers.wait_until(have_three.is_set)
    upstream.release.set()
    rest = [c async for c in first]
    await asyncio.get_running_loop().run_in_executor(None, thread.join, 30)
    assert head + rest == CHUNKS
    assert got == CHUNKS
    assert sources == [Source.JOINED]
    assert upstream.opened == 1


async def test_an_upstream_error_reaches_every_follower(make_cache: Any, helpers: Any) -> None:
    cache = make_cache()
    upstream = helpers.StreamUpstream(CHUNKS, pause_after=1, fail_after=2)
    first = cache.stream(helpers.request(), upstream)
    await first.__anext__()
    second = cache.stream(helpers.request(), upstream)
    await second.__anext__()
    upstream.release.set()
    for stream in (first, second):
        with pytest.raises(ConnectionResetError):
            async for _ in stream:
                pass


async def test_chunks_go_through_dump_and_load(store: MemoryStore, helpers: Any) -> None:
    class Delta:
        def __init__(self, text: str) -> None:
            self.text = text

        def __eq__(self, other: object) -> bool:
            return isinstance(other, Delta) and other.text == self.text

        __hash__ = None  # type: ignore[assignment]

    cache = ResponseCache(store, CachePolicy("chat"), dump=lambda d: {"text": d.text}, load=lambda d: Delta(d["text"]))
    upstream = helpers.StreamUpstream([Delta("a"), Delta("b")])
    assert [c async for c in cache.stream(helpers.request(), upstream)] == [Delta("a"), Delta("b")]
    replay = cache.stream(helpers.request(), upstream)
    assert [c async for c in replay] == [Delta("a"), Delta("b")]
    assert replay.hit


async def test_an_awaitable_returning_a_stream_is_accepted(make_cache: Any, helpers: Any) -> None:
    cache = make_cache()
    upstream = helpers.StreamUpstream(["x", "y"])

    async def create() -> Any:  # like `await client.chat.completions.create(stream=True)`
        return upstream()

    assert [c async for c in cache.stream(helpers.request(), create)] == ["x", "y"]
    assert [c async for c in cache.stream(helpers.request(), create)] == ["x", "y"]
    assert upstream.opened == 1


async def test_sampled_streams_pass_through(make_cache: Any, store: MemoryStore, helpers: Any) -> None:
    cache = make_cache()
    upstream = helpers.StreamUpstream(["a"])
    for _ in range(2):
        stream = cache.stream(helpers.request(temperature=0.8), upstream)
        assert stream.reason == "sampled: temperature > 0"  # known before the first chunk
        assert [c async for c in stream] == ["a"]
        assert stream.source is Source.BYPASS
    unset = cache.stream(helpers.request(temperature=None), upstream)
    assert [c async for c in unset] == ["a"]
    assert (unset.source, unset.reason) == (Source.BYPASS, "sampled: temperature unset")
    assert upstream.opened == 3
    assert await store.size() == 0
    assert cache.stats().bypass_reasons == {"sampled: temperature > 0": 2, "sampled: temperature unset": 1}


def test_sampled_sync_streams_pass_through_with_their_reason(make_cache: Any, store: MemoryStore, helpers: Any) -> None:
    cache = make_cache()
    for _ in range(2):
        stream = cache.sync.stream(helpers.request(temperature=None), lambda: iter("ab"))
        assert stream.reason == "sampled: temperature unset"
        assert list(stream) == ["a", "b"]
        assert stream.source is Source.BYPASS
    replayed = cache.sync.stream(helpers.request(), lambda: iter("ab"))
    assert (list(replayed), replayed.reason) == (["a", "b"], None)
    assert cache.stats().bypass_reasons == {"sampled: temperature unset": 2}
    assert cache.stats().stored == 1


def test_sync_streams_record_and_replay(make_cache: Any, store: MemoryStore, helpers: Any) -> None:
    cache = make_cache()
    opened = []

    def upstream() -> Any:
        opened.append(1)
        yield from CHUNKS

    first = cache.sync.stream(helpers.request(), upstream)
    assert list(first) == CHUNKS
    second = cache.sync.stream(helpers.request(), upstream)
    assert list(second) == CHUNKS
    assert (first.source, second.source) == (Source.MISS, Source.HIT)
    assert len(opened) == 1


def test_an_interrupted_sync_stream_is_not_stored(make_cache: Any, helpers: Any) -> None:
    cache = make_cache()
    closed = []

    def upstream() -> Any:
        try:
            yield from CHUNKS
        finally:
            closed.append(True)

    with cache.sync.stream(helpers.request(), upstream) as stream:
        next(stream)
    assert closed == [True]
    replay = cache.sync.stream(helpers.request(), upstream)
    assert list(replay) == CHUNKS
    assert replay.source is Source.MISS

    def failing() -> Any:
        yield "a"
        raise ConnectionResetError("gone")

    with pytest.raises(ConnectionResetError):
        list(cache.sync.stream(helpers.request("other"), failing))
    assert cache.stats().interrupted_streams == 2
