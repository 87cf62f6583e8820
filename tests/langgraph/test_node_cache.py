"""`CachepointNodeCache` under real graphs: MemoryStore and Redis, sync and async runs, TTLs from the node's
policy, one namespace per graph, a Redis killed in the middle of a run, poisoned entries, clearing."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Annotated, Any, TypedDict

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st
from langchain_core.messages import AnyMessage, HumanMessage, SystemMessage
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.pregel import Pregel
from langgraph.types import CachePolicy

from cachepoint.core.breaker import CircuitBreaker, GuardedStore
from cachepoint.core.codec import Codec
from cachepoint.core.emulator import Emulator
from cachepoint.core.keys import check_namespace
from cachepoint.core.stores import CacheStore, MemoryStore, RedisStore
from cachepoint.core.usage import UsageLedger
from cachepoint.langgraph import CachepointNodeCache, cache_points, graph_namespace, message_cache_key
from langchain_support import MANUAL, anthropic
from redis_servers import RedisServer, free_port


class State(TypedDict, total=False):
    x: int
    y: int
    z: int
    done: int


class Calls:
    """How often each node function ran (from any thread)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def ran(self, name: str) -> None:
        with self._lock:
            self.counts[name] = self.counts.get(name, 0) + 1


def chain(
    cache: Any,
    calls: Calls,
    *,
    is_async: bool = False,
    name: str = "pricing",
    factor: int = 10,
    ttl: int | None = 600,
    between: Callable[[], None] | None = None,
) -> Pregel:
    """``expensive`` (cached) -> ``between`` (not cached: runs a test's fault) -> ``more`` (cached) -> ``done``."""

    def expensive(state: State) -> dict[str, Any]:
        calls.ran("expensive")
        return {"y": state["x"] * factor}

    async def aexpensive(state: State) -> dict[str, Any]:
        calls.ran("expensive")
        return {"y": state["x"] * factor}

    def middle(state: State) -> dict[str, Any]:
        calls.ran("between")
        if between is not None:
            between()
        return {}

    def more(state: State) -> dict[str, Any]:
        calls.ran("more")
        return {"z": state["y"] + 1}

    def done(state: State) -> dict[str, Any]:
        calls.ran("done")
        return {"done": state["z"] * 2}

    policy = CachePolicy(ttl=ttl)
    builder = StateGraph(State)
    builder.add_node("expensive", aexpensive if is_async else expensive, cache_policy=policy)
    builder.add_node("between", middle).add_node("more", more, cache_policy=policy).add_node("done", done)
    builder.add_edge(START, "expensive").add_edge("expensive", "between").add_edge("between", "more")
    builder.add_edge("more", "done").add_edge("done", END)
    return builder.compile(cache=cache, name=name)


def run(graph: Pregel, x: int, *, is_async: bool) -> dict[str, Any]:
    if is_async:
        return asyncio.run(graph.ainvoke({"x": x}))
    return graph.invoke({"x": x})


def expected(x: int, factor: int = 10) -> dict[str, int]:
    return {"x": x, "y": x * factor, "z": x * factor + 1, "done": (x * factor + 1) * 2}


@pytest.fixture
def redis_store(redis_url: str, redis_prefix: str) -> Iterator[RedisStore]:
    store = RedisStore(redis_url, prefix=redis_prefix)
    yield store
    asyncio.run(store.close())


STORES = ["memory", "redis"]


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest) -> CacheStore:
    if request.param == "memory":
        return MemoryStore(max_entries=1000)
    return request.getfixturevalue("redis_store")  # type: ignore[no-any-return]


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_a_repeated_run_is_served_from_the_store(store: CacheStore, is_async: bool) -> None:
    calls = Calls()
    ledger = UsageLedger()
    cache = CachepointNodeCache(store, namespace="pricing", ledger=ledger)
    graph = chain(cache, calls, is_async=is_async)
    assert run(graph, 3, is_async=is_async) == expected(3)
    assert run(graph, 3, is_async=is_async) == expected(3)
    assert calls.counts == {"expensive": 1, "between": 2, "more": 1, "done": 2}
    assert (cache.stats.hits, cache.stats.misses, cache.stats.stored) == (2, 2, 2)
    assert run(graph, 4, is_async=is_async) == expected(4)  # another input is another entry
    assert calls.counts["expensive"] == 2
    nodes = ledger.group_by("node")
    assert {k: (s.calls, s.replayed_calls, s.input_tokens) for k, s in nodes.items()} == {
        ("expensive",): (1, 1, 0),
        ("more",): (1, 1, 0),
    }
    hits = ledger.stats(node_cache="hit")  # a node-cache hit is told apart from a response-cache hit
    assert (hits.calls, hits.replayed_calls, hits.cost_usd) == (2, 2, 0.0)


def test_hits_show_in_the_update_stream(store: CacheStore) -> None:
    graph = chain(CachepointNodeCache(store, namespace="pricing"), Calls())
    graph.invoke({"x": 1})
    updates = list(graph.stream({"x": 1}, stream_mode="updates"))
    cached = [chunk for chunk in updates if chunk.get("__metadata__", {}).get("cached")]
    assert [next(iter(chunk.keys() - {"__metadata__"})) for chunk in cached] == ["expensive", "more"]


def test_the_ttl_is_the_nodes_policy(redis_store: RedisStore, redis_url: str, redis_prefix: str) -> None:
    chain(CachepointNodeCache(redis_store, namespace="timed"), Calls(), ttl=600).invoke({"x": 1})
    chain(CachepointNodeCache(redis_store, namespace="forever"), Calls(), ttl=None).invoke({"x": 1})
    client = redis.Redis.from_url(redis_url)
    try:
        timed = [client.pttl(k) for k in client.scan_iter(match=f"{redis_prefix}timed:*")]
        forever = [client.pttl(k) for k in client.scan_iter(match=f"{redis_prefix}forever:*")]
    finally:
        client.close()
    assert len(timed) == len(forever) == 2
    assert all(590_000 < ms <= 600_000 for ms in timed)
    assert forever == [-1, -1]


def test_an_expired_entry_is_a_miss() -> None:
    now = [0.0]
    calls = Calls()
    graph = chain(CachepointNodeCache(MemoryStore(max_entries=100, clock=lambda: now[0]), namespace="p"), calls, ttl=60)
    graph.invoke({"x": 1})
    now[0] = 59.0
    graph.invoke({"x": 1})
    assert calls.counts["expensive"] == 1
    now[0] = 61.0
    graph.invoke({"x": 1})
    assert calls.counts["expensive"] == 2


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_two_graphs_on_one_redis_never_read_each_others_results(redis_store: RedisStore, is_async: bool) -> None:
    # Same node names, same input, async nodes (LangGraph files both under `__dynamic__`), other results.
    prices = chain(None, Calls(), is_async=is_async, name="prices", factor=10)
    taxes = chain(None, Calls(), is_async=is_async, name="taxes", factor=7)
    prices = cache_points(prices, cache=redis_store)
    taxes = cache_points(taxes, cache=redis_store)
    assert prices.cache.namespace != taxes.cache.namespace
    assert run(prices, 3, is_async=is_async) == expected(3, 10)
    assert run(taxes, 3, is_async=is_async) == expected(3, 7)
    assert run(prices, 3, is_async=is_async) == expected(3, 10)
    assert (prices.cache.stats.hits, taxes.cache.stats.hits) == (2, 0)

    # What the namespace prevents: the same two graphs in one namespace read each other's writes.
    shared = CachepointNodeCache(redis_store, namespace="shared")
    first = chain(shared, Calls(), is_async=is_async, factor=10)
    second = chain(shared, Calls(), is_async=is_async, factor=7)
    run(first, 3, is_async=is_async)
    assert run(second, 3, is_async=is_async) == expected(3, 10)  # the second graph got the first one's answer


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_a_redis_killed_mid_run_changes_nothing_but_the_hit_rate(
    redis_server: RedisServer, redis_prefix: str, is_async: bool
) -> None:
    clock = [0.0]
    breaker = CircuitBreaker(failure_threshold=2, recovery_timeout=10, clock=lambda: clock[0])
    store = GuardedStore(RedisStore(redis_server.url, prefix=redis_prefix), breaker, timeout=0.5)
    cache = CachepointNodeCache(store, namespace="pricing")
    kill = threading.Event()

    def maybe_kill() -> None:
        if kill.is_set():
            kill.clear()
            redis_server.kill()

    calls = Calls()
    graph = chain(cache, calls, is_async=is_async, between=maybe_kill)
    assert run(graph, 5, is_async=is_async) == expected(5)  # fills the cache
    kill.set()
    # `expensive` is read from Redis, then `between` kills it: `more` is looked up in (and written to) a dead
    # server, which opens the breaker; the next run does not even try.
    assert run(graph, 5, is_async=is_async) == expected(5)
    assert run(graph, 5, is_async=is_async) == expected(5)
    assert calls.counts == {"expensive": 2, "between": 3, "more": 3, "done": 3}
    assert (cache.stats.hits, cache.stats.misses) == (1, 5)
    assert store.stats.errors == 2
    assert store.stats.short_circuited == 4  # the third run: two lookups, two writes
    redis_server.start()  # back, empty
    clock[0] = 100.0  # past the breaker's recovery timeout: the next lookup probes and finds it back
    assert run(graph, 5, is_async=is_async) == expected(5)
    assert run(graph, 5, is_async=is_async) == expected(5)
    assert (cache.stats.hits, calls.counts["expensive"], calls.counts["more"]) == (3, 3, 4)
    asyncio.run(store.close())


def test_a_plain_store_is_guarded_so_a_dead_redis_is_not_asked_again_and_again() -> None:
    # Nothing listens on this port. The cache wraps the store in a GuardedStore itself: after a few refused
    # connections its breaker opens and lookups stop reaching for the dead server.
    cache = CachepointNodeCache(RedisStore(f"redis://127.0.0.1:{free_port()}/0", retries=0), namespace="p")
    calls = Calls()
    graph = chain(cache, calls)
    for _ in range(4):
        assert graph.invoke({"x": 1}) == expected(1)
    assert calls.counts["expensive"] == 4
    assert isinstance(cache.store, GuardedStore)
    assert cache.store.stats.errors == 5  # the default breaker's threshold
    assert cache.store.stats.short_circuited == 11  # the other 4 runs x (2 lookups + 2 writes), less 5


def test_one_lookup_per_superstep(redis_server: RedisServer, redis_prefix: str) -> None:
    calls = Calls()

    def node(name: str) -> Callable[[State], dict[str, Any]]:
        def run_node(state: State) -> dict[str, Any]:
            calls.ran(name)
            return {name: state["x"]}  # type: ignore[misc]

        return run_node

    builder = StateGraph(State)
    for name in ("y", "z"):  # two cached nodes in the same superstep
        builder.add_node(name, node(name), cache_policy=CachePolicy()).add_edge(START, name)
    store = RedisStore(redis_server.url, prefix=redis_prefix)
    graph = builder.compile(cache=CachepointNodeCache(store, namespace="fan"))
    client = redis.Redis(port=redis_server.port)

    def commands(name: str) -> int:
        return int(client.info("commandstats").get(f"cmdstat_{name}", {}).get("calls", 0))

    graph.invoke({"x": 1})
    mget, pipelined_sets = commands("mget"), commands("set")
    graph.invoke({"x": 1})
    assert calls.counts == {"y": 1, "z": 1}
    assert (mget, pipelined_sets) == (1, 2)  # one MGET for both nodes; their two writes in one pipeline
    assert commands("mget") == 2
    client.close()
    asyncio.run(store.close())


def stored_keys(redis_url: str, pattern: str) -> list[bytes]:
    client = redis.Redis.from_url(redis_url)
    try:
        return list(client.scan_iter(match=pattern))
    finally:
        client.close()


def put_raw(redis_url: str, key: bytes, value: bytes) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        client.set(key, value)
    finally:
        client.close()


POISON = {
    "not_envelope": lambda codec, key: b"plain garbage",
    "pickle": lambda codec, key: b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x94.",
    "tampered": lambda codec, key: codec.encode(["msgpack", b"x"], context=key)[:-1] + b"!",
    "truncated": lambda codec, key: codec.encode(["msgpack", b"xyz"], context=key)[:-2],
    "shape": lambda codec, key: codec.encode({"not": "a pair"}, context=key),
    "serde": lambda codec, key: codec.encode(["msgpack", b"\xc1\xc1\xc1"], context=key),
    "pickled_writes": lambda codec, key: codec.encode(["pickle", b"\x80\x04N."], context=key),
    "not_writes": lambda codec, key: codec.encode(["msgpack", b"\x2a"], context=key),  # the int 42
    "moved": lambda codec, key: codec.encode(["null", b""], context=b"another key"),
}
REASONS = {
    "not_envelope": "not_envelope",
    "pickle": "pickle",
    "tampered": "bad_signature",
    "truncated": "truncated",
    "shape": "shape",
    "serde": "serde",
    "pickled_writes": "pickle",
    "not_writes": "shape",
    "moved": "bad_signature",
}


@pytest.mark.parametrize("poison", sorted(POISON))
def test_a_poisoned_entry_is_a_counted_miss(
    redis_store: RedisStore, redis_url: str, redis_prefix: str, poison: str
) -> None:
    codec = Codec(encoding="msgpack", signing_keys=[b"s" * 32])
    calls = Calls()
    cache = CachepointNodeCache(redis_store, namespace="pricing", codec=codec)
    graph = chain(cache, calls)
    graph.invoke({"x": 2})
    (key,) = stored_keys(redis_url, f"{redis_prefix}pricing:expensive.*")
    context = key[len(redis_prefix) :]
    put_raw(redis_url, key, POISON[poison](codec, context))
    assert graph.invoke({"x": 2}) == expected(2)
    assert calls.counts["expensive"] == 2  # the node ran again instead of replaying the entry
    assert dict(cache.stats.poisoned or {}) == {REASONS[poison]: 1}
    assert graph.invoke({"x": 2}) == expected(2)  # and its fresh result replaced the poisoned entry
    assert calls.counts["expensive"] == 2


def test_an_entry_written_without_the_signing_key_is_refused(
    redis_store: RedisStore, redis_url: str, redis_prefix: str
) -> None:
    calls = Calls()
    chain(CachepointNodeCache(redis_store, namespace="pricing"), calls).invoke({"x": 2})  # unsigned entries
    signed = CachepointNodeCache(redis_store, namespace="pricing", codec=Codec(signing_keys=[b"k" * 32]))
    assert chain(signed, calls).invoke({"x": 2}) == expected(2)
    assert calls.counts["expensive"] == 2
    assert signed.stats.poisoned == {"unsigned": 2}


def test_writes_the_serializer_cannot_hold_without_pickle_are_not_cached(caplog: pytest.LogCaptureFixture) -> None:
    class Opaque:
        """Neither msgpack nor JSON knows it: LangGraph would pickle it if pickle were allowed."""

        __slots__ = ("lock",)

        def __init__(self) -> None:
            self.lock = threading.Lock()

    class Loose(TypedDict):
        x: int
        thing: Any

    runs: list[int] = []

    def make(state: Loose) -> dict[str, Any]:
        runs.append(state["x"])
        return {"thing": Opaque()}

    cache = CachepointNodeCache(MemoryStore(max_entries=10), namespace="loose")
    builder = StateGraph(Loose).add_node("make", make, cache_policy=CachePolicy()).add_edge(START, "make")
    graph = builder.compile(cache=cache)
    with caplog.at_level(logging.WARNING, logger="cachepoint.langgraph"):
        assert isinstance(graph.invoke({"x": 1})["thing"], Opaque)
        assert isinstance(graph.invoke({"x": 1})["thing"], Opaque)
    assert runs == [1, 1]
    assert (cache.stats.unstorable, cache.stats.stored) == (2, 0)
    assert "could not be serialized without pickle" in caplog.text


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_clearing_one_node_leaves_the_others_and_other_graphs(store: CacheStore, is_async: bool) -> None:
    calls, other_calls = Calls(), Calls()
    graph = chain(CachepointNodeCache(store, namespace="mine"), calls, is_async=is_async)
    other = chain(CachepointNodeCache(store, namespace="theirs"), other_calls)
    run(graph, 1, is_async=is_async)
    other.invoke({"x": 1})
    if is_async:
        asyncio.run(graph.aclear_cache(["expensive"]))
    else:
        graph.clear_cache(["expensive"])
    run(graph, 1, is_async=is_async)
    assert (calls.counts["expensive"], calls.counts["more"]) == (2, 1)
    graph.cache.clear()  # everything of this graph's namespace...
    run(graph, 1, is_async=is_async)
    assert (calls.counts["expensive"], calls.counts["more"]) == (3, 2)
    other.invoke({"x": 1})  # ...and nothing of another's
    assert other_calls.counts["expensive"] == 1


def test_a_sync_run_inside_a_running_event_loop() -> None:
    # invoke() from a coroutine (a notebook cell, an async web handler calling sync code): the cache's sync
    # methods use cachepoint's bridge loop, never asyncio.run inside the running loop.
    calls = Calls()
    graph = chain(CachepointNodeCache(MemoryStore(max_entries=100), namespace="p"), calls)

    async def inside() -> list[dict[str, Any]]:
        return [graph.invoke({"x": 1}), graph.invoke({"x": 1})]

    assert asyncio.run(inside()) == [expected(1), expected(1)]
    assert calls.counts["expensive"] == 1


def test_cache_points_names_the_namespace_and_counts_hits_per_node() -> None:
    ledger = UsageLedger()
    graph = cache_points(chain(None, Calls(), name="pricing"), ledger=ledger, cache=MemoryStore(max_entries=100))
    assert graph.cache.namespace.startswith("pricing-")
    graph.invoke({"x": 1})
    graph.invoke({"x": 1})
    assert {labels["node"]: labels["graph"] for labels, _ in ledger.series()} == {
        "expensive": "pricing",
        "more": "pricing",
    }
    assert ledger.stats().replayed_calls == 2
    # A changed graph (another edge) gets another namespace: old writes would route along old edges.
    builder = chain(None, Calls(), name="pricing").builder
    builder.add_edge("expensive", "done")
    changed = cache_points(builder.compile(name="pricing"), cache=MemoryStore(max_entries=10))
    assert changed.cache.namespace.startswith("pricing-")
    assert changed.cache.namespace != graph.cache.namespace


def test_cache_points_binds_an_unnamed_node_cache_compiled_into_the_graph(caplog: pytest.LogCaptureFixture) -> None:
    unnamed = CachepointNodeCache(MemoryStore(max_entries=100))
    with caplog.at_level(logging.WARNING, logger="cachepoint.langgraph"):
        graph = cache_points(chain(unnamed, Calls(), name="LangGraph"))
    assert graph.cache is not unnamed
    assert graph.cache.namespace.startswith("LangGraph-")
    assert "LangGraph's default" in caplog.text
    graph.invoke({"x": 1})
    graph.invoke({"x": 1})
    assert graph.cache.stats.hits == 2


def test_a_cache_without_a_namespace_says_how_to_name_one() -> None:
    graph = chain(CachepointNodeCache(MemoryStore(max_entries=10)), Calls())
    with pytest.raises(ValueError, match=r"namespace='my-graph'.*cache_points"):
        graph.invoke({"x": 1})


def test_bad_arguments_are_named() -> None:
    store = MemoryStore(max_entries=10)
    with pytest.raises(ValueError, match="pickle"):
        CachepointNodeCache(store, namespace="p", serde=JsonPlusSerializer(pickle_fallback=True))
    with pytest.raises(TypeError, match="CacheStore"):
        CachepointNodeCache({}, namespace="p")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="namespace"):
        CachepointNodeCache(store, namespace="a:b")
    with pytest.raises(TypeError, match="ledger"):
        CachepointNodeCache(store, namespace="p", ledger={})  # type: ignore[arg-type]


QUOTE_GRAPH = chain(None, Calls())


@given(st.text(max_size=80))
def test_any_graph_name_gives_a_valid_namespace(name: str) -> None:
    namespace = graph_namespace(QUOTE_GRAPH, name or None)
    assert check_namespace(namespace) == namespace
    assert namespace.endswith(graph_namespace(QUOTE_GRAPH, "pricing")[-13:])  # the same graph: the same digest


class Chat(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


def test_a_replayed_answer_has_none_of_the_next_calls_markers(
    make_emulator: Callable[..., Emulator], store: CacheStore
) -> None:
    """The next node's call puts its breakpoint on the cached node's answer (the tail of its request) while the
    node cache is storing that answer: the entry must hold the answer as the node returned it."""
    emulator = make_emulator(reply="Hold reset for ten seconds.")
    model = anthropic(emulator)

    def draft(state: Chat) -> dict[str, Any]:
        return {"messages": [model.invoke([SystemMessage(MANUAL), *state["messages"]])]}

    def review(state: Chat) -> dict[str, Any]:
        return {"messages": [model.invoke([SystemMessage(MANUAL), *state["messages"]])]}

    builder = StateGraph(Chat).add_node("draft", draft, cache_policy=CachePolicy(key_func=message_cache_key))
    builder.add_node("review", review).add_edge(START, "draft").add_edge("draft", "review")
    graph = cache_points(builder.compile(name="support"), cache=store)
    for question in ("Red light.", "No Wi-Fi.", "Slow.", "Reboots.", "Hot."):
        first = graph.invoke({"messages": [HumanMessage(question)]})
        again = graph.invoke({"messages": [HumanMessage(question)]})  # draft is served from the store
        assert [m.content for m in again["messages"]] == [m.content for m in first["messages"]]
        assert "cache_control" not in repr(again["messages"])
    assert graph.cache.stats.hits == 5


class Archived(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    archive: list[AnyMessage]


def test_a_node_beside_a_call_is_cached_with_the_messages_as_the_user_left_them(
    make_emulator: Callable[..., Emulator],
) -> None:
    """A cached node writes the state's messages while another node's call of the same step has lent them its
    markers: the entry, and the state of every run it serves, must hold the messages as the user left them."""
    emulator = make_emulator(reply="ok", first_byte_delay=0.6)
    model = anthropic(emulator)

    async def answer(state: Archived) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    async def archive(state: Archived) -> dict[str, Any]:
        await asyncio.sleep(0.2)  # the answer's call is in flight when these writes are cached
        return {"archive": list(state["messages"])}

    builder = StateGraph(Archived).add_node("answer", answer)
    builder.add_node("archive", archive, cache_policy=CachePolicy(key_func=message_cache_key))
    builder.add_edge(START, "answer").add_edge(START, "archive")
    graph = cache_points(builder.compile(name="support"), cache=MemoryStore(max_entries=100))

    def question() -> dict[str, Any]:
        return {"messages": [SystemMessage(MANUAL, id="manual"), HumanMessage("Red light.", id="q1")]}

    async def runs() -> list[dict[str, Any]]:
        return [await graph.ainvoke(question()), await graph.ainvoke(question())]  # the second: archive from the store

    first, again = asyncio.run(runs())
    assert graph.cache.stats.hits == 1
    assert all("cache_control" in repr(call.body) for call in emulator.requests)  # the calls carried markers
    assert [m.content for m in again["archive"]] == [MANUAL, "Red light."]
    assert "cache_control" not in repr(first) + repr(again)
