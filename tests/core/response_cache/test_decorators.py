"""cached(...) for functions and CachedModel for duck-typed model objects."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import pydantic
import pytest

from cachepoint.core.keys import FingerprintError
from cachepoint.core.response_cache import CachedModel, CachedStream, cached


async def test_async_functions_are_cached_by_their_arguments(make_cache: Any) -> None:
    cache = make_cache("fn")
    calls: list[tuple[str, int]] = []

    @cached(cache, name="search")
    async def search(query: str, k: int = 3) -> list[str]:
        calls.append((query, k))
        await asyncio.sleep(0)
        return [f"{query}-{i}" for i in range(k)]

    assert await search("cats") == ["cats-0", "cats-1", "cats-2"]
    assert await search("cats", k=3) == ["cats-0", "cats-1", "cats-2"]  # same bound arguments, same key
    assert await search(query="cats") == ["cats-0", "cats-1", "cats-2"]
    assert await search("cats", 2) == ["cats-0", "cats-1"]
    assert calls == [("cats", 3), ("cats", 2)]
    assert search.__name__ == "search"
    assert search.cache_key("cats") == search.cache_key(query="cats", k=3)  # type: ignore[attr-defined]
    assert search.cache_key("cats").startswith("fn:shared:v1:")  # type: ignore[attr-defined]


async def test_concurrent_calls_of_a_decorated_function_share_one_call(make_cache: Any, helpers: Any) -> None:
    cache = make_cache("fn")
    upstream = helpers.Upstream({"ok": True})
    upstream.hold()

    @cached(cache, name="fetch")
    async def fetch(x: int) -> Any:
        return await upstream()

    tasks = [asyncio.create_task(fetch(1)) for _ in range(30)]
    await helpers.wait_until(lambda: cache.stats().joins == 29)
    upstream.open()
    assert await asyncio.gather(*tasks) == [{"ok": True}] * 30
    assert upstream.calls == 1


def test_sync_functions_are_cached_through_the_sync_face(make_cache: Any) -> None:
    cache = make_cache("fn")
    calls = []

    @cached(cache, name="square", ttl=60)
    def square(x: int) -> int:
        calls.append(x)
        return x * x

    assert [square(3), square(3), square(4)] == [9, 9, 16]
    assert calls == [3, 4]
    assert cache.stats().hits == 1


async def test_async_generators_become_cached_streams(make_cache: Any) -> None:
    cache = make_cache("fn")
    opened = []

    @cached(cache, name="tokens")
    async def tokens(prompt: str) -> Any:
        opened.append(prompt)
        for word in prompt.split():
            yield word

    first = tokens("a b c")
    assert isinstance(first, CachedStream)
    assert [t async for t in first] == ["a", "b", "c"]
    replay = tokens("a b c")
    assert [t async for t in replay] == ["a", "b", "c"]
    assert replay.hit
    assert opened == ["a b c"]


def test_generators_become_cached_sync_streams(make_cache: Any) -> None:
    cache = make_cache("fn")
    opened = []

    @cached(cache, name="tokens")
    def tokens(prompt: str) -> Any:
        opened.append(prompt)
        yield from prompt.split()

    assert list(tokens("x y")) == ["x", "y"]
    assert list(tokens("x y")) == ["x", "y"]
    assert opened == ["x y"]


def test_ignored_arguments_stay_out_of_the_key(make_cache: Any) -> None:
    cache = make_cache("fn")

    class Client:
        pass

    @cached(cache, ignore=["client"])
    def get(client: Client, path: str) -> str:
        return path.upper()

    assert get.cache_key(Client(), "/a") == get.cache_key(Client(), "/a")  # type: ignore[attr-defined]
    assert get(Client(), "/a") == "/A"
    assert get(Client(), "/a") == "/A"
    assert cache.stats().hits == 1
    with pytest.raises(ValueError, match=r"ignore: .*has no parameter 'clinet'"):
        cached(cache, ignore=["clinet"])(get.__wrapped__)  # type: ignore[attr-defined]


def test_unkeyable_arguments_are_a_clear_error_before_the_call(make_cache: Any) -> None:
    cache = make_cache("fn")
    calls = []

    @cached(cache, name="fetch")
    def fetch(session: object, url: str) -> str:
        calls.append(url)
        return url

    with pytest.raises(FingerprintError) as info:
        fetch(object(), "https://x")
    message = str(info.value)
    assert "fetch()" in message
    assert "arguments['session']" in message
    assert "unsupported type 'object'" in message
    assert "ignore=" in message
    assert calls == []


def test_a_temperature_argument_above_zero_is_not_cached(make_cache: Any) -> None:
    cache = make_cache("fn")
    calls = []

    @cached(cache, name="complete")
    def complete(prompt: str, temperature: float = 0.0) -> str:
        calls.append(temperature)
        return prompt

    complete("p", temperature=0.9)
    complete("p", temperature=0.9)
    complete("p")
    complete("p")
    assert calls == [0.9, 0.9, 0.0]
    assert complete.cache_key("p", temperature=0.9) is None  # type: ignore[attr-defined]


def test_llm_shaped_arguments_without_temperature_are_sampled(make_cache: Any) -> None:
    cache = make_cache("fn")
    calls = []

    @cached(cache, name="ask")
    def ask(model: str, messages: list[dict[str, str]], temperature: float | None = None) -> str:
        calls.append(temperature)
        return messages[-1]["content"]

    hi = [{"role": "user", "content": "hi"}]
    assert ask("claude-sonnet-5", hi) == "hi"
    assert ask("claude-sonnet-5", hi) == "hi"
    assert ask.cache_key("claude-sonnet-5", hi) is None  # type: ignore[attr-defined]
    assert ask("claude-sonnet-5", hi, temperature=0) == "hi"
    assert ask("claude-sonnet-5", hi, temperature=0) == "hi"
    assert calls == [None, None, 0]
    assert cache.stats().bypass_reasons == {"sampled: temperature unset": 2}


async def test_plain_async_functions_keep_caching_and_llm_shaped_ones_bypass(make_cache: Any) -> None:
    cache = make_cache("fn")
    calls = []

    @cached(cache, name="lookup")
    async def lookup(prompt: str, model: str = "m") -> str:  # a model and a prompt: an LLM call
        calls.append(prompt)
        return prompt

    @cached(cache, name="fetch")
    async def fetch(url: str) -> str:
        calls.append(url)
        return url

    for _ in range(2):
        assert await lookup("p") == "p"
        assert await fetch("https://x") == "https://x"
    assert calls == ["p", "https://x", "p"]
    assert cache.stats().bypass_reasons == {"sampled: temperature unset": 2}


def test_a_tenant_callable_scopes_each_call(make_cache: Any) -> None:
    cache = make_cache("fn")
    current = {"tenant": "acme"}
    calls = []

    @cached(cache, name="profile", tenant=lambda: current["tenant"])
    def profile(user_id: int) -> str:
        calls.append(current["tenant"])
        return f"{current['tenant']}:{user_id}"

    assert profile(1) == "acme:1"
    current["tenant"] = "globex"
    assert profile(1) == "globex:1"
    assert profile(1) == "globex:1"
    assert calls == ["acme", "globex"]


def test_cached_refuses_a_non_cache() -> None:
    with pytest.raises(TypeError, match="did you write @cached"):
        cached(lambda: None)  # type: ignore[arg-type]


class Message(pydantic.BaseModel):
    type: str
    content: str
    id: str | None = None


class FakeChatModel:
    """Shaped like a LangChain chat model: _identifying_params, invoke/ainvoke with a config argument."""

    def __init__(self, model: str, temperature: float = 0.0) -> None:
        self.model = model
        self.temperature = temperature
        self.calls = 0

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model": self.model, "temperature": self.temperature}

    def invoke(self, input: list[Message], config: Any = None, **kwargs: Any) -> dict[str, Any]:
        self.calls += 1
        return {"type": "ai", "content": f"{self.model} says hi to {input[-1].content}"}

    async def ainvoke(self, input: list[Message], config: Any = None, **kwargs: Any) -> dict[str, Any]:
        return self.invoke(input, config, **kwargs)

    def describe(self) -> str:
        return f"model {self.model}"


def test_cached_model_ignores_message_ids_and_config(make_cache: Any) -> None:
    model = FakeChatModel("claude")
    llm = CachedModel(model, make_cache("llm"), methods=["invoke"])
    first = llm.invoke([Message(type="human", content="Ann", id="run-1")], config={"callbacks": ["h"]})
    second = llm.invoke([Message(type="human", content="Ann", id="run-2")])
    assert first == second == {"type": "ai", "content": "claude says hi to Ann"}
    assert model.calls == 1
    llm.invoke([Message(type="human", content="Bob")])
    assert model.calls == 2
    assert llm.describe() == "model claude"  # everything else is the model's own
    assert llm.model is model


async def test_cached_model_async_methods_and_live_settings(make_cache: Any) -> None:
    model = FakeChatModel("claude")
    llm = CachedModel(model, make_cache("llm"), methods=["ainvoke"])
    await llm.ainvoke([Message(type="human", content="Ann")])
    await llm.ainvoke([Message(type="human", content="Ann")])
    assert model.calls == 1
    model.model = "claude-2"  # the identity is read at each call: a changed setting is a new key
    assert (await llm.ainvoke([Message(type="human", content="Ann")]))["content"].startswith("claude-2")
    assert model.calls == 2
    model.temperature = 0.7  # sampling model: not cached
    await llm.ainvoke([Message(type="human", content="Ann")])
    await llm.ainvoke([Message(type="human", content="Ann")])
    assert model.calls == 4


def test_a_cached_model_without_a_temperature_is_sampled_unless_the_call_sets_one(make_cache: Any) -> None:
    class UnsetModel(FakeChatModel):
        @property
        def _identifying_params(self) -> dict[str, Any]:
            return {"model": self.model, "temperature": None}  # like ChatOpenAI(temperature=None)

    model = UnsetModel("gpt-5")
    llm = CachedModel(model, make_cache("llm"), methods=["invoke"])
    for _ in range(2):
        llm.invoke([Message(type="human", content="Ann")])
    assert model.calls == 2
    for _ in range(2):
        llm.invoke([Message(type="human", content="Ann")], temperature=0)  # the call's own setting wins
    assert model.calls == 3
    relaxed = CachedModel(model, make_cache("llm2", unset_temperature="deterministic"), methods=["invoke"])
    for _ in range(2):
        relaxed.invoke([Message(type="human", content="Bob")])
    assert model.calls == 4


def test_cached_model_explains_what_it_needs(make_cache: Any) -> None:
    class Bare:
        def invoke(self, x: str) -> str:
            return x

    with pytest.raises(TypeError, match=r"cannot tell what configures .*pass identity="):
        CachedModel(Bare(), make_cache("llm"), methods=["invoke"])
    llm = CachedModel(Bare(), make_cache("llm"), methods=["invoke"], identity={"name": "bare"})
    assert llm.invoke("x") == "x"
    with pytest.raises(AttributeError, match="methods: Bare has no method 'generate'"):
        CachedModel(Bare(), make_cache("llm"), methods=["generate"], identity={})


def test_cached_model_wraps_the_usual_methods_it_finds(make_cache: Any) -> None:
    class Streamy:
        model = "s"
        opened = 0

        def invoke(self, prompt: str) -> str:
            return prompt.upper()

        def stream(self, prompt: str) -> Any:
            Streamy.opened += 1
            yield from prompt

    llm = CachedModel(Streamy(), make_cache("llm"), identity={"model": "s", "temperature": 0})
    assert repr(llm).endswith("methods=['invoke', 'stream'])")
    assert list(llm.stream("ab")) == ["a", "b"]
    assert list(llm.stream("ab")) == ["a", "b"]
    assert Streamy.opened == 1
    with pytest.raises(ValueError, match="has none of invoke, ainvoke"):
        CachedModel(object(), make_cache("llm"), identity={})


def adder(cache: Any, n: int, **options: Any) -> Any:
    @cached(cache, **options)
    def add(x: int) -> int:
        return x + n

    return add


def test_a_closure_needs_a_name_that_tells_it_apart_from_its_siblings(make_cache: Any) -> None:
    # Keyed by module.qualname alone, adder(cache, 2) would replay adder(cache, 1)'s answers: both are
    # "adder.<locals>.add", and what tells them apart (n) is in no argument.
    cache = make_cache("fn")
    with pytest.raises(TypeError) as info:
        adder(cache, 1)
    message = str(info.value)
    assert "adder.<locals>.add" in message
    assert "closes over n" in message
    assert "name=" in message
    assert [adder(cache, n, name=f"add-{n}")(10) for n in (1, 2, 1)] == [11, 12, 11]
    assert cache.stats().hits == 1


def test_a_lambda_or_a_nameless_callable_needs_a_name(make_cache: Any) -> None:
    cache = make_cache("fn")
    with pytest.raises(TypeError, match=r"lambda.*name="):
        cached(cache)(lambda x: x + 1)
    with pytest.raises(TypeError, match=r"partial.*name="):
        cached(cache)(functools.partial(pow, 2))
    double = cached(cache, name="double")(lambda x: x * 2)
    assert [double(4), double(4)] == [8, 8]
    powers = cached(cache, name="powers-of-2")(functools.partial(pow, 2))
    assert [powers(5), powers(5)] == [32, 32]
    assert cache.stats().hits == 2


def test_a_local_function_that_closes_over_nothing_is_keyed_by_its_name(make_cache: Any) -> None:
    cache = make_cache("fn")

    def make() -> Any:
        @cached(cache)
        def square(x: int) -> int:
            return x * x

        return square

    assert [make()(3), make()(3)] == [9, 9]  # every make() builds the same function: one entry serves both
    assert cache.stats().hits == 1
