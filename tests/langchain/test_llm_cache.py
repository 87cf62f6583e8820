"""`CachepointLLMCache`: LangChain's LLM cache over cachepoint stores, with real chat models against the emulator
and a real Redis server."""

from __future__ import annotations

import asyncio
import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.caches import InMemoryCache
from langchain_core.globals import get_llm_cache, set_llm_cache
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.load import dumps
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, Generation
from langchain_core.prompts import ChatPromptTemplate

from cachepoint.core.bridge import run_sync
from cachepoint.core.emulator import Emulator
from cachepoint.core.response_cache import CachePolicy
from cachepoint.core.stores import CacheStore, MemoryStore, RedisStore
from cachepoint.core.usage import UsageLedger
from cachepoint.langchain import CachepointCallbackHandler, CachepointLLMCache
from cachepoint.langchain.llm_cache import parse_llm_string, parse_prompt
from langchain_support import MANUAL, MODELS, RULES, anthropic, mutable_parts
from redis_servers import free_port

pytestmark = pytest.mark.filterwarnings("ignore:The function `loads` is in beta")


def answers(*texts: str) -> Iterator[AIMessage]:
    for text in texts:
        yield AIMessage(text, usage_metadata={"input_tokens": 20, "output_tokens": 4, "total_tokens": 24})


@pytest.fixture
def redis_store(redis_url: str, redis_prefix: str) -> Iterator[RedisStore]:
    store = RedisStore(redis_url, prefix=redis_prefix)
    yield store
    run_sync(store.close)


@pytest.fixture
def global_cache() -> Iterator[None]:
    before = get_llm_cache()
    yield
    set_llm_cache(before)


# --- LangChain's two ways in ---


@pytest.mark.parametrize("provider", ["anthropic", "bedrock"])
def test_set_llm_cache_answers_a_repeated_call_without_the_provider(
    provider: str, emulator: Emulator, global_cache: None
) -> None:
    ledger = UsageLedger()
    set_llm_cache(CachepointLLMCache(MemoryStore(max_entries=100), ledger=ledger))
    model = MODELS[provider](emulator)
    handler = CachepointCallbackHandler(ledger=UsageLedger())  # records the call that reaches the provider
    first = model.invoke([SystemMessage(MANUAL), HumanMessage("My router blinks red.")], {"callbacks": [handler]})
    second = model.invoke([SystemMessage(MANUAL), HumanMessage("My router blinks red.")], {"callbacks": [handler]})

    assert len(emulator.requests) == 1
    assert second.text == first.text
    assert "cachepoint_cache" not in first.response_metadata
    assert second.response_metadata["cachepoint_cache"] == "hit"
    hits = ledger.stats(response_cache="hit")
    assert (hits.calls, hits.hit_calls, hits.input_tokens, hits.output_tokens) == (1, 1, 0, 0)
    assert (hits.replayed_calls, hits.cost_usd) == (1, 0.0)
    assert hits.replay_savings_usd == pytest.approx(handler.ledger.stats().cost_usd or 0.0)  # the first call's
    # The handler's own ledger counts both calls too, the hit as a replayed one (each ledger counts a call once).
    assert (handler.ledger.stats().calls, handler.ledger.stats().replayed_calls) == (2, 1)
    assert dict(ledger.series()[0][0])["provider"] == RULES[provider]


async def test_a_models_own_cache_serves_ainvoke_too(emulator: Emulator) -> None:
    cache = CachepointLLMCache(MemoryStore(max_entries=100))
    model = anthropic(emulator, cache=cache)
    other = anthropic(emulator)  # no cache: every call reaches the provider
    await model.ainvoke("Hi")
    await model.ainvoke("Hi")
    await other.ainvoke("Hi")
    assert len(emulator.requests) == 2


def test_langchains_own_hit_repeats_old_tokens_but_the_ledger_counts_zero(emulator: Emulator) -> None:
    # LangChain's hit path keeps the first call's usage_metadata (total_cost 0): a ledger reading messages
    # would count tokens that were never sent. The handler skips hits; the cache counts them as zero-token hits.
    ledger = UsageLedger()
    handler = CachepointCallbackHandler(ledger=ledger)
    model = anthropic(emulator, cache=CachepointLLMCache(MemoryStore(max_entries=100), ledger=ledger))
    config: Any = {"callbacks": [handler]}
    first = model.invoke([SystemMessage(MANUAL), HumanMessage("Hi")], config=config)
    second = model.invoke([SystemMessage(MANUAL), HumanMessage("Hi")], config=config)

    assert second.usage_metadata is not None
    assert second.usage_metadata["input_tokens"] == first.usage_metadata["input_tokens"] > 0  # type: ignore[index]
    assert ledger.stats().calls == 2
    assert ledger.stats().input_tokens == emulator.requests[0].usage.input_tokens
    assert ledger.stats(response_cache="hit").calls == 1


def test_the_handler_counts_a_hit_of_langchains_own_cache(emulator: Emulator) -> None:
    # LangChain's InMemoryCache answers the second call: the handler counts it as a replayed hit that cost
    # nothing and saved what the first call cost (LangChain keeps that call's usage on the hit).
    ledger = UsageLedger()
    config: Any = {"callbacks": [CachepointCallbackHandler(ledger=ledger)]}
    model = anthropic(emulator, cache=InMemoryCache())
    model.invoke([SystemMessage(MANUAL), HumanMessage("Hi")], config=config)
    paid = ledger.stats().cost_usd
    model.invoke([SystemMessage(MANUAL), HumanMessage("Hi")], config=config)

    assert len(emulator.requests) == 1
    stats, hits = ledger.stats(), ledger.stats(response_cache="hit")
    assert (stats.calls, stats.hit_calls, stats.replayed_calls) == (2, 1, 1)
    assert stats.input_tokens == emulator.requests[0].usage.input_tokens  # the hit's old tokens are not counted
    assert (hits.calls, hits.cost_usd, hits.input_tokens) == (1, 0.0, 0)
    assert paid
    assert hits.replay_savings_usd == pytest.approx(paid)
    assert stats.cost_usd == pytest.approx(paid)


@pytest.mark.parametrize("cache_ledger", ["none", "another", "the same"])
def test_the_handler_counts_each_hit_of_a_cachepoint_cache_once_in_its_ledger(
    emulator: Emulator, cache_ledger: str
) -> None:
    # Swapping LangChain's InMemoryCache for CachepointLLMCache must not make hits vanish from the handler's
    # ledger: a ledger counts every call once, whichever cache answered it and whatever the cache counts itself.
    ledger = UsageLedger()
    other = UsageLedger()
    own = {"none": None, "another": other, "the same": ledger}[cache_ledger]
    model = anthropic(emulator, temperature=0, cache=CachepointLLMCache(MemoryStore(max_entries=100), ledger=own))
    config: Any = {"callbacks": [CachepointCallbackHandler(ledger=ledger)]}
    for _ in range(3):
        model.invoke([SystemMessage(MANUAL), HumanMessage("Hi")], config=config)

    assert len(emulator.requests) == 1
    stats, hits = ledger.stats(), ledger.stats(response_cache="hit")
    assert (stats.calls, stats.replayed_calls, hits.calls, hits.input_tokens) == (3, 2, 2, 0)
    assert stats.input_tokens == emulator.requests[0].usage.input_tokens
    if cache_ledger == "another":
        assert (other.stats().calls, other.stats().replayed_calls) == (2, 2)


@pytest.mark.parametrize(
    ("cache_ledger", "call"),
    [
        ("its own", "invoke"),
        ("the same", "invoke"),
        ("the same", "stream"),
        ("its own", "stream"),
        ("the same", "astream"),
        ("its own", "astream"),
    ],
)
def test_the_handler_counts_each_hit_of_with_cache_points_once_in_its_ledger(
    emulator: Emulator, cache_ledger: str, call: str
) -> None:
    from cachepoint.core.response_cache import ResponseCache
    from cachepoint.langchain import with_cache_points

    ledger = UsageLedger()
    model = with_cache_points(
        anthropic(emulator, temperature=0),
        ledger=ledger if cache_ledger == "the same" else None,
        response_cache=ResponseCache(MemoryStore(max_entries=100), CachePolicy("lc-test")),
    )
    config: Any = {"callbacks": [CachepointCallbackHandler(ledger=ledger)]}
    for _ in range(3):
        if call == "invoke":
            model.invoke([SystemMessage(MANUAL), HumanMessage("Hi")], config=config)
        elif call == "stream":
            assert list(model.stream([SystemMessage(MANUAL), HumanMessage("Hi")], config=config))
        else:
            assert asyncio.run(_chunks(model.astream([SystemMessage(MANUAL), HumanMessage("Hi")], config=config)))

    assert len(emulator.requests) == 1
    stats, hits = ledger.stats(), ledger.stats(response_cache="hit")
    assert (stats.calls, stats.replayed_calls, hits.calls, hits.input_tokens) == (3, 2, 2, 0)
    assert stats.input_tokens == emulator.requests[0].usage.input_tokens  # the miss, with what it cost
    if cache_ledger == "its own":
        assert (model.ledger.stats().calls, model.ledger.stats().replayed_calls) == (3, 2)


# --- the key: markers and ids out, everything that changes the answer in ---


def test_markers_placed_by_the_handler_do_not_change_the_key(emulator: Emulator) -> None:
    cache = CachepointLLMCache(MemoryStore(max_entries=100))
    model = anthropic(emulator, cache=cache)
    messages = [SystemMessage(MANUAL), HumanMessage("My router blinks red.")]
    model.invoke(messages, config={"callbacks": [CachepointCallbackHandler()]})
    assert "cache_control" in repr(emulator.requests[0].body)  # the first call went out marked

    again = model.invoke([SystemMessage(MANUAL), HumanMessage("My router blinks red.")])  # no handler, no markers
    assert again.response_metadata["cachepoint_cache"] == "hit"
    assert len(emulator.requests) == 1


def test_a_cache_control_kwarg_and_marked_tools_do_not_change_the_key(emulator: Emulator) -> None:
    cache = CachepointLLMCache(MemoryStore(max_entries=100))
    tool = {"name": "reboot", "description": "Reboot the router.", "input_schema": {"type": "object"}}
    model = anthropic(emulator, cache=cache)
    model.bind_tools([tool]).invoke("Reboot it", cache_control={"type": "ephemeral"})
    marked_tool = {**tool, "cache_control": {"type": "ephemeral", "ttl": "1h"}}
    again = model.bind_tools([marked_tool]).invoke("Reboot it")
    assert again.response_metadata["cachepoint_cache"] == "hit"
    other = model.bind_tools([{**tool, "description": "Reboot the modem."}]).invoke("Reboot it")
    assert "cachepoint_cache" not in other.response_metadata  # a different tool is a different request
    assert len(emulator.requests) == 2


def test_what_changes_the_answer_changes_the_key(emulator: Emulator) -> None:
    cache = CachepointLLMCache(MemoryStore(max_entries=100))
    anthropic(emulator, cache=cache, temperature=0).invoke("Hi")
    anthropic(emulator, cache=cache, temperature=0.5).invoke("Hi")
    anthropic(emulator, cache=cache, temperature=0).invoke("Hello")
    anthropic(emulator, cache=cache, temperature=0, max_tokens=10).invoke("Hi")
    assert len(emulator.requests) == 4


@pytest.mark.parametrize(
    ("name", "one", "other"),
    [
        ("anthropic_vertex", {"max_output_tokens": 8000}, {"max_output_tokens": 8000, "thinking_budget": 2000}),
        ("anthropic_vertex", {}, {"stop": ["Step 3"]}),
        ("anthropic_mantle", {}, {"betas": ["context-1m-2025-08-07"]}),
    ],
)
def test_models_whose_langchain_key_leaves_settings_out_are_never_answered_from_it(
    emulator: Emulator, name: str, one: dict[str, Any], other: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    # LangChain cannot serialize ChatAnthropicVertex or ChatAnthropicMantle, and the key it gives any LLM cache for
    # them (its `_identifying_params`) leaves out stop sequences, thinking budgets and betas: InMemoryCache answers
    # the thinking model with the other's answer. Such a key is no key: their calls are not cached, and it says so.
    if name not in MODELS:
        pytest.skip(f"{name}: not in this langchain-aws")
    cache = CachepointLLMCache(MemoryStore(max_entries=100))
    for setup in (one, other, one):
        answer = MODELS[name](emulator, cache=cache, **setup).invoke("How do I reset my router?")
        assert "cachepoint_cache" not in answer.response_metadata
    assert len(emulator.requests) == 3
    assert "with_cache_points" in caplog.text


def test_a_model_chosen_per_call_is_never_served_the_default_models_answer(emulator: Emulator) -> None:
    # ChatAnthropic sends a call's `model=` over its own: another model, another answer.
    model = anthropic(emulator, cache=CachepointLLMCache(MemoryStore(max_entries=100)), temperature=0)
    model.invoke("Hi")
    model.invoke("Hi", model="claude-haiku-4-5")
    model.bind(model="claude-haiku-4-5").invoke("Hi")
    assert [r.body["model"] for r in emulator.requests] == ["claude-sonnet-4-6", "claude-haiku-4-5"]


def test_message_ids_and_earlier_answers_metadata_do_not_change_the_key() -> None:
    cache = CachepointLLMCache(MemoryStore(max_entries=100))
    model = GenericFakeChatModel(messages=answers("Paris.", "Lyon."), cache=cache)
    history = [HumanMessage("Capital?", id="h-1"), AIMessage("France?", id="run-1", response_metadata={"id": "m1"})]
    model.invoke([*history, HumanMessage("Yes, France.")])
    history = [HumanMessage("Capital?", id="h-2"), AIMessage("France?", id="run-2", response_metadata={"id": "m2"})]
    assert model.invoke([*history, HumanMessage("Yes, France.")]).text == "Paris."


TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(
    texts=st.lists(TEXT, min_size=1, max_size=6),
    marked=st.lists(st.sampled_from(["none", "anthropic", "bedrock"]), min_size=6, max_size=6),
    ttl=st.sampled_from([None, "5m", "1h"]),
)
def test_the_key_ignores_markers_written_any_way_cachepoint_writes_them(
    texts: list[str], marked: list[str], ttl: str | None
) -> None:
    plain: list[BaseMessage] = [HumanMessage(t) if i % 2 == 0 else AIMessage(t) for i, t in enumerate(texts)]
    control = {"type": "ephemeral", **({"ttl": ttl} if ttl else {})}
    point = {"cachePoint": {"type": "default", **({"ttl": ttl} if ttl else {})}}
    written: list[BaseMessage] = []
    for message, how in zip(plain, marked, strict=False):
        text = str(message.content)
        if how == "anthropic":
            written.append(
                message.model_copy(update={"content": [{"type": "text", "text": text, "cache_control": control}]})
            )
        elif how == "bedrock":
            written.append(message.model_copy(update={"content": [{"type": "text", "text": text}, point]}))
        else:
            written.append(message)
    cache = CachepointLLMCache(MemoryStore(max_entries=10))
    llm = "[('_type', 'fake'), ('stop', None)]"
    assert cache._keyed(dumps(written), llm).request == cache._keyed(dumps(plain), llm).request
    different = [*plain[:-1], plain[-1].model_copy(update={"content": str(plain[-1].content) + "!"})]
    assert cache._keyed(dumps(different), llm).request != cache._keyed(dumps(plain), llm).request


def test_a_tool_message_written_as_a_marked_tool_result_keys_like_the_plain_one() -> None:
    plain = ToolMessage("Hold reset 10 s.", tool_call_id="toolu_01")
    marked = plain.model_copy(
        update={
            "content": [
                {
                    "type": "tool_result",
                    "content": "Hold reset 10 s.",
                    "tool_use_id": "toolu_01",
                    "is_error": False,
                    "cache_control": {"type": "ephemeral"},
                }
            ]
        }
    )
    assert parse_prompt(dumps([marked])) == parse_prompt(dumps([plain]))


def test_llm_strings_it_cannot_read_are_keyed_as_given() -> None:
    model, params = parse_llm_string("{not json")
    assert (model, params) == (None, {"llm_string": "{not json"})
    assert parse_llm_string("[('x', <object at 0x1>)]") == (None, {"llm_params": "[('x', <object at 0x1>)]"})
    cache = CachepointLLMCache(MemoryStore(max_entries=10))
    cache.update("p", "[('x', <object at 0x1>)]", [Generation(text="a")])
    assert cache.lookup("p", "[('x', <object at 0x1>)]") == [Generation(text="a")]
    assert cache.lookup("p", "[('x', <object at 0x2>)]") is None


# --- policy: TTL, namespace, tenant, what is cached ---


def test_ttl_namespace_and_tenant_come_from_the_policy(redis_store: RedisStore, redis_url: str) -> None:
    acme = CachepointLLMCache(redis_store, CachePolicy("support", tenant="acme", ttl=60, cache_nondeterministic=True))
    globex = CachepointLLMCache(redis_store, CachePolicy("support", tenant="globex", cache_nondeterministic=True))
    other = CachepointLLMCache(redis_store, CachePolicy("billing", tenant="acme", cache_nondeterministic=True))
    acme.update("prompt", "llm", [Generation(text="acme's answer")])

    assert acme.lookup("prompt", "llm") == [Generation(text="acme's answer")]
    assert globex.lookup("prompt", "llm") is None
    assert other.lookup("prompt", "llm") is None
    client = redis.Redis.from_url(redis_url)
    try:
        (key,) = client.keys(f"{redis_store.prefix}support:t.acme:*")
        assert 0 < client.ttl(key) <= 60
    finally:
        client.close()
    other.update("prompt", "llm", [Generation(text="billing")])
    acme.clear()  # the namespace: every tenant of "support", nothing of "billing"
    assert acme.lookup("prompt", "llm") is None
    assert other.lookup("prompt", "llm") == [Generation(text="billing")]


def test_a_policy_for_deterministic_calls_only_leaves_sampled_calls_uncached(emulator: Emulator) -> None:
    cache = CachepointLLMCache(MemoryStore(max_entries=10), CachePolicy("lc"))
    for temperature in (0.7, 0.7, 0, 0):
        anthropic(emulator, cache=cache, temperature=temperature).invoke("Hi")
    assert len(emulator.requests) == 3  # both sampled calls, and the first deterministic one


# --- values: JSON through langchain_core.load, nothing else ---


def test_entries_it_must_not_load_are_misses_not_errors(redis_store: RedisStore, redis_url: str) -> None:
    cache = CachepointLLMCache(redis_store)
    keyed = cache._keyed("prompt", "llm")
    assert keyed.request is not None
    prompt_template = dumps([ChatPromptTemplate.from_messages([("human", "{x}")])])  # a class it must not build
    cache.response_cache.sync.warm([keyed.request], lambda _request: prompt_template)
    assert cache.lookup("prompt", "llm") is None
    assert cache.response_cache.stats().load_errors == 1

    cache.update("prompt2", "llm", [Generation(text="fine")])
    assert cache.lookup("prompt2", "llm") == [Generation(text="fine")]
    request = cache._keyed("prompt2", "llm").request
    assert request is not None
    key = redis_store.prefix + cache.response_cache.key_for(request)
    client = redis.Redis.from_url(redis_url)
    try:
        raw = client.get(key)
        assert raw is not None
        client.set(key, raw.replace(b"fine", b"evil"))  # tampered bytes: the codec's checksum fails
    finally:
        client.close()
    fresh = CachepointLLMCache(redis_store)  # no parsed copy of the old bytes
    assert fresh.lookup("prompt2", "llm") is None
    assert fresh.response_cache.stats().corrupt == 1


def test_chat_generations_round_trip_with_their_message(redis_store: RedisStore) -> None:
    cache = CachepointLLMCache(redis_store)
    message = AIMessage(
        "Restart it.",
        tool_calls=[{"name": "reboot", "args": {"now": True}, "id": "toolu_1", "type": "tool_call"}],
        usage_metadata={"input_tokens": 9, "output_tokens": 3, "total_tokens": 12},
        response_metadata={"stop_reason": "tool_use"},
    )
    cache.update("p", "l", [ChatGeneration(message=message, generation_info={"finish_reason": "tool_use"})])
    (hit,) = cache.lookup("p", "l")  # type: ignore[misc]
    assert isinstance(hit, ChatGeneration)
    assert hit.message.tool_calls == message.tool_calls  # type: ignore[attr-defined]
    assert hit.message.response_metadata == {"stop_reason": "tool_use", "cachepoint_cache": "hit"}
    assert hit.generation_info == {"finish_reason": "tool_use"}


# --- a sick store is a miss ---


def test_an_unreachable_store_is_a_miss_and_the_call_goes_through() -> None:
    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0", prefix="x:", timeout=0.5)  # nothing listens there
    model = GenericFakeChatModel(messages=answers("one", "two"), cache=CachepointLLMCache(store))
    started = time.perf_counter()
    assert [model.invoke("Hi").text for _ in range(2)] == ["one", "two"]
    assert time.perf_counter() - started < 10


# --- Redis from every kind of caller ---


def test_redis_from_sync_code(redis_store: RedisStore) -> None:
    model = GenericFakeChatModel(messages=answers("one", "two"), cache=CachepointLLMCache(redis_store))
    assert [model.invoke("Hi").text for _ in range(3)] == ["one"] * 3


async def test_redis_from_async_code(redis_store: RedisStore) -> None:
    model = GenericFakeChatModel(messages=answers("one", "two"), cache=CachepointLLMCache(redis_store))
    assert [(await model.ainvoke("Hi")).text for _ in range(3)] == ["one"] * 3


def test_redis_from_many_threads(redis_store: RedisStore) -> None:
    cache = CachepointLLMCache(redis_store)
    model = GenericFakeChatModel(messages=answers(*(f"answer {i}" for i in range(8))), cache=cache)
    model.invoke("Hi")  # stored once
    results: list[str] = []
    errors: list[BaseException] = []

    def ask() -> None:
        try:
            for _ in range(5):
                results.append(model.invoke("Hi").text)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert results == ["answer 0"] * 40


async def test_redis_from_sync_code_inside_a_running_loop(redis_store: RedisStore) -> None:
    # Jupyter: a sync invoke while an event loop runs in this thread.
    model = GenericFakeChatModel(messages=answers("one", "two"), cache=CachepointLLMCache(redis_store))
    asyncio.get_running_loop()
    assert [model.invoke("Hi").text for _ in range(3)] == ["one"] * 3
    assert (await model.ainvoke("Hi")).text == "one"


async def test_async_calls_across_event_loops_share_one_redis_cache(redis_store: RedisStore) -> None:
    cache = CachepointLLMCache(redis_store)
    model = GenericFakeChatModel(messages=answers("one", "two", "three"), cache=cache)
    await model.ainvoke("Hi")

    def in_another_loop() -> str:
        return asyncio.run(model.ainvoke("Hi")).text

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        other = await asyncio.to_thread(in_another_loop)
    assert other == "one"


# --- the cache never fails the call ---


def test_an_answer_it_cannot_store_is_not_stored_and_the_call_returns(caplog: pytest.LogCaptureFixture) -> None:
    class Unwritable(Generation):
        def to_json(self) -> Any:
            raise RuntimeError("cannot serialize")

    cache = CachepointLLMCache(MemoryStore(max_entries=10))
    cache.update("p", "l", [Unwritable(text="x")])
    assert cache.lookup("p", "l") is None
    assert any("could not store an answer" in r.getMessage() for r in caplog.records)


def test_two_pairs_of_key_strings_never_share_an_answer_by_where_they_split() -> None:
    # ("a\0b", "c") and ("a", "b\0c") are different calls: the cache must not mix them up.
    cache = CachepointLLMCache(MemoryStore(max_entries=10))
    cache.update("a\0b", "c", [Generation(text="first")])
    assert cache.lookup("a", "b\0c") is None
    cache.update("a", "b\0c", [Generation(text="second")])
    assert cache.lookup("a\0b", "c") == [Generation(text="first")]
    assert cache.lookup("a", "b\0c") == [Generation(text="second")]


# --- a hit is what the store holds now: the memos in front of it never decide ---


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_hit_through_invoke_is_a_miss_once_its_entry_expires() -> None:
    clock = Clock()
    policy = CachePolicy("lc", ttl=60, cache_nondeterministic=True)
    model = GenericFakeChatModel(
        messages=answers("one", "two"), cache=CachepointLLMCache(MemoryStore(max_entries=10, clock=clock), policy)
    )
    assert [model.invoke("Hi").text for _ in range(2)] == ["one", "one"]
    clock.now += 61
    assert [model.invoke("Hi").text for _ in range(2)] == ["two", "two"]


async def test_a_hit_through_invoke_is_a_miss_after_clear_and_aclear() -> None:
    cache = CachepointLLMCache(MemoryStore(max_entries=10))
    model = GenericFakeChatModel(messages=answers("one", "two", "three"), cache=cache)
    assert [model.invoke("Hi").text for _ in range(2)] == ["one", "one"]
    await cache.aclear()
    assert [(await model.ainvoke("Hi")).text for _ in range(2)] == ["two", "two"]
    cache.clear()
    assert [model.invoke("Hi").text for _ in range(2)] == ["three", "three"]


def test_a_hit_through_invoke_is_a_miss_once_its_tag_is_invalidated() -> None:
    cache = CachepointLLMCache(MemoryStore(max_entries=10), CachePolicy("lc", tags=["kb"], cache_nondeterministic=True))
    model = GenericFakeChatModel(messages=answers("one", "two"), cache=cache)
    assert [model.invoke("Hi").text for _ in range(2)] == ["one", "one"]
    cache.response_cache.sync.invalidate(tag="kb")
    assert [model.invoke("Hi").text for _ in range(2)] == ["two", "two"]


def test_a_hit_through_invoke_is_a_miss_once_another_cache_on_the_store_removes_the_entry() -> None:
    store = MemoryStore(max_entries=10)
    first, second = CachepointLLMCache(store), CachepointLLMCache(store)
    writer = GenericFakeChatModel(messages=answers("one", "unused"), cache=first)
    reader = GenericFakeChatModel(messages=answers("two", "three"), cache=second)
    assert writer.invoke("Hi").text == "one"
    assert [reader.invoke("Hi").text for _ in range(2)] == ["one", "one"]
    first.clear()
    assert [reader.invoke("Hi").text for _ in range(2)] == ["two", "two"]
    keyed = second._keyed(dumps([HumanMessage("Hi")]), reader._get_llm_string())
    assert keyed.key is not None
    assert run_sync(lambda: store.delete(keyed.key or ""))  # the entry removed under the cache's feet
    assert [reader.invoke("Hi").text for _ in range(2)] == ["three", "three"]


def test_hits_through_invoke_stay_within_their_tenant_and_namespace() -> None:
    store = MemoryStore(max_entries=10)
    acme = CachepointLLMCache(store, CachePolicy("lc", tenant="acme", cache_nondeterministic=True))
    globex = CachepointLLMCache(store, CachePolicy("lc", tenant="globex", cache_nondeterministic=True))
    billing = CachepointLLMCache(store, CachePolicy("billing", tenant="acme", cache_nondeterministic=True))
    replies = {"acme": "for acme", "globex": "for globex", "billing": "for billing"}
    for name, cache in (("acme", acme), ("globex", globex), ("billing", billing)):
        model = GenericFakeChatModel(messages=answers(replies[name], "again"), cache=cache)
        assert [model.invoke("Hi").text for _ in range(2)] == [replies[name]] * 2


def test_changing_what_a_hit_returned_does_not_change_the_next_hit() -> None:
    cache = CachepointLLMCache(MemoryStore(max_entries=10))
    model = GenericFakeChatModel(messages=answers("one", "two"), cache=cache)
    model.invoke("Hi")
    hit = model.invoke("Hi")
    hit.content = "changed"
    hit.id = "mine"
    hit.response_metadata = {}
    hit.usage_metadata = None
    result = model.generate([[HumanMessage("Hi")]])
    generation = result.generations[0][0]
    assert isinstance(generation, ChatGeneration)
    generation.text = "changed too"
    generation.message = AIMessage("replaced")
    again = model.invoke("Hi")
    assert (again.text, again.response_metadata["cachepoint_cache"]) == ("one", "hit")
    assert again.id != "mine"
    assert again.usage_metadata is not None
    assert again.usage_metadata["output_tokens"] == 4
    assert cache.lookup(dumps([HumanMessage("Hi")]), model._get_llm_string()) == cache.lookup(
        dumps([HumanMessage("Hi")]), model._get_llm_string()
    )


# --- each hit is its own copy ---


def rich_answer() -> AIMessage:
    """An answer with mutable parts everywhere a caller (or LangChain) may change one: content blocks, nested
    response metadata, additional kwargs, tool calls, usage details."""
    return AIMessage(
        [{"type": "text", "text": "Restart the router."}, {"type": "text", "text": "Then wait.", "extras": {"n": [1]}}],
        response_metadata={"model_name": "fake", "stop_reason": "end_turn", "usage": {"cache_read": [3, 4]}},
        additional_kwargs={"refusal": None, "notes": {"tags": ["a", "b"]}},
        tool_calls=[{"name": "lookup", "args": {"serial": ["X1"]}, "id": "call-1", "type": "tool_call"}],
        usage_metadata={
            "input_tokens": 20,
            "output_tokens": 4,
            "total_tokens": 24,
            "input_token_details": {"cache_read": 10, "cache_creation": 2},
        },
    )


def mutate(message: BaseMessage) -> None:
    """What callers do to a result: LangChain writes metadata and ids, agents append to content."""
    assert isinstance(message, AIMessage)
    assert isinstance(message.content, list)
    message.response_metadata["model_name"] = "changed"
    message.response_metadata["usage"]["cache_read"].append(99)
    message.additional_kwargs["notes"]["tags"].append("mine")
    message.additional_kwargs["added"] = True
    message.content.append({"type": "text", "text": "appended"})
    first = message.content[0]
    assert isinstance(first, dict)
    first["text"] = "changed"
    message.tool_calls[0]["args"]["serial"].append("X2")
    assert message.usage_metadata is not None
    message.usage_metadata["input_token_details"]["cache_read"] = 999


@pytest.fixture(params=["memory", "redis"])
def hit_store(request: pytest.FixtureRequest) -> CacheStore:
    if request.param == "memory":
        return MemoryStore(max_entries=10)
    store: RedisStore = request.getfixturevalue("redis_store")
    return store


def test_each_hit_is_its_own_copy_of_what_was_stored(hit_store: CacheStore) -> None:
    model = GenericFakeChatModel(
        messages=iter([rich_answer(), AIMessage("second answer")]), cache=CachepointLLMCache(hit_store)
    )
    model.invoke("Hi")  # stored
    first = model.invoke("Hi")
    as_stored = first.model_dump()
    assert first.response_metadata["cachepoint_cache"] == "hit"
    mutate(first)
    second = model.invoke("Hi")
    assert second.model_dump() == as_stored
    shared = mutable_parts(first).keys() & mutable_parts(second).keys()
    assert not shared, [mutable_parts(first)[i] for i in shared]
    third = model.invoke("Hi")
    assert not mutable_parts(second).keys() & mutable_parts(third).keys()


async def test_each_hit_is_its_own_copy_of_what_was_stored_async(hit_store: CacheStore) -> None:
    model = GenericFakeChatModel(
        messages=iter([rich_answer(), AIMessage("second answer")]), cache=CachepointLLMCache(hit_store)
    )
    await model.ainvoke("Hi")  # stored
    first = await model.ainvoke("Hi")
    as_stored = first.model_dump()
    assert first.response_metadata["cachepoint_cache"] == "hit"
    mutate(first)
    second = await model.ainvoke("Hi")
    assert second.model_dump() == as_stored
    shared = mutable_parts(first).keys() & mutable_parts(second).keys()
    assert not shared, [mutable_parts(first)[i] for i in shared]
    third = await model.ainvoke("Hi")
    assert not mutable_parts(second).keys() & mutable_parts(third).keys()


def test_every_hit_through_invoke_is_counted_in_the_ledger_and_stats() -> None:
    ledger = UsageLedger()
    cache = CachepointLLMCache(MemoryStore(max_entries=10), ledger=ledger)
    model = GenericFakeChatModel(messages=answers("one"), cache=cache)
    for _ in range(4):
        model.invoke("Hi")
    assert ledger.stats(response_cache="hit").calls == 3
    stats = cache.response_cache.stats()
    assert (stats.hits, stats.misses) == (3, 1)


def test_long_prompts_and_many_prompts_keep_their_own_answers() -> None:
    # Past the bounds of the key memo (long key strings, more pairs than it holds), each prompt keeps its answer.
    cache = CachepointLLMCache(MemoryStore(max_entries=10_000))
    long_a, long_b = "x" * 40_000 + "a", "x" * 40_000 + "b"
    cache.update(long_a, "llm", [Generation(text="a")])
    cache.update(long_b, "llm", [Generation(text="b")])
    assert cache.lookup(long_a, "llm") == [Generation(text="a")]
    assert cache.lookup(long_b, "llm") == [Generation(text="b")]
    for index in range(5000):
        cache.update(f"p{index}-" + "y" * 1000, "llm", [Generation(text=str(index))])
    assert all(cache.lookup(f"p{i}-" + "y" * 1000, "llm") == [Generation(text=str(i))] for i in (0, 2500, 4999))
    assert cache.lookup(long_a, "llm") == [Generation(text="a")]


async def _chunks(stream: Any) -> list[Any]:
    return [chunk async for chunk in stream]
